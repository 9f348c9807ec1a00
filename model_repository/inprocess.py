"""A voice's whole ensemble in one process, without Triton.

`VoiceGraphs` runs what the Triton models run, in the same order and with the same code: the
text frontend (`vits2.serving.pipeline`), the BERT graphs, the encoder, the seeded frame noise, the
decoder (rows grouped by length, as the decoder model does) and the join. It is the
in-process subject of the benchmarks and the source of real decoder inputs for calibrating
the int8 decoder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tts_model_repository.runtime import GraphSession, graph_axes, run_padded

StageTimer = Callable[[str], contextlib.AbstractContextManager]


def _no_timer(stage: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


class VoiceGraphs:
    """A `tts-export onnx` folder's graphs on onnxruntime or OpenVINO.

    precision: graph family (bert, decoder) -> fp32 / bf16 / fp16, or decoder int8 (the
    `tts-export quantize` graph). The encoder always runs in fp32.
    """

    def __init__(
        self,
        voice_dir: str | Path,
        runtime: str = "onnxruntime",
        precision: dict[str, str] | None = None,
        threads: int = 0,
        max_padding: float = 0.0,
        buckets: dict[str, int] | None = None,
    ) -> None:
        from vits2.serving.pipeline import FrontendPipeline

        self.voice_dir = Path(voice_dir)
        precision = precision or {}
        self.pipeline = FrontendPipeline.from_voice_dir(self.voice_dir)
        manifest = self.pipeline.voice
        self.channels = manifest.inter_channels
        self.hop = manifest.hop_length
        self.sample_rate = manifest.sample_rate
        self.max_padding = max_padding
        self.buckets = buckets or {}
        self.sessions: dict[str, GraphSession] = {}
        for kind, file in manifest.onnx_graphs.items():
            family = kind.split("_")[0]
            if family in ("flow", "vocoder"):  # the decoder's halves serve V_stream only
                continue
            prec = "fp32" if family == "encoder" else precision.get(family, "fp32")
            if prec == "int8":
                file = graph_variant(manifest.variants, kind, "int8")
            self.sessions[kind] = GraphSession(self.voice_dir / file, runtime, prec, threads)
        self.runtime, self.threads = runtime, threads
        self.precision = {k: s.precision for k, s in self.sessions.items()}
        self.decoder_axes = graph_axes(self.sessions["decoder"].path)

    def run(self, kind: str, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self.sessions[kind]
        return session.run({i.name: values[i.name] for i in session.inputs})

    def emotion_session(self, kind: str) -> GraphSession:
        """The voice's emotion graph of `kind` (fp32), loaded on first use: only requests with
        EMOTION / REFERENCE_AUDIO need one."""
        name = f"emotion_{kind}"
        if name not in self.sessions:
            path = self.voice_dir / self.pipeline.voice.emotion_models[kind]["graph"]
            self.sessions[name] = GraphSession(path, self.runtime, "fp32", self.threads)
        return self.sessions[name]

    def decode(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The decoder on one request's rows, grouped by frame count like the server's."""
        return decode_rows(
            self.sessions["decoder"],
            self.decoder_axes,
            self.hop,
            feeds,
            self.max_padding,
            self.buckets,
        )

    def synthesize(
        self,
        text: str,
        speaker: str = "",
        language: str = "",
        seed: int = 0,
        scales: dict[str, float] | None = None,
        capture: dict | None = None,
        timer: StageTimer = _no_timer,
        **request_fields: object,
    ) -> np.ndarray:
        """Audio for one request, along the declared request path (`vits2.serving.path`).

        `request_fields`: the other request inputs by `parse_request`'s names (profile,
        style_text, style_text_weight, emotion, emotion_id, reference_audio, style,
        style_weight). `timer(stage)` wraps each step (frontend, which holds the bert calls, encoder, noise,
        decoder, join); `capture`, when given, receives every graph's inputs (`bert_<lang>`:
        a list of feeds, `encoder`, `decoder`, `noise`), the outputs and the `batch`."""
        from vits2.serving.path import join_step, noise_step, run_steps
        from vits2.serving.request import parse_request

        def bert(language, feeds):
            if capture is not None:
                capture.setdefault(f"bert_{language.lower()}", []).append(feeds)
            with timer("bert"):
                return self.run(f"bert_{language.lower()}", feeds)["bert_features"]

        def emotion(kind, feeds):
            with timer("emotion"):
                return self.emotion_session(kind).run(feeds)["embedding"]

        seen: dict[str, tuple[dict, dict]] = {}

        def step(name: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            with timer(name):
                if name == "noise":
                    out = noise_step(feeds, self.channels, self.pipeline.limits.max_frames)
                elif name == "join":
                    out = join_step(feeds, self.sample_rate)
                elif name == "decoder":
                    out = self.decode(feeds)
                else:
                    out = self.run(name, feeds)
            seen[name] = (feeds, out)
            return out

        req = parse_request(
            self.pipeline.voice, text, speaker, language, scales or {}, seed, **request_fields
        )
        with timer("frontend"):  # includes the BERT calls it makes
            batch = self.pipeline.prepare(req, bert)
            feeds = self.pipeline.outputs(batch, req, emotion)
        values = run_steps(feeds, step, path=self.pipeline.path)
        if capture is not None:
            capture.update(
                batch=batch,
                encoder=seen["encoder"][0],
                encoder_out=seen["encoder"][1],
                decoder=seen["decoder"][0],
                decoder_out=seen["decoder"][1],
                noise=seen["noise"][0],
            )
        return values["AUDIO"]


def decode_rows(
    session: GraphSession,
    axes: dict,
    hop: int,
    feeds: dict[str, np.ndarray],
    max_padding: float = 0.0,
    buckets: dict[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """One request through a decoder graph as the decoder model runs it: its sentences split
    into rows, batched by frame count (`max_padding`), shapes padded to `buckets`."""
    (out,) = run_padded(
        session,
        [feeds],
        axes,
        {"samples": ("frames", hop)},
        row_lengths={"frames": "frame_lengths"},
        max_padding=max_padding,
        buckets=buckets,
    )
    if isinstance(out, Exception):
        raise out
    return out


def graph_variant(variants: dict, kind: str, precision: str) -> str:
    """File of graph `kind` at `precision` from voice.json's `variants` (int8: `tts-export
    quantize`), with a clear error when the voice has none."""
    entry = variants.get(kind, {}).get(precision)
    if not entry:
        raise FileNotFoundError(
            f"the voice has no {precision} {kind} graph; run `tts-export quantize --voice DIR` "
            "first"
        )
    return entry["graph"]
