"""Numbers from timings: percentiles, RTF, throughput, and the facts of the machine they came from."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Sample:
    """One synthesis request as the benchmark saw it."""

    text: str
    """Text-set id (zh-medium)."""
    start_s: float
    """perf_counter() when it was sent (relative to the run's start)."""
    latency_s: float
    """Send to last audio sample received."""
    audio_s: float
    """Seconds of audio it produced (pauses between sentences included)."""
    first_audio_s: float | None = None
    """Streaming only: send to the first audio chunk."""
    chunks: int = 0
    """Streaming only: audio responses received."""
    stall_s: float = 0.0
    """Streaming only: seconds a listener who plays every chunk as it arrives, from the first
    one on, waits for audio that has not arrived yet (underruns, all added up)."""
    stages: dict[str, float] = field(default_factory=dict)
    """In-process subjects only: seconds per stage (frontend, bert, encoder, decoder, ...)."""
    error: str | None = None


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/mean/min/max of `values` (NaN for an empty list)."""
    if not values:
        return {k: float("nan") for k in ("p50", "p90", "p99", "mean", "min", "max")}
    a = np.asarray(values, dtype=np.float64)
    return {
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "min": float(a.min()),
        "max": float(a.max()),
    }


def summarize(samples: list[Sample], wall_s: float | None = None) -> dict:
    """Latency percentiles, RTF and throughput of a group of requests.

    RTF is compute (request latency) / audio duration per request: lower is better, < 1 is
    faster than real time. Throughput is audio seconds produced per wall-clock second over
    the whole group (higher is better); `wall_s` defaults to first send .. last finish.
    """
    ok = [s for s in samples if s.error is None]
    out: dict = {
        "requests": len(samples),
        "errors": len(samples) - len(ok),
        "latency_s": percentiles([s.latency_s for s in ok]),
        "rtf": percentiles([s.latency_s / s.audio_s for s in ok if s.audio_s > 0]),
        "audio_s": float(np.mean([s.audio_s for s in ok])) if ok else float("nan"),
    }
    if ok:
        if wall_s is None:
            wall_s = max(s.start_s + s.latency_s for s in ok) - min(s.start_s for s in ok)
        out["wall_s"] = wall_s
        out["throughput_audio_s_per_s"] = sum(s.audio_s for s in ok) / wall_s if wall_s else 0.0
        out["requests_per_s"] = len(ok) / wall_s if wall_s else 0.0
    firsts = [s.first_audio_s for s in ok if s.first_audio_s is not None]
    if firsts:
        out["first_audio_s"] = percentiles(firsts)
    stage_names = sorted({k for s in ok for k in s.stages})
    if stage_names:
        out["stages_s"] = {
            k: float(np.mean([s.stages.get(k, 0.0) for s in ok])) for k in stage_names
        }
    return out


def samples_json(samples: list[Sample]) -> list[dict]:
    return [asdict(s) for s in samples]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile")
    return [f for f in wanted if f in flags]


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def write_result(out: Path, stem: str, result: dict, table: str = "") -> Path:
    """Ends a benchmark: the load average now into ``result``, then ``out/stem.json`` and, with
    a ``table``, ``out/stem.md``; returns the JSON's path."""
    import json

    result["load_average_end"] = load_average()
    path = out / f"{stem}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if table:
        (out / f"{stem}.md").write_text(table)
    return path


def machine_facts(threads: dict[str, int] | None = None) -> dict:
    """CPU, core count, thread settings and library versions, for every result file."""
    facts = {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            d: _version(d)
            for d in (
                "torch",
                "onnxruntime",
                "openvino",
                "transformers",
                "numpy",
                "tritonclient",
                "nvidia-pytriton",
            )
        },
        "load_average_at_start": load_average(),
    }
    try:
        with open("/proc/meminfo") as f:
            facts["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    if threads:
        facts["threads"] = threads
    return facts
