"""A real tritonserver process on 127.0.0.1 with free ports, serving tiny Python-backend models."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tts_server.tritonserver import (
    TritonBinary,
    TritonNotFoundError,
    TritonServer,
    TritonStartError,
    find_tritonserver,
)

httpclient = pytest.importorskip("tritonclient.http")
grpcclient = pytest.importorskip("tritonclient.grpc")

pytestmark = pytest.mark.triton

ADD_ONE_CONFIG = """\
backend: "python"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]
dynamic_batching { max_queue_delay_microseconds: 2000 }
instance_group [ { kind: KIND_CPU count: 1 } ]
"""

ADD_ONE_MODEL = """\
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        # One response per request, in order; each request keeps its own batch dim.
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("y", x + 1)]))
        return responses
"""

# Proves model.py runs in this venv: onnxruntime imports and the repo's vits2 is findable.
ENV_PROBE_CONFIG = """\
backend: "python"
max_batch_size: 0
input [ { name: "dummy" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "info" data_type: TYPE_STRING dims: [ 1 ] } ]
"""

ENV_PROBE_MODEL = """\
import importlib.util
import json
import sys

import numpy as np
import onnxruntime
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        info = {
            "python": "%d.%d" % sys.version_info[:2],
            "prefix": sys.prefix,
            "onnxruntime": onnxruntime.__version__,
            "vits2": importlib.util.find_spec("vits2") is not None,
        }
        out = np.array([json.dumps(info).encode()], dtype=np.object_)
        return [pb_utils.InferenceResponse([pb_utils.Tensor("info", out)]) for _ in requests]
"""

BROKEN_MODEL = "raise RuntimeError('model.py of broken fails on purpose')\n"


def _write_model(repo: Path, name: str, config: str, model_py: str) -> None:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(config)
    (repo / name / "1" / "model.py").write_text(textwrap.dedent(model_py))


@pytest.fixture(scope="module")
def triton_binary() -> TritonBinary:
    return find_tritonserver()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, triton_binary: TritonBinary):
    repo = tmp_path_factory.mktemp("repo")
    _write_model(repo, "add_one", ADD_ONE_CONFIG, ADD_ONE_MODEL)
    _write_model(repo, "env_probe", ENV_PROBE_CONFIG, ENV_PROBE_MODEL)
    srv = TritonServer(repo, load_models=["add_one"], binary=triton_binary)
    try:
        srv.start()
        srv.wait_ready(timeout=120)
        yield srv
    finally:
        srv.stop()


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _group_alive(pgid: int) -> bool:
    """Any non-zombie process left in group ``pgid`` (orphaned zombies await init)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _http_input(arr: np.ndarray, name: str = "x"):
    inp = httpclient.InferInput(
        name, list(arr.shape), "FP32" if arr.dtype == np.float32 else "INT32"
    )
    inp.set_data_from_numpy(arr)
    return inp


def test_endpoints_bind_loopback(server: TritonServer) -> None:
    assert server.http_url == f"http://127.0.0.1:{server.http_port}"
    assert server.grpc_url == f"127.0.0.1:{server.grpc_port}"
    assert len({server.http_port, server.grpc_port, server.metrics_port}) == 3
    assert "--http-address=127.0.0.1" in server.command()
    assert server.ready_after_s is not None and server.ready_after_s < 120
    with contextlib.closing(httpclient.InferenceServerClient(server.http_address)) as client:
        assert client.is_server_ready()
        assert client.get_server_metadata()["name"] == "triton"


def test_infer_http_and_grpc(server: TritonServer) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with contextlib.closing(
        httpclient.InferenceServerClient(server.http_address, concurrency=4)
    ) as client:
        result = client.infer("add_one", [_http_input(x)])
        np.testing.assert_array_equal(result.as_numpy("y"), x + 1)
        # Concurrent requests of different batch sizes may be batched together by the
        # scheduler; each must still get back exactly its own rows.
        pending = [
            client.async_infer("add_one", [_http_input(np.full((k, 3), k, np.float32))])
            for k in (1, 2, 3)
        ]
        for k, req in zip((1, 2, 3), pending, strict=True):
            np.testing.assert_array_equal(req.get_result().as_numpy("y"), np.full((k, 3), k + 1))
    with contextlib.closing(grpcclient.InferenceServerClient(server.grpc_url)) as client:
        inp = grpcclient.InferInput("x", [1, 4], "FP32")
        inp.set_data_from_numpy(np.ones((1, 4), np.float32))
        result = client.infer("add_one", [inp])
        np.testing.assert_array_equal(result.as_numpy("y"), np.full((1, 4), 2, np.float32))


