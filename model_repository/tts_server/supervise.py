"""What runs inside a tritonserver, per model: its processes and resident memory, and a watch
that brings back a model whose Python-backend stub died.

Triton's Python backend runs every model instance in a stub process. When a stub dies (the
kernel's OOM killer, a crash in a native library, kill -9), the pip-bundled server neither
restarts it nor says so: the server and the model stay READY while every request to that
model fails with "Stub process '<model>_0_0' is not healthy" (tried here: 40 s, no recovery;
docs/memory.md). `StubWatch` notices the dead stub within a poll, unloads the model, so that
readiness tells the truth while it is gone, and loads it again; it records each step.
Torch-free; only the server side (`tts-serve`, the tests) imports it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

SERVER = "tritonserver"
"""The row of `model_memory` for the server process itself (native backends run inside it)."""


def stub_model(cmdline: list[str]) -> str | None:
    """The model a Python-backend stub serves, from its command line
    (``triton_python_backend_stub <repo>/<model>/<version>/model.py ...``)."""
    if len(cmdline) < 2 or not cmdline[0].endswith("triton_python_backend_stub"):
        return None
    path = Path(cmdline[1])
    return path.parent.parent.name if path.name == "model.py" else None


def model_stubs(server_pid: int) -> dict[str, list[psutil.Process]]:
    """Model name -> its live stub processes (zombies left out)."""
    out: dict[str, list[psutil.Process]] = {}
    for proc in psutil.Process(server_pid).children(recursive=True):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            model = stub_model(proc.cmdline())
        except psutil.Error:
            continue
        if model:
            out.setdefault(model, []).append(proc)
    return out


def model_memory(server_pid: int) -> dict[str, float]:
    """Resident memory in MiB: the server process (`SERVER`) and each model's stubs."""
    memory = {SERVER: psutil.Process(server_pid).memory_info().rss / 2**20}
    for model, procs in sorted(model_stubs(server_pid).items()):
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        memory[model] = total / 2**20
    return memory


def memory_table(memory: dict[str, float]) -> str:
    """`model_memory` as aligned lines, largest first, with the total."""
    width = max(len(m) for m in memory)
    rows = sorted(memory.items(), key=lambda kv: -kv[1])
    lines = [f"  {m:<{width}}  {mib:8.0f} MiB" for m, mib in rows]
    lines.append(f"  {'total':<{width}}  {sum(memory.values()):8.0f} MiB")
    return "\n".join(lines)


@dataclass
class StubEvent:
    """One recovery: when the dead stub was seen, and when its model was back."""

    model: str
    seen_at: float
    """time.monotonic() when the watch saw the stub gone."""
    unloaded_at: float | None = None
    ready_at: float | None = None
    error: str = ""

    def describe(self) -> str:
        if self.ready_at is None:
            return f"{self.model}: stub died; reload failed: {self.error}"
        return (
            f"{self.model}: stub died; unloaded after {self.unloaded_at - self.seen_at:.1f} s, "
            f"ready again after {self.ready_at - self.seen_at:.1f} s"
        )


