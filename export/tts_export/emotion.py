"""Emotion models as ONNX graphs beside a voice: Bert-VITS2 2.2's CLAP (clap-htsat-fused: a
text branch for prompts, an audio branch for clips) and 2.1's wav2vec2 emotion model
(wav2vec2-large-robust-12-ft-emotion-msp-dim, clips), from local model folders (nothing is
downloaded).

Each graph computes what upstream passes to the voice as ``emo``:
- clap_text: `ClapModel.get_text_features` = L2-normalised text projection of the pooled
  text encoder [N, 512];
- clap_audio: `ClapModel.get_audio_features` [N, 512] from the fusion mel features;
- wav2vec2: the last hidden state averaged over time [N, 1024] (upstream's EmotionModel's
  first output; its regression head is not needed). With a padded batch the average runs over
  each clip's own frames (attention_mask), so batched equals unbatched.
Input / output names and sizes are `vits2.serving.emotion.EMOTION_GRAPHS` / `EMOTION_DIMS`.

`add_emotion_models(voice_dir, clap=..., wav2vec2=...)` exports into ``voice_dir/emotion/``,
checks each graph against the transformers model on an input unlike the trace example
(max abs <= `TOLERANCE`), copies the tokenizer / feature-extractor files and records the graphs
in voice.json ``emotion_models``.
"""

from __future__ import annotations

import copy
import logging
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tts_contract.manifest import VoiceManifest
from vits2.serving.emotion import EMOTION_DIMS, EMOTION_GRAPHS, EMOTION_RATES

from .metadata import write_metadata

log = logging.getLogger(__name__)

__all__ = [
    "EMOTION_RELEASES",
    "TOLERANCE",
    "EmotionGraph",
    "add_emotion_models",
    "export_clap",
    "export_wav2vec2",
]

EMOTION_RELEASES = {"clap": "2.2", "wav2vec2": "2.1"}
"""Model family -> the voice release (voice.json ``release``) whose ``emo`` input it makes."""
TOLERANCE = 1e-4
"""Max |graph - transformers| on the embedding accepted by the export check."""
EMOTION_DIR = "emotion"
_PROCESSOR_FILES = (
    "merges.txt",
    "vocab.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "preprocessor_config.json",
    "SOURCE.txt",
)
"""What EmotionFeeds loads (tokenizer, feature extractor), plus the licence note."""


@dataclass
class EmotionGraph:
    kind: str
    """clap_text, clap_audio or wav2vec2 (`EMOTION_GRAPHS`)."""
    path: Path
    max_abs_error: float
    """Max |onnxruntime - transformers| of the embedding in the export check."""
    seconds: float
    """Export plus check."""


