"""A voice's whole ensemble in one process, without Triton.

`VoiceGraphs` runs what the Triton models run, in the same order and with the same code: the
text frontend (`vits2.serving.pipeline`), the BERT graphs, the encoder, the seeded frame noise, the
decoder (rows grouped by length, as the decoder model does) and the join. It is the
in-process subject of the benchmarks and the source of real decoder inputs for calibrating
the int8 decoder.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tts_runtime.cpu import SHAPE_GENERIC_FAMILIES, family_of, graph_runtimes
from tts_runtime.session import GraphSession, graph_axes, run_padded, warm_up
from tts_runtime.shapes import ShapePlan, plan_for
from tts_runtime.windows import context_from_config, run_vocoder_rows

StageTimer = Callable[[str], contextlib.AbstractContextManager]


def _no_timer(stage: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


class VoiceGraphs:
    """A `tts-export onnx` folder's graphs on onnxruntime or OpenVINO, as the python runtime
    runs them.

    runtime: the BERT, vocoder and one-pass decoder graphs' runtime (`runtimes` may name
    another per family); the encoder, flow and emotion graphs run on onnxruntime
    (`cpu.SHAPE_GENERIC_FAMILIES`). precision: graph family (bert, decoder) -> fp32 / bf16 /
    fp16, or decoder int8 (the `tts-export quantize` graph). With the decoder's halves (and no
    int8 decoder) the decoder step runs the flow, then the vocoder, which on OpenVINO goes
    through its bounded shape plan (prepared here), as the server's models do.
    """

    def __init__(
        self,
        voice_dir: str | Path,
        runtime: str = "onnxruntime",
        precision: dict[str, str] | None = None,
        threads: int = 0,
        max_padding: float = 0.0,
        runtimes: dict[str, str] | None = None,
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
        self.runtimes = graph_runtimes(runtime, runtimes)
        halves = {"flow", "vocoder"} <= set(manifest.graphs)
        self.halves = halves and precision.get("decoder") != "int8"
        skip = ("decoder",) if self.halves else ("flow", "vocoder")
        self.sessions: dict[str, GraphSession] = {}
        self.plans: dict[str, ShapePlan] = {}
        for kind, file in manifest.onnx_graphs.items():
            family = family_of(kind)
            if family in skip:
                continue
            key = "decoder" if family == "vocoder" else family
            prec = "fp32" if family in SHAPE_GENERIC_FAMILIES else precision.get(key, "fp32")
            if prec == "int8":
                file = graph_variant(manifest.variants, kind, "int8")
            rt = self.runtimes[family]
            self.sessions[kind] = GraphSession(self.voice_dir / file, rt, prec, threads)
            plan = plan_for(family, rt, prec, max_tokens=512)
            if plan is not None:
                self.plans[kind] = plan
        self.runtime, self.threads = runtime, threads
        self.precision = {k: s.precision for k, s in self.sessions.items()}
        decoder = "flow" if self.halves else "decoder"
        self.decoder_axes = graph_axes(self.sessions[decoder].path)
        if self.halves:
            self.vocoder_axes = graph_axes(self.sessions["vocoder"].path)
            config = json.loads((self.voice_dir / "config.json").read_text(encoding="utf-8"))
            self.context = context_from_config(config)
        self.warmup_s = sum(
            warm_up(self.sessions[k], graph_axes(self.sessions[k].path), p)
            for k, p in self.plans.items()
        )

    def run(self, kind: str, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self.sessions[kind]
        feeds = {i.name: values[i.name] for i in session.inputs}
        if kind not in self.plans:
            return session.run(feeds)
        (out,) = run_padded(session, [feeds], graph_axes(session.path), plan=self.plans[kind])
        if isinstance(out, Exception):
            raise out
        return out

    def emotion_session(self, kind: str) -> GraphSession:
        """The voice's emotion graph of `kind` (fp32, onnxruntime), loaded on first use: only
        requests with EMOTION / REFERENCE_AUDIO need one."""
        name = f"emotion_{kind}"
        if name not in self.sessions:
            path = self.voice_dir / self.pipeline.voice.emotion_models[kind]["graph"]
            self.sessions[name] = GraphSession(path, self.runtimes["emotion"], "fp32", self.threads)
        return self.sessions[name]

    def decode(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The decoder step on one request's rows, as the server's models run it: the one-pass
        decoder (rows grouped by frame count), or the flow then the vocoder."""
        if not self.halves:
            return decode_rows(
                self.sessions["decoder"], self.decoder_axes, self.hop, feeds, self.max_padding
            )
        flow = self.sessions["flow"]
        (z,) = run_padded(
            flow,
            [{i.name: feeds[i.name] for i in flow.inputs}],
            self.decoder_axes,
            row_lengths={"frames": "frame_lengths"},
            max_padding=self.max_padding,
        )
        if isinstance(z, Exception):
            raise z
        return self.run_vocoder(
            {"z": z["z"], "g": feeds["g"], "frame_lengths": feeds["frame_lengths"]}
        )

    def run_vocoder(self, request: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The vocoder graph on z [B, C, F], g and frame_lengths [B] as the vocoder model runs
        it: through its shape plan where it has one (windows past the largest), else rows
        grouped by frame count."""
        vocoder = self.sessions["vocoder"]
        if "vocoder" in self.plans:
            (out,) = run_vocoder_rows(
                vocoder, [request], self.vocoder_axes, self.plans["vocoder"], self.context, self.hop
            )
        else:
            (out,) = run_padded(
                vocoder,
                [request],
                self.vocoder_axes,
                {"samples": ("frames", self.hop)},
                row_lengths={"frames": "frame_lengths"},
                max_padding=self.max_padding,
            )
        if isinstance(out, Exception):
            raise out
        return out

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
    plan: ShapePlan | None = None,
) -> dict[str, np.ndarray]:
    """One request through a decoder graph as the decoder model runs it: its sentences split
    into rows, batched by frame count (`max_padding`), or padded to a shape `plan`."""
    (out,) = run_padded(
        session,
        [feeds],
        axes,
        {"samples": ("frames", hop)},
        row_lengths={"frames": "frame_lengths"},
        max_padding=max_padding,
        plan=plan,
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
