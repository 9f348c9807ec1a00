"""What the client knows about a voice on the server: `VoiceInfo`, read from the ensemble's
``voice`` parameter (written by `tts-export repository` from the voice manifest), and the
repository-index helpers that find voices and order their loading."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from tts_client.errors import UnknownVoiceError
from tts_contract.request import Limits

STEP_SUFFIXES = ("_frontend", "_encoder", "_noise", "_decoder", "_join", "_stream", "_bert_")
"""Name parts of a voice's step models (``V_encoder``, ``V_bert_zh``): never a voice itself."""


@dataclass
class VoiceInfo:
    """A voice on the server: the ensemble's ``voice`` parameter plus its state."""

    name: str
    """The ensemble's model name: what ``voice=`` takes."""
    speakers: dict[str, int] = field(default_factory=dict)
    """Speaker name -> id."""
    languages: list[str] = field(default_factory=list)
    """Languages with a BERT model (ZH, JP, EN); AUTO and MIX work on top of these."""
    sample_rate: int = 0
    speaker_defaults: dict[str, dict[str, float]] = field(default_factory=dict)
    """Speaker -> sdp_ratio, noise_scale, noise_scale_w, length_scale used when left out."""
    limits: dict[str, Any] = field(default_factory=dict)
    """Per-request limits (max_text_chars, max_sentences, ...) and pauses, as the server
    sent them; `request_limits` fills the rest with the contract's defaults."""
    release: str = ""
    """The generator release (2.0, 2.1, 2.2, 2.3, sbv2, sbv2-jp-extra); empty while the voice
    is not loaded (Triton gives an unloaded model's config to nobody, so it is unknown)."""
    conditioning_inputs: list[str] = field(default_factory=list)
    """The conditioning inputs it takes (EMOTION, EMOTION_ID, REFERENCE_AUDIO, STYLE,
    STYLE_WEIGHT; `tts_contract.request.CONDITIONING_INPUTS`)."""
    styles: dict[str, int] = field(default_factory=dict)
    """Style-Bert-VITS2 style name -> id (id 0 is the neutral style)."""
    models: list[str] = field(default_factory=list)
    """Every model of the voice, BERT ones first, the ensemble last (for load/unload)."""
    stream_model: str | None = None
    """The decoupled per-sentence model (``V_stream``), if the voice has one."""
    ready: bool = False
    """Whether the ensemble is loaded and ready."""
    state: str = ""
    """The repository index's state (READY, UNAVAILABLE, ...)."""

    @classmethod
    def from_config(
        cls, name: str, config: Mapping[str, Any], ready: bool, state: str = ""
    ) -> VoiceInfo:
        """From a model config as ``get_model_config(as_json=True)`` returns it (gRPC or HTTP)."""
        cfg = config.get("config", config)
        meta = voice_metadata(cfg)
        models = list(meta.get("models", []))
        return cls(
            name=name,
            speakers={str(k): int(v) for k, v in meta.get("speakers", {}).items()},
            languages=list(meta.get("languages", [])),
            sample_rate=int(meta.get("sample_rate", 0)),
            speaker_defaults=dict(meta.get("speaker_defaults", {})),
            limits=dict(meta.get("limits", {})),
            release=str(meta.get("release", "2.3")),
            conditioning_inputs=list(meta.get("conditioning_inputs", [])),
            styles={str(k): int(v) for k, v in meta.get("styles", {}).items()},
            models=models,
            stream_model=meta.get("stream_model")
            or (f"{name}_stream" if f"{name}_stream" in models else None),
            ready=ready,
            state=state,
        )

    @property
    def request_limits(self) -> Limits:
        """The server's limits, with the contract's defaults for what it did not send."""
        known = {f.name for f in fields(Limits)}
        return Limits(**{k: v for k, v in self.limits.items() if k in known})

    @property
    def sentence_pause(self) -> float:
        return float(self.request_limits.sentence_pause)

    @property
    def paragraph_pause(self) -> float:
        return float(self.request_limits.paragraph_pause)

    @property
    def has_stream_model(self) -> bool:
        return bool(self.stream_model)

    def pause(self, kind: str) -> float:
        """Silence after a sentence that ends with ``kind`` (sentence, paragraph, end)."""
        return self.request_limits.pause(kind)


