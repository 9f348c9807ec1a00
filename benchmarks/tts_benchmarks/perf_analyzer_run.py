"""`python -m tts_benchmarks.perf_analyzer_run`: Triton's own perf_analyzer against a served voice,
beside this project's client harness in the same run.

    python -m tts_benchmarks.perf_analyzer_run --voice VOICE_DIR --out DIR   # serves the voice
    python -m tts_benchmarks.perf_analyzer_run --voice VOICE_DIR --url HOST:8001 --out DIR

1. Fetches perf_analyzer and its two libraries from the package registries into the cache
   (`perf_analyzer_binary`; once, then reused).
2. Writes real `--input-data` files for `--text` (`tts_benchmarks.perf_analyzer`): random ids
   would make BERT and the durations meaningless.
3. Serves the voice (a repository with `tts-export repository`'s defaults, tritonserver on free
   127.0.0.1 ports) unless `--url` names a running server whose models are the voice's.
4. Runs perf_analyzer over gRPC, one concurrency at a time (an unstable level is reported and
   the next one still runs): the ensemble and the streaming model over `--concurrency-range`
   (for the decoupled stream, perf_analyzer's latency is the first response: first audio), and
   every step model with an input file at concurrency 1. A BLS caller (the stream, the decoder)
   is run with its composing models, so the server-side time of each is reported.
5. Sends the same text and seed with the project's own gRPC client (`triton_load`) at the same
   concurrencies, so the two measure the same thing on the same machine at the same time.

Writes perf_analyzer.json and perf_analyzer.md into --out, with each perf_analyzer run's
command, CSV and output under --out/runs. Record the CPU flags with the numbers (they are in
the JSON and the table's header).
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer

from tts_benchmarks.perf_analyzer_binary import PerfAnalyzer, fetch
from tts_benchmarks.perf_analyzer_results import parse_csv, parse_output, report, response_times
from tts_benchmarks.stats import load_average, machine_facts, summarize
from tts_benchmarks.workload import (
    SEED,
    TEXTS,
    Requests,
    Text,
    Voice,
    build_voice,
    voice_from_folder,
)

app = typer.Typer(add_completion=False, help=__doc__)


def concurrencies(spec: str) -> list[int]:
    """perf_analyzer's `start:end[:step]` (or one number) as a list, each >= 1."""
    try:
        parts = [int(p) for p in spec.split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or min(parts) < 1:
        raise typer.BadParameter(
            f"concurrency range is start[:end[:step]], each >= 1; got {spec!r}"
        )
    start, end, step = (parts + [parts[0], 1])[:3] if len(parts) == 1 else (parts + [1])[:3]
    if end < start:
        raise typer.BadParameter(f"concurrency range ends before it starts: {spec!r}")
    return list(range(start, end + 1, step))


class Runner:
    """perf_analyzer runs against one server, each written under `folder`."""

    def __init__(self, tool: PerfAnalyzer, url: str, folder: Path, settings: dict) -> None:
        self.tool, self.url, self.folder = tool, url, folder
        self.settings = settings
        folder.mkdir(parents=True, exist_ok=True)

    def run(
        self,
        model: str,
        input_data: Path,
        concurrency: int,
        *,
        streaming: bool = False,
        composing: list[str] = (),
        requests: int | None = None,
    ) -> dict:
        """One model at one concurrency: the CSV's numbers and the server's breakdown, or
        `error` with perf_analyzer's last lines (unstable, refused, timed out)."""
        stem = f"{model}-c{concurrency}"
        requests = requests or self.settings["requests"]
        csv_path = self.folder / f"{stem}.csv"
        csv_path.unlink(missing_ok=True)
        s = self.settings
        cmd = [
            str(self.tool.binary), "-m", model, "-u", self.url, "-i", "grpc",
            "--input-data", str(input_data),
            "--concurrency-range", f"{concurrency}:{concurrency}",
            "--measurement-mode", "count_windows",
            "--measurement-request-count", str(requests),
            "--stability-percentage", str(s["stability_percentage"]),
            "--max-trials", str(s["max_trials"]),
            "--percentile", "50",  # stable on the median: a lone slow request may not reset it
            "-f", str(csv_path),
        ]  # fmt: skip
        profile = self.folder / f"{stem}.profile.json"
        if streaming:  # each response's time: 2.41's own latency is the last response's
            profile.unlink(missing_ok=True)
            cmd += ["--streaming", "--profile-export-file", str(profile)]
        if composing:
            cmd += ["--bls-composing-models", ",".join(composing)]
        (self.folder / f"{stem}.cmd").write_text(" ".join(cmd) + "\n")
        row: dict = {"model": model, "concurrency": concurrency, "streaming": streaming}
        row["window_requests"] = requests
        t0 = time.perf_counter()
        try:
            done = subprocess.run(
                cmd, env=self.tool.env(), capture_output=True, text=True,
                timeout=s["timeout_s"],
            )  # fmt: skip
            output, rc = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as e:
            output, rc = f"{e.stdout or ''}\ntimed out after {s['timeout_s']} s", -1
        row["wall_s"] = time.perf_counter() - t0
        (self.folder / f"{stem}.log").write_text(output)
        if rc != 0 or not csv_path.is_file():
            tail = [line.strip() for line in output.strip().splitlines() if line.strip()][-2:]
            row["error"] = " / ".join(tail) or f"perf_analyzer exited with {rc}"
            return row
        row.update(parse_csv(csv_path))
        row.update(parse_output(output))
        if streaming:
            row.update(response_times(profile, concurrency))
        return row


def _ready_models(url: str) -> dict[str, str]:
    """Ready model -> version on the server at `url`."""
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(url)
    with contextlib.closing(client):
        index = client.get_model_repository_index(as_json=True).get("models", [])
    return {m["name"]: m.get("version", "1") for m in index if m.get("state") == "READY"}


def bls_composing(url: str, model: str, ready: dict[str, str]) -> list[str]:
    """`name:version` of the ready models that `model` calls over BLS (its config's `models`,
    `bert_models` and `emotion_models` parameters); [] for a model that calls none."""
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(url)
    with contextlib.closing(client):
        params = client.get_model_config(model, as_json=True)["config"].get("parameters", {})
    called: list[str] = []
    for key in ("models", "bert_models", "emotion_models"):
        value = params.get(key, {}).get("string_value")
        for name in json.loads(value).values() if value else ():
            if name in ready and name not in called:
                called.append(name)
    return [f"{name}:{ready[name]}" for name in called]


def harness(url: str, model: str, voice: Voice, text: Text, levels: list[int], n: int) -> dict:
    """The project's own gRPC client on the same text and seed: the ensemble at each level
    (closed loop, n requests) and the stream's first audio (n requests, one at a time)."""
    from tts_benchmarks.triton_load import closed_loop, stream_once

    meta = json.loads((voice.voice_dir / "voice.json").read_text(encoding="utf-8"))
    rate = int(meta["sample_rate"])
    out: dict = {"ensemble": {}}
    for c in levels:
        samples, wall = closed_loop(
            "grpc", url, model, voice, text, c, max(n, c), Requests(fresh=False), rate
        )
        out["ensemble"][c] = summarize(samples, wall)
    stream = [stream_once(url, f"{model}_stream", voice, text, SEED, rate, 600.0) for _ in range(n)]
    out["stream"] = summarize(stream)
    return out


STEP_WINDOW_S = 2.0
"""A step model's window is about this long: a few-millisecond model needs many requests
per window to be stable on a shared machine, a second-long one few."""
MAX_WINDOW_REQUESTS = 200


def _window_requests(server_s: float | None, least: int, window_s: float) -> int:
    """Requests per window of about ``window_s`` for a model whose requests took ``server_s``
    on the server so far (None: not seen yet, ``least``)."""
    if not server_s:
        return least
    return min(MAX_WINDOW_REQUESTS, max(least, math.ceil(window_s / server_s)))


def measure(
    tool: PerfAnalyzer,
    url: str,
    model: str,
    files: dict[str, Path],
    levels: list[int],
    settings: dict,
    folder: Path,
    progress,
) -> list[dict]:
    """perf_analyzer on the ensemble and stream at each level, and on each step model at 1."""
    ready = _ready_models(url)
    missing = [m for m in (model, f"{model}_stream") if m not in ready]
    if model not in ready:
        raise typer.BadParameter(
            f"the server at {url} has no ready model {model!r} (ready: {', '.join(sorted(ready))})"
        )
    runner = Runner(tool, url, folder, settings)
    plan: list[tuple[str, int]] = [(model, c) for c in levels]
    plan += [(f"{model}_stream", c) for c in levels if f"{model}_stream" in ready]
    plan += [(m, 1) for m in files if m not in (model, f"{model}_stream") and m in ready]
    seen: dict[str, float] = {}  # model -> server time per request, from the runs so far
    rows = []
    for name, c in plan:
        composing = bls_composing(url, name, ready) if name != model else []
        row = runner.run(
            name,
            files[name],
            c,
            streaming=name.endswith("_stream"),
            composing=composing,
            requests=_window_requests(
                seen.get(name), settings["requests"], settings["step_window_s"]
            ),
        )
        rows.append(row)
        for called, block in row.get("composing", {}).items():
            if block.get("avg_request_latency_s"):
                seen.setdefault(called, block["avg_request_latency_s"])
        said = row.get("error") or (
            f"{row['infer_per_s']:.2f} infer/s, p50 {row['p50_latency_s'] * 1e3:.0f} ms"
        )
        if "first_response_s" in row:
            said += f", first response p50 {row['first_response_s']['p50'] * 1e3:.0f} ms"
        progress(f"perf_analyzer {name} at concurrency {c}: {said} ({row['wall_s']:.0f} s)")
    if missing:
        progress(f"not on the server, not measured: {', '.join(missing)}")
    return rows


@app.command()
def main(
    voice_dir: Annotated[
        Path | None, typer.Option("--voice", help="a `tts-export onnx` folder")
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="the tiny random voice")] = False,
    out: Annotated[Path, typer.Option("--out")] = Path(__file__).resolve().parents[1] / "results",
    cache: Annotated[
        Path | None, typer.Option("--cache", help="perf_analyzer, built voices (default OUT/cache)")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="gRPC host:port of a server that serves the voice")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="the voice's ensemble name on that server")
    ] = None,
    text: Annotated[str, typer.Option("--text", help=f"one of {', '.join(TEXTS)}")] = "zh-medium",
    concurrency_range: Annotated[
        str, typer.Option("--concurrency-range", help="start:end[:step], ensemble and stream")
    ] = "1:4",
    requests: Annotated[int, typer.Option("--requests", min=1, help="per window")] = 10,
    stability: Annotated[
        int, typer.Option("--stability-percentage", min=1, help="perf_analyzer's")
    ] = 20,
    max_trials: Annotated[int, typer.Option("--max-trials", min=3)] = 6,
    timeout_s: Annotated[float, typer.Option("--timeout-s", help="per perf_analyzer run")] = 900.0,
    graph_runtime: Annotated[str, typer.Option("--graph-runtime")] = "auto",
    precision: Annotated[list[str], typer.Option("--precision")] = [],  # noqa: B006
    stream_instances: Annotated[
        int | None, typer.Option("--stream-instances", min=1, help="tts-export repository's")
    ] = None,
    step_window_s: Annotated[
        float,
        typer.Option(
            "--step-window-s",
            min=0.0,
            help="a step model's window holds requests for about this long (0: --requests)",
        ),
    ] = STEP_WINDOW_S,
) -> None:
    """Fetch perf_analyzer, serve the voice (or use --url), measure it beside the harness."""
    from tts_benchmarks.triton_load import start_server, write_voice_repository

    t_start = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f}s] {message}", flush=True)

    if text not in TEXTS:
        raise typer.BadParameter(f"unknown text set {text!r}; known: {', '.join(TEXTS)}")
    levels = concurrencies(concurrency_range)
    out.mkdir(parents=True, exist_ok=True)
    cache = cache or out / "cache"
    machine = machine_facts({})
    tool = fetch(cache / "perf_analyzer", progress)
    progress(f"{tool.version} at {tool.binary}")
    voice = voice_from_folder(voice_dir) if voice_dir else None
    voice = voice or build_voice(cache, "tiny" if quick else "full", progress)
    with contextlib.ExitStack() as stack:
        if url:
            model, plan = name or voice.name, "as served at " + url
        else:
            repo = cache / f"perf-analyzer-repository-{voice.name}"
            model, plan = write_voice_repository(
                voice, repo, graph_runtime, precision, stream_instances
            )
            if stream_instances:
                plan += f"; {stream_instances} stream instances"
            progress(f"repository: {plan}; starting tritonserver")
            server = start_server(repo, cache / "perf-analyzer-tritonserver.log", progress)
            stack.callback(server.stop)
            url = server.grpc_url
        files = _input_files(voice, model, out / "inputs", TEXTS[text], url)
        progress(f"input data for {len(files)} models in {out / 'inputs'}")
        settings = {
            "requests": requests,
            "stability_percentage": stability,
            "max_trials": max_trials,
            "timeout_s": timeout_s,
            "step_window_s": step_window_s,
        }
        rows = measure(tool, url, model, files, levels, settings, out / "runs", progress)
        progress("the project's harness on the same text and seed")
        ours = harness(url, model, voice, TEXTS[text], levels, requests)
    results = {
        "perf_analyzer": tool.version,
        "model": model,
        "plan": plan,
        "text": text,
        "settings": settings | {"concurrency_range": concurrency_range},
        "machine": machine,
        "load_average_at_end": load_average(),
        "rows": rows,
        "harness": ours,
    }
    (out / "perf_analyzer.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "perf_analyzer.md").write_text(report(results))
    failed = sum("error" in r for r in rows)
    progress(
        f"done in {time.perf_counter() - t_start:.0f} s: {len(rows)} perf_analyzer runs "
        f"({failed} without a result), {out / 'perf_analyzer.md'}"
    )


def _input_files(voice: Voice, model: str, folder: Path, text: Text, url: str) -> dict[str, Path]:
    """Input-data files named for the served models (the voice may be served under --name)."""
    from tts_benchmarks.inprocess import GraphSubject
    from tts_benchmarks.perf_analyzer import write_input_data

    subject = GraphSubject(voice, "onnxruntime")
    files = write_input_data(subject, folder, text, url=url)
    del subject  # its graphs are the server's to hold now
    return {model + name[len(voice.name) :]: path for name, path in files.items()}


if __name__ == "__main__":
    app()
