"""Load upstream checkpoints unchanged; save random voices in the same format.

Bert-VITS2 `G_*.pth` (2.0-2.3) and Style-Bert-VITS2 `G_*.pth` / `*.safetensors`. Our module
tree differs from upstream's in one place: the text encoder's emotion/style modules sit in
`enc_p.conditioning.*` here and directly in `enc_p.*` upstream; `upstream_names` maps between.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from vits2.conditioning import CODEBOOK_TRAINING_BUFFERS
from vits2.config import VoiceConfig
from vits2.model import SynthesizerTrn

TRAINING_ONLY_PREFIXES = (
    "enc_q.",
    "sdp.post_pre.",
    "sdp.post_proj.",
    "sdp.post_convs.",
    "sdp.post_flows.",
    "ref_enc.",
)
"""Parts of a generator checkpoint that inference never runs (posterior encoder etc.)."""

# Modules upstream wraps in weight_norm: checkpoints store them as weight_g / weight_v.
WEIGHT_NORM_PATTERNS = (
    r"^dec\.ups\.\d+$",
    r"^dec\.resblocks\.\d+\.convs[12]?\.\d+$",
    r"^flow\.flows\.\d+\.enc\.(in_layers|res_skip_layers)\.\d+$",
    r"^flow\.flows\.\d+\.enc\.cond_layer$",
)


STYLE_KEY = "enc_p.style_proj.weight"
"""A checkpoint key only Style-Bert-VITS2 models have."""
CODEBOOK_21 = "enc_p.emo_quantizer._codebook.embed"
"""2.1's emotion codebook: absent from checkpoints trained with the 2.1 release code."""
NOT_WEIGHTS = ("iteration",)
"""Non-weight tensors Style-Bert-VITS2 puts in its safetensors (the epoch)."""


class CheckpointError(ValueError):
    """A checkpoint that does not fit the voice config."""


class CheckpointWarning(UserWarning):
    """A checkpoint loaded with a documented substitute for something it lacks."""


def _fold_weight_norm(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    # torch weight_norm(dim=0): w = g * v / ||v|| with the norm over every dim but 0
    dims = tuple(range(1, v.dim()))
    return v * (g / v.norm(dim=dims, keepdim=True))


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace `X.weight_g/weight_v` and `X.parametrizations.weight.original0/1` by `X.weight`."""
    out: dict[str, torch.Tensor] = {}
    pending: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        m = re.match(r"^(.*)\.(weight_g|weight_v)$", key) or re.match(
            r"^(.*)\.parametrizations\.weight\.(original0|original1)$", key
        )
        if m:
            part = "g" if m.group(2) in ("weight_g", "original0") else "v"
            pending.setdefault(m.group(1), {})[part] = value
        else:
            out[key] = value
    for prefix, parts in pending.items():
        if set(parts) != {"g", "v"}:
            missing = "weight_v" if "g" in parts else "weight_g"
            raise CheckpointError(f"weight-norm parameter '{prefix}' lacks its {missing} half")
        out[f"{prefix}.weight"] = _fold_weight_norm(parts["g"].float(), parts["v"].float())
    return out


def read_state_dict(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """`G_*.pth` (dict with "model", or a bare state dict) or `.safetensors` -> state dict."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"could not read {path} as a PyTorch checkpoint with weights_only=True: {e}"
        ) from None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path} holds no generator state dict (expected a dict with 'model')"
        )
    # checkpoints saved from DataParallel carry a 'module.' prefix
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"could not read {path} as safetensors: {e}") from None
    return {k: v for k, v in state.items() if k not in NOT_WEIGHTS}


