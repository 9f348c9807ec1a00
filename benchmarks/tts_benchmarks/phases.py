"""The measuring phases of a benchmark run: in-process subjects, then the Triton ones."""

from __future__ import annotations

import gc
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tts_benchmarks.stats import samples_json, summarize
from tts_benchmarks.workload import Requests, Text, Voice


@dataclass
class Plan:
    """What a run measures (from the command line)."""

    subjects: list[str]
    texts: list[Text]
    sweep_text: Text
    levels: list[int]
    """Concurrency levels of the sweep."""
    repeats: int
    """Measured runs per text and subject (after one warm-up)."""
    torch_repeats: int
    rounds: int
    """Sweep requests per level = max(4, rounds x concurrency)."""
    runtime: str
    precision: dict[str, str] = field(default_factory=dict)
    runtimes: dict[str, str] = field(default_factory=dict)
    """Graph family -> runtime where it differs from `runtime` (`cpu.auto_choice`)."""
    threads: int = 0
    max_batch: int = 16
    queue_delay_us: int = 2000
    instances: int = 1
    perf_inputs: bool = True
    out: Path = Path(".")
    cache: Path = Path(".")
    requests: Requests = field(default_factory=Requests)
    """Each request's text and seed: new sentences (default) or repeated ones."""


def by_text(samples, texts: list[Text]) -> dict[str, dict]:
    return {t.name: summarize([s for s in samples if s.text == t.name]) for t in texts}


def run_inprocess(results: dict, voice: Voice, plan: Plan, progress: Callable[[str], None]) -> None:
    """The pytorch and inprocess subjects, one request at a time per text."""
    from tts_benchmarks.inprocess import GraphSubject, TorchSubject, measure

    if "pytorch" in plan.subjects:
        progress("subject pytorch: loading")
        subject = TorchSubject(voice, plan.threads)
        results["machine"]["threads"]["torch"] = subject.threads
        # The slow baseline: one warm-up per language, fewer runs; the budget goes to served paths.
        samples = measure(
            subject, plan.texts, plan.torch_repeats, plan.requests, progress, warm_each=False
        )
        results["subjects"]["pytorch"] = {
            "per_text": by_text(samples, plan.texts),
            "samples": samples_json(samples),
        }
        del subject
        gc.collect()

    if "inprocess" in plan.subjects:
        progress(f"subject inprocess: loading graphs on {plan.runtime}")
        subject = GraphSubject(
            voice,
            plan.runtime,
            precision=plan.precision,
            threads=plan.threads,
            runtimes=plan.runtimes,
        )
        samples = measure(subject, plan.texts, plan.repeats, plan.requests, progress)
        if plan.perf_inputs:
            from tts_benchmarks.perf_analyzer import write_input_data

            folder = plan.out / "perf_analyzer"
            files = write_input_data(subject, folder, plan.sweep_text)
            results["perf_analyzer_inputs"] = {k: str(v) for k, v in files.items()}
            progress(f"perf_analyzer input data for {len(files)} models in {folder}")
        results["subjects"][subject.name] = {
            "runtime": plan.runtime,
            "precision": subject.precision,
            "per_text": by_text(samples, plan.texts),
            "samples": samples_json(samples),
        }
        del subject
        gc.collect()


def _start_server(voice: Voice, plan: Plan, progress: Callable[[str], None]):
    """Write a fresh repository for the voice into the cache and start tritonserver on it."""
    from tts_benchmarks import triton_load as tl
    from tts_export.repository import RepositoryOptions, write_repository

    repo = plan.cache / f"repository-{voice.name}"
    if repo.exists():
        shutil.rmtree(repo)
    opts = RepositoryOptions(
        graph_runtime=plan.runtime,
        runtimes=plan.runtimes,
        precision=plan.precision,
        max_batch=plan.max_batch,
        queue_delay_us=plan.queue_delay_us,
        instances=plan.instances,
        threads=plan.threads,
        name=voice.name,
    )
    write_repository(voice.voice_dir, repo, opts)
    progress(f"repository written to {repo}; starting tritonserver")
    return tl.start_server(repo, plan.cache / f"tritonserver-{voice.name}.log", progress)


@dataclass
class _Target:
    """The running server and model every Triton phase sends to."""

    grpc_url: str
    http_url: str
    model: str
    voice: Voice
    sample_rate: int


