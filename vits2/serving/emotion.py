"""Emotion-model graph inputs: a 2.2 prompt or a reference clip -> the feeds of the voice's
CLAP or wav2vec2 graph (exported by `tts-export emotion`, listed in voice.json
``emotion_models``).

What upstream does, and what is kept:
- 2.2 prompt: `ClapProcessor(text=prompt)` -> `ClapModel.get_text_features` [1, 512].
- 2.2 clip: `librosa.load(path, sr=48000)` -> `ClapProcessor(audios=wav)` ->
  `get_audio_features` [1, 512]. The feature extractor ("fusion" truncation) draws three chunk
  offsets at random for clips over 10 s, so upstream's embedding of such a clip changes from
  call to call; here the draws come from a fixed seed (`CLAP_FUSION_SEED`), the same as
  transformers' extractor after ``np.random.seed(CLAP_FUSION_SEED)``, so a clip always gives one
  embedding. Clips up to 10 s involve no randomness and equal upstream's features.
- 2.1 clip: `librosa.load(path, sr=16000)` -> `Wav2Vec2Processor` input_values -> mean over time
  of the wav2vec2 emotion model's last hidden state [1, 1024].
- Loading: soundfile decodes, channels are averaged (librosa's to_mono), the clip is resampled
  and cut or zero-padded to ceil(n * target / rate) samples, as `librosa.load(file, sr=)` does.
  Upstream's 2.1 / 2.2 requirements pin librosa 0.9, whose resampler is resampy's
  "kaiser_best": that is the default here (resampy itself, as librosa 0.9.2 calls it).
  ``resampler="soxr_hq"`` is librosa >= 0.10's (bit-exact to librosa 0.11; ~20x faster; the two
  agree to ~1e-5 below ~0.9 x Nyquist and differ just under it: docs/versions.md).

The CLAP mel features are computed here with transformers' numpy audio functions, not with
`ClapFeatureExtractor` (which needs torch); tests check they equal the extractor's. Nothing here
imports torch or onnxruntime: it runs inside Triton's Python backend.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

from tts_contract.request import RequestError

__all__ = [
    "CLAP_FUSION_SEED",
    "EMOTION_DIMS",
    "EMOTION_GRAPHS",
    "EMOTION_RATES",
    "MIN_CLIP_SECONDS",
    "RESAMPLERS",
    "EmotionFeeds",
    "decode_clip",
    "load_clip",
    "resample",
    "run_embedding",
    "warmup_resampler",
]

EMOTION_GRAPHS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clap_text": (("input_ids", "attention_mask"), ("embedding",)),
    "clap_audio": (("input_features", "is_longer"), ("embedding",)),
    "wav2vec2": (("input_values", "attention_mask"), ("embedding",)),
}
"""Emotion graph kind -> (input names, output names), in graph order. Dtypes: input_ids,
attention_mask int64 [N, tokens | samples]; input_features float32 [N, 4, 1001, 64]; is_longer
bool [N, 1] (at least one true per batch, as the extractor makes it); input_values float32
[N, samples]; embedding float32 [N, dim]."""

EMOTION_DIMS = {"clap_text": 512, "clap_audio": 512, "wav2vec2": 1024}
"""Embedding size per kind: what the 2.2 (512) and 2.1 (1024) encoders take as ``emo``."""

EMOTION_RATES = {"clap_audio": 48000, "wav2vec2": 16000}
"""Sample rate each audio model reads (its feature extractor's ``sampling_rate``)."""

MIN_CLIP_SECONDS = 0.1
"""Shortest reference clip taken: wav2vec2's convolutions need 400 samples (25 ms at 16 kHz)
for one frame, and a clip shorter than a syllable carries no emotion to speak of."""

CLAP_FUSION_SEED = 0
"""Seed of the chunk offsets CLAP's fusion takes from clips over 10 s (upstream: unseeded)."""


RESAMPLERS = ("kaiser_best", "soxr_hq")
"""How clips are resampled: "kaiser_best" (the default: resampy's filter, librosa 0.9's
default, which upstream's 2.1 / 2.2 requirements pin, so upstream's own samples) or "soxr_hq"
(librosa >= 0.10's default; ~20x faster, differs just under Nyquist)."""


def resample(audio: np.ndarray, rate: int, target: int, method: str = "kaiser_best") -> np.ndarray:
    """Mono float32 `audio` at `rate` -> `target` Hz as librosa.resample(res_type=method):
    soxr HQ or resampy's kaiser_best, then cut or zero-padded to ceil(len * target / rate)."""
    if method not in RESAMPLERS:
        raise ValueError(f"resampler {method!r}; allowed: {', '.join(RESAMPLERS)}")
    if rate == target:
        return audio
    if method == "kaiser_best":
        import resampy  # numba-compiled on first use (`warmup_resampler`)

        out = resampy.resample(audio, rate, target, filter="kaiser_best").astype(np.float32)
    else:
        import soxr

        out = soxr.resample(audio, rate, target, quality="HQ")
    size = int(np.ceil(audio.shape[-1] * (float(target) / rate)))
    if out.shape[-1] >= size:
        return np.ascontiguousarray(out[:size])
    return np.pad(out, (0, size - out.shape[-1]))


def warmup_resampler() -> None:
    """Compile resampy's kernel (numba, ~4 s) so that the first reference clip does not pay."""
    resample(np.zeros(1600, np.float32), 16000, 48000)


def decode_clip(
    data: bytes, max_seconds: float, field: str = "REFERENCE_AUDIO"
) -> tuple[np.ndarray, int]:
    """Audio file bytes (any format soundfile reads) -> (mono float32 samples, sample rate):
    the one rule for what a reference clip may be. Undecodable, empty, shorter than
    `MIN_CLIP_SECONDS`, longer than `max_seconds` (checked before decoding) or non-finite
    audio is a `RequestError` naming `field`. Channels are averaged (librosa's to_mono)."""
    import soundfile as sf

    if not isinstance(data, bytes | bytearray) or not data:
        raise RequestError(f"{field} is empty; send the bytes of a WAV, FLAC or OGG file")
    try:
        with sf.SoundFile(io.BytesIO(bytes(data))) as f:
            rate, frames = f.samplerate, f.frames
            if frames > max_seconds * rate:
                raise RequestError(
                    f"{field} is {frames / rate:.1f} s long; at most {max_seconds:g} s is "
                    "allowed: cut the clip"
                )
            audio = f.read(dtype="float32", always_2d=True)
    except RequestError:
        raise
    except Exception as e:  # soundfile raises its own error types and RuntimeError/TypeError
        raise RequestError(
            f"{field} could not be decoded as audio ({e}); send a WAV, FLAC or OGG file"
        ) from None
    if audio.shape[0] == 0:
        raise RequestError(
            f"{field} holds no samples; send a clip of speech up to {max_seconds:g} s"
        )
    seconds = audio.shape[0] / rate
    if seconds < MIN_CLIP_SECONDS:
        raise RequestError(
            f"{field} is {seconds * 1000:.0f} ms long; send at least {MIN_CLIP_SECONDS:g} s "
            f"(and at most {max_seconds:g} s) of speech"
        )
    if not np.isfinite(audio).all():
        raise RequestError(f"{field} contains NaN or infinite samples; send finite audio")
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def load_clip(
    data: bytes,
    target: int,
    max_seconds: float,
    field: str = "REFERENCE_AUDIO",
    resampler: str = "kaiser_best",
) -> np.ndarray:
    """Audio file bytes -> mono float32 at `target` Hz, as librosa.load(file, sr=target,
    res_type=resampler) gives it (`decode_clip` says what bad audio is)."""
    mono, rate = decode_clip(data, max_seconds, field)
    return resample(mono, rate, target, resampler)


def _bilinear_rows(mel: np.ndarray, rows: int) -> np.ndarray:
    """`mel` [T, F] float32 resized to [rows, F] along T as torch's bilinear interpolate
    (align_corners=False; F keeps its size, so it is a linear resize of T). The source
    position is rounded to float32 once (torch's fused multiply-add), then weighted in float32;
    the result equals torch's to an ulp or two."""
    src = mel.shape[0]
    scale = np.float64(np.float32(src) / np.float32(rows))
    pos = ((np.arange(rows, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    pos = np.maximum(pos, np.float32(0.0))
    lo = np.minimum(pos.astype(np.int64), src - 1)
    hi = np.minimum(lo + 1, src - 1)
    w = (pos - lo.astype(np.float32))[:, None]
    return (np.float32(1.0) - w) * mel[lo] + w * mel[hi]


class _ClapMel:
    """CLAP's fusion features for one clip, from its preprocessor_config.json (what
    `ClapFeatureExtractor` computes with truncation "fusion", padding "repeatpad")."""

    def __init__(self, config: dict) -> None:
        from transformers.audio_utils import mel_filter_bank, window_function

        if config.get("truncation", "fusion") != "fusion" or config.get(
            "padding", "repeatpad"
        ) not in ("repeatpad",):
            raise ValueError(
                "CLAP feature extractor with truncation "
                f"{config.get('truncation')!r} / padding {config.get('padding')!r}: only "
                "fusion / repeatpad (clap-htsat-fused, Bert-VITS2 2.2's) is supported"
            )
        self.rate = int(config["sampling_rate"])
        self.hop = int(config["hop_length"])
        self.n_fft = int(config["fft_window_size"])
        self.max_samples = int(config["max_length_s"]) * self.rate
        self.window = window_function(self.n_fft, "hann")
        self.filters = mel_filter_bank(
            num_frequency_bins=(self.n_fft >> 1) + 1,
            num_mel_filters=int(config["feature_size"]),
            min_frequency=float(config["frequency_min"]),
            max_frequency=float(config["frequency_max"]),
            sampling_rate=self.rate,
            norm=None,
            mel_scale="htk",
        )

    def _log_mel(self, wav: np.ndarray) -> np.ndarray:
        from transformers.audio_utils import spectrogram

        spec = spectrogram(
            wav,
            self.window,
            frame_length=self.n_fft,
            hop_length=self.hop,
            power=2.0,
            mel_filters=self.filters,
            log_mel="dB",
        )
        return spec.T

    def __call__(self, wav: np.ndarray) -> tuple[np.ndarray, bool]:
        """[4, frames, mels] float32 and whether the clip was longer than 10 s. A lone clip
        always reports is_longer True (the extractor marks one clip per batch when none is)."""
        n = wav.shape[0]
        if n <= self.max_samples:
            wav = np.tile(wav, self.max_samples // n) if n < self.max_samples else wav
            wav = np.pad(wav, (0, self.max_samples - wav.shape[0]))
            mel = self._log_mel(wav)
            return np.stack([mel] * 4).astype(np.float32), True
        mel = self._log_mel(wav)
        chunk = self.max_samples // self.hop + 1
        total = mel.shape[0]
        if chunk == total:  # just over 10 s: the whole clip, as the extractor does
            return np.stack([mel] * 4).astype(np.float32), True
        ranges = np.array_split(list(range(0, total - chunk + 1)), 3)
        ranges = [r if len(r) else [0] for r in ranges]
        draw = np.random.RandomState(CLAP_FUSION_SEED)
        starts = [int(draw.choice(r)) for r in ranges]
        shrunk = _bilinear_rows(mel, chunk)
        parts = [shrunk] + [mel[s : s + chunk] for s in starts]
        return np.stack(parts).astype(np.float32), True


class EmotionFeeds:
    """Graph feeds of a voice's emotion models (`VoiceManifest.emotion_models`).

    `text(prompt)` feeds "clap_text"; `audio(kind, data, max_seconds)` feeds "clap_audio" or
    "wav2vec2" from the bytes of an audio file. Processors load on first use from the voice's
    copies of the model folders' tokenizer / feature-extractor files. Every bad input is a
    `RequestError` saying what was wrong and what is allowed."""

    def __init__(self, voice_dir: str | Path, manifest, resampler: str = "kaiser_best") -> None:
        if resampler not in RESAMPLERS:
            raise ValueError(f"resampler {resampler!r}; allowed: {', '.join(RESAMPLERS)}")
        self.resampler = resampler
        self.voice_dir = Path(voice_dir)
        self.release = manifest.release
        self.models: dict[str, dict[str, str]] = dict(manifest.emotion_models)
        self._tokenizer = None
        self._clap_mel: _ClapMel | None = None
        self._wav2vec2 = None

    def _folder(self, kind: str, field: str) -> Path:
        if kind not in self.models:
            have = ", ".join(sorted(self.models)) or "none"
            how = "--clap DIR" if kind.startswith("clap") else "--emotion-model DIR"
            raise RequestError(
                f"{field} needs the voice's {kind} emotion graph, which it does not have "
                f"(release {self.release}; emotion graphs: {have}); export it with "
                f"`tts-export emotion VOICE_DIR {how}`"
            )
        return self.voice_dir / self.models[kind]["processor"]

    def _clap_tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            folder = self._folder("clap_text", "EMOTION")
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        return self._tokenizer

    def text(self, prompt: str) -> dict[str, np.ndarray]:
        """A 2.2 emotion prompt ("Happy", "a sad voice") -> clap_text feeds [1, tokens]."""
        tokenizer = self._clap_tokenizer()
        if not isinstance(prompt, str) or not prompt.strip():
            raise RequestError(
                "EMOTION is empty; give a prompt such as 'Happy' or 'a sad voice', or leave "
                "EMOTION out for the voice's neutral emotion"
            )
        ids = tokenizer(prompt)["input_ids"]
        limit = int(tokenizer.model_max_length)
        if len(ids) > limit:
            raise RequestError(
                f"EMOTION is {len(ids)} tokens long; CLAP's tokenizer takes at most {limit} "
                "(special tokens included): shorten the prompt"
            )
        ids = np.asarray([ids], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": np.ones_like(ids)}

    def audio(self, kind: str, data: bytes, max_seconds: float) -> dict[str, np.ndarray]:
        """Audio file bytes -> feeds of the "clap_audio" (2.2) or "wav2vec2" (2.1) graph."""
        if kind not in EMOTION_RATES:
            raise ValueError(f"audio emotion kind {kind!r}; allowed: {sorted(EMOTION_RATES)}")
        folder = self._folder(kind, "REFERENCE_AUDIO")
        wav = load_clip(data, EMOTION_RATES[kind], max_seconds, resampler=self.resampler)
        if kind == "clap_audio":
            if self._clap_mel is None:
                config = json.loads((folder / "preprocessor_config.json").read_text("utf-8"))
                self._clap_mel = _ClapMel(config)
            features, longer = self._clap_mel(wav)
            return {"input_features": features[None], "is_longer": np.array([[longer]])}
        return self._wav2vec2_feeds(folder, wav)

    def _wav2vec2_feeds(self, folder: Path, wav: np.ndarray) -> dict[str, np.ndarray]:
        if self._wav2vec2 is None:
            from transformers import Wav2Vec2FeatureExtractor

            self._wav2vec2 = Wav2Vec2FeatureExtractor.from_pretrained(
                str(folder), local_files_only=True
            )
        # upstream passes the clip as a batch of one ([1, samples]); same normalisation
        out = self._wav2vec2(wav[None], sampling_rate=EMOTION_RATES["wav2vec2"])
        values = np.asarray(out["input_values"], dtype=np.float32).reshape(1, -1)
        if not np.isfinite(values).all():  # not expected after the checks above; cheap
            raise RequestError("REFERENCE_AUDIO gave non-finite features; send other audio")
        return {"input_values": values, "attention_mask": np.ones(values.shape, np.int64)}


def run_embedding(session_run, kind: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """Run one emotion graph on `feeds` of a single item -> its embedding [dim] float32.

    `session_run(output_names, feeds)` is how the caller runs the graph (onnxruntime's
    `InferenceSession.run`, a Triton BLS call wrapped to that signature, ...)."""
    inputs, outputs = EMOTION_GRAPHS[kind]
    missing = [name for name in inputs if name not in feeds]
    if missing:
        raise ValueError(f"{kind} feeds lack {missing}; the graph takes {list(inputs)}")
    (embedding,) = session_run(list(outputs), {name: feeds[name] for name in inputs})
    embedding = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if embedding.shape[0] != EMOTION_DIMS[kind] or not math.isfinite(float(embedding.sum())):
        raise ValueError(
            f"{kind} graph gave an embedding of shape {embedding.shape} (finite: "
            f"{bool(np.isfinite(embedding).all())}); expected {EMOTION_DIMS[kind]} finite values"
        )
    return embedding
