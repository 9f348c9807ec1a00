"""What perf_analyzer says, read back: its CSV, the server-side blocks of its output (the
model's own and each composing model's), the response times in its profile export, and the
tables of perf_analyzer.md (`perf_analyzer_run` writes them)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from tts_benchmarks.stats import percentiles
from tts_benchmarks.workload import SEED

_USEC = 1e-6
_COMPOSING = re.compile(r"^\s+(\S+), version: (\S+)\s*$")
_BREAKDOWN = re.compile(r"([a-z][a-z ]*?) (\d+) usec")


def _server_block(lines: list[str]) -> dict:
    """Counts and the latency breakdown (seconds) from one 'Server:' or composing-model block."""
    out: dict = {}
    for line in lines:
        key, _, value = line.strip().partition(": ")
        if key in ("Inference count", "Execution count", "Successful request count"):
            out[key.lower().replace(" ", "_")] = int(value)
        elif key == "Avg request latency":
            total, _, rest = value.partition(" (")
            out["avg_request_latency_s"] = int(total.split()[0]) * _USEC
            out["breakdown_s"] = {k.strip(): int(v) * _USEC for k, v in _BREAKDOWN.findall(rest)}
    return out


def parse_output(text: str) -> dict:
    """The server side of one perf_analyzer run's output: the model's own block and each
    composing model's (an ensemble's steps, or a BLS caller's `--bls-composing-models`)."""
    lines = text.splitlines()
    server: list[str] = []
    composing: dict[str, list[str]] = {}
    section, current = None, None
    for line in lines:
        stripped = line.strip()
        if stripped == "Server:":
            section = "server"
        elif stripped == "Composing models:":
            section = "composing"
        elif stripped and not line.startswith(" "):  # the next top-level line ends the blocks
            section = None
        elif section == "server":
            server.append(line)
        elif section == "composing":
            match = _COMPOSING.match(line)
            if match:
                current = match.group(1)
                composing[current] = []
            elif current:
                composing[current].append(line)
    return {
        "server": _server_block(server),
        "composing": {name: _server_block(block) for name, block in composing.items()},
    }


def parse_csv(path: Path) -> dict:
    """perf_analyzer's -f CSV (one concurrency): throughput and client latencies in seconds."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} holds no measurement")
    row = rows[-1]
    out = {"concurrency": int(row["Concurrency"]), "infer_per_s": float(row["Inferences/Second"])}
    for p in ("p50", "p90", "p95", "p99"):
        out[f"{p}_latency_s"] = int(row[f"{p} latency"]) * _USEC
    if "Response Throughput" in row:
        out["responses_per_s"] = float(row["Response Throughput"])
    return out


def response_times(profile: Path, concurrency: int) -> dict:
    """First and last response after each request's send (seconds), from perf_analyzer's
    `--profile-export-file`. For a decoupled model perf_analyzer 2.41 says it measures the
    first response, yet its reported latency is the last one (the whole stream, measured here):
    first audio is read from these timestamps instead."""
    data = json.loads(profile.read_text())
    first, last = [], []
    for experiment in data.get("experiments", []):
        if experiment.get("experiment", {}).get("value") not in (None, concurrency):
            continue
        for request in experiment.get("requests", []):
            times = request.get("response_timestamps") or []
            if times:
                first.append((times[0] - request["timestamp"]) * 1e-9)
                last.append((times[-1] - request["timestamp"]) * 1e-9)
    return {"first_response_s": percentiles(first), "last_response_s": percentiles(last)}


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.0f}"


def _speed_lines(row: dict, model: str, h: dict, audio_s: float) -> list[str]:
    """The first table's lines for one perf_analyzer row (the ensemble's and the stream's)."""
    c = row["concurrency"]
    if row["model"] == model:
        ours = h["ensemble"].get(c) or h["ensemble"].get(str(c))
        pairs = [("", row.get("p50_latency_s"), ours["latency_s"]["p50"], ours["requests_per_s"])]
    elif row["model"] == f"{model}_stream":
        stream = h["stream"] if c == 1 else None  # the harness streams one request at a time
        pairs = [
            (" (first audio)", row.get("first_response_s", {}).get("p50"),
             stream and stream.get("first_audio_s", {}).get("p50"), None),
            (" (whole stream)", row.get("p50_latency_s"), stream and stream["latency_s"]["p50"],
             None),
        ]  # fmt: skip
    else:
        return []
    if "error" in row:
        return [f"| {row['model']} | {c} | {row['error']} | | | | | |"]
    lines = []
    for what, theirs, mine, rate in pairs:
        ratio = f"{theirs / mine:.2f}" if theirs and mine else ""
        rtf = f"{theirs / audio_s:.3f}" if theirs and what != " (first audio)" else ""
        lines.append(
            f"| {row['model']}{what} | {c} | {_ms(theirs)} | {_ms(mine)} | {ratio} "
            f"| {row['infer_per_s']:.2f} | {'' if rate is None else f'{rate:.2f}'} | {rtf} |"
        )
    return lines


def report(results: dict) -> str:
    """perf_analyzer.md: perf_analyzer's rows beside the harness's, then each step model."""
    m, h = results["machine"], results["harness"]
    audio_s = next(iter(h["ensemble"].values()))["audio_s"]
    lines = [
        f"# perf_analyzer against voice `{results['model']}`",
        "",
        f"{results['perf_analyzer']}, gRPC; text `{results['text']}` ({audio_s:.2f} s of audio), "
        f"seed {SEED}; {results['settings']['requests']} requests per window (a step model: "
        f"enough for about {results['settings']['step_window_s']:g} s), stable on the p50 within "
        f"{results['settings']['stability_percentage']}%. Server plan: {results['plan']}.",
        f"CPU: {m['cpu_model']} ({m['logical_cpus']} logical CPUs; flags "
        f"{', '.join(m['cpu_flags'])}); load average {m['load_average_at_start']} at the start, "
        f"{results['load_average_at_end']} at the end.",
        "",
        "| model | concurrency | perf_analyzer p50 ms | harness p50 ms | perf_analyzer / harness "
        "| perf_analyzer infer/s | harness requests/s | p50 RTF (perf_analyzer) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        lines += _speed_lines(row, results["model"], h, audio_s)
    lines += [
        "",
        "Server side of each model at concurrency 1 (perf_analyzer's statistics; a BLS caller's "
        "composing models beneath it):",
        "",
        "| model | p50 ms (client) | server request ms | queue ms | compute infer ms | "
        "executions / requests |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        if row["concurrency"] != 1 or "error" in row:
            continue
        blocks = [(row["model"], row["server"], True)]
        blocks += [
            (f"  ↳ {n}", b, False) for n, b in row["composing"].items() if b.get("inference_count")
        ]
        for name, block, own in blocks:
            b = block.get("breakdown_s", {})
            execs = f"{block.get('execution_count', '-')} / {block.get('inference_count', '-')}"
            lines.append(
                f"| {name} | {_ms(row['p50_latency_s']) if own else ''} "
                f"| {_ms(block.get('avg_request_latency_s'))} | {_ms(b.get('queue'))} "
                f"| {_ms(b.get('compute infer', b.get('compute')))} | {execs} |"
            )
    return "\n".join(lines) + "\n"
