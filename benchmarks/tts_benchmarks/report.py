"""Benchmark outputs: `results.json` (all raw numbers), `results.md` (tables) and PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

RTF_NOTE = (
    "RTF = compute time / audio duration per request (lower is better; < 1 is faster than "
    "real time). Throughput = audio seconds produced per wall-clock second (higher is better)."
)

TARGETS = {
    "rtf": 0.10,
    "overhead": 0.10,
    "scaling": 1.5,
}


def _ms(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 1000:.0f}"


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def evaluate_targets(results: dict) -> list[dict]:
    """The issue's three targets on the sweep text (medium Chinese in the default mode)."""
    text = results["settings"]["sweep_text"]
    subjects = results["subjects"]
    grpc = subjects.get("triton-grpc", {}).get("per_text", {}).get(text)
    inproc = next(
        (v["per_text"].get(text) for k, v in subjects.items() if k.startswith("inprocess")), None
    )
    sweep = {row["concurrency"]: row for row in results.get("sweep", {}).get("grpc", [])}
    out = []
    rtf = grpc["rtf"]["p50"] if grpc else None
    out.append(
        {
            "target": f"end-to-end Triton RTF <= {TARGETS['rtf']:.2f} ({text}, gRPC, concurrency 1)",
            "value": rtf,
            "met": None if rtf is None else rtf <= TARGETS["rtf"],
        }
    )
    ratio = None
    if grpc and inproc:
        ratio = grpc["latency_s"]["p50"] / inproc["latency_s"]["p50"]
    out.append(
        {
            "target": "Triton p50 within 10% of in-process graphs at concurrency 1 "
            "(ratio Triton / in-process)",
            "value": ratio,
            "met": None if ratio is None else ratio <= 1 + TARGETS["overhead"],
        }
    )
    scaling = None
    if 1 in sweep and 8 in sweep:
        scaling = sweep[8]["throughput_audio_s_per_s"] / sweep[1]["throughput_audio_s_per_s"]
    out.append(
        {
            "target": f"throughput at concurrency 8 >= {TARGETS['scaling']}x concurrency 1 (gRPC)",
            "value": scaling,
            "met": None if scaling is None else scaling >= TARGETS["scaling"],
        }
    )
    return out


def write_json(results: dict, out_dir: Path) -> Path:
    path = out_dir / "results.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def markdown(results: dict) -> str:
    """results.md: machine, settings, per-text, stage, sweep, server-statistics and target
    tables, each section only when the run measured it."""
    lines = _machine_and_settings(results) + _per_text_table(results)
    lines += _stages_table(results) + _sweep_table(results) + _server_stats_table(results)
    lines += ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
    for t in results.get("targets", []):
        met = "not measured" if t["met"] is None else ("yes" if t["met"] else "no")
        lines.append(f"| {t['target']} | {_f(t['value'])} | {met} |")
    if results.get("plots"):
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in results["plots"]]
    lines += ["", f"Summary: {results.get('summary', '')}", ""]
    return "\n".join(lines)


def _machine_and_settings(results: dict) -> list[str]:
    m = results["machine"]
    s = results["settings"]
    lines = [
        f"# Benchmark results ({results['mode']} mode)",
        "",
        f"{RTF_NOTE}",
        "",
        "## Machine",
        "",
        "| fact | value |",
        "|---|---|",
        f"| CPU | {m['cpu_model']} ({m['logical_cpus']} logical CPUs; flags {', '.join(m['cpu_flags'])}) |",
        f"| memory | {m.get('memory_gib', '-')} GiB |",
        f"| python | {m['python']} |",
    ]
    for name, version in m["versions"].items():
        lines.append(f"| {name} | {version or '-'} |")
    return lines + [
        f"| tritonserver | {m.get('tritonserver', '-')} |",
        f"| threads | {json.dumps(m.get('threads', {}))} |",
        f"| load average (start / end) | {m.get('load_average_at_start')} / {m.get('load_average_at_end')} |",
        "",
        "## Settings",
        "",
        f"- voice: `{results['voice']['kind']}` ({results['voice']['name']}), first seed "
        f"{s['seed']}",
        f"- workload: {s.get('workload', 'repeated sentences')}",
        f"- graph runtime: {s['graph_runtime']} (per family: "
        f"{json.dumps(s.get('runtimes', {}))}), precision {json.dumps(s['precision'])}",
        f"- repeats per text: {s['repeats']} (after {s['warmup']} warm-up; pytorch "
        f"{s.get('torch_repeats', s['repeats'])}, one warm-up per language), "
        f"concurrency {s['concurrency']}, sweep text `{s['sweep_text']}`",
        f"- elapsed: {results.get('elapsed_s', 0):.0f} s",
    ]


