"""The voice manifest: `voice.json`, the one reader and writer of the file that travels with a
voice's graphs (and the graph I/O names it describes). Stdlib only.

`tts-export onnx` writes it; `tts-export repository` copies it into the Triton models and puts
its public part into the ensemble's ``voice`` parameter (what `tts_client.voices.VoiceInfo`
reads); the Triton models, the in-process runner and the reference read it through here.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tts_contract.request import CONDITIONING_INPUTS, DEFAULT_SCALES, Limits

CONTRACT_VERSION = 1
"""Version of the graph I/O contract in docs/graphs.md; bumped on any incompatible change."""

SIDECAR = "voice.json"


def model_name(voice: str) -> str:
    """The Triton model name of voice ``voice`` (its ensemble; the other models add a suffix):
    characters outside A-Z a-z 0-9 _ - become "_". ValueError when nothing usable is left."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", voice).strip("_")
    if not name:
        raise ValueError(f"voice name {voice!r} has no usable characters for a Triton model name")
    return name


# Graph I/O names in graph order (docs/graphs.md)
ENCODER_INPUTS = [
    "phones",
    "tones",
    "languages",
    "phone_lengths",
    "bert_zh",
    "bert_ja",
    "bert_en",
    "sid",
    "sdp_ratio",
    "noise_scale_w",
    "length_scale",
    "noise_sdp",
]
ENCODER_OUTPUTS = ["m_p", "logs_p", "g", "durations", "frame_lengths"]
DECODER_INPUTS = ["m_p", "logs_p", "g", "durations", "frame_lengths", "noise_scale", "noise_z"]
DECODER_OUTPUTS = ["audio", "audio_lengths"]
FLOW_OUTPUTS = ["z"]
"""The flow graph (the decoder's first half: DECODER_INPUTS -> z) and the vocoder (z -> audio)."""
VOCODER_INPUTS = ["z", "g", "frame_lengths"]
VOCODER_OUTPUTS = ["audio", "audio_lengths"]


@dataclass
class BertInfo:
    language: str
    """ZH, JP or EN."""
    model_name: str
    """Folder name of the BERT it was exported from (e.g. chinese-roberta-wwm-ext-large)."""
    graph: str
    """File name of the graph in the voice folder."""
    tokenizer: str
    """Folder (relative to the voice folder) holding the tokenizer files the frontend loads."""
    has_token_type_ids: bool = False


