"""Voice configuration: dataclasses built from a Bert-VITS2 or Style-Bert-VITS2 `config.json`.

Only what inference needs is modelled; training keys are kept verbatim in `VoiceConfig.raw` so a
config written back is still a valid upstream config. Defaults are upstream v2.3's constructor
defaults, which real configs usually omit. `ModelParts` says what a checkpoint version adds to
the shared generator (emotion or style block, BERT slots, flow depth); this module imports no
torch, so the serving side can read it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

BERT_VITS2_RELEASES = {
    "2.0": "2.0",
    "2.0.1": "2.0",
    "2.0.2-fix": "2.0",
    "2.1": "2.1",
    "2.2": "2.2",
    "2.3": "2.3",
}
"""Bert-VITS2 config `version` -> the release whose generator it loads (upstream infer.py's map)."""

SUPPORTED_VERSIONS = tuple(BERT_VITS2_RELEASES)

BERT_INPUTS = ("bert_zh", "bert_ja", "bert_en")


class ConfigError(ValueError):
    """A voice config that cannot describe a loadable model."""


@dataclass(frozen=True)
class ModelParts:
    """What one checkpoint release adds to the shared generator (docs/versions.md)."""

    release: str
    """2.0, 2.1, 2.2, 2.3 (Bert-VITS2), sbv2 or sbv2-jp-extra (Style-Bert-VITS2)."""
    emotion: str | None = None
    """None; "2.1": a [1024] wav2vec2 embedding or an id 0-9 picks one of 10 codes;
    "2.2": a [512] CLAP embedding through feature nets and a 32-head quantiser."""
    style: bool = False
    """Style-Bert-VITS2: a [256] style vector is projected and added (style_proj)."""
    bert_inputs: tuple[str, ...] = BERT_INPUTS
    """BERT slots the text encoder projects; JP-Extra has one projection fed bert_ja."""
    other_bert_fill: str = "normal"
    """How the release's text path filled the BERT slots of the languages not spoken:
    "zeros" (2.0, 2.1, Style-Bert-VITS2), "uniform" [0, 1) (2.2) or "normal" (2.3)."""
    flow_transformer_layers: int | None = None
    """Set where upstream's loader ignores the config and its constructor default applies."""

    @property
    def extra_inputs(self) -> tuple[str, ...]:
        """Encoder inputs beyond 2.3's, in graph order."""
        if self.emotion == "2.1":
            return ("emo", "emo_id")
        if self.emotion == "2.2":
            return ("emo",)
        return ("style_vec",) if self.style else ()

    @property
    def emo_dim(self) -> int:
        """Width of the `emo` input (0 without emotion)."""
        return {"2.1": 1024, "2.2": 512}.get(self.emotion or "", 0)


STYLE_DIM = 256
"""Width of Style-Bert-VITS2 style vectors."""
EMO_IDS = 10
"""Emotion ids of 2.1 (codebook size)."""

_PARTS = {
    "2.0": ModelParts("2.0", other_bert_fill="zeros"),
    "2.1": ModelParts("2.1", emotion="2.1", other_bert_fill="zeros"),
    "2.2": ModelParts("2.2", emotion="2.2", other_bert_fill="uniform"),
    "2.3": ModelParts("2.3"),
    "sbv2": ModelParts("sbv2", style=True, other_bert_fill="zeros", flow_transformer_layers=4),
    "sbv2-jp-extra": ModelParts(
        "sbv2-jp-extra",
        style=True,
        bert_inputs=("bert_ja",),
        other_bert_fill="zeros",
        flow_transformer_layers=6,
    ),
}


def model_parts(version: str, style_model: bool) -> ModelParts:
    """Config `version` (+ whether it is a Style-Bert-VITS2 model) -> its parts.

    Style-Bert-VITS2 version numbers overlap Bert-VITS2's, so the caller decides the family
    (data.style2id / data.num_styles, style_vectors.npy or a style_proj key); JP-Extra is
    decided by the version suffix alone, as upstream does.
    """
    if style_model:
        return _PARTS["sbv2-jp-extra" if version.endswith("JP-Extra") else "sbv2"]
    if version not in BERT_VITS2_RELEASES:
        raise ConfigError(
            f"config field 'version' is {version!r}; supported Bert-VITS2 versions: "
            f"{', '.join(SUPPORTED_VERSIONS)}. Style-Bert-VITS2 voices (any version) are "
            "recognised by data.style2id / data.num_styles; older Bert-VITS2 releases are not "
            "supported"
        )
    return _PARTS[BERT_VITS2_RELEASES[version]]


@dataclass
class DataConfig:
    sampling_rate: int = 44100
    """Output sample rate in Hz."""
    hop_length: int = 512
    """Audio samples per acoustic frame; must equal the product of `model.upsample_rates`."""
    filter_length: int = 2048
    """STFT size used in training; only sets `spec_channels` of the training-only posterior."""
    add_blank: bool = True
    """Whether a blank (id 0) is interleaved between phones, as in training."""
    n_speakers: int = 1
    """Rows of the speaker embedding table."""
    spk2id: dict[str, int] = field(default_factory=dict)
    """Speaker name -> speaker id."""
    style2id: dict[str, int] = field(default_factory=dict)
    """Style-Bert-VITS2 only: style name -> row of style_vectors.npy."""
    num_styles: int = 0
    """Style-Bert-VITS2 only: rows of style_vectors.npy."""


@dataclass
class ModelConfig:
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    p_dropout: float = 0.1
    resblock: str = "1"
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(
        default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    )
    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 2, 2, 2])
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 8, 2, 2])
    gin_channels: int = 512
    use_sdp: bool = True
    n_flow_layer: int = 4
    n_layers_trans_flow: int = 4
    flow_share_parameter: bool = False
    use_transformer_flow: bool = True
    use_spk_conditioned_encoder: bool = True
    n_vocab: int = 112
    """Rows of the phone embedding (upstream: the symbol table, 112)."""
    num_tones: int = 12
    num_languages: int = 3
    bert_dim: int = 1024
    """Width of the BERT features each of the three projections takes."""
    cond_layer_idx: int = 2
    """Text-encoder layer at which speaker conditioning is added (upstream constant)."""
    dp_filter_channels: int = 256
    """Duration-predictor width (upstream constant, not in configs)."""


