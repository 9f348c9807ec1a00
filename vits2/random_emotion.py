"""Random-weight emotion models with the real configs and processor files, as local model folders.

Bert-VITS2 2.2 embeds emotion prompts and clips with CLAP (laion/clap-htsat-fused); 2.1 embeds
clips with audeering's wav2vec2-large-robust-12-ft-emotion-msp-dim. Their weights are never
downloaded here: tests and demos use stand-ins built from the configs, tokenizer and
feature-extractor files shipped in `vits2/emotion-configs/` (package data; each folder's
SOURCE.txt names origin, commit and licence). The stand-ins keep what the voice and the graphs
depend on (the 512 / 1024 embedding sizes, the vocabulary, the mel and spectrogram geometry)
and shrink the rest (layers, widths), so the same export and serving code runs on them as on
the real folders.

`tiny=False` keeps the full architecture (for timing only; random weights).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "CLAP_NAME",
    "WAV2VEC2_NAME",
    "default_config_root",
    "make_tiny_clap",
    "make_tiny_wav2vec2",
]

CLAP_NAME = "clap-htsat-fused"
WAV2VEC2_NAME = "wav2vec2-large-robust-12-ft-emotion-msp-dim"

# Files that make a folder loadable besides the weights (config.json is written from the
# possibly shrunk config; SOURCE.txt travels so the licence note stays with the files).
_CLAP_FILES = (
    "merges.txt",
    "vocab.json",
    "preprocessor_config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "SOURCE.txt",
)
_WAV2VEC2_FILES = ("preprocessor_config.json", "vocab.json", "SOURCE.txt")

# Shrunk sizes. Kept: projection_dim 512 (the 2.2 voice's emo input), the text vocabulary and
# positions, the audio spectrogram geometry (spec_size, mel bins, patch/window sizes, 4 stages);
# wav2vec2's hidden_size 1024 (the 2.1 voice's emo input) and its conv strides/kernels (16 kHz
# -> 50 frames/s).
_TINY_CLAP_TEXT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "projection_hidden_size": 32,
    "fusion_hidden_size": 32,
}
_TINY_CLAP_AUDIO = {
    "depths": [1, 1, 1, 1],
    "num_attention_heads": [1, 1, 2, 2],
    "patch_embeds_hidden_size": 16,
    "hidden_size": 128,  # = patch_embeds_hidden_size * 2**(stages - 1), as the real 96 -> 768
    "projection_hidden_size": 128,
}
_TINY_WAV2VEC2 = {
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "conv_dim": [32] * 7,
    "num_conv_pos_embeddings": 16,
}


def default_config_root() -> Path:
    """The emotion-model configs / processor files shipped with the package."""
    return Path(__file__).resolve().parent / "emotion-configs"


def _copy_files(src: Path, out: Path, names: tuple[str, ...]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (src / name).is_file():
            shutil.copy2(src / name, out / name)


def make_tiny_clap(
    out: Path, seed: int = 0, tiny: bool = True, config_root: Path | None = None
) -> Path:
    """A random ClapModel saved like the real clap-htsat-fused folder (`ClapModel` and
    `ClapProcessor.from_pretrained(out)` load it). Returns `out`."""
    from transformers import ClapConfig, ClapModel

    src = Path(config_root or default_config_root()) / CLAP_NAME
    d = json.loads((src / "config.json").read_text(encoding="utf-8"))
    if tiny:
        d["text_config"].update(_TINY_CLAP_TEXT)
        d["audio_config"].update(_TINY_CLAP_AUDIO)
    torch.manual_seed(seed)
    model = ClapModel(ClapConfig.from_dict(d)).eval()
    out = Path(out)
    model.save_pretrained(out)
    _copy_files(src, out, _CLAP_FILES)
    return out


class _Wav2Vec2Head(nn.Module):
    """The regression head of the audeering model (hidden -> hidden -> arousal, dominance,
    valence). The embedding does not use it; it is here so the tiny folder has the real
    checkpoint's key layout (`wav2vec2.*` and `classifier.*`)."""

    def __init__(self, hidden: int, labels: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, labels)


def _emotion_model_class():
    from transformers import Wav2Vec2Model, Wav2Vec2PreTrainedModel

    class EmotionModel(Wav2Vec2PreTrainedModel):
        """wav2vec2 body plus regression head, saved under the real folder's key names."""

        def __init__(self, config) -> None:
            super().__init__(config)
            self.wav2vec2 = Wav2Vec2Model(config)
            self.classifier = _Wav2Vec2Head(config.hidden_size, config.num_labels)
            self.post_init()

    return EmotionModel


def make_tiny_wav2vec2(
    out: Path, seed: int = 0, tiny: bool = True, config_root: Path | None = None
) -> Path:
    """A random wav2vec2 emotion model saved like the real audeering folder: weights under
    `wav2vec2.*` plus `classifier.*`, so `Wav2Vec2Model.from_pretrained(out)` loads the body
    exactly as it loads the real one. Returns `out`."""
    from transformers import Wav2Vec2Config

    src = Path(config_root or default_config_root()) / WAV2VEC2_NAME
    d = json.loads((src / "config.json").read_text(encoding="utf-8"))
    if tiny:
        d.update(_TINY_WAV2VEC2)
    torch.manual_seed(seed)
    model = _emotion_model_class()(Wav2Vec2Config.from_dict(d)).eval()
    out = Path(out)
    model.save_pretrained(out)
    _copy_files(src, out, _WAV2VEC2_FILES)
    # save_pretrained writes this class's name; the real folder names the upstream one.
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    cfg["architectures"] = d.get("architectures")
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return out
