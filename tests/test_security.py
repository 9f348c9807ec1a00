"""Security defaults: loopback binds, weights-only checkpoints, paths kept inside their folders,
the gateway's API key.

Each test states the attack it stands for. The servers and loaders are the real ones; only
`uvicorn.run` is replaced where a test checks what the gateway CLI would bind to.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import ipaddress
import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from tests.fixtures import TINY, require

REPO_ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


# -- loopback by default -----------------------------------------------------------------------
def test_triton_server_command_binds_loopback_by_default(tmp_path):
    from tts_server.tritonserver import TritonServer

    server = TritonServer(tmp_path)  # only builds the command; nothing is started
    args = server.command()
    for flag in ("--http-address", "--grpc-address", "--metrics-address"):
        assert f"{flag}={LOOPBACK}" in args, f"{flag} is not {LOOPBACK}: {args}"
    assert server.host == LOOPBACK


def test_serve_entry_points_default_to_loopback():
    from tts_gateway import cli as gateway_cli
    from tts_server import cli as serve_cli
    from tts_server import tritonserver as serve

    assert inspect.signature(serve.serve).parameters["host"].default == LOOPBACK
    assert inspect.signature(serve.TritonServer).parameters["host"].default == LOOPBACK
    for command in (serve_cli.serve, gateway_cli.gateway):
        option = inspect.signature(command).parameters["host"].default
        assert option.default == LOOPBACK, f"`tts-{command.__name__}` --host default"


@pytest.mark.triton
def test_running_server_listens_on_loopback_only(triton_voice):
    """The real process: every listening TCP socket of tritonserver is on 127.0.0.1."""
    import psutil

    proc = psutil.Process(triton_voice.server.pid)
    listening = [
        c.laddr for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
    ]
    ports = {a.port for a in listening}
    server = triton_voice.server
    assert {server.http_port, server.grpc_port, server.metrics_port} <= ports, listening

    # gRPC listens on an IPv6 socket: 127.0.0.1 shows as ::ffff:127.0.0.1
    def loopback(ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return (getattr(addr, "ipv4_mapped", None) or addr).is_loopback

    assert all(loopback(a.ip) for a in listening), f"non-loopback listeners: {listening}"


def test_gateway_cli_binds_loopback_and_warns_without_key(monkeypatch):
    """`tts-gateway --host 0.0.0.0` without a key warns; the default binds loopback."""
    pytest.importorskip("fastapi")
    import uvicorn
    from typer.testing import CliRunner

    from tts_gateway.cli import app

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.delenv("TTS_API_KEY", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, [])
    assert result.exit_code == 0, result.output
    assert calls[-1]["host"] == LOOPBACK and "warning" not in result.output
    result = runner.invoke(app, ["--host", "0.0.0.0"])
    assert result.exit_code == 0 and calls[-1]["host"] == "0.0.0.0"
    assert "without --api-key" in result.output
    result = runner.invoke(app, ["--host", "0.0.0.0", "--api-key", "k"])
    assert "without --api-key" not in result.output


# -- checkpoints: weights only -----------------------------------------------------------------
class Smuggled:
    """Unpickling this runs a callable: the shape of every pickle exploit."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _bomb(tmp_path: Path, payload) -> Path:
    torch = pytest.importorskip("torch")
    real = torch.load(require(TINY / "G_tiny.pth"), map_location="cpu", weights_only=True)
    path = tmp_path / "G_bomb.pth"
    torch.save({**real, **payload}, path)
    return path


@pytest.mark.parametrize("where", ["top-level", "inside-state-dict"])
def test_pickle_bomb_checkpoint_is_refused(tmp_path, where):
    import torch

    from vits2 import CheckpointError, load_model

    marker = tmp_path / "pwned"
    real = torch.load(require(TINY / "G_tiny.pth"), map_location="cpu", weights_only=True)
    if where == "top-level":
        payload = {"extra": Smuggled(marker)}
    else:
        payload = {"model": {**real["model"], "emb_g.weight": Smuggled(marker)}}
    path = _bomb(tmp_path, payload)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_model(path, TINY / "config.json")
    assert not marker.exists(), "the pickled callable ran while loading the checkpoint"