def test_explicit_load_and_unload(server: TritonServer) -> None:
    with contextlib.closing(httpclient.InferenceServerClient(server.http_address)) as client:
        assert not client.is_model_ready("env_probe")
        client.load_model("env_probe")
        assert client.is_model_ready("env_probe")
        result = client.infer("env_probe", [_http_input(np.zeros(1, np.int32), "dummy")])
        info = json.loads(result.as_numpy("info")[0])
        assert info["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
        assert Path(info["prefix"]) == Path(sys.prefix)
        assert info["onnxruntime"]
        assert info["vits2"], "the repo root must be on the stub's sys.path"
        client.unload_model("env_probe")
        deadline = time.monotonic() + 30
        while client.is_model_ready("env_probe") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not client.is_model_ready("env_probe")
        assert client.is_model_ready("add_one")


def test_stop_ends_process_group_and_frees_ports(tmp_path: Path, triton_binary) -> None:
    _write_model(tmp_path / "repo", "add_one", ADD_ONE_CONFIG, ADD_ONE_MODEL)
    with TritonServer(tmp_path / "repo", model_control="none", binary=triton_binary) as srv:
        pid = srv.pid
        ports = (srv.http_port, srv.grpc_port, srv.metrics_port)
        assert pid is not None and _group_alive(pid)
        assert not _port_free(srv.http_port)
    assert not srv.is_running
    assert srv.stop() == 0  # idempotent; SIGTERM led to a clean exit
    assert not _group_alive(pid), "python backend stubs outlived the server"
    assert all(_port_free(p) for p in ports)


def test_failed_model_load_reports_log(tmp_path: Path, triton_binary) -> None:
    _write_model(tmp_path / "repo", "broken", ADD_ONE_CONFIG, BROKEN_MODEL)
    srv = TritonServer(
        tmp_path / "repo", load_models=["broken"], binary=triton_binary, log_path=tmp_path / "t.log"
    )
    try:
        srv.start()
        with pytest.raises(TritonStartError, match="fails on purpose"):
            srv.wait_ready(timeout=60)
    finally:
        srv.stop()
    assert not srv.is_running


def test_serve_runs_until_signal(tmp_path: Path, triton_binary) -> None:
    """The CLI entry point: prints endpoints once ready, stops cleanly on SIGINT."""
    _write_model(tmp_path / "repo", "add_one", ADD_ONE_CONFIG, ADD_ONE_MODEL)
    code = (
        "import sys; from tts_server.tritonserver import serve; "
        f"sys.exit(serve({str(tmp_path / 'repo')!r}, http_port=None, grpc_port=None, "
        f"metrics_port=None, log_path={str(tmp_path / 'serve.log')!r}))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0
    )
    text = ""
    server_pid = None
    try:
        # Raw reads: a buffered readline() would hide lines from select().
        deadline = time.monotonic() + 120
        while "Ctrl-C" not in text and time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stdout], [], [], 1.0)[0]:
                text += os.read(proc.stdout.fileno(), 65536).decode(errors="replace")
        assert "Ctrl-C" in text, text
        server_pid = int(re.search(r"pid (\d+)", text).group(1))
        http_url = re.search(r"HTTP\s+(\S+)", text).group(1)
        with urllib.request.urlopen(f"{http_url}/v2/health/ready", timeout=5) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert not _group_alive(server_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if server_pid is not None and _group_alive(server_pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server_pid, signal.SIGKILL)


def test_not_found_error_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TritonNotFoundError, match="pip install nvidia-pytriton"):
        find_tritonserver(source="path")


def test_fixed_port_in_use_is_refused_before_starting(tmp_path):
    import socket

    from tts_server.tritonserver import TritonServer, TritonStartError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = TritonServer(tmp_path, http_port=port, binary=object())  # never launched
        with pytest.raises(
            TritonStartError, match=f"http port {port} on 127.0.0.1 is already in use"
        ):
            server.start()
