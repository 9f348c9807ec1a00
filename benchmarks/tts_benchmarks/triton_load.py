"""Load against a real Triton server: closed-loop clients over gRPC or HTTP, gRPC streaming,
and the server's own per-model statistics (queue vs compute time).

Closed loop: `concurrency` client threads, each with its own connection, send the next request
as soon as their previous one is answered, until `requests` have been sent. That is how
perf_analyzer's concurrency mode loads a server too, so the numbers compare.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tts_benchmarks.stats import Sample
from tts_benchmarks.workload import Requests, Text, Voice

PROTOCOLS = ("grpc", "http")


def _inputs(module, text: Text, seed: int, *, speaker: str, extra: dict | None = None) -> list:
    """The ensemble's inputs for one request; unset scales take the speaker's defaults.
    ``extra``: more INT64 inputs by name (CLAUSE_CHARS)."""
    values = {
        "TEXT": np.array([text.text.encode("utf-8")], dtype=object),
        "SPEAKER": np.array([speaker.encode("utf-8")], dtype=object),
        "LANGUAGE": np.array([text.language.encode("utf-8")], dtype=object),
        "SEED": np.array([seed], dtype=np.int64),
        **{k: np.array([v], dtype=np.int64) for k, v in (extra or {}).items()},
    }
    tensors = []
    for name, value in values.items():
        t = module.InferInput(name, [1], "BYTES" if value.dtype == object else "INT64")
        t.set_data_from_numpy(value)
        tensors.append(t)
    return tensors


def _client(protocol: str, url: str, timeout_s: float):
    if protocol == "grpc":
        import tritonclient.grpc as module

        return module, module.InferenceServerClient(url)
    if protocol == "http":
        import tritonclient.http as module

        return module, module.InferenceServerClient(
            url, connection_timeout=timeout_s, network_timeout=timeout_s
        )
    raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")


def closed_loop(
    protocol: str,
    url: str,
    model: str,
    voice: Voice,
    text: Text,
    concurrency: int,
    requests: int,
    source: Requests,
    sample_rate: int,
    timeout_s: float = 600.0,
) -> tuple[list[Sample], float]:
    """`requests` requests of `text`'s set from `concurrency` clients, each request's text and
    seed from `source`; returns (samples, wall seconds)."""
    if concurrency < 1 or requests < 1:
        raise ValueError(f"concurrency and requests must be >= 1, got {concurrency}, {requests}")
    tickets: queue.Queue[int] = queue.Queue()
    for i in range(requests):
        tickets.put(i)
    samples: list[Sample] = []
    lock = threading.Lock()
    origin = time.perf_counter()
    start_gate = threading.Barrier(concurrency)

    def worker() -> None:
        module, client = _client(protocol, url, timeout_s)
        outputs = [module.InferRequestedOutput("AUDIO")]
        with contextlib.closing(client):
            start_gate.wait()
            while True:
                try:
                    tickets.get_nowait()
                except queue.Empty:
                    return
                inputs = _inputs(module, *source.next(text), speaker=voice.speaker)
                t0 = time.perf_counter()
                error, audio_s = None, 0.0
                try:
                    kw = {"client_timeout": timeout_s} if protocol == "grpc" else {}
                    result = client.infer(model, inputs, outputs=outputs, **kw)
                    audio_s = result.as_numpy("AUDIO").size / sample_rate
                except Exception as e:  # recorded per request; the sweep goes on
                    error = f"{type(e).__name__}: {e}"
                latency = time.perf_counter() - t0
                with lock:
                    samples.append(Sample(text.name, t0 - origin, latency, audio_s, error=error))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [s for s in samples if s.error is None]
    wall = max(s.start_s + s.latency_s for s in ok) - min(s.start_s for s in ok) if ok else 0.0
    return sorted(samples, key=lambda s: s.start_s), wall


def stream_once(
    url: str,
    model: str,
    voice: Voice,
    text: Text,
    seed: int,
    sample_rate: int,
    timeout_s: float,
    first_only: bool = False,
    extra: dict | None = None,
) -> Sample:
    """One request to the decoupled `<voice>_stream` model: first-chunk and total latency.

    first_only: cancel the request once the first chunk is in, so a first-audio sweep does not
    pay for the rest of the text; the sample's latency and audio are then those of the first
    chunk. The model stops at its next cancellation check (after a window, or a sentence),
    so this waits until its execution has ended: the next request must not share the CPU and
    the step models with the cancelled one's remainder. ``extra``: more INT64 inputs."""
    executions = _executions(url, model) if first_only else 0
    import tritonclient.grpc as grpc

    events: queue.Queue = queue.Queue()
    client = grpc.InferenceServerClient(url)
    with contextlib.closing(client):
        client.start_stream(callback=lambda result, error: events.put((result, error)))
        try:
            t0 = time.perf_counter()
            client.async_stream_infer(
                model,
                _inputs(grpc, text, seed, speaker=voice.speaker, extra=extra),
                outputs=[grpc.InferRequestedOutput("AUDIO")],
                enable_empty_final_response=True,
            )
            first, samples, chunks, error = None, 0, 0, None
            played_until, stall = 0.0, 0.0  # when the audio received so far ends playing
            while True:
                try:
                    result, err = events.get(timeout=timeout_s)
                except queue.Empty:
                    error = f"no response within {timeout_s:.0f} s"
                    break
                if err is not None:
                    error = str(err)
                    break
                audio = result.as_numpy("AUDIO")
                if audio is not None and audio.size:
                    now = time.perf_counter() - t0
                    if first is None:
                        first = played_until = now
                    stall += max(0.0, now - played_until)
                    played_until = max(played_until, now) + audio.size / sample_rate
                    samples += audio.size
                    chunks += 1
                    if first_only:
                        break
                params = result.get_response().parameters
                if "triton_final_response" in params and params["triton_final_response"].bool_param:
                    break
            latency = time.perf_counter() - t0
        finally:
            client.stop_stream(cancel_requests=first_only)
    if first_only:
        _wait_executions(url, model, executions + 1, timeout_s)
    audio_s = samples / sample_rate
    return Sample(
        text.name, 0.0, latency, audio_s, first, chunks=chunks, stall_s=stall, error=error
    )