def _grpc_per_text(target: _Target, plan: Plan, progress: Callable[[str], None]) -> dict:
    """Each text at concurrency 1 over gRPC: the triton-grpc subject's results."""
    from tts_benchmarks import triton_load as tl

    t = target
    samples = []
    for text in plan.texts:
        got, _ = tl.closed_loop(
            "grpc",
            t.grpc_url,
            t.model,
            t.voice,
            text,
            1,
            plan.repeats,
            plan.requests,
            t.sample_rate,
        )
        samples += got
        row = summarize(got)
        progress(
            f"  {'triton-grpc':<22} {text.name:<10} p50 {row['latency_s']['p50'] * 1000:7.0f} ms"
            f"  audio {row['audio_s']:5.2f} s  RTF {row['rtf']['p50']:.3f}"
            + (f"  errors {row['errors']}" if row["errors"] else "")
        )
    return {"per_text": by_text(samples, plan.texts), "samples": samples_json(samples)}


def _stream_per_text(target: _Target, plan: Plan, progress: Callable[[str], None]) -> dict:
    """Each text through the decoupled stream model: the triton-stream subject's results."""
    from tts_benchmarks import triton_load as tl

    t = target
    stream_model = f"{t.model}_stream"
    tl.stream_once(
        t.grpc_url, stream_model, t.voice, *plan.requests.next(plan.texts[0]), t.sample_rate, 600
    )
    samples = []
    for text in plan.texts:
        got = [
            tl.stream_once(
                t.grpc_url, stream_model, t.voice, *plan.requests.next(text), t.sample_rate, 600
            )
            for _ in range(plan.repeats)
        ]
        samples += got
        row = summarize(got)
        first = row.get("first_audio_s", {}).get("p50", float("nan"))
        progress(
            f"  {'triton-stream':<22} {text.name:<10} first audio {first * 1000:7.0f} ms"
            f"  total {row['latency_s']['p50'] * 1000:7.0f} ms"
            + (f"  errors {row['errors']}" if row["errors"] else "")
        )
    return {"per_text": by_text(samples, plan.texts), "samples": samples_json(samples)}


def _sweep(
    target: _Target,
    protocol: str,
    plan: Plan,
    stats: dict[str, dict],
    progress: Callable[[str], None],
) -> list[dict]:
    """The sweep text at every concurrency level over `protocol`; each level's server
    statistics delta goes into `stats` as well as into its row."""
    from tts_benchmarks import triton_load as tl

    t = target
    url = t.grpc_url if protocol == "grpc" else t.http_url
    rows = []
    for c in plan.levels:
        n = max(4, plan.rounds * c)
        before = tl.server_statistics(t.grpc_url)
        got, wall = tl.closed_loop(
            protocol, url, t.model, t.voice, plan.sweep_text, c, n, plan.requests, t.sample_rate
        )
        delta = tl.statistics_delta(before, tl.server_statistics(t.grpc_url))
        row = {"concurrency": c, **summarize(got, wall), "server_stats": delta}
        row["samples"] = samples_json(got)
        rows.append(row)
        stats[f"{protocol} sweep, concurrency {c}"] = delta
        progress(
            f"  sweep {protocol:<4} c={c:<3} n={n:<3} p50 {row['latency_s']['p50'] * 1000:7.0f} ms"
            f"  p90 {row['latency_s']['p90'] * 1000:7.0f} ms"
            f"  throughput {row.get('throughput_audio_s_per_s', 0):5.2f} audio s/s"
            + (f"  errors {row['errors']}" if row["errors"] else "")
        )
    return rows


def run_triton(results: dict, voice: Voice, plan: Plan, progress: Callable[[str], None]) -> None:
    """A repository for the voice, a server, then the grpc/stream/http subjects."""
    from tts_benchmarks import triton_load as tl
    from tts_export.repository import model_name

    server = _start_server(voice, plan, progress)
    sample_rate = json.loads((voice.voice_dir / "voice.json").read_text())["sample_rate"]
    stats: dict[str, dict] = {}
    try:
        grpc_url = server.grpc_url
        results["machine"]["tritonserver"] = tl.server_version(grpc_url)
        model = model_name(voice.name)
        target = _Target(grpc_url, server.http_address, model, voice, sample_rate)
        progress("warm-up: one request per text")
        for text in {t.name: t for t in [*plan.texts, plan.sweep_text]}.values():
            tl.closed_loop("grpc", grpc_url, model, voice, text, 1, 1, plan.requests, sample_rate)
        if "grpc" in plan.subjects:
            before = tl.server_statistics(grpc_url)
            results["subjects"]["triton-grpc"] = _grpc_per_text(target, plan, progress)
            stats["grpc per text, concurrency 1"] = tl.statistics_delta(
                before, tl.server_statistics(grpc_url)
            )
        if "stream" in plan.subjects:
            results["subjects"]["triton-stream"] = _stream_per_text(target, plan, progress)
        sweep: dict[str, list] = {}
        for protocol in ("grpc", "http"):
            if protocol in plan.subjects:
                sweep[protocol] = _sweep(target, protocol, plan, stats, progress)
        results["sweep"] = sweep
        results["server_stats"] = stats
    finally:
        progress("stopping tritonserver")
        server.stop()
