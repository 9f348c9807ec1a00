"""Server levers of `python -m tts_benchmarks.levers`: a tritonserver per dynamic-batching
setting (queue delay, instances, threads), zh-medium over gRPC at concurrency 1 and 8."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tts_benchmarks.stats import summarize
from tts_benchmarks.workload import TEXTS, Requests

REPEATED = Requests(fresh=False)
"""Levers compare settings on the same sentences (repeated requests, labelled so)."""

SERVER_SETTINGS = [
    {"label": "queue delay 0 us, 1 instance", "queue_delay_us": 0, "instances": 1},
    {"label": "queue delay 2000 us, 1 instance (default)", "queue_delay_us": 2000, "instances": 1},
    {"label": "queue delay 20000 us, 1 instance", "queue_delay_us": 20000, "instances": 1},
    {"label": "queue delay 2000 us, 2 instances", "queue_delay_us": 2000, "instances": 2},
    {
        "label": "queue delay 2000 us, 2 instances x 1 thread",
        "queue_delay_us": 2000,
        "instances": 2,
        "threads": 1,
    },
]


def server_levers(voice, runtime, precision, cache: Path, progress, rounds: int = 2) -> list[dict]:
    from tts_benchmarks import triton_load as tl
    from tts_export.repository import RepositoryOptions, model_name, write_repository

    text = TEXTS["zh-medium"]
    model = model_name(voice.name)
    sample_rate = json.loads((Path(voice.voice_dir) / "voice.json").read_text())["sample_rate"]
    rows = []
    for s in SERVER_SETTINGS:
        repo = cache / f"levers-repository-{voice.name}"
        if repo.exists():
            shutil.rmtree(repo)
        opts = RepositoryOptions(
            graph_runtime=runtime,
            precision=precision,
            queue_delay_us=s["queue_delay_us"],
            instances=s["instances"],
            threads=s.get("threads", 0),
            name=voice.name,
        )
        write_repository(voice.voice_dir, repo, opts)
        server = tl.start_server(repo, cache / "levers-tritonserver.log", progress)
        try:
            url = server.grpc_url
            tl.closed_loop("grpc", url, model, voice, text, 1, 2, REPEATED, sample_rate)  # warm-up
            one, wall1 = tl.closed_loop(
                "grpc", url, model, voice, text, 1, 4, REPEATED, sample_rate
            )
            before = tl.server_statistics(url)
            eight, wall8 = tl.closed_loop(
                "grpc", url, model, voice, text, 8, 8 * rounds, REPEATED, sample_rate
            )
            delta = tl.statistics_delta(before, tl.server_statistics(url))
        finally:
            server.stop()
        a, b = summarize(one, wall1), summarize(eight, wall8)
        row = {
            **s,
            "c1_p50_ms": a["latency_s"]["p50"] * 1000,
            "c1_throughput": a.get("throughput_audio_s_per_s"),
            "c8_p50_ms": b["latency_s"]["p50"] * 1000,
            "c8_throughput": b.get("throughput_audio_s_per_s"),
            "errors": a["errors"] + b["errors"],
            "c8_server_stats": delta,
        }
        row["scaling"] = (
            row["c8_throughput"] / row["c1_throughput"] if row["c1_throughput"] else None
        )
        rows.append(row)
        progress(
            f"  server {s['label']:<44} c1 p50 {row['c1_p50_ms']:7.0f} ms  c8 throughput "
            f"{row['c8_throughput']:.2f} audio s/s ({row['scaling']:.2f}x c1)"
        )
    return rows