def _executions(url: str, model: str) -> int:
    """Executions `model` has finished (Triton counts one when `execute` returns)."""
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(url)
    with contextlib.closing(client):
        stats = client.get_inference_statistics(model, as_json=True)["model_stats"]
    return sum(int(m.get("execution_count", 0)) for m in stats)  # JSON leaves out zeros


def _wait_executions(url: str, model: str, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _executions(url, model) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{model} did not finish a cancelled request in {timeout_s:.0f} s")
        time.sleep(0.05)


# -- server statistics -------------------------------------------------------------------------

_STAT_KEYS = ("success", "queue", "compute_input", "compute_infer", "compute_output")


def server_statistics(url: str) -> dict[str, dict]:
    """Model name -> {count and ns per phase, executions, batch sizes} (cumulative, gRPC API)."""
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(url)
    with contextlib.closing(client):
        raw = client.get_inference_statistics(as_json=True)
    out = {}
    for m in raw.get("model_stats", []):
        stats = m.get("inference_stats", {})
        entry = {
            k: {
                "count": int(stats.get(k, {}).get("count", 0)),
                "ns": int(stats.get(k, {}).get("ns", 0)),
            }
            for k in _STAT_KEYS
        }
        entry["inference_count"] = int(m.get("inference_count", 0))
        entry["execution_count"] = int(m.get("execution_count", 0))
        entry["batch_sizes"] = {
            str(b.get("batch_size")): int(b.get("compute_infer", {}).get("count", 0))
            for b in m.get("batch_stats", [])
        }
        out[m["name"]] = entry
    return out


def statistics_delta(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict]:
    """What happened between two `server_statistics` snapshots, in milliseconds per request.

    Per model: requests, executions (fewer than requests = dynamic batching merged some),
    and the mean queue / compute_input / compute_infer / compute_output time per request.
    """
    out = {}
    for name, a in after.items():
        b = before.get(name)
        count = a["success"]["count"] - (b["success"]["count"] if b else 0)
        if count <= 0:
            continue
        row = {
            "requests": count,
            "executions": a["execution_count"] - (b["execution_count"] if b else 0),
        }
        for k in _STAT_KEYS[1:] + ("success",):
            ns = a[k]["ns"] - (b[k]["ns"] if b else 0)
            row[f"{'total' if k == 'success' else k}_ms"] = ns / count / 1e6
        sizes = {}
        for size, n in a["batch_sizes"].items():
            d = n - (b["batch_sizes"].get(size, 0) if b else 0)
            if d:
                sizes[size] = d
        row["batch_sizes"] = sizes
        out[name] = row
    return out


def start_server(
    repository: Path, log_path: Path, progress: Callable[[str], None], timeout_s: float = 900.0
):
    """A tritonserver on 127.0.0.1 with free ports and every model of `repository` loaded."""
    from tts_server.tritonserver import TritonServer

    server = TritonServer(
        repository, model_control="explicit", load_models=["*"], log_path=log_path
    )
    server.start()
    try:
        ready = server.wait_ready(timeout_s)
    except BaseException:
        server.stop()
        raise
    progress(
        f"tritonserver ready in {ready:.1f} s (gRPC {server.grpc_url}, HTTP {server.http_address})"
    )
    return server


def server_version(url: str) -> str | None:
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(url)
    with contextlib.closing(client):
        try:
            return client.get_server_metadata(as_json=True).get("version")
        except Exception:
            return None


def write_voice_repository(
    voice: Voice,
    repo: Path,
    graph_runtime: str = "auto",
    precision: list[str] = (),
    stream_instances: int | None = None,
) -> tuple[str, str]:
    """A repository for `voice` in `repo` as `tts-export repository` writes it (`graph_runtime`,
    `precision` and `stream_instances` as its options); returns (the ensemble's name, the plan
    in words)."""
    from tts_export.repository import (
        RepositoryOptions,
        describe_plan,
        parse_precision,
        resolved_options,
        write_repository,
    )

    opts = RepositoryOptions(
        graph_runtime=graph_runtime,
        precision=parse_precision(list(precision)),
        name=voice.name,
        stream_instances=stream_instances,
    )
    write_repository(voice.voice_dir, repo, opts)
    resolved, _ = resolved_options(voice.voice_dir, opts)
    return resolved.name or voice.name, describe_plan(resolved)
