"""`python -m tts_benchmarks.run`: latency, RTF and throughput of every way to run a voice.

Subjects (pick with --subjects):
  pytorch    in-process PyTorch BERT + model (the reference path)
  inprocess  in-process exported graphs via GraphSession (onnxruntime/OpenVINO), no Triton
  grpc       the Triton ensemble over gRPC: each text at concurrency 1, then a concurrency sweep
  http       the Triton ensemble over HTTP: the concurrency sweep
  stream     the decoupled `<voice>_stream` model over gRPC: first-audio latency per text

The server is started here on 127.0.0.1 with free ports and stopped at the end. Writes
results.json, results.md and PNG plots into --out.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

from tts_benchmarks import report
from tts_benchmarks.phases import Plan, run_inprocess, run_triton
from tts_benchmarks.stats import load_average, machine_facts
from tts_benchmarks.workload import (
    SEED,
    TEXTS,
    Requests,
    build_voice,
    pick_texts,
    voice_from_folder,
)

SUBJECTS = ("pytorch", "inprocess", "grpc", "http", "stream")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results"

app = typer.Typer(add_completion=False, help=__doc__)


class Progress:
    """Progress lines with the seconds since the run started."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f}s] {message}", flush=True)


def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _precision(items: list[str]) -> dict[str, str]:
    from tts_export.repository import parse_precision

    try:
        return parse_precision(_split(items))
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


# The command-line options of `main`, one alias each so that its signature stays a list of
# names. List options default to tuples (immutable); typer hands `main` a list either way.
QuickOption = Annotated[
    bool,
    typer.Option("--quick", help="tiny voice and BERTs, 2 texts, concurrency 1 and 2 (< 2 min)"),
]
OutOption = Annotated[Path, typer.Option("--out", help="folder for results.json/.md and plots")]
CacheOption = Annotated[
    Path | None,
    typer.Option("--cache", help="where built voices are kept (default: OUT/cache)"),
]
VoiceOption = Annotated[
    Path | None,
    typer.Option(
        "--voice",
        help="benchmark this `tts-export onnx` folder (e.g. a real voice) instead of a random one",
    ),
]
SubjectsOption = Annotated[
    list[str],
    typer.Option("--subjects", help=f"comma-separated subset of {', '.join(SUBJECTS)}"),
]
TextsOption = Annotated[
    list[str],
    typer.Option("--texts", help=f"text sets (default: all; quick: 2). Known: {', '.join(TEXTS)}"),
]
ConcurrencyOption = Annotated[
    list[str],
    typer.Option("--concurrency", help="sweep levels (default 1,2,4,8,16; quick 1,2)"),
]
SweepTextOption = Annotated[
    str | None,
    typer.Option(
        "--sweep-text", help="text of the concurrency sweep (default zh-medium; quick zh-short)"
    ),
]
RepeatsOption = Annotated[
    int | None,
    typer.Option("--repeats", min=1, help="measured runs per text (default 3; quick 2)"),
]
TorchRepeatsOption = Annotated[
    int | None,
    typer.Option(
        "--torch-repeats",
        min=1,
        help="measured runs per text of the slow pytorch subject (default 2; one warm-up per language)",
    ),
]
RoundsOption = Annotated[
    int | None,
    typer.Option(
        "--rounds",
        min=1,
        help="sweep requests per level = max(4, ROUNDS x concurrency) (default 2; quick 2)",
    ),
]
GraphRuntimeOption = Annotated[
    str,
    typer.Option("--graph-runtime", help="auto, onnxruntime or openvino (in-process and Triton)"),
]
PrecisionOption = Annotated[
    list[str],
    typer.Option("--precision", help="bert=bf16 / decoder=fp32 ... (OpenVINO; encoder stays fp32)"),
]
ThreadsOption = Annotated[
    int, typer.Option("--threads", min=0, help="threads per graph session (0: auto)")
]
MaxBatchOption = Annotated[
    int, typer.Option("--max-batch", min=1, help="Triton max_batch_size of graphs")
]
QueueDelayOption = Annotated[int, typer.Option("--queue-delay-us", min=0)]
InstancesOption = Annotated[
    int, typer.Option("--instances", min=1, help="Triton instances per model")
]
RepeatedOption = Annotated[
    bool,
    typer.Option(
        "--repeated",
        help="send the same sentences again (every shape prepared: the repeated-request "
        "figure); default: every request a sentence the server has not seen, as real traffic",
    ),
]
PerfInputsOption = Annotated[
    bool,
    typer.Option(
        "--perf-analyzer-inputs/--no-perf-analyzer-inputs",
        help="write perf_analyzer --input-data files into OUT/perf_analyzer (needs inprocess)",
    ),
]