def load_model(
    checkpoint: str | Path,
    config: str | Path | VoiceConfig | None = None,
    device: str | torch.device = "cpu",
    style_vectors: str | Path | None = None,
) -> SynthesizerTrn:
    """Upstream checkpoint (+ config.json, default beside it) -> SynthesizerTrn in eval mode.

    A Style-Bert-VITS2 model is recognised by its config (data.style2id / num_styles) or its
    `enc_p.style_proj` weights; its `style_vectors.npy` (default: beside the checkpoint) gives
    the neutral style `infer` uses when no style_vec is passed (zeros, with a warning, if absent).
    """
    checkpoint = Path(checkpoint)
    if config is None:
        config = checkpoint.parent / "config.json"
        if not config.is_file():
            raise FileNotFoundError(
                f"no config given and none beside the checkpoint ({config}); pass config="
            )
    state = fold_weight_norm(read_state_dict(checkpoint))
    if isinstance(config, VoiceConfig):
        cfg = config
    else:
        cfg = VoiceConfig.from_file(config, style_model=STYLE_KEY in state)
    model = SynthesizerTrn(cfg)
    load_state(model, state)
    if cfg.parts.style:
        path = Path(style_vectors) if style_vectors else checkpoint.parent / "style_vectors.npy"
        set_style_vectors(model, path)
    return model.to(device).eval()


def set_style_vectors(model: SynthesizerTrn, path: Path) -> None:
    """Row 0 of a Style-Bert-VITS2 `style_vectors.npy` becomes the model's neutral style."""
    from vits2.styles import load_style_vectors

    if not path.is_file():
        warnings.warn(
            f"{path} not found: this Style-Bert-VITS2 voice's neutral style is unknown, so "
            "infer() without style_vec uses a zero style vector; pass style_vectors= or put "
            "the model folder's style_vectors.npy beside the checkpoint",
            CheckpointWarning,
            stacklevel=3,
        )
        return
    vectors = load_style_vectors(path, model.config.data.num_styles or None)
    model.neutral_style.copy_(torch.from_numpy(np.ascontiguousarray(vectors[0])))


def upstream_names(model: SynthesizerTrn) -> dict[str, str]:
    """Our state-dict key -> upstream's (conditioning modules sit directly in enc_p there)."""
    return {k: k.replace("enc_p.conditioning.", "enc_p.", 1) for k in model.state_dict()}


def _is_training_only(key: str) -> bool:
    if key.startswith(TRAINING_ONLY_PREFIXES):
        return True
    head, _, last = key.rpartition(".")
    return head.endswith("._codebook") and last in CODEBOOK_TRAINING_BUFFERS


def _fill_documented_gaps(model: SynthesizerTrn, state: dict, expected: dict) -> None:
    """Substitutes for parts real checkpoints lack, each with a warning (docs/versions.md)."""
    parts = model.config.parts
    if parts.emotion == "2.1" and CODEBOOK_21 not in state:
        # the 2.1 release kept the quantiser in a plain list: never saved, random per process
        warnings.warn(
            f"checkpoint has no emotion codebook ({CODEBOOK_21}): it was trained with the 2.1 "
            "release code, which never saved it (upstream draws a new random codebook in every "
            "process). Using an all-zero codebook: every item gets emo_emb = emo_q_proj.bias, "
            "the mean of upstream's random draws, so emo and emo_id have no effect on this voice",
            CheckpointWarning,
            stacklevel=4,
        )
        state[CODEBOOK_21] = torch.zeros_like(expected[CODEBOOK_21])
        model.emotion_ignored = True
    if parts.style and len(parts.bert_inputs) == 3:
        gaps = [k for k in expected if k.startswith("enc_p.ja_bert_proj.") and k not in state]
        for key in gaps:  # Style-Bert-VITS2's own loader zero-fills these
            state[key] = torch.zeros_like(expected[key])
        if gaps:
            warnings.warn(
                "checkpoint lacks enc_p.ja_bert_proj; filled with zeros as Style-Bert-VITS2's "
                "loader does (Japanese BERT features then have no effect)",
                CheckpointWarning,
                stacklevel=4,
            )


_RELEASE_KEYS = {
    "enc_p.emo_proj.weight": '"version": "2.1"',
    "enc_p.in_feature_net.0.weight": '"version": "2.2"',
    "enc_p.style_proj.weight": "a Style-Bert-VITS2 config (data.style2id)",
}


