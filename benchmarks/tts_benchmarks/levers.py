"""`python -m tts_benchmarks.levers`: what each speed lever is worth on this machine.

Graph levers (in-process, one graph at a time, real inputs of two texts so that shapes vary
between calls as they do in serving):
  onnxruntime session options - intra-op threads, graph optimisation level, memory pattern,
  CPU memory arena; OpenVINO fp32 vs bf16 (with the SNR of bf16 against onnxruntime fp32).
  Decoder only: the graph with upstream's ConvTranspose upsampling instead of the polyphase
  Conv, and int8 (onnxruntime static quantization, QDQ, calibrated on zh-long) on both runtimes.
Padding: zh-long's sentences through the decoder as one padded batch, grouped by length (the
  server's default), and one at a time.
Buckets: every text's sentences, each decoded once (new lengths, as in real traffic), with
  exact shapes and through the vocoder's shape plan (tts_runtime.shapes).
Server levers (a tritonserver per setting, zh-medium over gRPC):
  dynamic-batching queue delay and instance count; p50 at concurrency 1 and throughput at
  concurrency 8.

Writes levers.json and levers.md into --out.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tts_benchmarks.levers_decoder import padding_lever, shape_lever
from tts_benchmarks.levers_graphs import (
    DECODER_VARIANTS,
    GRAPHS,
    INTERLEAVE_BYTES,
    SETTINGS,
    Setting,
    capture_inputs,
    graph_levers,
    variant_graph,
)
from tts_benchmarks.levers_server import SERVER_SETTINGS, server_levers
from tts_benchmarks.run import DEFAULT_OUT, Progress
from tts_benchmarks.stats import load_average, machine_facts
from tts_benchmarks.workload import build_voice, voice_from_folder

# The lever code lives in levers_graphs / levers_decoder / levers_server; these names stay
# importable from here, where they were first.
__all__ = [
    "DECODER_VARIANTS",
    "GRAPHS",
    "INTERLEAVE_BYTES",
    "SERVER_SETTINGS",
    "SETTINGS",
    "Setting",
    "app",
    "shape_lever",
    "capture_inputs",
    "graph_levers",
    "main",
    "markdown",
    "padding_lever",
    "server_levers",
    "variant_graph",
]

app = typer.Typer(add_completion=False, help=__doc__)


def _ways_table(heading: str, intro: str, column: tuple[str, str, dict]) -> list[str]:
    """A report section: heading, intro line, and a table of way -> value; `column` is the
    value column's (name, format spec, {way: value})."""
    name, spec, values = column
    rows = [f"| {way} | {value:{spec}} |" for way, value in values.items()]
    return ["", f"## {heading}", "", intro, "", f"| way | {name} |", "|---|---|", *rows]


def markdown(results: dict) -> str:
    lines = [
        "# Speed levers",
        "",
        f"Machine: {results['machine']['cpu_model']}, {results['machine']['logical_cpus']} CPUs; "
        f"load average start/end {results['machine']['load_average_at_start']} / "
        f"{results.get('load_average_at_end')}. Voice `{results['voice']}`.",
        "",
    ]
    if results.get("graphs"):
        lines += [
            "## Graph levers (in-process, mean ms per call over two text lengths; lower is better)",
            "",
            "| graph | setting | ms/call | SNR vs ort fp32 (dB) | load s |",
            "|---|---|---|---|---|",
        ]
        for r in results["graphs"]:
            lines.append(
                f"| {r['graph']} | {r['setting']} | {r['ms_mean']:.1f} "
                f"| {r['snr_db_vs_ort_fp32']:.1f} | {r['load_s']:.1f} |"
            )
    if results.get("padding"):
        r = results["padding"]
        lines += _ways_table(
            f"Sentence batching (decoder, zh-long, {r['runtime']} {r['precision']})",
            f"{r['sentences']} sentences of {r['frames']} frames ({r['padding_share']:.0%} of "
            "one padded batch is padding); batches by max padding: "
            + ", ".join(f"{mp}: {groups}" for mp, groups in r["groups"].items()),
            ("ms", ".0f", r["ms"]),
        )
    if results.get("shapes"):
        r = results["shapes"]
        lines += _ways_table(
            f"Shape plan (vocoder, {r['runtime']} {r['precision']})",
            f"{r['sentences']} sentences of every text, {r['distinct_frame_counts']} distinct "
            f"frame counts, each decoded once on a fresh session (the plan prepared first, in "
            f"{r['warm_up_s']:.1f} s); memory grown:"
            + ", ".join(f" {w} {mib:+.0f} MiB" for w, mib in r["grown_mib"].items()),
            ("seconds", ".2f", r["seconds"]),
        )
    if results.get("server"):
        lines += [
            "",
            "## Server levers (Triton ensemble, zh-medium over gRPC)",
            "",
            "| setting | c=1 p50 ms | c=1 audio s/s | c=8 p50 ms | c=8 audio s/s | c8 / c1 |",
            "|---|---|---|---|---|---|",
        ]
        for r in results["server"]:
            lines.append(
                f"| {r['label']} | {r['c1_p50_ms']:.0f} | {r['c1_throughput']:.2f} "
                f"| {r['c8_p50_ms']:.0f} | {r['c8_throughput']:.2f} | {r['scaling']:.2f} |"
            )
    return "\n".join(lines) + "\n"


@app.command()
def main(
    quick: bool = typer.Option(False, "--quick", help="tiny voice, 1 repeat"),
    out: Path = typer.Option(DEFAULT_OUT, "--out"),
    cache: Path | None = typer.Option(None, "--cache", help="default: OUT/cache"),
    voice_dir: Path | None = typer.Option(None, "--voice", help="a `tts-export onnx` folder"),
    repeats: int = typer.Option(3, "--repeats", min=1),
    graphs: bool = typer.Option(True, "--graphs/--no-graphs"),
    server: bool = typer.Option(True, "--server/--no-server"),
    graph_runtime: str = typer.Option("auto", "--graph-runtime"),
) -> None:
    """Measure each lever and write levers.json / levers.md into --out."""
    from tts_export.repository import default_graph_runtime

    progress = Progress()
    out.mkdir(parents=True, exist_ok=True)
    cache = cache or out / "cache"
    voice = (
        voice_from_folder(voice_dir)
        if voice_dir
        else build_voice(cache, "tiny" if quick else "full", progress)
    )
    chosen = default_graph_runtime() if graph_runtime == "auto" else (graph_runtime, {}, {})
    runtime, precision, _ = chosen
    results: dict = {"machine": machine_facts(), "voice": voice.name}
    if graphs:
        progress("graph levers: capturing real inputs (zh-short, zh-medium)")
        feeds = capture_inputs(voice, ["zh-short", "zh-medium"])
        results["graphs"] = graph_levers(voice, feeds, 1 if quick else repeats, progress, cache)
        results["padding"] = padding_lever(
            voice, feeds, runtime, precision, 1 if quick else repeats, progress
        )
        results["shapes"] = shape_lever(voice, runtime, precision, progress)
    if server:
        progress(f"server levers ({runtime} {precision or 'fp32'})")
        results["server"] = server_levers(voice, runtime, precision, cache, progress)
        results["server_runtime"] = {"graph_runtime": runtime, "precision": precision}
    results["load_average_at_end"] = load_average()
    (out / "levers.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "levers.md").write_text(markdown(results), encoding="utf-8")
    progress(f"levers written to {out / 'levers.md'}")


if __name__ == "__main__":
    app()