@app.command()
def main(
    quick: QuickOption = False,
    out: OutOption = DEFAULT_OUT,
    cache: CacheOption = None,
    voice_dir: VoiceOption = None,
    subjects: SubjectsOption = SUBJECTS,
    texts: TextsOption = (),
    concurrency: ConcurrencyOption = (),
    sweep_text: SweepTextOption = None,
    repeats: RepeatsOption = None,
    torch_repeats: TorchRepeatsOption = None,
    rounds: RoundsOption = None,
    graph_runtime: GraphRuntimeOption = "auto",
    precision: PrecisionOption = (),
    threads: ThreadsOption = 0,
    max_batch: MaxBatchOption = 16,
    queue_delay_us: QueueDelayOption = 2000,
    instances: InstancesOption = 1,
    perf_inputs: PerfInputsOption = True,
    repeated: RepeatedOption = False,
) -> None:
    """Run the benchmark and write results.json, results.md and plots into --out."""
    progress = Progress()
    chosen = _subjects(subjects)
    runtime, prec, runtimes = _runtime_and_precision(graph_runtime, precision)
    levels = [int(c) for c in _split(concurrency)] or ([1, 2] if quick else [1, 2, 4, 8, 16])
    if any(c < 1 for c in levels):
        raise typer.BadParameter(f"--concurrency levels must be >= 1, got {levels}")
    repeats = repeats or (2 if quick else 3)
    text_sets = pick_texts(_split(texts), quick)
    sweep_name = sweep_text or ("zh-short" if quick else "zh-medium")
    if sweep_name not in TEXTS:
        raise typer.BadParameter(f"--sweep-text {sweep_name!r} unknown; known: {', '.join(TEXTS)}")
    out.mkdir(parents=True, exist_ok=True)
    cache = cache or out / "cache"
    plan = Plan(
        subjects=chosen,
        texts=text_sets,
        sweep_text=TEXTS[sweep_name],
        levels=levels,
        repeats=repeats,
        torch_repeats=torch_repeats or min(repeats, 2),
        rounds=rounds or 2,
        runtime=runtime,
        precision=prec,
        runtimes=runtimes,
        requests=Requests(fresh=not repeated),
        threads=threads,
        max_batch=max_batch,
        queue_delay_us=queue_delay_us,
        instances=instances,
        perf_inputs=perf_inputs,
        out=out,
        cache=cache,
    )
    results = _results_skeleton(plan, quick)
    progress(
        f"benchmark ({results['mode']}, {plan.requests.label}): subjects {','.join(chosen)}; "
        f"graphs on {runtime} {runtimes or ''} "
        f"{json.dumps(prec) if prec else 'fp32'}; load average {load_average()}"
    )
    voice = _voice(voice_dir, chosen, cache, quick, progress)
    results["voice"] = voice.to_json()
    run_inprocess(results, voice, plan, progress)
    if {"grpc", "http", "stream"} & set(chosen):
        run_triton(results, voice, plan, progress)
    _finish(results, out, progress)


def _subjects(items: list[str]) -> list[str]:
    chosen = _split(items)
    bad = [s for s in chosen if s not in SUBJECTS]
    if bad:
        raise typer.BadParameter(f"unknown subject(s) {bad}; allowed: {', '.join(SUBJECTS)}")
    return chosen