class _ClapText(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.text_model, self.projection = model.text_model, model.text_projection

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = self.text_model(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return nn.functional.normalize(self.projection(pooled), dim=-1)


class _FusedPatchEmbed(nn.Module):
    """CLAP's fusion patch embedding, on the same submodules, for export: the fused rows are
    picked with `torch.where` where transformers writes them in place by index, which the ONNX
    exporter fixes to the traced number of long clips. Every clip's local branch is computed
    (per item, so the rows kept are the same numbers)."""

    def __init__(self, embed: nn.Module) -> None:
        super().__init__()
        self.proj, self.mel_conv2d = embed.proj, embed.mel_conv2d
        self.fusion_model, self.norm, self.flatten = embed.fusion_model, embed.norm, embed.flatten

    def forward(self, hidden_states: torch.Tensor, is_longer_idx: torch.Tensor) -> torch.Tensor:
        whole = self.proj(hidden_states[:, 0:1])
        local = hidden_states[:, 1:]
        batch, chunks, height, width = local.shape
        local = self.mel_conv2d(local.reshape(batch * chunks, 1, height, width))
        _, features, height, width = local.shape
        local = local.reshape(batch, chunks, features, height, width)
        local = local.permute(0, 2, 3, 1, 4).flatten(3)
        local = nn.functional.pad(local, (0, whole.shape[-1] - local.shape[-1]))
        rows = torch.arange(hidden_states.shape[0], device=hidden_states.device)
        longer = (rows[:, None] == is_longer_idx[None, :]).any(1)
        out = torch.where(longer[:, None, None, None], self.fusion_model(whole, local), whole)
        if self.flatten:
            out = out.flatten(2).transpose(1, 2)
        return self.norm(out)


class _ClapAudio(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.audio_model = copy.deepcopy(model.audio_model)
        encoder = self.audio_model.audio_encoder
        encoder.patch_embed = _FusedPatchEmbed(encoder.patch_embed)
        self.projection = model.audio_projection

    def forward(self, input_features: torch.Tensor, is_longer: torch.Tensor) -> torch.Tensor:
        pooled = self.audio_model(input_features=input_features, is_longer=is_longer).pooler_output
        return nn.functional.normalize(self.projection(pooled), dim=-1)


class _Wav2Vec2Mean(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_values, attention_mask=attention_mask).last_hidden_state
        frames = self.model._get_feature_vector_attention_mask(hidden.shape[1], attention_mask)
        frames = frames.to(hidden.dtype).unsqueeze(-1)
        # = hidden.mean(1) for an unpadded clip (upstream's EmotionModel)
        return (hidden * frames).sum(1) / frames.sum(1).clamp(min=1.0)


def _export(wrapper: nn.Module, kind: str, example: tuple, axes: dict, out: Path, opset: int):
    inputs, outputs = EMOTION_GRAPHS[kind]
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # tracer notes about Python-side shape arithmetic (constant for a model) and the legacy
        # exporter's deprecation notice; the export check at another length guards the former
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            wrapper,
            example,
            str(out),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes={**axes, outputs[0]: {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def _features(out) -> torch.Tensor:
    # get_*_features return the tensor (transformers 4) or an output with it as pooler_output (5)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _check(reference: Callable, kind: str, out: Path, feeds: dict[str, np.ndarray]) -> float:
    """Max |onnxruntime - transformers| of the embedding on `feeds`; raises past TOLERANCE."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, feeds)
    with torch.no_grad():
        want = reference(*(torch.from_numpy(feeds[n]) for n in EMOTION_GRAPHS[kind][0])).numpy()
    if got.shape != (want.shape[0], EMOTION_DIMS[kind]):
        raise ValueError(f"{out.name}: embedding shape {got.shape}, expected {want.shape}")
    err = float(np.abs(got - want).max())
    if not err <= TOLERANCE:
        raise ValueError(
            f"{out.name} differs from the transformers model by {err:.2e} (allowed "
            f"{TOLERANCE:g}); the export is wrong for this model: report it with the config"
        )
    return err


def _export_checked(
    wrapper: nn.Module, kind: str, example: tuple, axes: dict, out_dir: Path, opset: int,
    reference: Callable, feeds: dict[str, np.ndarray], start: float,
) -> EmotionGraph:  # fmt: skip
    """``kind``.onnx traced on ``example``, then checked against ``reference`` on ``feeds``
    (other shapes than the trace's); ``start``: when this graph's work began."""
    out = out_dir / f"{kind}.onnx"
    _export(wrapper, kind, example, axes, out, opset)
    err = _check(reference, kind, out, feeds)
    return EmotionGraph(kind, out, err, time.perf_counter() - start)


def _load(folder: Path, family: str):
    from transformers import AutoConfig

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder} has no config.json: point at a local transformers model folder "
            f"({'clap-htsat-fused' if family == 'clap' else 'wav2vec2-large-robust-12-ft-emotion-msp-dim'})"
        )
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    want = {"clap": "clap", "wav2vec2": "wav2vec2"}[family]
    if config.model_type != want:
        raise ValueError(f"{folder} holds a {config.model_type!r} model; expected {want!r}")
    return config


def export_clap(folder: Path, out_dir: Path, opset: int = 17) -> list[EmotionGraph]:
    """CLAP text and audio graphs (clap_text.onnx, clap_audio.onnx) from a local
    clap-htsat-fused folder, each checked against transformers' ClapModel."""
    from transformers import ClapModel

    config = _load(folder, "clap")
    if config.projection_dim != EMOTION_DIMS["clap_text"] or not config.audio_config.enable_fusion:
        raise ValueError(
            f"{folder}: projection_dim {config.projection_dim}, enable_fusion "
            f"{config.audio_config.enable_fusion}; Bert-VITS2 2.2 uses clap-htsat-fused "
            f"(projection_dim {EMOTION_DIMS['clap_text']}, fusion on)"
        )
    model = ClapModel.from_pretrained(folder, local_files_only=True, attn_implementation="eager")
    model.float().eval()
    graphs = []
    rng = np.random.default_rng(0)
    vocab = int(config.text_config.vocab_size)
    start = time.perf_counter()
    ids = torch.tensor([[0, 100, 200, 2]], dtype=torch.int64)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    # check: two prompts of other lengths, the shorter padded as the tokenizer pads
    check_ids = np.full((2, 9), int(config.text_config.pad_token_id), dtype=np.int64)
    check_ids[0, :] = rng.integers(3, vocab, 9)
    check_ids[1, :6] = rng.integers(3, vocab, 6)
    check_ids[:, 0], check_ids[0, -1], check_ids[1, 5] = 0, 2, 2
    mask = (check_ids != int(config.text_config.pad_token_id)).astype(np.int64)
    graphs.append(_export_checked(
        _ClapText(model).eval(), "clap_text", (ids, torch.ones_like(ids)), axes, out_dir, opset,
        lambda i, m: _features(model.get_text_features(input_ids=i, attention_mask=m)),
        {"input_ids": check_ids, "attention_mask": mask}, start,
    ))  # fmt: skip

    start = time.perf_counter()
    shape = (1, 4, 1001, int(config.audio_config.num_mel_bins))
    example = torch.from_numpy(rng.normal(-40, 15, shape).astype(np.float32))
    axes = {"input_features": {0: "batch"}, "is_longer": {0: "batch"}}
    feats = rng.normal(-40, 15, (3, *shape[1:])).astype(np.float32)
    longer = np.array([[True], [False], [True]])  # two long clips: more than the trace had
    graphs.append(_export_checked(
        _ClapAudio(model).eval(), "clap_audio", (example, torch.ones(1, 1, dtype=torch.bool)),
        axes, out_dir, opset,
        lambda f, i: _features(model.get_audio_features(input_features=f, is_longer=i)),
        {"input_features": feats, "is_longer": longer}, start,
    ))  # fmt: skip
    return graphs


def export_wav2vec2(folder: Path, out_dir: Path, opset: int = 17) -> list[EmotionGraph]:
    """The wav2vec2 emotion graph (wav2vec2.onnx) from a local
    wav2vec2-large-robust-12-ft-emotion-msp-dim folder, checked against transformers."""
    from transformers import Wav2Vec2Model

    config = _load(folder, "wav2vec2")
    if config.hidden_size != EMOTION_DIMS["wav2vec2"]:
        raise ValueError(
            f"{folder}: hidden_size {config.hidden_size}; Bert-VITS2 2.1 takes "
            f"{EMOTION_DIMS['wav2vec2']}-dim embeddings (wav2vec2-large-robust-12-ft-emotion-msp-dim)"
        )
    # the real folder stores wav2vec2.* plus the regression head's classifier.*: the body loads
    # by transformers' base-model prefix and the head is left out (the embedding does not use it)
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # it reports the head's keys as unexpected: known, fine
    try:
        model = Wav2Vec2Model.from_pretrained(
            folder, local_files_only=True, attn_implementation="eager"
        )
    finally:
        hf_logging.set_verbosity(level)
    model.float().eval()
    start = time.perf_counter()
    wrapper = _Wav2Vec2Mean(model).eval()
    rng = np.random.default_rng(0)
    example = torch.from_numpy(rng.standard_normal((1, 16000)).astype(np.float32))
    axes = {n: {0: "batch", 1: "samples"} for n in EMOTION_GRAPHS["wav2vec2"][0]}
    values = rng.standard_normal((2, 11200)).astype(np.float32)
    mask = np.ones((2, 11200), dtype=np.int64)
    values[1, 7000:], mask[1, 7000:] = 0.0, 0
    example = (example, torch.ones(1, 16000, dtype=torch.int64))
    feeds = {"input_values": values, "attention_mask": mask}
    return [
        _export_checked(wrapper, "wav2vec2", example, axes, out_dir, opset, wrapper, feeds, start)
    ]


def _copy_processor(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in _PROCESSOR_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)


def add_emotion_models(
    voice_dir: Path,
    clap: Path | None = None,
    wav2vec2: Path | None = None,
    opset: int = 17,
    progress: Callable[[str], None] = log.info,
) -> VoiceManifest:
    """Export the emotion models a voice's release uses into ``voice_dir/emotion/`` and record
    them in its voice.json. CLAP only for release 2.2, wav2vec2 only for 2.1."""
    voice_dir = Path(voice_dir)
    manifest = VoiceManifest.load(voice_dir)
    if clap is None and wav2vec2 is None:
        raise ValueError(
            "nothing to add: give a CLAP folder (--clap) or a wav2vec2 emotion "
            "model folder (--emotion-model)"
        )
    for family, folder in (("clap", clap), ("wav2vec2", wav2vec2)):
        if folder is not None and manifest.release != EMOTION_RELEASES[family]:
            raise ValueError(
                f"{voice_dir.name} is a release-{manifest.release} voice; the {family} emotion "
                f"model serves release {EMOTION_RELEASES[family]} voices only (2.2: --clap "
                "clap-htsat-fused, 2.1: --emotion-model wav2vec2-large-robust-12-ft-emotion-msp-dim)"
            )
    out_dir = voice_dir / EMOTION_DIR
    for family, folder in (("clap", clap), ("wav2vec2", wav2vec2)):
        if folder is None:
            continue
        folder = Path(folder)
        progress(f"exporting {family} emotion model {folder.name}")
        export = export_clap if family == "clap" else export_wav2vec2
        graphs = export(folder, out_dir, opset)
        processor = out_dir / folder.name
        _copy_processor(folder, processor)
        for g in graphs:
            progress(f"{g.path.name}: max |onnx - torch| {g.max_abs_error:.1e}, {g.seconds:.1f} s")
            meta = {"kind": g.kind, "model_name": folder.name, "release": manifest.release}
            meta["embedding_dim"] = str(EMOTION_DIMS[g.kind])
            if g.kind in EMOTION_RATES:
                meta["sampling_rate"] = str(EMOTION_RATES[g.kind])
            write_metadata(g.path, meta)
            manifest.emotion_models[g.kind] = {
                "graph": g.path.relative_to(voice_dir).as_posix(),
                "processor": processor.relative_to(voice_dir).as_posix(),
                "model_name": folder.name,
            }
    manifest.save(voice_dir)
    return manifest