def _release_hint(unexpected: list[str]) -> str:
    """Which release the checkpoint's extra keys belong to, when they tell."""
    for key, release in _RELEASE_KEYS.items():
        if key in unexpected:
            return f" (its {key} belongs to {release})."
    return "."


def load_state(model: SynthesizerTrn, state: dict[str, torch.Tensor]) -> None:
    """Load an upstream-keyed, weight-norm-folded state dict; mismatches are listed by name."""
    names = upstream_names(model)
    expected = {names[k]: v for k, v in model.state_dict().items()}
    state = {k: v for k, v in state.items() if not _is_training_only(k)}
    _fill_documented_gaps(model, state, expected)
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in expected)
    if missing or unexpected:
        lines = []
        if missing:
            lines.append(
                f"missing ({len(missing)}): {', '.join(missing[:20])}"
                + (" ..." if len(missing) > 20 else "")
            )
        if unexpected:
            lines.append(
                f"unexpected ({len(unexpected)}): {', '.join(unexpected[:20])}"
                + (" ..." if len(unexpected) > 20 else "")
            )
        raise CheckpointError(
            f"checkpoint does not match the config's {model.config.parts.release} model "
            f"(version {model.config.version!r}); "
            + "; ".join(lines)
            + ". Check that config.json is the one the voice was trained with"
            + _release_hint(unexpected)
        )
    bad = [
        f"{k}: checkpoint {tuple(v.shape)} vs config {tuple(expected[k].shape)}"
        for k, v in state.items()
        if v.shape != expected[k].shape
    ]
    if bad:
        raise CheckpointError(
            "checkpoint tensor shapes do not match the config: "
            + "; ".join(bad[:10])
            + (" ..." if len(bad) > 10 else "")
        )
    model.load_state_dict({k: state[names[k]].float() for k in names}, strict=True)


def to_upstream_state(model: SynthesizerTrn) -> dict[str, torch.Tensor]:
    """State dict in upstream layout: weight-normed modules split into weight_g / weight_v."""
    out: dict[str, torch.Tensor] = {}
    names = upstream_names(model)
    for ours, value in model.state_dict().items():
        key = names[ours]
        prefix, _, name = key.rpartition(".")
        if name == "weight" and any(re.match(p, prefix) for p in WEIGHT_NORM_PATTERNS):
            dims = tuple(range(1, value.dim()))
            out[f"{prefix}.weight_g"] = value.norm(dim=dims, keepdim=True).clone()
            out[f"{prefix}.weight_v"] = value.clone()
        else:
            out[key] = value.clone()
    return out


def save_checkpoint(model: SynthesizerTrn, out_dir: str | Path, name: str = "G_0.pth") -> Path:
    """Write `name` and `config.json` into out_dir, as upstream training would."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    torch.save(
        {
            "model": to_upstream_state(model),
            "iteration": 0,
            "optimizer": None,
            "learning_rate": 0.0002,
        },
        path,
    )
    cfg = model.config
    raw = dict(cfg.raw) if cfg.raw else {}
    raw.setdefault("train", {"segment_size": 16384})
    data = _asdict(cfg.data)
    if not cfg.parts.style:  # keep Bert-VITS2 configs free of Style-Bert-VITS2's keys
        data.pop("style2id"), data.pop("num_styles")
    raw["data"] = {**raw.get("data", {}), **data}
    raw["model"] = {**raw.get("model", {}), **_asdict(cfg.model)}
    raw["version"] = cfg.version
    (out_dir / "config.json").write_text(
        json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path


def save_safetensors(model: SynthesizerTrn, path: str | Path, iteration: int = 0) -> Path:
    """Style-Bert-VITS2's inference file: the upstream-layout state without enc_q, plus the
    `iteration` tensor its trainer adds."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in to_upstream_state(model).items()}
    state["iteration"] = torch.tensor([iteration], dtype=torch.int64)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def _asdict(obj) -> dict:
    from dataclasses import asdict

    return asdict(obj)