def _runtime_and_precision(
    graph_runtime: str, items: list[str]
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The graph runtime (auto: this machine's choice), its per-graph precision and the
    per-family runtimes where they differ (`cpu.auto_choice`)."""
    from tts_export.repository import default_graph_runtime

    if graph_runtime not in ("auto", "onnxruntime", "openvino"):
        raise typer.BadParameter(
            f"--graph-runtime must be auto, onnxruntime or openvino, got {graph_runtime!r}"
        )
    chosen = default_graph_runtime() if graph_runtime == "auto" else (graph_runtime, {}, {})
    runtime, prec, runtimes = chosen
    prec = {**prec, **_precision(items)}
    if runtime == "onnxruntime" and any(v not in ("fp32", "int8") for v in prec.values()):
        raise typer.BadParameter("--precision bf16/fp16 needs --graph-runtime openvino")
    return runtime, prec, runtimes


def _results_skeleton(plan: Plan, quick: bool) -> dict:
    """results.json before anything is measured: mode, start time, machine and settings."""
    return {
        "schema": 1,
        "mode": "quick" if quick else "default",
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_facts({"graph_session": plan.threads or "auto (min(cpus, 4))"}),
        "settings": {
            "subjects": plan.subjects,
            "texts": {t.name: {"language": t.language, "text": t.text} for t in plan.texts},
            "sweep_text": plan.sweep_text.name,
            "concurrency": plan.levels,
            "repeats": plan.repeats,
            "torch_repeats": plan.torch_repeats,
            "warmup": 1,
            "rounds": plan.rounds,
            "seed": SEED,
            "workload": plan.requests.label,
            "graph_runtime": plan.runtime,
            "runtimes": plan.runtimes,
            "precision": plan.precision,
            "threads": plan.threads,
            "triton": {
                "max_batch": plan.max_batch,
                "queue_delay_us": plan.queue_delay_us,
                "instances": plan.instances,
            },
        },
        "subjects": {},
    }


def _voice(voice_dir: Path | None, chosen: list[str], cache: Path, quick: bool, progress):
    """The voice to measure: the `--voice` folder, else one built (or reused) in the cache."""
    if voice_dir is None:
        return build_voice(cache, "tiny" if quick else "full", progress)
    voice = voice_from_folder(voice_dir)
    if "pytorch" in chosen and not voice.checkpoint.is_file():
        raise typer.BadParameter(
            f"subject pytorch needs the checkpoint named in {voice_dir}/source.json; "
            "it is missing there, so leave pytorch out of --subjects"
        )
    progress(f"voice {voice.name} from {voice_dir}")
    return voice


def _finish(results: dict, out: Path, progress: Progress) -> None:
    """Targets, summary, plots, results.json and results.md, after the measuring."""
    results["machine"]["load_average_at_end"] = load_average()
    results["targets"] = report.evaluate_targets(results)
    results["elapsed_s"] = time.perf_counter() - progress.t0
    results["summary"] = _summary(results, out)
    results["plots"] = report.write_plots(results, out)
    report.write_json(results, out)
    (out / "results.md").write_text(report.markdown(results), encoding="utf-8")
    progress(results["summary"])


def _summary(results: dict, out: Path) -> str:
    parts = [f"done in {results['elapsed_s']:.0f} s"]
    text = results["settings"]["sweep_text"]
    for name, data in results["subjects"].items():
        row = data.get("per_text", {}).get(text)
        if row and name != "triton-stream":
            parts.append(
                f"{name} {text} p50 {row['latency_s']['p50'] * 1000:.0f} ms RTF {row['rtf']['p50']:.3f}"
            )
    grpc = results.get("sweep", {}).get("grpc", [])
    if grpc:
        best = max(grpc, key=lambda r: r.get("throughput_audio_s_per_s", 0))
        parts.append(
            f"best gRPC throughput {best.get('throughput_audio_s_per_s', 0):.2f} audio s/s "
            f"at concurrency {best['concurrency']}"
        )
    met = [t for t in results.get("targets", []) if t["met"]]
    measured = [t for t in results.get("targets", []) if t["met"] is not None]
    parts.append(f"targets met {len(met)}/{len(measured)}")
    return "; ".join(parts) + f" (RTF: lower is better) -> {out / 'results.md'}"


def run(argv: list[str] | None = None) -> None:
    """Entry point for `python -m tts_benchmarks.run` and for tests (argv without argv[0])."""
    app(args=argv if argv is not None else sys.argv[1:], standalone_mode=True)


if __name__ == "__main__":
    run()
