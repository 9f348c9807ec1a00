"""Decoder levers of `python -m tts_benchmarks.levers`: how a batch of sentences is padded and
grouped (`padding_lever`), and exact shapes vs shape buckets on new lengths (`bucket_lever`)."""

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
    from tts_model_repository.inprocess import decode_rows
    from tts_model_repository.runtime import GraphSession, graph_axes, length_groups

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


def bucket_lever(voice, runtime: str, precision: dict, progress) -> dict:
    """Every text's sentences through the decoder once (each a length not seen before, as in
    real traffic) on two fresh sessions: exact shapes vs shapes padded to the buckets."""
    from tts_benchmarks.inprocess import GraphSubject
    from tts_model_repository.inprocess import decode_rows
    from tts_model_repository.runtime import SHAPE_BUCKETS, GraphSession, graph_axes

    subject = GraphSubject(voice, "onnxruntime")
    requests = []
    for text in (TEXTS[name] for name in DEFAULT_TEXTS):
        capture: dict = {}
        subject.synthesize(text, SEED, capture=capture)
        requests.append(capture["decoder"])
    del subject
    gc.collect()
    path = Path(voice.voice_dir) / "decoder.onnx"
    axes = graph_axes(path)
    hop = json.loads((Path(voice.voice_dir) / "voice.json").read_text())["hop_length"]
    prec = precision.get("decoder", "fp32")
    ways = {"exact shapes": {}, f"buckets {SHAPE_BUCKETS}": SHAPE_BUCKETS}
    sessions = {way: GraphSession(path, runtime, prec, threads=2) for way in ways}
    seconds = {way: 0.0 for way in ways}
    for k, req in enumerate(requests):
        for way, buckets in ways.items():
            t = time.perf_counter()
            decode_rows(sessions[way], axes, hop, req, buckets=buckets)
            if k > 0:  # the first request pays each session's one-off start-up
                seconds[way] += time.perf_counter() - t
    frames = [int(f) for req in requests[1:] for f in req["frame_lengths"]]
    row = {
        "sentences": len(frames),
        "distinct_frame_counts": len(set(frames)),
        "seconds": seconds,
        "runtime": runtime,
        "precision": prec,
    }
    progress(
        f"  decoder, {len(frames)} sentences of new lengths: "
        + ", ".join(f"{way} {sec:.2f} s" for way, sec in seconds.items())
    )
    return row
