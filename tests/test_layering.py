"""The layers the layout promises: the client, the gateway and every Triton Python model import
no torch, onnx or transformers (each checked in a fresh interpreter), and the request contract
imports nothing but the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "onnx", "transformers")
MODELS_DIR = ROOT / "model_repository" / "tts_model_repository"
TRITON_MODELS = sorted(p.parent.name for p in MODELS_DIR.glob("*/model.py"))

PROBE = """
import importlib, importlib.util, json, sys, types
target = sys.argv[1]
if target.endswith(".py"):
    # Triton provides this module inside its Python backend stub; outside Triton an empty module
    # stands in, since only the import graph is under test here.
    sys.modules["triton_python_backend_utils"] = types.ModuleType("triton_python_backend_utils")
    spec = importlib.util.spec_from_file_location("triton_model", target)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
else:
    importlib.import_module(target)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _imported(target: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, target], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "module",
    [
        "tts_client",
        "tts_client.client",
        "tts_client.aio",
        "tts_client.cli",
        "tts_gateway.app",
        "vits2.serving.path",
    ],
)
def test_client_side_imports_no_heavy_packages(module):
    assert not _imported(module) & set(HEAVY)


@pytest.mark.parametrize("model", TRITON_MODELS)
def test_triton_models_import_no_heavy_packages(model):
    assert not _imported(str(MODELS_DIR / model / "model.py")) & set(HEAVY)


def test_the_contract_needs_only_the_standard_library():
    third_party = {"numpy", "tritonclient", "vits2", "tts_model_repository", "tts_export"}
    for module in ("tts_contract.request", "tts_contract.manifest", "tts_contract.sentences"):
        assert not _imported(module) & (third_party | set(HEAVY)), module


def test_there_are_triton_models_to_check():
    assert {"frontend", "graph", "noise", "join", "stream"} <= set(TRITON_MODELS)


def test_the_thin_client_distribution_depends_on_no_server_side_package():
    import tomllib

    client = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text(encoding="utf-8"))
    deps = client["project"]["dependencies"] + client["project"]["optional-dependencies"]["gateway"]
    names = {d.split("[")[0].split(">")[0].split("=")[0].strip().lower() for d in deps}
    server_side = {"torch", "onnx", "onnxruntime", "openvino", "transformers", "nvidia-pytriton"}
    assert not names & (server_side | {"jieba", "pyopenjtalk-plus", "pypinyin"}), names
    full = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert client["project"]["name"] in full["project"]["dependencies"]