@dataclass
class StubWatch:
    """Polls the server's stubs; a model whose stub died is unloaded and loaded again.

    `client` is a tritonclient.http.InferenceServerClient of the server (explicit model
    control: the repository API must be on). `on_event` is called with each finished
    recovery (the CLI prints it)."""

    server_pid: int
    client: object
    poll_s: float = 1.0
    on_event: Callable[[StubEvent], None] | None = None
    events: list[StubEvent] = field(default_factory=list)
    recovering: str = ""
    """The model being reloaded now, if any."""
    _known: dict[str, set[int]] = field(default_factory=dict)
    _instances: dict[str, int] = field(default_factory=dict)
    """Model -> the stubs it runs (its config's instance count), read when its stubs change."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> StubWatch:
        self._known = self._pids()
        self._thread = threading.Thread(target=self._loop, name="stub-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check(self) -> list[StubEvent]:
        """One poll: recover every model that lost a stub since the last poll and now runs
        fewer than its instances while Triton still calls it ready. A model unloaded through
        the API is not ready (forgotten). One loaded again through it may show its old stubs
        beside the new ones for a while (Triton ends a stub about 1.2 s after its unload):
        those ending leave the model its instances, so it is left alone."""
        now = self._pids()
        broken = [m for m, pids in self._known.items() if self._short(pids, now.get(m, set()), m)]
        if broken:
            ready = [m for m in broken if self._ready(m)]
            now = self._pids()  # again: a load that ended meanwhile has its new stubs now
            broken = [m for m in ready if self._short(self._known[m], now.get(m, set()), m)]
        events = [self._recover(m) for m in broken]
        if broken:
            now = self._pids()
        for model, pids in now.items():
            if pids != self._known.get(model):
                self._count_instances(model)  # a reload may change the config
        self._known = now
        return events

    def _short(self, known: set[int], live: set[int], model: str) -> bool:
        """A stub of ``model`` ended since the last poll, and fewer than its instances run."""
        return bool(known - live) and len(live) < self._instances.get(model, 1)

    def _count_instances(self, model: str) -> None:
        try:
            groups = self.client.get_model_config(model).get("instance_group", [])
            count = sum(g.get("count", 1) * max(1, len(g.get("gpus", []))) for g in groups)
        except Exception:  # noqa: BLE001 - mid-load or gone: keep what was known
            return
        self._instances[model] = max(1, count)

    def _ready(self, model: str) -> bool:
        try:
            return bool(self.client.is_model_ready(model))
        except Exception:  # noqa: BLE001 - an unreachable server is not ours to fix here
            return False

    def _pids(self) -> dict[str, set[int]]:
        try:
            stubs = model_stubs(self.server_pid)
        except psutil.Error:  # the server itself is gone: nothing to watch
            return {}
        return {m: {p.pid for p in procs} for m, procs in stubs.items()}

    def healthy(self) -> tuple[bool, str]:
        """(True, "") when every watched model has its stubs and is ready, else (False, why):
        what a readiness probe should hear (Triton's own readiness stays true with a dead
        stub)."""
        if self.recovering:
            return False, f"reloading {self.recovering} after its stub died"
        now = self._pids()  # no Triton calls here: probes must not wait on a reload
        for model, pids in self._known.items():
            if self._short(pids, now.get(model, set()), model):
                return False, f"{model}: a stub process died"
        return True, ""

    def _recover(self, model: str) -> StubEvent:
        self.recovering = model
        event = StubEvent(model, time.monotonic())
        try:
            self.client.unload_model(model)
            _wait(lambda: not self.client.is_model_ready(model), 60)
            event.unloaded_at = time.monotonic()
            self.client.load_model(model)
            event.ready_at = time.monotonic()
        except Exception as err:  # noqa: BLE001 - recorded; the next poll tries again
            event.error = f"{type(err).__name__}: {err}"
        self.recovering = ""
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _loop(self) -> None:
        # `client` is used from this thread only (tritonclient.http's greenlets are bound to
        # the thread that first uses them)
        for model in self._known:
            self._count_instances(model)
        while not self._stop.wait(self.poll_s):
            self.check()


def _wait(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(0.05)


class HealthEndpoint:
    """HTTP readiness that tells the truth, for probes (`tts-serve --health-port`):
    ``GET /ready`` is 200 only while ``triton_ready()`` and no watched model has lost a stub or
    is being reloaded (503 with the reason otherwise); ``GET /live`` is 200 while the
    tritonserver process runs. Triton's own /v2/health/ready stays 200 with a dead stub, and
    says not ready while another model loads."""

    def __init__(self, watch: StubWatch, triton_ready: Callable[[], bool], host: str, port: int):
        import http.server

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                code, body = outer.answer(self.path)
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:  # probes every few seconds: quiet
                return

        self.watch, self.triton_ready = watch, triton_ready
        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="health", daemon=True).start()

    def answer(self, path: str) -> tuple[int, str]:
        if path.rstrip("/") == "/live":
            alive = psutil.pid_exists(self.watch.server_pid)
            return (200, "live\n") if alive else (503, "tritonserver is not running\n")
        if path.rstrip("/") != "/ready":
            return 404, "GET /ready or /live\n"
        # The watch first: a model it is reloading is loading to Triton too, which
        # `triton_ready` (`tritonserver.serving`) does not hold against the server.
        ok, why = self.watch.healthy()
        if not ok:
            return 503, why + "\n"
        try:
            triton = self.triton_ready()
        except Exception:  # noqa: BLE001 - unreachable is not ready
            triton = False
        return (200, "ready\n") if triton else (503, "tritonserver is not ready\n")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
