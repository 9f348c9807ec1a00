"""Decoder levers of `python -m tts_benchmarks.levers`: how a batch of sentences is padded and
grouped (`padding_lever`), and the vocoder on new lengths with exact shapes vs its shape plan (`shape_lever`)."""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path

import numpy as np

from tts_benchmarks.workload import DEFAULT_TEXTS, SEED, TEXTS


def padding_lever(voice, feeds: dict, runtime: str, precision: dict, repeats: int, progress):
    """zh-long's sentences through the decoder: one batch padded to the longest, grouped by
    frame count (`run_padded`'s default, as the server runs it), and one at a time."""
    from tts_runtime.inprocess import decode_rows
    from tts_runtime.session import GraphSession, graph_axes, length_groups

    batch = {k: v for k, v in feeds["long"][0].items() if k != "phone_lengths"}
    path = Path(voice.voice_dir) / "decoder.onnx"
    prec = precision.get("decoder", "fp32")
    session = GraphSession(path, runtime, prec, threads=2)
    axes = graph_axes(path)
    hop = json.loads((Path(voice.voice_dir) / "voice.json").read_text())["hop_length"]
    ways = {
        "one padded batch (max padding 1)": 1.0,
        "max padding 0.25": 0.25,
        "max padding 0.1": 0.1,
        "max padding 0 (default: one at a time unless equal)": 0.0,
    }
    frames = [int(x) for x in batch["frame_lengths"]]

    def call(max_padding):
        decode_rows(session, axes, hop, batch, max_padding)

    for max_padding in ways.values():
        call(max_padding)
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(repeats):
        for way, max_padding in ways.items():
            t = time.perf_counter()
            call(max_padding)
            times[way].append(time.perf_counter() - t)
    row = {
        "sentences": len(frames),
        "frames": frames,
        "padding_share": 1 - sum(frames) / (len(frames) * max(frames)),
        "groups": {
            mp: [[frames[k] for k in g] for g in length_groups(frames, mp)] for mp in ways.values()
        },
        "ms": {way: float(np.median(t) * 1000) for way, t in times.items()},
        "runtime": runtime,
        "precision": prec,
    }
    progress(
        f"  decoder zh-long {len(frames)} sentences ({row['padding_share']:.0%} padding in one "
        "batch): " + ", ".join(f"{way} {ms:.0f} ms" for way, ms in row["ms"].items())
    )
    return row


def shape_lever(voice, runtime: str, precision: dict, progress) -> dict:
    """Every text's sentences through the vocoder once (each a length not seen before, as in
    real traffic) on two fresh sessions: exact shapes, and the vocoder's shape plan
    (`tts_runtime.shapes`, prepared first; its warm-up time is reported apart).
    Reports seconds and resident-memory growth of each way."""
    import psutil

    from tts_benchmarks.inprocess import GraphSubject
    from tts_runtime.session import GraphSession, graph_axes, run_padded, warm_up
    from tts_runtime.shapes import ShapePlan, plan_for
    from tts_runtime.windows import context_from_config, run_vocoder_rows

    subject = GraphSubject(voice, "onnxruntime")
    requests = []
    for text in (TEXTS[name] for name in DEFAULT_TEXTS):
        capture: dict = {}
        subject.synthesize(text, SEED, capture=capture)
        feeds = capture["decoder"]
        flow = subject.graphs.sessions["flow"]
        z = flow.run({i.name: feeds[i.name] for i in flow.inputs})["z"]
        requests.append({"z": z, "g": feeds["g"], "frame_lengths": feeds["frame_lengths"]})
    del subject
    gc.collect()
    folder = Path(voice.voice_dir)
    path = folder / "vocoder.onnx"
    axes = graph_axes(path)
    hop = json.loads((folder / "voice.json").read_text())["hop_length"]
    context = context_from_config(json.loads((folder / "config.json").read_text()))
    prec = precision.get("decoder", "fp32")
    plan = plan_for("vocoder", "openvino", prec) or ShapePlan({})
    proc = psutil.Process()
    seconds, grown, warm_s = {}, {}, 0.0
    for way in ("exact shapes", f"shape plan ({plan.count()} shapes)"):
        session = GraphSession(path, runtime, prec, threads=2)
        if way != "exact shapes":
            warm_s = warm_up(session, axes, plan)
        rss, t = proc.memory_info().rss, time.perf_counter()
        for req in requests:
            if way == "exact shapes":
                run_padded(
                    session,
                    [req],
                    axes,
                    {"samples": ("frames", hop)},
                    row_lengths={"frames": "frame_lengths"},
                )
            else:
                run_vocoder_rows(session, [req], axes, plan, context, hop)
        seconds[way] = time.perf_counter() - t
        grown[way] = (proc.memory_info().rss - rss) / 2**20
        del session
        gc.collect()
    frames = [int(f) for req in requests for f in np.asarray(req["frame_lengths"]).reshape(-1)]
    row = {
        "sentences": len(frames),
        "distinct_frame_counts": len(set(frames)),
        "seconds": seconds,
        "grown_mib": grown,
        "warm_up_s": warm_s,
        "runtime": runtime,
        "precision": prec,
    }
    progress(
        f"  vocoder, {len(frames)} sentences of new lengths: "
        + ", ".join(f"{w} {sec:.2f} s (+{grown[w]:.0f} MiB)" for w, sec in seconds.items())
        + f"; warm-up {warm_s:.1f} s"
    )
    return row
