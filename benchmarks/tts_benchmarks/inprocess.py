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

import time
from typing import Any

import numpy as np

from tts_benchmarks.stats import Sample
from tts_benchmarks.workload import Requests, Text, Voice


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
    """The exported ONNX graphs in-process (`tts_runtime.inprocess.VoiceGraphs`, the
    ensemble's steps without Triton)."""

    def __init__(self, voice: Voice, runtime: str = "onnxruntime", **graph_options: Any) -> None:
        """``graph_options``: `VoiceGraphs`'s (precision, threads, max_padding, runtimes)."""
        from tts_runtime.inprocess import VoiceGraphs

        self.name = f"inprocess-{runtime}"
        self.voice = voice
        self.graphs = VoiceGraphs(voice.voice_dir, runtime, **graph_options)
        self.sessions = self.graphs.sessions
        self.precision = self.graphs.precision
        self.sample_rate = self.graphs.sample_rate

    def synthesize(
        self, text: Text, seed: int, capture: dict | None = None
    ) -> tuple[np.ndarray, dict[str, float]]:
        """(audio, seconds per stage); `capture` as in `VoiceGraphs.synthesize`."""
        timer = _Timer()
        audio = self.graphs.synthesize(
            text.text, self.voice.speaker, text.language, seed, capture=capture, timer=timer
        )
        timer.stages["frontend"] -= timer.stages.get("bert", 0.0)
        return audio, timer.stages


def measure(
    subject,
    texts: list[Text],
    repeats: int,
    requests: Requests,
    progress,
    warmup: int = 1,
    warm_each: bool = True,
) -> list[Sample]:
    """Each text `warmup` times unmeasured (unless `warm_each` is off: then only the first
    text of each language, whose g2p and BERT load lazily), then `repeats` times measured,
    one request at a time; each request's text and seed from `requests`."""
    samples: list[Sample] = []
    origin = time.perf_counter()
    warmed: set[str] = set()
    for text in texts:
        for _ in range(warmup if warm_each or text.language not in warmed else 0):
            subject.synthesize(*requests.next(text))
        warmed.add(text.language)
        times = []
        for _ in range(repeats):
            request, seed = requests.next(text)
            t0 = time.perf_counter()
            audio, stages = subject.synthesize(request, seed)
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


def auto_graphs(voice_dir, threads: int, progress) -> tuple[Any, dict, dict]:
    """The voice's graphs in-process on the plan `auto` picks on this CPU (its gated variants
    included): (VoiceGraphs, voice.json, the choice as a result records it)."""
    import json
    from pathlib import Path

    from tts_runtime.cpu import auto_choice
    from tts_runtime.inprocess import VoiceGraphs

    meta = json.loads((Path(voice_dir) / "voice.json").read_text(encoding="utf-8"))
    auto = auto_choice(variants=meta.get("variants"))
    progress(f"auto: {auto.reason}")
    graphs = VoiceGraphs(voice_dir, auto.runtime, auto.precision, threads, runtimes=auto.runtimes)
    record = {"runtime": auto.runtime, "precision": auto.precision, "reason": auto.reason}
    return graphs, meta, record
