"""Text -> audio with the PyTorch reference: the parity oracle of the server, and a CPU fallback.

It runs exactly the server's request path (`vits2.serving.path`: validation, frontend, BERT
slot filling, encoder, seeded noise, decoder, join) with PyTorch BERT and the PyTorch model's
`encode` / `decode` in place of the exported graphs, so a server response can be compared with
it sample for sample. Sentence i
of a request uses seed + i; sentences are joined with the frontend's pauses (0.2 s between
sentences, 1 s between paragraphs by default).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tts_contract.manifest import VoiceManifest
from tts_contract.request import DEFAULT_SCALES, sentence_seed
from tts_contract.timestamps import parse as parse_timestamps
from vits2.bert import BertFeatureExtractor
from vits2.serving.alignment import phone_spans
from vits2.serving.path import (
    given_durations_step,
    join_step,
    noise_step,
    release_encoder_inputs,
    run_steps,
)
from vits2.serving.pipeline import EmotionFn, FrontendPipeline
from vits2.serving.request import parse_request
from vits2.text.frontend import Sentence
from vits2.text.symbols import LANGUAGES

__all__ = ["SynthesisResult", "Synthesizer", "synthesize", "write_wav"]


@dataclass
class SynthesisResult:
    audio: np.ndarray
    """float32 mono samples in [-1, 1] (not clipped)."""
    sample_rate: int
    sentences: list[Sentence]
    durations: list[np.ndarray]
    """Frames per phone id, one array per sentence."""
    elapsed: float
    """Seconds spent (frontend + BERT + model)."""
    timestamps: dict | None = None
    """With ``timestamps=True``: the TIMESTAMPS output (`tts_contract.request.TIMESTAMPS_KEYS`)
    of the join step, as the server gives it (one chunk of max_sentences sentences at most)."""

    @property
    def rtf(self) -> float:
        """Compute time / audio time (lower is better)."""
        seconds = len(self.audio) / self.sample_rate
        return self.elapsed / seconds if seconds else float("inf")


class Synthesizer:
    """A loaded voice + its BERTs; `__call__(text, ...)` gives a `SynthesisResult`.

    `voice_dir` (a `tts-export onnx` folder) supplies speaker defaults and limits as the
    server uses them; without it they come from the checkpoint's config.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        bert_dirs: dict[str, str | Path],
        config: str | Path | None = None,
        device: str = "cpu",
        sentence_pause: float = 0.2,
        paragraph_pause: float = 1.0,
        voice_dir: str | Path | None = None,
        emotion: EmotionFn | None = None,
    ) -> None:
        """`emotion` runs the voice's emotion graphs for EMOTION / REFERENCE_AUDIO requests
        (`vits2.serving.pipeline.EmotionFn`; they need `voice_dir`'s emotion models)."""
        import vits2

        if not bert_dirs:
            raise ValueError("bert_dirs is empty: give at least one of ZH, JP, EN -> BERT folder")
        dirs = {k.upper().replace("JA", "JP"): Path(v) for k, v in bert_dirs.items()}
        self.model = vits2.load_model(checkpoint, config, device=device)
        self.device = torch.device(device)
        if voice_dir is not None:
            self.pipeline = FrontendPipeline.from_voice_dir(voice_dir)
        else:
            voice = voice_manifest(
                self.model.config,
                Path(checkpoint).stem,
                list(dirs),
                limits={"sentence_pause": sentence_pause, "paragraph_pause": paragraph_pause},
            )
            types = {
                lang: json.loads((d / "config.json").read_text()).get("type_vocab_size", 0) > 0
                for lang, d in dirs.items()
            }
            vectors = None
            if self.model.config.parts.style:  # beside the checkpoint, as load_model reads it
                from vits2.styles import load_style_vectors

                path = Path(checkpoint).parent / "style_vectors.npy"
                # without the file (load_model warned): the neutral style only, zeros
                neutral = self.model.neutral_style.cpu().numpy()[None]
                vectors = load_style_vectors(path) if path.is_file() else neutral
            self.pipeline = FrontendPipeline(
                voice, {k: str(v) for k, v in dirs.items()}, types, style_vectors=vectors
            )
        self.emotion = emotion
        if emotion is None and self.pipeline.voice.emotion_models and voice_dir is not None:
            self.emotion = onnx_emotion(Path(voice_dir), self.pipeline.voice.emotion_models)
        self.extractors = {k: BertFeatureExtractor(v, device=device) for k, v in dirs.items()}
        self._lock = threading.Lock()

    @property
    def speakers(self) -> dict[str, int]:
        return dict(self.pipeline.voice.speakers)

    @property
    def sample_rate(self) -> int:
        return int(self.pipeline.voice.sample_rate)

    def _bert(self, language: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """BertFn over PyTorch: each padded row computed on its own unpadded tokens."""
        extractor = self.extractors[language]
        rows = []
        for i in range(feeds["input_ids"].shape[0]):
            t = int(feeds["attention_mask"][i].sum())
            types = feeds["token_type_ids"][i, :t] if "token_type_ids" in feeds else None
            feat = extractor.features(
                feeds["input_ids"][i, :t],
                feeds["attention_mask"][i, :t],
                types,
                feeds["phone_to_token"][i],
            )
            rows.append(feat.float().cpu().numpy())
        return np.stack(rows)

    @torch.inference_mode()
    def __call__(
        self,
        text: str,
        speaker: str | int = "",
        language: str = "",
        sdp_ratio: float | None = None,
        noise_scale: float | None = None,
        noise_scale_w: float | None = None,
        length_scale: float | None = None,
        seed: int | None = 0,
        **request_fields: object,
    ) -> SynthesisResult:
        """None scales take the speaker's defaults; seed None draws a fresh one; language ""
        the voice's default (`tts_contract.request.default_language`).
        `request_fields`: the other request inputs by `parse_request`'s names (profile,
        style_text, style_text_weight)."""
        start = time.perf_counter()
        scales = dict(
            sdp_ratio=sdp_ratio,
            noise_scale=noise_scale,
            noise_scale_w=noise_scale_w,
            length_scale=length_scale,
        )
        req = parse_request(
            self.pipeline.voice, text, str(speaker), language, scales, seed, **request_fields
        )
        sentences = self.pipeline.sentences(req)
        limits = self.pipeline.limits
        pieces, durations, stamps = [], [], []
        with self._lock:
            # batched == unbatched, so requests over max_sentences run in exact chunks
            for first in range(0, len(sentences), limits.max_sentences):
                chunk = sentences[first : first + limits.max_sentences]
                seed = sentence_seed(req.seed, first)
                batch = self.pipeline.assemble(chunk, self._bert, seed, req.style)
                feeds = self.pipeline.outputs(batch, req, self.emotion)
                values = self._run_path(feeds, chunk, req.durations)
                pieces.append(values["AUDIO"])
                stamps.append(parse_timestamps(values["TIMESTAMPS"][0]))
                durations += [
                    values["durations"][i, : int(batch.phone_lengths[i])] for i in range(len(batch))
                ]
                if first + limits.max_sentences < len(sentences) and chunk[-1].pause_after > 0:
                    pieces.append(
                        np.zeros(int(round(chunk[-1].pause_after * self.sample_rate)), np.float32)
                    )
        return SynthesisResult(
            np.concatenate(pieces),
            self.sample_rate,
            sentences,
            durations,
            time.perf_counter() - start,
            stamps[0] if len(stamps) == 1 else None,
        )

    def _run_path(self, feeds: dict, sentences: list[Sentence], given) -> dict:
        """The voice's path from the encoder to the join; with ``given`` (DURATIONS), the
        durations step between the encoder and the noise, as the stream model runs it."""
        path = self.pipeline.path
        if given is None:
            return run_steps(feeds, self._step, path=path)
        values = run_steps(feeds, self._step, stop="encoder", path=path)
        spans = [(s.start, s.stop) for s in phone_spans(sentences[0])]
        values = given_durations_step(values, spans, given)
        return run_steps(values, self._step, start="noise", path=path)

    def _step(self, name: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`vits2.serving.path.StepRunner` with the PyTorch model in place of the graphs."""
        if name == "noise":
            return noise_step(feeds, self.model.inter_channels, self.pipeline.limits.max_frames)
        if name == "join":
            return join_step(feeds, self.sample_rate)
        t = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in feeds.items()}
        if name == "encoder":  # BERT slots the release lacks are None (JP-Extra)
            slots = {k: t.get(k) for k in ("bert_zh", "bert_ja", "bert_en")}
            enc = self.model.encode(**{**t, **slots})
            out = {
                "m_p": enc.m_p,
                "logs_p": enc.logs_p,
                "g": enc.g,
                "durations": enc.durations,
                "frame_lengths": enc.frame_lengths,
            }
        else:
            res = self.model.decode(**t)
            out = {"audio": res.audio, "audio_lengths": res.audio_lengths}
        return {k: v.cpu().numpy() for k, v in out.items()}


def onnx_emotion(voice_dir: Path, emotion_models: dict[str, dict[str, str]]) -> EmotionFn:
    """`EmotionFn` running a voice folder's emotion graphs (voice.json ``emotion_models``) with
    onnxruntime: the same graphs the server runs, so a reference and a served request with
    EMOTION / REFERENCE_AUDIO get the same embedding."""
    import onnxruntime as ort

    sessions: dict[str, ort.InferenceSession] = {}

    def run(kind: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if kind not in sessions:
            path = voice_dir / emotion_models[kind]["graph"]
            sessions[kind] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in sessions[kind].get_inputs()]
        return sessions[kind].run(["embedding"], {n: feeds[n] for n in names})[0]

    return run


def voice_manifest(cfg, name: str, bert_languages, **fields) -> VoiceManifest:
    """The voice manifest of a checkpoint's `vits2.config.VoiceConfig` speaking the languages
    it has BERTs for; `fields` set the rest (limits, frontend_profile, graphs, ...)."""
    parts = cfg.parts
    return VoiceManifest(
        name=name,
        sample_rate=cfg.data.sampling_rate,
        hop_length=cfg.data.hop_length,
        inter_channels=cfg.model.inter_channels,
        gin_channels=cfg.model.gin_channels,
        speakers=cfg.speakers,
        languages=[lang for lang in LANGUAGES if lang in bert_languages],
        speaker_defaults={s: dict(DEFAULT_SCALES) for s in cfg.speakers},
        version=cfg.version,
        release=parts.release,
        encoder_inputs=release_encoder_inputs(parts.bert_inputs, parts.extra_inputs),
        styles=cfg.styles if parts.style else {},
        **fields,
    )


_cache: dict[tuple, Synthesizer] = {}
_cache_lock = threading.Lock()


def cached_synthesizer(
    checkpoint, bert_dirs, config=None, device="cpu", voice_dir=None
) -> Synthesizer:
    key = (
        str(Path(checkpoint).resolve()),
        tuple(sorted((k.upper(), str(Path(v).resolve())) for k, v in bert_dirs.items())),
        str(config),
        str(device),
        str(voice_dir),
    )
    with _cache_lock:
        if key not in _cache:
            _cache[key] = Synthesizer(
                checkpoint, bert_dirs, config=config, device=device, voice_dir=voice_dir
            )
        return _cache[key]


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """16-bit PCM wav; samples outside [-1, 1] are clipped."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")
    return path


def synthesize(
    text: str,
    checkpoint: str | Path,
    bert_dirs: dict[str, str | Path],
    speaker: str | int = "",
    language: str = "ZH",
    seed: int | None = 0,
    *,
    config: str | Path | None = None,
    device: str = "cpu",
    output: str | Path | None = None,
    **fields: object,
) -> tuple[np.ndarray, int]:
    """Text -> (float32 audio, sample rate); also writes a 16-bit wav to `output` if given.

    `bert_dirs` maps ZH / JP / EN to local BERT folders (only the languages the text uses
    are needed). `fields`: sdp_ratio, noise_scale, noise_scale_w, length_scale (left out:
    upstream's server defaults, `tts_contract.request.DEFAULT_SCALES`), profile, style_text,
    style_text_weight. The voice and BERTs stay loaded between calls.
    """
    synth = cached_synthesizer(checkpoint, bert_dirs, config, device)
    result = synth(text, speaker, language, seed=seed, **fields)
    if output is not None:
        write_wav(output, result.audio, result.sample_rate)
    return result.audio, result.sample_rate
