"""Subjects that synthesize inside the benchmark process, with a time per stage.

- `TorchSubject`: the PyTorch reference path (`vits2.synthesize`): PyTorch BERT, PyTorch
  `SynthesizerTrn.infer` on all sentences as one padded batch.
- `GraphSubject`: the exported graphs run with `GraphSession` (onnxruntime or OpenVINO), the
  same frontend, noise and joining as the Triton ensemble, but no server in between. Its time
  is what Triton adds its overhead to.

Both use the same `FrontendPipeline` and seeds, so they produce the same phones and durations
as the server for the same request.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tts_benchmarks.stats import Sample
from tts_benchmarks.workload import Text, Voice


class _Timer:
    """Adds the seconds spent inside `with timer("stage"):` to a dict."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _Span:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.stages[name] = timer.stages.get(name, 0.0) + time.perf_counter() - self.t0

        return _Span()


class TorchSubject:
    """PyTorch BERT + PyTorch acoustic model: `vits2.synthesize.Synthesizer`, the reference
    path (same request handling as the server), which is also the upstream-like baseline.

    Stage times come from wrapping the synthesizer's public parts: the text frontend
    (`pipeline.sentences`) and each BERT extractor's `features`; "acoustic" is the rest
    (slot filling, noise, SynthesizerTrn.infer, joining).
    """

    name = "pytorch"

    def __init__(self, voice: Voice, threads: int = 0) -> None:
        import torch

        from vits2.synthesize import Synthesizer

        if threads:
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()
        self.voice = voice
        self.synth = Synthesizer(
            voice.checkpoint, voice.bert_dirs, config=voice.config, voice_dir=voice.voice_dir
        )
        self.sample_rate = self.synth.sample_rate
        self._timer = _Timer()
        self._wrap(self.synth.pipeline, "sentences", "frontend")
        for extractor in self.synth.extractors.values():
            self._wrap(extractor, "features", "bert")

    def _wrap(self, obj, method: str, stage: str) -> None:
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            with self._timer(stage):
                return inner(*args, **kwargs)

        setattr(obj, method, timed)

    def synthesize(self, text: Text, seed: int) -> tuple[np.ndarray, dict[str, float]]:
        self._timer.stages = {}
        t0 = time.perf_counter()
        result = self.synth(text.text, self.voice.speaker, text.language, seed=seed)
        total = time.perf_counter() - t0
        stages = dict(self._timer.stages)
        stages["acoustic"] = total - sum(stages.values())
        return result.audio, stages