def test_plain_custom_object_checkpoint_is_refused(tmp_path):
    """Not an exploit, just a class weights_only does not allow: refused with CheckpointError."""
    from vits2 import CheckpointError, load_model

    path = _bomb(tmp_path, {"config": types.SimpleNamespace(hidden=32)})
    with pytest.raises(CheckpointError, match="weights_only"):
        load_model(path, TINY / "config.json")


# -- paths stay inside their folders -------------------------------------------------------------
def _graph_model_module(monkeypatch):
    """model_repository/tts_model_repository/graph/model.py with a minimal stand-in for Triton's pb_utils module.

    Only `initialize` runs here; it touches no pb_utils API before the path check."""
    monkeypatch.setitem(
        sys.modules, "triton_python_backend_utils", types.ModuleType("triton_python_backend_utils")
    )
    spec = importlib.util.spec_from_file_location(
        "graph_model_under_test",
        REPO_ROOT / "model_repository" / "tts_model_repository" / "graph" / "model.py",
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("graph", ["../../x.onnx", "../config.pbtxt", "/etc/hostname", "1/../../x.onnx"])  # fmt: skip
def test_graph_model_refuses_paths_outside_its_version_folder(tmp_path, monkeypatch, graph):
    module = _graph_model_module(monkeypatch)
    model_dir = tmp_path / "repo" / "evil_encoder"
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "config.pbtxt").write_text("")
    (tmp_path / "x.onnx").write_bytes(b"not a graph")  # exists, so only the check stops it
    config = {"parameters": {"graph": {"string_value": graph}}}
    args = {
        "model_config": json.dumps(config),
        "model_repository": str(model_dir),
        "model_version": "1",
    }
    with pytest.raises(ValueError, match="escapes"):
        module.TritonPythonModel().initialize(args)


EVIL_CONFIG = """name: "evil_encoder"
backend: "python"
max_batch_size: 0
input [ { name: "phones" data_type: TYPE_INT64 dims: [ -1 ] } ]
output [ { name: "durations" data_type: TYPE_INT64 dims: [ -1 ] } ]
parameters: { key: "graph" value: { string_value: "../../x.onnx" } }
instance_group [ { count: 1 kind: KIND_CPU } ]
"""


@pytest.mark.triton
def test_server_refuses_to_load_a_graph_model_pointing_outside(tmp_path):
    """The same check on a real server of its own (a failed load leaves a server not ready
    for good, with strict readiness: never do this to a shared one)."""
    import tritonclient.http as http
    from tritonclient.utils import InferenceServerException

    from tts_server.tritonserver import TritonServer

    repo = tmp_path / "repo"
    (repo / "evil_encoder" / "1").mkdir(parents=True)
    (repo / "evil_encoder" / "config.pbtxt").write_text(EVIL_CONFIG)
    shutil.copy2(
        REPO_ROOT / "model_repository" / "tts_model_repository" / "graph" / "model.py",
        repo / "evil_encoder" / "1",
    )
    (tmp_path / "x.onnx").write_bytes(b"exists, so only the path check stops it")
    server = TritonServer(repo, load_models=[], log_path=tmp_path / "tritonserver.log")
    with server, contextlib.closing(http.InferenceServerClient(server.http_address)) as client:
        with pytest.raises(InferenceServerException, match="escapes") as err:
            client.load_model("evil_encoder")
        assert "../../x.onnx" in err.value.message()
        assert not client.is_model_ready("evil_encoder")
        assert client.is_server_live()


@pytest.mark.parametrize(
    "relative, ok",
    [
        ("tokenizers/ZH", True),
        ("tokenizers/../tokenizers/ZH", True),
        (".", True),
        ("../outside", False),
        ("tokenizers/../../outside", False),
        ("/etc", False),
    ],
)
def test_inside_refuses_paths_escaping_the_voice_folder(tmp_path, relative, ok):
    from vits2.serving.pipeline import inside_folder as _inside

    root = tmp_path / "voice"
    (root / "tokenizers" / "ZH").mkdir(parents=True)
    if ok:
        assert _inside(root, relative).is_relative_to(root.resolve())
    else:
        with pytest.raises(ValueError, match="escapes the voice folder"):
            _inside(root, relative)