def _per_text_table(results: dict) -> list[str]:
    lines = [
        "",
        "## Per text, one request at a time",
        "",
        "| subject | text | audio s | p50 ms | p90 ms | p99 ms | RTF p50 | first audio p50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for subject, data in results["subjects"].items():
        for text, row in data.get("per_text", {}).items():
            first = row.get("first_audio_s", {}).get("p50")
            lines.append(
                f"| {subject} | {text} | {_f(row['audio_s'], 2)} | {_ms(row['latency_s']['p50'])} "
                f"| {_ms(row['latency_s']['p90'])} | {_ms(row['latency_s']['p99'])} "
                f"| {_f(row['rtf']['p50'])} | {_ms(first)} |"
            )
    return lines


def _stages_table(results: dict) -> list[str]:
    stage_rows = [
        (subject, text, row["stages_s"])
        for subject, data in results["subjects"].items()
        for text, row in data.get("per_text", {}).items()
        if row.get("stages_s")
    ]
    if not stage_rows:
        return []
    names = sorted({k for _, _, st in stage_rows for k in st}, key=_stage_order)
    lines = [
        "",
        "## Per-stage time, in-process subjects (mean ms per request)",
        "",
        "| subject | text | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for subject, text, st in stage_rows:
        lines.append(f"| {subject} | {text} | " + " | ".join(_ms(st.get(n)) for n in names) + " |")
    return lines


def _sweep_table(results: dict) -> list[str]:
    sweep = results.get("sweep", {})
    if not sweep:
        return []
    lines = [
        "",
        f"## Concurrency sweep (Triton ensemble, text `{results['settings']['sweep_text']}`)",
        "",
        "| protocol | concurrency | requests | errors | p50 ms | p90 ms | p99 ms | RTF p50 "
        "| throughput audio s/s | req/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for protocol in ("grpc", "http"):
        for row in sweep.get(protocol, []):
            lines.append(
                f"| {protocol} | {row['concurrency']} | {row['requests']} | {row['errors']} "
                f"| {_ms(row['latency_s']['p50'])} | {_ms(row['latency_s']['p90'])} "
                f"| {_ms(row['latency_s']['p99'])} | {_f(row['rtf']['p50'])} "
                f"| {_f(row.get('throughput_audio_s_per_s'), 2)} "
                f"| {_f(row.get('requests_per_s'), 2)} |"
            )
    return lines


def _server_stats_table(results: dict) -> list[str]:
    stats = results.get("server_stats", {})
    if not stats:
        return []
    lines = [
        "",
        "## Triton queue vs compute per model (mean ms per request, from the statistics API)",
        "",
        "Executions below requests mean dynamic batching merged requests; `batch sizes` "
        "counts executions per batch size. Every level is in results.json.",
        "",
        "| phase | model | requests | executions | queue | compute_input | compute_infer "
        "| compute_output | total | batch sizes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase, models in _stat_phases(stats, results["settings"]["concurrency"]).items():
        for name, row in models.items():
            lines.append(
                f"| {phase} | {name} | {row['requests']} | {row['executions']} "
                f"| {_f(row['queue_ms'], 1)} | {_f(row['compute_input_ms'], 1)} "
                f"| {_f(row['compute_infer_ms'], 1)} | {_f(row['compute_output_ms'], 1)} "
                f"| {_f(row['total_ms'], 1)} | {json.dumps(row['batch_sizes'])} |"
            )
    return lines


def _stat_phases(stats: dict, levels: list[int]) -> dict:
    """The phases shown in the table: concurrency 1 and the highest level (all are in JSON)."""
    keep = ["grpc per text, concurrency 1"] + [
        f"{p} sweep, concurrency {c}" for p in ("grpc", "http") for c in sorted({1, max(levels)})
    ]
    return {k: stats[k] for k in keep if k in stats}


_STAGES = ["frontend", "bert", "encoder", "noise", "decoder", "acoustic", "join"]


def _stage_order(name: str) -> tuple[int, str]:
    return (_STAGES.index(name) if name in _STAGES else len(_STAGES), name)


def write_plots(results: dict, out_dir: Path) -> list[str]:
    """latency/throughput vs concurrency and the per-stage breakdown, as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    sweep = results.get("sweep", {})
    if any(sweep.get(p) for p in ("grpc", "http")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for protocol, rows in sweep.items():
            cs = [r["concurrency"] for r in rows]
            for q, style in (("p50", "-o"), ("p90", "--x")):
                ax.plot(
                    cs, [r["latency_s"][q] * 1000 for r in rows], style, label=f"{protocol} {q}"
                )
        _concurrency_axes(ax, cs, "latency (ms)", "Latency vs concurrency")
        written.append(_save(plt, fig, out_dir / "latency_vs_concurrency.png"))

        fig, ax = plt.subplots(figsize=(6, 4))
        for protocol, rows in sweep.items():
            cs = [r["concurrency"] for r in rows]
            ax.plot(cs, [r.get("throughput_audio_s_per_s", 0) for r in rows], "-o", label=protocol)
        title = "Throughput vs concurrency (higher is better)"
        _concurrency_axes(ax, cs, "audio seconds per wall second", title)
        written.append(_save(plt, fig, out_dir / "throughput_vs_concurrency.png"))

    bars = [
        (f"{subject}\n{text}", row["stages_s"])
        for subject, data in results["subjects"].items()
        for text, row in data.get("per_text", {}).items()
        if row.get("stages_s")
    ]
    if bars:
        names = sorted({k for _, st in bars for k in st}, key=_stage_order)
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(bars) + 2), 4.5))
        bottom = [0.0] * len(bars)
        for name in names:
            values = [st.get(name, 0.0) * 1000 for _, st in bars]
            ax.bar(range(len(bars)), values, bottom=bottom, label=name)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_xticks(
            range(len(bars)), [label for label, _ in bars], fontsize=7, rotation=45, ha="right"
        )
        ax.set(ylabel="ms per request", title="Per-stage time (in-process)")
        ax.legend(fontsize=8)
        written.append(_save(plt, fig, out_dir / "stages.png"))
    return written


def _concurrency_axes(ax, levels: list[int], ylabel: str, title: str) -> None:
    """Labels, log x axis ticked at the concurrency levels, legend and grid of a sweep plot."""
    ax.set(xlabel="concurrency", ylabel=ylabel, xscale="log", title=title)
    ax.set_xticks(levels, [str(c) for c in levels])
    ax.legend()
    ax.grid(alpha=0.3)


def _save(plt, fig, path: Path) -> str:
    """Writes the figure as a 100 dpi PNG, frees it, and returns the file's name."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name
