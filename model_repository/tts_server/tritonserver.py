"""Start and stop a real Triton Inference Server process.

Two installations are supported:

* ``tritonserver`` on PATH (NGC container): backends in ``/opt/tritonserver/backends`` (or the
  ``backends`` folder beside the binary's parent), nothing else to set up.
* the binary bundled in the ``nvidia-pytriton`` wheel: the wheel ships one Python-backend stub per
  Python version outside the backend folder, so a backend folder with the stub of the *running*
  Python is assembled once in a cache directory, and the server gets LD_LIBRARY_PATH (the wheel's
  bundled libs and this interpreter's libpython) and PATH (this venv's ``bin`` first, which is how
  the embedded interpreter finds the venv's site-packages, as pytriton itself does).

In a source checkout its package folders (`binary.SOURCE_FOLDERS`) go on PYTHONPATH so that
Python-backend ``model.py`` files can import vits2, tts_runtime and tts_contract. This module
imports neither torch nor onnx.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path

from tts_server.binary import (  # noqa: F401 - part of this module's API
    TritonBinary,
    TritonNotFoundError,
    TritonStartError,
    _die_with_parent_fn,
    _group_members,
    _http_ok,
    _kill_group,
    _url_host,
    find_tritonserver,
    free_port,
    port_in_use,
    repo_root,
)
from tts_server.supervise import HealthEndpoint, StubWatch, memory_table, model_memory

# main.cc's message when an endpoint cannot bind; the server may keep running without it.
_ENDPOINT_FAILED = re.compile(r"failed to start \w+ service")
_LIVE_SERVERS: weakref.WeakSet[TritonServer] = weakref.WeakSet()


class TritonServer:
    """One ``tritonserver`` process, in its own process group, logging to a file.

    ``model_control="explicit"`` starts with only ``load_models`` loaded (``["*"]`` loads all)
    and enables load/unload through the repository API; ``"none"`` loads the whole repository.
    Ports left as None are picked free on ``host``. Use as a context manager (start, wait
    ready, stop) or call ``start()``, ``wait_ready()`` and ``stop()`` yourself.
    """

    def __init__(
        self,
        repository: str | os.PathLike[str],
        host: str = "127.0.0.1",
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        model_control: str = "explicit",
        load_models: Sequence[str] | None = None,
        log_verbose: int = 0,
        extra_args: Sequence[str] = (),
        *,
        binary: TritonBinary | None = None,
        log_path: str | os.PathLike[str] | None = None,
        stop_grace_s: float = 15.0,
    ) -> None:
        if model_control not in ("explicit", "none"):
            raise ValueError(f"model_control must be 'explicit' or 'none', got {model_control!r}")
        if load_models and model_control != "explicit":
            raise ValueError("load_models needs model_control='explicit' (mode 'none' loads all)")
        self.repository = Path(repository).resolve()
        if not self.repository.is_dir():
            raise FileNotFoundError(f"model repository {self.repository} is not a directory")
        self.host = host
        self._fixed_ports = (http_port, grpc_port, metrics_port)
        self.http_port, self.grpc_port, self.metrics_port = self._pick_ports()
        self.model_control = model_control
        self.load_models = list(load_models or [])
        self.log_verbose = int(log_verbose)
        self.extra_args = list(extra_args)
        self.binary = binary or find_tritonserver()
        self._own_log_dir = None if log_path else Path(tempfile.mkdtemp(prefix="tritonserver-"))
        self.log_path = Path(log_path) if log_path else self._own_log_dir / "tritonserver.log"
        self.stop_grace_s = stop_grace_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        # Python-backend shared-memory regions are /dev/shm/<prefix>*; a server that dies
        # uncleanly leaves them behind, so stop() removes what carries our prefix.
        self._shm_prefix = f"tts{uuid.uuid4().hex[:12]}"
        self.started_at: float | None = None
        self.ready_after_s: float | None = None

    # -- endpoints ---------------------------------------------------------------------------
    @property
    def http_address(self) -> str:
        """``host:port`` as ``tritonclient.http.InferenceServerClient(url=...)`` expects."""
        return f"{_url_host(self.host)}:{self.http_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_address}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` as ``tritonclient.grpc.InferenceServerClient(url=...)`` expects."""
        return f"{_url_host(self.host)}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ---------------------------------------------------------------------------
    def command(self) -> list[str]:
        """The full command line the server is started with."""
        b = self.binary
        args = [
            str(b.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={b.backend_dir}",
            f"--http-address={self.host}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.metrics_port}",
            f"--model-control-mode={self.model_control}",
            f"--log-verbose={self.log_verbose}",
        ]
        if b.cache_dir:
            args.append(f"--cache-directory={b.cache_dir}")
        args += [f"--load-model={name}" for name in self.load_models]
        extra = " ".join(self.extra_args)
        if "--exit-timeout-secs" not in extra:
            # In-flight work gets this long after SIGTERM; below stop_grace_s so the
            # server exits by itself before it would be killed.
            args.append(f"--exit-timeout-secs={max(1, int(self.stop_grace_s * 2 / 3))}")
        if "auto-complete-config" not in extra:
            # every config.pbtxt here is written whole (tts-export repository); Triton's Python
            # backend would start a stub per model only to ask it to complete the config:
            # without that, the tiny voice's 12 models were ready in 6.7 s instead of 10.5 s
            args.append("--disable-auto-complete-config")
        if "shm-region-prefix-name" not in extra:
            args.append(f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}")
        return args + self.extra_args

    def start(self) -> TritonServer:
        """Launch the process (non-blocking); see wait_ready()."""
        if self.is_running:
            raise RuntimeError(f"server already running (pid {self.pid})")
        for name, port in zip(("http", "grpc", "metrics"), self._fixed_ports, strict=True):
            if port is not None and port_in_use(self.host, port):
                raise TritonStartError(
                    f"{name} port {port} on {self.host} is already in use (another tritonserver?); "
                    f"stop it or pass --{name}-port with a free port"
                )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()  # log_tail() shows this run only
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.binary.environ(),
                cwd=self.log_path.parent,  # the stub puts cwd on sys.path: keep it neutral
                start_new_session=True,  # own process group: stop() reaps the stubs too
                preexec_fn=_die_with_parent_fn(),
            )
        self.started_at = time.monotonic()
        _LIVE_SERVERS.add(self)
        return self

    def wait_ready(
        self, timeout: float = 120.0, poll_s: float = 0.2, port_retries: int = 2
    ) -> float:
        """Wait until HTTP ``/v2/health/ready`` answers 200 and metrics are up.

        Returns seconds since start(). Raises TritonStartError with the log tail (and stops
        the server) if it exits, reports an endpoint it could not start, or ``timeout`` passes.
        Auto-picked ports that turn out taken are re-picked and the server restarted.
        """
        if self._proc is None or self.started_at is None:
            raise RuntimeError("call start() before wait_ready()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            # A server that failed to bind one endpoint may keep running with the others.
            if code is not None or self._endpoint_failed():
                if port_retries > 0 and self._port_clash():
                    self.stop()
                    self.http_port, self.grpc_port, self.metrics_port = self._pick_ports()
                    self.start()
                    port_retries -= 1
                    continue
                tail = self.log_tail()
                self._own_log_dir = None  # keep the log the error message points to
                self.stop()
                what = f"exited with code {code}" if code is not None else "failed to start"
                raise TritonStartError(
                    f"tritonserver {what} before it was ready (log {self.log_path}):\n{tail}"
                )
            # The metrics service starts last, so once both answer every endpoint is up.
            if _http_ok(f"{self.http_url}/v2/health/ready") and (
                not self._metrics_enabled() or _http_ok(self.metrics_url)
            ):
                if not self._endpoint_failed():
                    self.ready_after_s = time.monotonic() - self.started_at
                    return self.ready_after_s
                continue
            time.sleep(poll_s)
        tail = self.log_tail()
        self._own_log_dir = None  # keep the log the error message points to
        self.stop()
        raise TritonStartError(
            f"tritonserver was not ready after {timeout:.0f} s (stopped it); "
            f"log {self.log_path}:\n{tail}"
        )

    def stop(self, grace_s: float | None = None) -> int | None:
        """SIGTERM the server, SIGKILL its process group after ``grace_s``; returns exit code."""
        proc = self._proc
        if proc is None:
            return None
        grace = self.stop_grace_s if grace_s is None else grace_s
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait(timeout=10)
        # Stubs (same group) normally exit with the server; make sure none is left behind.
        _kill_group(proc.pid)
        if "shm-region-prefix-name" not in " ".join(self.extra_args):
            for region in Path("/dev/shm").glob(f"{self._shm_prefix}*"):
                with contextlib.suppress(OSError):
                    region.unlink()
        _LIVE_SERVERS.discard(self)
        if proc.returncode == 0 and self._own_log_dir is not None:
            # A temporary log is kept only when the server failed, for post-mortems.
            shutil.rmtree(self._own_log_dir, ignore_errors=True)
        return proc.returncode

    def log_tail(self, max_chars: int = 4000) -> str:
        """The last ``max_chars`` of what the current (or last) run wrote to the log."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(self._log_offset, log.seek(0, os.SEEK_END) - max_chars))
                return log.read().decode(errors="replace")
        except OSError as err:
            return f"(log unreadable: {err})"

    def __enter__(self) -> TritonServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _pick_ports(self) -> tuple[int, int, int]:
        taken: set[int] = {p for p in self._fixed_ports if p is not None}
        ports = []
        for fixed in self._fixed_ports:
            port = fixed
            while port is None or (fixed is None and port in taken):
                port = free_port(self.host if self.host not in ("", "::") else "127.0.0.1")
            taken.add(port)
            ports.append(port)
        return ports[0], ports[1], ports[2]

    def _metrics_enabled(self) -> bool:
        return not any(a.replace(" ", "") == "--allow-metrics=false" for a in self.extra_args)

    def _endpoint_failed(self) -> bool:
        return _ENDPOINT_FAILED.search(self.log_tail(16000)) is not None

    def _port_clash(self) -> bool:
        auto = any(p is None for p in self._fixed_ports)
        tail = self.log_tail(8000).lower()
        return auto and ("already in use" in tail or "failed to bind" in tail)


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE_SERVERS):
        with contextlib.suppress(Exception):
            server.stop(grace_s=5.0)


def supervise(server: TritonServer, on_event=None, poll_s: float = 1.0) -> StubWatch:
    """Watch `server`'s Python-backend stubs and bring back a model whose stub died
    (`supervise.StubWatch`); returns the started watch (stop() it before the server)."""
    import tritonclient.http as http

    client = http.InferenceServerClient(server.http_address, network_timeout=120)
    return StubWatch(server.pid, client, poll_s, on_event).start()


def models_in_transit(server: TritonServer) -> list[str]:
    """The models `server` is loading or unloading now (its repository index; 2 s at most)."""
    request = urllib.request.Request(
        f"{server.http_url}/v2/repository/index", data=b"{}", method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=2.0) as resp:
            index = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return []
    return [m["name"] for m in index if m.get("state") in ("LOADING", "UNLOADING")]


def serving(server: TritonServer) -> bool:
    """Whether `server` serves the models it has: Triton's readiness, except that a load or
    unload in progress does not count against it. Triton answers not ready (400) for as long
    as any model loads, while the models already loaded serve on (docs/triton-notes.md): a
    readiness probe that took that at its word would take a server out of service whenever a
    second voice is loaded."""
    if _http_ok(f"{server.http_url}/v2/health/ready"):
        return True
    return _http_ok(f"{server.http_url}/v2/health/live") and bool(models_in_transit(server))


def health_endpoint(server: TritonServer, watch: StubWatch, port: int) -> HealthEndpoint:
    """`supervise.HealthEndpoint` for `server` on its host and `port` (0: a free one); it
    exists once the server was ready (`serve`), and Triton's part of its answer is `serving`."""
    return HealthEndpoint(watch, lambda: serving(server), server.host, port)


def serve(
    repository: str | os.PathLike[str],
    host: str = "127.0.0.1",
    http_port: int | None = 8000,
    grpc_port: int | None = 8001,
    metrics_port: int | None = 8002,
    models: Sequence[str] | None = None,
    *,
    log_verbose: int = 0,
    log_path: str | os.PathLike[str] | None = None,
    ready_timeout: float = 600.0,
    extra_args: Sequence[str] = (),
    health_port: int | None = None,
) -> int:
    """Run a server until Ctrl-C or SIGTERM (for the CLI); returns the server's exit code.

    ``models=None`` loads every model in the repository; either way the server runs in
    explicit mode, so models can be loaded and unloaded later through the repository API.
    After start-up it prints each model's resident memory, then watches the Python-backend
    stubs and reloads a model whose stub died (`supervise`); ``health_port`` serves a
    readiness that says so (`supervise.HealthEndpoint`).
    """
    server = TritonServer(
        repository,
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        model_control="explicit",
        load_models=list(models) if models else ["*"],
        log_verbose=log_verbose,
        extra_args=extra_args,
        log_path=log_path or Path(tempfile.gettempdir()) / f"tritonserver-{os.getpid()}.log",
    )

    def _on_sigterm(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut stop() short
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    # Ctrl-C must stop the server even when the parent ignored SIGINT (a script's background
    # job inherits SIG_IGN, and Python then installs no KeyboardInterrupt handler).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler) if main_thread else None
    try:
        server.start()
        print(f"starting tritonserver ({server.binary.source}: {server.binary.binary})", flush=True)
        print(f"  log      {server.log_path}", flush=True)
        took = server.wait_ready(timeout=ready_timeout)
        print(f"ready after {took:.1f} s (pid {server.pid})", flush=True)
        print(f"  HTTP     {server.http_url}", flush=True)
        print(f"  gRPC     {server.grpc_url}", flush=True)
        print(f"  metrics  {server.metrics_url}", flush=True)
        print("resident memory after load and warm-up:", flush=True)
        print(memory_table(model_memory(server.pid)), flush=True)
        watch = supervise(server, lambda e: print(f"stub watch: {e.describe()}", flush=True))
        health = health_endpoint(server, watch, health_port) if health_port is not None else None
        if health is not None:
            base = f"http://{_url_host(server.host)}:{health.port}"
            print(f"  health   {base}/ready (truthful readiness), {base}/live", flush=True)
        print("Ctrl-C stops the server.", flush=True)
        while server.is_running:
            time.sleep(0.5)
        watch.stop()
        if health is not None:
            health.close()
        print(f"tritonserver exited by itself; log tail:\n{server.log_tail()}", file=sys.stderr)
    except KeyboardInterrupt:
        print("stopping tritonserver ...", flush=True)
    finally:
        code = server.stop()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
    return code if code is not None else 0
