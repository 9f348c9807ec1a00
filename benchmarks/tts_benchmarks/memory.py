"""`python -m tts_benchmarks.memory`: a served voice's memory and speed under real traffic.

Writes a repository for the voice (`tts-export repository` defaults: `--graph-runtime auto`
unless told), starts tritonserver on 127.0.0.1, and reports:

- each model's resident memory after load and warm-up, after the first 10% of the traffic,
  at its peak and at the end (`tts_server.supervise.model_memory`, sampled every
  second);
- the traffic: N requests at concurrency C, every one a sentence the server has not seen
  (`workload.Requests`), errors counted;
- first-time against repeated speed: R new sentences one at a time, then the same R again
  (labelled "repeated"), p50 RTF each and their ratio.

Writes memory.json and memory.md into --out; every line of progress says how long the run has
taken. Record the CPU flags with the numbers (machine facts are in the JSON).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from tts_benchmarks.stats import load_average, machine_facts
from tts_benchmarks.workload import DEFAULT_TEXTS, TEXTS, Requests, build_voice, voice_from_folder

app = typer.Typer(add_completion=False, help=__doc__)


class Sampler:
    """Per-model resident memory every `period_s`, keeping each model's peak."""

    def __init__(self, pid: int, period_s: float = 1.0) -> None:
        self.pid, self.period_s = pid, period_s
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> dict[str, float]:
        from tts_server.supervise import model_memory

        memory = model_memory(self.pid)
        for model, mib in memory.items():
            self.peak[model] = max(self.peak.get(model, 0.0), mib)
        return memory

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.now()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _traffic(url: str, voice, model: str, count: int, concurrency: int, marks, sampler):
    """`count` new sentences from `concurrency` clients; the memory after 10% goes into
    `marks`. Returns (errors, seconds, audio seconds)."""
    from tts_benchmarks import triton_load as tl

    source = Requests(fresh=True)
    texts = [TEXTS[n] for n in DEFAULT_TEXTS]
    done, errors, audio = [0], [], [0.0]
    lock = threading.Lock()
    tickets = iter(range(count))

    def worker() -> None:
        module, client = tl._client("grpc", url, 600)
        while True:
            with lock:
                k = next(tickets, None)
            if k is None:
                client.close()
                return
            text, seed = source.next(texts[k % len(texts)])
            try:
                result = client.infer(model, tl._inputs(module, text, seed, speaker=voice.speaker))
                seconds = result.as_numpy("AUDIO").size / 44100
            except Exception as e:  # counted; the run goes on
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                done[0] += 1
                audio[0] += seconds
                if done[0] == max(1, count // 10):
                    marks["after_10pct"] = sampler.now()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors, time.perf_counter() - t0, audio[0]


def _first_vs_repeated(url: str, voice, model: str, count: int) -> dict:
    """p50 RTF of `count` new sentences one at a time, then of the same requests again."""
    from tts_benchmarks import triton_load as tl

    source = Requests(fresh=True)
    texts = [TEXTS[n] for n in DEFAULT_TEXTS]
    requests = [source.next(texts[k % len(texts)]) for k in range(1000, 1000 + count)]
    module, client = tl._client("grpc", url, 600)
    rtf: dict[str, list[float]] = {"first time": [], "repeated": []}
    for way in rtf:
        for text, seed in requests:
            t0 = time.perf_counter()
            audio = client.infer(model, tl._inputs(module, text, seed, speaker=voice.speaker))
            seconds = audio.as_numpy("AUDIO").size / 44100
            rtf[way].append((time.perf_counter() - t0) / seconds)
    client.close()
    p50 = {way: float(np.median(v)) for way, v in rtf.items()}
    return {"sentences": count, "rtf_p50": p50, "ratio": p50["first time"] / p50["repeated"]}


@app.command()
def main(
    voice_dir: Annotated[
        Path | None, typer.Option("--voice", help="a `tts-export onnx` folder")
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="the tiny voice")] = False,
    out: Annotated[Path, typer.Option("--out")] = Path(__file__).resolve().parents[1] / "results",
    cache: Annotated[Path | None, typer.Option("--cache")] = None,
    graph_runtime: Annotated[str, typer.Option("--graph-runtime")] = "auto",
    precision: Annotated[list[str], typer.Option("--precision")] = [],  # noqa: B006
    requests: Annotated[int, typer.Option("--requests", min=1)] = 200,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 4,
    first_vs_repeated: Annotated[int, typer.Option("--first-vs-repeated", min=0)] = 12,
    budget: Annotated[
        Path | None, typer.Option("--budget", help="also write the memory budget JSON here")
    ] = None,
) -> None:
    """Serve a voice, send real traffic, report memory per model and first-time speed."""
    from tts_server.supervise import memory_table
    from tts_server.tritonserver import TritonServer

    t_start = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f}s] {message}", flush=True)

    out.mkdir(parents=True, exist_ok=True)
    cache = cache or out / "cache"
    if voice_dir:
        voice = voice_from_folder(voice_dir)
    else:  # built in a child process: the export's torch models must not count as ours
        kind = "tiny" if quick else "full"
        code = f"from tts_benchmarks.workload import build_voice; build_voice({str(cache)!r}, {kind!r})"
        subprocess.run([sys.executable, "-c", code], check=True)
        voice = build_voice(cache, kind, progress)
    from tts_benchmarks.triton_load import write_voice_repository

    repo = cache / f"memory-repository-{voice.name}"
    model, plan = write_voice_repository(voice, repo, graph_runtime, precision)
    progress(f"repository: {plan}; starting tritonserver (load average {load_average()})")
    t_load = time.perf_counter()
    with TritonServer(
        repo, load_models=["*"], log_path=cache / "memory-tritonserver.log"
    ) as server:
        loaded_s = time.perf_counter() - t_load
        with Sampler(server.pid) as sampler:
            after_load = sampler.now()
            progress(
                f"ready in {loaded_s:.0f} s (load, warm-up); memory:\n{memory_table(after_load)}"
            )
            marks: dict[str, dict] = {}
            errors, seconds, audio_s = _traffic(
                server.grpc_url, voice, model, requests, concurrency, marks, sampler
            )
            at_end = sampler.now()
            progress(
                f"traffic: {requests} new sentences at concurrency {concurrency} in {seconds:.0f} s "
                f"({audio_s / seconds:.2f} audio s/s), {len(errors)} errors; memory at the end:\n"
                f"{memory_table(at_end)}"
            )
            speed = (
                _first_vs_repeated(server.grpc_url, voice, model, first_vs_repeated)
                if first_vs_repeated
                else {}
            )
            if speed:
                p50 = speed["rtf_p50"]
                progress(
                    f"first time p50 RTF {p50['first time']:.3f}, repeated {p50['repeated']:.3f} "
                    f"(x{speed['ratio']:.2f})"
                )
        result = {
            "machine": machine_facts({}),
            "voice": voice.to_json(),
            "plan": plan,
            "load_and_warm_up_s": loaded_s,
            "memory_mib": {
                "after_load": after_load,
                "after_10pct": marks.get("after_10pct", {}),
                "peak": sampler.peak,
                "at_end": at_end,
            },
            "traffic": {
                "requests": requests,
                "concurrency": concurrency,
                "errors": len(errors),
                "first_errors": errors[:5],
                "seconds": seconds,
                "audio_s_per_s": audio_s / seconds if seconds else 0.0,
            },
            "first_vs_repeated": speed,
            "load_average_at_end": load_average(),
        }
    (out / "memory.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    if budget is not None:  # what deploy/k8s-cpu sizes its memory from
        facts = {
            "voice": voice.name,
            "plan": plan,
            "peak_total_mib": round(sum(sampler.peak.values())),
            "peak_mib": {m: round(v) for m, v in sampler.peak.items()},
            "requests": requests,
            "concurrency": concurrency,
            "errors": len(errors),
            "cpu": result["machine"].get("cpu_model"),
            "measured_by": "python -m tts_benchmarks.memory",
        }
        budget.write_text(json.dumps(facts, indent=2) + "\n")
    (out / "memory.md").write_text(_markdown(result))
    progress(f"wrote {out / 'memory.json'} and memory.md")


def _markdown(r: dict) -> str:
    memory = r["memory_mib"]
    models = sorted(memory["peak"], key=lambda m: -memory["peak"][m])
    lines = [
        f"# Memory under real traffic: {r['voice']['name']} ({r['plan']})",
        "",
        f"CPU: {r['machine'].get('cpu_model')}; flags {r['machine'].get('cpu_flags')}; load average at "
        f"the end {r['load_average_at_end']}. Load and warm-up {r['load_and_warm_up_s']:.0f} s.",
        "",
        "| model | after load | after 10% | peak | end |",
        "|---|---|---|---|---|",
    ]
    for m in [*models, "total"]:
        cells = [
            sum(memory[k].values()) if m == "total" else memory[k].get(m, 0.0)
            for k in ("after_load", "after_10pct", "peak", "at_end")
        ]
        lines.append(f"| {m} | " + " | ".join(f"{c:.0f} MiB" for c in cells) + " |")
    t = r["traffic"]
    lines += [
        "",
        f"Traffic: {t['requests']} new sentences at concurrency {t['concurrency']}, "
        f"{t['errors']} errors, {t['audio_s_per_s']:.2f} audio s/s.",
    ]
    if r["first_vs_repeated"]:
        s = r["first_vs_repeated"]
        lines.append(
            f"First-time p50 RTF {s['rtf_p50']['first time']:.3f} against repeated "
            f"{s['rtf_p50']['repeated']:.3f} ({s['sentences']} sentences, x{s['ratio']:.2f})."
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app()