def test_inside_refuses_a_symlink_out_of_the_voice_folder(tmp_path):
    from vits2.serving.pipeline import inside_folder as _inside

    root = tmp_path / "voice"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    (root / "tok").symlink_to(tmp_path / "secret")
    with pytest.raises(ValueError, match="escapes"):
        _inside(root, "tok")


def test_frontend_pipeline_refuses_a_tokenizer_outside_the_voice(tmp_path):
    """A voice.json naming `../..` as its tokenizer is refused before anything is loaded."""
    from vits2.serving.pipeline import FrontendPipeline

    voice = tmp_path / "voice"
    voice.mkdir()
    (tmp_path / "elsewhere").mkdir()
    meta = {
        "name": "evil",
        "sample_rate": 44100,
        "hop_length": 512,
        "inter_channels": 32,
        "gin_channels": 32,
        "speakers": {"a": 0},
        "languages": ["ZH"],
        "bert": {
            "ZH": {
                "language": "ZH",
                "model_name": "x",
                "graph": "bert_zh.onnx",
                "tokenizer": "../elsewhere",
                "has_token_type_ids": True,
            }
        },
    }
    (voice / "voice.json").write_text(json.dumps(meta))
    load = getattr(FrontendPipeline, "from_voice_dir", FrontendPipeline)
    with pytest.raises(ValueError, match="escapes the voice folder"):
        load(voice)


@pytest.mark.parametrize("what", ["tokenizer", "graph"])
def test_repository_writer_refuses_voice_paths_outside_the_voice(tmp_path, tiny_voice_dir, what):
    """`tts-export repository` on an untrusted voice folder must not copy files from outside."""
    from tts_export.repository import write_repository

    src, _ = tiny_voice_dir
    voice = tmp_path / "voice"
    shutil.copytree(src, voice)
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "id_rsa").write_text("PRIVATE")
    shutil.copy2(voice / "encoder.onnx", tmp_path / "outside.onnx")
    meta = json.loads((voice / "voice.json").read_text())
    if what == "tokenizer":
        meta["bert"]["ZH"]["tokenizer"] = "../secret"
    else:
        meta["graphs"]["encoder"] = "../outside.onnx"
    (voice / "voice.json").write_text(json.dumps(meta))
    out = tmp_path / "repo"
    with pytest.raises(ValueError, match="escapes|outside"):
        write_repository(voice, out)
    assert not list(out.rglob("id_rsa")), "a file from outside the voice folder was copied"


# -- gateway API key ---------------------------------------------------------------------------
@pytest.fixture
def keyed_gateway():
    from fastapi.testclient import TestClient

    from tts_gateway.app import create_app

    # nothing listens on port 9: the key check must answer before Triton is ever asked
    with TestClient(create_app("127.0.0.1:9", api_key="correct horse")) as client:
        yield client


@pytest.mark.parametrize(
    "method, path", [("GET", "/voice"), ("POST", "/voice"), ("GET", "/models/info"), ("GET", "/status")]
)  # fmt: skip
@pytest.mark.parametrize(
    "headers, params",
    [
        ({}, {}),
        ({"X-API-Key": "wrong"}, {}),
        ({"X-API-Key": "correct hors"}, {}),  # a prefix of the key
        ({"X-API-Key": "correct horse "}, {}),  # the key plus a byte
        ({}, {"api_key": ""}),
        ({"Authorization": "Bearer correct horse"}, {}),  # not a place the key is read from
    ],
)
def test_gateway_refuses_requests_without_the_key(keyed_gateway, method, path, headers, params):
    r = keyed_gateway.request(method, path, headers=headers, params={"text": "你好", **params})
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["status"] == 30 and "API key" in body["detail"]


def test_gateway_with_the_key_gets_past_the_check(keyed_gateway):
    """With the right key the request reaches the Triton side (unreachable here: 503)."""
    r = keyed_gateway.get("/models/info", headers={"X-API-Key": "correct horse"})
    assert r.status_code == 503, r.text
    r = keyed_gateway.get("/models/info", params={"api_key": "correct horse"})
    assert r.status_code == 503, r.text