def voice_metadata(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``voice`` JSON parameter of an ensemble config, or {} if it has none."""
    params = config.get("parameters") or {}
    raw = params.get("voice")
    if isinstance(raw, Mapping):
        raw = raw.get("string_value", raw.get("stringValue"))
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return {}


def index_entries(index: Any) -> list[dict[str, Any]]:
    """Repository-index rows as dicts (gRPC's ``{"models": [...]}`` or HTTP's list)."""
    rows = index.get("models", []) if isinstance(index, Mapping) else list(index or [])
    return [dict(r) for r in rows]


def voice_candidates(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows that look like voice ensembles: V where ``V_frontend`` is in the index too."""
    rows = list(rows)
    names = {r.get("name", "") for r in rows}
    return [
        r
        for r in rows
        if f"{r.get('name')}_frontend" in names and not any(s in r["name"] for s in STEP_SUFFIXES)
    ]


def voice_models(voice: str, index: Any) -> list[str]:
    """The voice's models as the repository index lists them: BERT first, ensemble last;
    UnknownVoiceError when the repository has no such voice."""
    rows = index_entries(index)
    names = [r["name"] for r in rows]
    if voice not in names:
        raise UnknownVoiceError(unknown_voice_message(voice, voice_candidates(rows)))
    mine = [n for n in names if n.startswith(f"{voice}_")]
    return sorted(mine, key=lambda n: "_bert_" not in n) + [voice]


def unknown_voice_message(voice: str, candidates: Iterable[Mapping[str, Any]]) -> str:
    """What to say when ``voice`` is not a voice on the server: the voices that are (their
    ensembles, not the component models), and how to list them."""
    candidates = list(candidates)
    if any(r.get("name") == voice for r in candidates):
        return f"voice {voice!r} is not loaded on the server; load it with `tts load {voice}`"
    have = sorted(
        f"{r['name']}{'' if r.get('state') == 'READY' else ' (not loaded)'}" for r in candidates
    )
    listed = ", ".join(have) if have else "none (is the repository empty?)"
    return f"no voice {voice!r} on the server; its voices: {listed} (`tts voices` lists them)"


def first_ready(voices: Iterable[VoiceInfo]) -> str:
    """The first loaded voice (the default when a request names none)."""
    ready = [v for v in voices if v.ready]
    if not ready:
        raise UnknownVoiceError(
            "no voice is loaded on the server; load one (`tts load NAME`) or pass voice="
        )
    return ready[0].name


def load_stages(voice: str, models: Iterable[str]) -> list[list[str]]:
    """Load order for a voice: its BERT models (the frontend calls them), then the ensemble,
    which makes Triton load its steps. Loading the steps first as well made Triton load each
    of them twice. Anything else (the streaming model) is loaded after these stages by
    whoever finds it not ready. The models of one stage can load concurrently."""
    bert = [m for m in dict.fromkeys(models) if m != voice and "_bert_" in m]
    return [stage for stage in (bert, [voice]) if stage]


def draining(index: Any, models: Iterable[str]) -> list[str]:
    """Those of ``models`` still READY or UNLOADING in a repository index (an unload waits
    for its entry points to drain before it unloads what they call)."""
    wanted = set(models)
    busy = ("READY", "UNLOADING")
    return [
        r["name"] for r in index_entries(index) if r["name"] in wanted and r.get("state") in busy
    ]


def warn_undrained(busy: list[str], timeout: float) -> None:
    """A model that will not drain (e.g. a client holding a stream open) must not block the
    unload forever: the unload goes on, and says so."""
    warnings.warn(
        f"models still unloading after {timeout:.0f} s: {', '.join(busy)}; "
        "unloading the rest anyway",
        RuntimeWarning,
        stacklevel=4,
    )