@dataclass
class VoiceManifest:
    name: str
    sample_rate: int
    hop_length: int
    inter_channels: int
    gin_channels: int
    speakers: dict[str, int]
    languages: list[str]
    bert: dict[str, BertInfo] = field(default_factory=dict)
    graphs: dict[str, str] = field(default_factory=dict)
    """Graph kind -> file name (encoder, decoder, bert_zh, ...); also "style_vectors" -> the
    Style-Bert-VITS2 style table (.npy, not a graph: `onnx_graphs` leaves it out)."""
    speaker_defaults: dict[str, dict[str, float]] = field(default_factory=dict)
    """Speaker name -> sdp_ratio, noise_scale, noise_scale_w, length_scale used when a request
    leaves them out (upstream server style); edit freely."""
    precision: dict[str, str] = field(default_factory=dict)
    """Graph kind -> fp32 / fp16."""
    variants: dict[str, dict[str, dict]] = field(default_factory=dict)
    """Graph kind -> precision -> {"graph": file, ...}: extra graphs such as the int8 decoder
    from `tts-export quantize` (with its measured SNR)."""
    limits: dict[str, float] = field(default_factory=dict)
    """Per-request limits the server enforces (`tts_contract.request.Limits`); missing keys take
    the defaults."""
    version: str = "2.3"
    """The config's ``version`` string, as trained."""
    release: str = "2.3"
    """The generator release it loads as (`vits2.config.ModelParts.release`: 2.0, 2.1, 2.2,
    2.3, sbv2, sbv2-jp-extra); decides which conditioning inputs a request may carry
    (`tts_contract.request.CONDITIONING_INPUTS`)."""
    encoder_inputs: list[str] = field(default_factory=lambda: list(ENCODER_INPUTS))
    """The encoder graph's inputs in graph order: 2.3's `ENCODER_INPUTS` less the BERT slots the
    release lacks (JP-Extra: bert_ja only), plus its conditioning (emo, emo_id, style_vec)."""
    styles: dict[str, int] = field(default_factory=dict)
    """Style-Bert-VITS2: style name -> row of the style vectors (``graphs["style_vectors"]``,
    float32 [num_styles, 256]); row 0 is the neutral style. Empty for other voices."""
    emotion_models: dict[str, dict[str, str]] = field(default_factory=dict)
    """Emotion embedders exported with the voice (2.1, 2.2), by kind: "clap_text",
    "clap_audio", "wav2vec2" -> {"graph": file, "processor": folder of its tokenizer /
    feature-extractor files, "model_name": ...}. A kind that is missing makes the request
    inputs that need it an error naming how to export it."""
    frontend_profile: str = ""
    """The text frontend profile the voice was trained with (`vits2.text.profiles`; set at
    export with --frontend-profile); "" = the frontend's default ("improved"). A request may
    name another (PROFILE)."""
    user_dict: str = ""
    """The voice's own OpenJTalk user dictionary, compiled (`tts-export onnx --user-dict`;
    relative to the voice folder, its CSV source beside it with the suffix .csv); "" = none.
    Japanese of this voice only is read with it (an SBV2 voice's also holds SBV2's default
    words)."""
    contract: int = CONTRACT_VERSION

    @classmethod
    def from_dict(cls, d: dict) -> VoiceManifest:
        """From voice.json's content; missing or unknown keys are a ValueError naming them."""
        d = dict(d)
        try:
            d["bert"] = {k: BertInfo(**v) for k, v in d.get("bert", {}).items()}
            return cls(**d)
        except TypeError as e:
            raise ValueError(
                f"not a voice manifest ({e}); voice.json is written by `tts-export onnx`"
            ) from None

    @classmethod
    def load(cls, voice_dir: str | Path) -> VoiceManifest:
        path = Path(voice_dir) / SIDECAR
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: is {voice_dir} a folder written by `tts-export onnx`?"
            )
        manifest = cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if manifest.contract != CONTRACT_VERSION:
            raise ValueError(
                f"{path} uses graph contract {manifest.contract}; this version reads "
                f"{CONTRACT_VERSION}. Re-export the voice with this version of tts-export."
            )
        return manifest

    def save(self, voice_dir: str | Path) -> Path:
        path = Path(voice_dir) / SIDECAR
        path.write_text(
            json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return path

    @property
    def onnx_graphs(self) -> dict[str, str]:
        """`graphs` less the files that are not ONNX graphs (style_vectors)."""
        return {k: v for k, v in self.graphs.items() if v.endswith(".onnx")}

    @property
    def conditioning_inputs(self) -> tuple[str, ...]:
        """The conditioning request inputs this voice takes (EMOTION, STYLE, ...)."""
        return tuple(k for k, releases in CONDITIONING_INPUTS.items() if self.release in releases)

    @property
    def request_limits(self) -> Limits:
        return Limits.from_dict(self.limits)

    def defaults_for(self, speaker: str) -> dict[str, float]:
        """The scales a request for ``speaker`` gets when it leaves them out."""
        return {**DEFAULT_SCALES, **self.speaker_defaults.get(speaker, {})}

    def graph_metadata(self, kind: str, **extra: str) -> dict[str, str]:
        meta = {
            "contract": str(self.contract),
            "graph": kind,
            "voice_version": self.version,
            "voice_name": self.name,
            "sample_rate": str(self.sample_rate),
            "hop_length": str(self.hop_length),
            "inter_channels": str(self.inter_channels),
            "gin_channels": str(self.gin_channels),
            "speakers": json.dumps(self.speakers, ensure_ascii=False),
            "languages": json.dumps(self.languages),
            "bert_models": json.dumps({k: v.model_name for k, v in self.bert.items()}),
        }
        meta.update(extra)
        return meta