class GraphSubject:
    """The exported ONNX graphs in-process via `GraphSession` (no Triton)."""

    def __init__(
        self,
        voice: Voice,
        runtime: str = "onnxruntime",
        precision: dict[str, str] | None = None,
        threads: int = 0,
        max_padding: float = 0.25,
    ) -> None:
        from tts_model_repository.runtime import GraphSession, graph_axes
        from vits2.pipeline import FrontendPipeline

        precision = precision or {}
        self.name = f"inprocess-{runtime}"
        self.voice = voice
        self.pipeline = FrontendPipeline.from_voice_dir(voice.voice_dir)
        meta = json.loads((Path(voice.voice_dir) / "voice.json").read_text(encoding="utf-8"))
        self.channels = int(meta["inter_channels"])
        self.sample_rate = self.pipeline.voice.sample_rate
        graphs = meta["graphs"]
        self.sessions = {}
        for kind, file in graphs.items():
            family = kind.split("_")[0]
            prec = "fp32" if family == "encoder" else precision.get(family, "fp32")
            self.sessions[kind] = GraphSession(voice.voice_dir / file, runtime, prec, threads)
        self.precision = {k: s.precision for k, s in self.sessions.items()}
        # the decoder runs like the server's: rows of similar frame counts together
        self.decoder_axes = graph_axes(voice.voice_dir / graphs["decoder"])
        self.hop = int(meta["hop_length"])
        self.max_padding = max_padding

    def _run(self, kind: str, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self.sessions[kind]
        return session.run({i.name: values[i.name] for i in session.inputs})

    def _decode(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from tts_model_repository.runtime import run_padded

        (out,) = run_padded(
            self.sessions["decoder"],
            [feeds],
            self.decoder_axes,
            {"samples": ("frames", self.hop)},
            row_lengths={"frames": "frame_lengths"},
            max_padding=self.max_padding,
        )
        if isinstance(out, Exception):
            raise out
        return out

    def synthesize(
        self, text: Text, seed: int, capture: dict | None = None
    ) -> tuple[np.ndarray, dict[str, float]]:
        """(audio, seconds per stage). `capture`, when given, receives every graph's inputs
        (`bert_<lang>`: a list of feeds, `encoder`, `noise`, `decoder`, `join`) and `batch`."""
        from vits2 import noise
        from vits2.assemble import trim_and_join
        from vits2.pipeline import parse_request

        timer = _Timer()

        def bert(language, feeds):
            if capture is not None:
                capture.setdefault(f"bert_{language.lower()}", []).append(feeds)
            with timer("bert"):
                return self._run(f"bert_{language.lower()}", feeds)["bert_features"]

        t0 = time.perf_counter()
        req = parse_request(
            self.pipeline.voice, text.text, self.voice.speaker, text.language, {}, seed
        )
        batch = self.pipeline.prepare(req, bert)
        timer.stages["frontend"] = time.perf_counter() - t0 - timer.stages.get("bert", 0.0)
        s = len(batch)
        col = lambda v, dtype: np.full((s,), v, dtype)  # noqa: E731
        encoder_feeds = {
            "phones": batch.phones,
            "tones": batch.tones,
            "languages": batch.languages,
            "phone_lengths": batch.phone_lengths,
            "bert_zh": batch.bert_zh,
            "bert_ja": batch.bert_ja,
            "bert_en": batch.bert_en,
            "sid": col(req.sid, np.int64),
            "sdp_ratio": col(req.sdp_ratio, np.float32),
            "noise_scale_w": col(req.noise_scale_w, np.float32),
            "length_scale": col(req.length_scale, np.float32),
            "noise_sdp": batch.noise_sdp,
        }
        with timer("encoder"):
            enc = self._run("encoder", encoder_feeds)
        with timer("noise"):
            frames = int(enc["frame_lengths"].max())
            noise_z = np.stack(
                [noise.frame_noise(int(x), self.channels, frames) for x in batch.seeds]
            )
        decoder_feeds = {**enc, "noise_scale": col(req.noise_scale, np.float32), "noise_z": noise_z}
        with timer("decoder"):
            dec = self._decode(decoder_feeds)
        with timer("join"):
            audio = trim_and_join(
                dec["audio"], dec["audio_lengths"], batch.pause_after, self.sample_rate
            )
        if capture is not None:
            capture.update(
                batch=batch,
                encoder=encoder_feeds,
                encoder_out=enc,
                decoder=decoder_feeds,
                decoder_out=dec,
                noise={"frame_lengths": enc["frame_lengths"], "seeds": batch.seeds},
            )
        return audio, timer.stages


def measure(
    subject,
    texts: list[Text],
    repeats: int,
    seed: int,
    progress,
    warmup: int = 1,
    warm_each: bool = True,
) -> list[Sample]:
    """Each text `warmup` times unmeasured (unless `warm_each` is off: then only the first
    text of each language, whose g2p and BERT load lazily), then `repeats` times measured,
    one request at a time."""
    samples: list[Sample] = []
    origin = time.perf_counter()
    warmed: set[str] = set()
    for text in texts:
        for _ in range(warmup if warm_each or text.language not in warmed else 0):
            subject.synthesize(text, seed)
        warmed.add(text.language)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            audio, stages = subject.synthesize(text, seed)
            latency = time.perf_counter() - t0
            sample = Sample(
                text.name, t0 - origin, latency, len(audio) / subject.sample_rate, stages=stages
            )
            samples.append(sample)
            times.append(latency)
        rtf = float(np.median(times)) / samples[-1].audio_s
        progress(
            f"  {subject.name:<22} {text.name:<10} p50 {np.median(times) * 1000:7.0f} ms"
            f"  audio {samples[-1].audio_s:5.2f} s  RTF {rtf:.3f}"
        )
    return samples
