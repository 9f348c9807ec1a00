"""Load upstream `G_*.pth` checkpoints unchanged; save random voices in the same format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

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


class CheckpointError(ValueError):
    """A checkpoint that does not fit the voice config."""


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
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
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


def load_model(
    checkpoint: str | Path,
    config: str | Path | VoiceConfig | None = None,
    device: str | torch.device = "cpu",
) -> SynthesizerTrn:
    """Upstream checkpoint (+ config.json, default beside it) -> SynthesizerTrn in eval mode."""
    checkpoint = Path(checkpoint)
    if config is None:
        config = checkpoint.parent / "config.json"
        if not config.is_file():
            raise FileNotFoundError(
                f"no config given and none beside the checkpoint ({config}); pass config="
            )
    cfg = config if isinstance(config, VoiceConfig) else VoiceConfig.from_file(config)
    state = fold_weight_norm(read_state_dict(checkpoint))
    model = SynthesizerTrn(cfg)
    load_state(model, state)
    return model.to(device).eval()


def load_state(model: SynthesizerTrn, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIXES)}
    # the shared flow encoder is registered twice (flow.wn and each layer's enc)
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
            "checkpoint does not match the config's v2.3 model; "
            + "; ".join(lines)
            + ". Check that config.json is the one the voice was trained with."
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
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


def to_upstream_state(model: SynthesizerTrn) -> dict[str, torch.Tensor]:
    """State dict in upstream layout: weight-normed modules split into weight_g / weight_v."""
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
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
    raw["data"] = {**raw.get("data", {}), **_asdict(cfg.data)}
    raw["model"] = {**raw.get("model", {}), **_asdict(cfg.model)}
    raw["version"] = cfg.version
    (out_dir / "config.json").write_text(
        json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path


def _asdict(obj) -> dict:
    from dataclasses import asdict

    return asdict(obj)