@dataclass
class VoiceConfig:
    data: DataConfig
    model: ModelConfig
    version: str = "2.3"
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    """The config.json as read, for writing back unchanged keys."""
    parts: ModelParts = field(default_factory=lambda: _PARTS["2.3"])
    """What this version adds to the shared generator."""

    @classmethod
    def from_dict(cls, d: dict[str, Any], style_model: bool = False) -> VoiceConfig:
        """style_model=True marks a Style-Bert-VITS2 model whose config lacks style2id."""
        if not isinstance(d, dict):
            raise ConfigError("config must be a JSON object with 'data', 'model' and 'version'")
        version = str(d.get("version", "")).strip()
        if not version:
            raise ConfigError(
                "config field 'version' is missing; set it to the Bert-VITS2 release the voice "
                f"was trained with ({', '.join(SUPPORTED_VERSIONS)})"
            )
        data = _build(DataConfig, d.get("data", {}), "data")
        style_model = style_model or bool(data.style2id) or data.num_styles > 0
        parts = model_parts(version, style_model)
        model = _build(ModelConfig, d.get("model", {}), "model")
        if parts.flow_transformer_layers is not None:
            # Style-Bert-VITS2 passes only named config values to its constructor: its flow
            # defaults apply whatever the config says
            model.n_layers_trans_flow = parts.flow_transformer_layers
            model.n_flow_layer, model.use_transformer_flow = 4, True
            model.flow_share_parameter, model.use_sdp = False, True
        if "n_speakers" not in d.get("data", {}) and data.spk2id:
            data.n_speakers = len(data.spk2id)
        if parts.style and not data.num_styles:
            data.num_styles = len(data.style2id)
        cfg = cls(data=data, model=model, version=version, raw=d, parts=parts)
        cfg.validate()
        return cfg

    @classmethod
    def from_file(cls, path: str | Path, style_model: bool = False) -> VoiceConfig:
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"config file {path} is not valid JSON: {e}") from None
        return cls.from_dict(d, style_model=style_model)

    @property
    def styles(self) -> dict[str, int]:
        """Style name -> row of style_vectors.npy (Style-Bert-VITS2; empty otherwise)."""
        if self.data.style2id:
            return dict(self.data.style2id)
        return {f"style{i}": i for i in range(self.data.num_styles)}

    @property
    def speakers(self) -> dict[str, int]:
        """Speaker name -> id; voices without names get 'speaker<i>'."""
        if self.data.spk2id:
            return dict(self.data.spk2id)
        return {f"speaker{i}": i for i in range(self.data.n_speakers)}

    @property
    def hop_length(self) -> int:
        return self.data.hop_length

    @property
    def sampling_rate(self) -> int:
        return self.data.sampling_rate

    def validate(self) -> None:
        m, d = self.model, self.data
        _positive(
            m,
            "model",
            [
                "inter_channels",
                "hidden_channels",
                "filter_channels",
                "n_heads",
                "n_layers",
                "kernel_size",
                "upsample_initial_channel",
                "n_flow_layer",
                "n_vocab",
                "num_tones",
                "num_languages",
            ],
        )
        _positive(d, "data", ["sampling_rate", "hop_length", "n_speakers"])
        if m.hidden_channels % m.n_heads:
            raise ConfigError(
                f"model.hidden_channels ({m.hidden_channels}) must be divisible by "
                f"model.n_heads ({m.n_heads})"
            )
        if m.inter_channels % 2:
            raise ConfigError(f"model.inter_channels must be even, got {m.inter_channels}")
        if m.use_spk_conditioned_encoder and m.gin_channels and m.n_layers <= m.cond_layer_idx:
            raise ConfigError(
                f"model.n_layers is {m.n_layers}; a speaker-conditioned encoder adds the speaker "
                f"at layer {m.cond_layer_idx}, so n_layers must be greater than {m.cond_layer_idx}"
            )
        if m.use_transformer_flow and m.n_layers_trans_flow <= m.cond_layer_idx and m.gin_channels:
            raise ConfigError(
                f"model.n_layers_trans_flow is {m.n_layers_trans_flow}; it must be greater than "
                f"{m.cond_layer_idx}"
            )
        if m.resblock not in ("1", "2"):
            raise ConfigError(f'model.resblock must be "1" or "2", got {m.resblock!r}')
        if len(m.upsample_rates) != len(m.upsample_kernel_sizes):
            raise ConfigError(
                "model.upsample_rates and model.upsample_kernel_sizes must have the same length "
                f"({len(m.upsample_rates)} vs {len(m.upsample_kernel_sizes)})"
            )
        if len(m.resblock_kernel_sizes) != len(m.resblock_dilation_sizes):
            raise ConfigError(
                "model.resblock_kernel_sizes and model.resblock_dilation_sizes must have the same "
                "length"
            )
        hop = 1
        for r in m.upsample_rates:
            hop *= r
        if hop != d.hop_length:
            raise ConfigError(
                f"data.hop_length is {d.hop_length} but the product of model.upsample_rates "
                f"{m.upsample_rates} is {hop}; they must be equal"
            )
        if m.upsample_initial_channel % (2 ** len(m.upsample_rates)):
            raise ConfigError(
                "model.upsample_initial_channel must be divisible by 2**len(upsample_rates)"
            )
        if d.n_speakers < 1:
            raise ConfigError("data.n_speakers must be at least 1 (speaker-embedding voices)")
        for name, sid in d.spk2id.items():
            if not isinstance(sid, int) or not 0 <= sid < d.n_speakers:
                raise ConfigError(
                    f"data.spk2id[{name!r}] is {sid!r}; speaker ids must be integers in "
                    f"[0, {d.n_speakers - 1}] (data.n_speakers is {d.n_speakers})"
                )
        if m.gin_channels <= 0:
            raise ConfigError("model.gin_channels must be positive (speaker-embedding voices)")
        for name, row in d.style2id.items():
            if not isinstance(row, int) or not 0 <= row < max(d.num_styles, 1):
                raise ConfigError(
                    f"data.style2id[{name!r}] is {row!r}; style ids must be integers in "
                    f"[0, {d.num_styles - 1}] (data.num_styles is {d.num_styles})"
                )


def _build(cls, d: dict[str, Any], section: str):
    if not isinstance(d, dict):
        raise ConfigError(f"config section '{section}' must be an object")
    kwargs = {}
    for f in fields(cls):
        if f.name in d and d[f.name] is not None:
            kwargs[f.name] = d[f.name]
    try:
        obj = cls(**kwargs)
    except TypeError as e:  # pragma: no cover - dataclass signature mismatch
        raise ConfigError(f"config section '{section}': {e}") from None
    for f in fields(cls):
        value = getattr(obj, f.name)
        if isinstance(f.default, bool) and not isinstance(value, bool):
            raise ConfigError(
                f"config field '{section}.{f.name}' must be true or false, got {value!r}"
            )
        if isinstance(f.default, int) and not isinstance(f.default, bool):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(
                    f"config field '{section}.{f.name}' must be an integer, got {value!r}"
                )
    return obj


def _positive(obj, section: str, names: list[str]) -> None:
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ConfigError(f"config field '{section}.{name}' must be positive, got {value}")
