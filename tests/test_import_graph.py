"""The import graph reads from the ground up (issue 26): no layer imports one above it
(`layering.MAY_IMPORT`), no modules import each other around a circle, and the thin client's
and gateway's third-party imports are what client/pyproject.toml installs. Read from the source
with `ast` (tests/layering.py); each failure lists the offending module:line. A synthetic tree
shows each check can fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tomllib

from tests import layering

ROOT = Path(__file__).resolve().parents[1]
GRAPH = layering.graph()

DISTRIBUTION = {"pyworld": "pyworld-prebuilt", "starlette": "fastapi"}
"""Import name -> the distribution that installs it, where the names differ (starlette comes
with fastapi)."""


def test_no_layer_imports_one_above_it():
    bad = layering.upward(GRAPH)
    assert not bad, "imports that layering.MAY_IMPORT does not allow:\n" + "\n".join(bad)


def test_no_import_circles():
    found = layering.circles(GRAPH)
    lines = []
    for group in found:
        inside = set(group)
        edges = [f"  {m}:{i.line} imports {i.target}" for m in group for i in GRAPH[m]
                 if i.target in inside]  # fmt: skip
        lines += [" <-> ".join(group), *edges]
    assert not found, "modules that import each other around a circle:\n" + "\n".join(lines)


def test_thin_client_imports_only_what_client_pyproject_installs():
    bad = layering.foreign(GRAPH)
    assert not bad, "third-party imports outside layering.THIRD_PARTY:\n" + "\n".join(bad)
    project = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {
        "client": project["project"]["dependencies"],
        "gateway": project["project"]["dependencies"]
        + project["project"]["optional-dependencies"]["gateway"],
    }
    for layer, deps in declared.items():
        names = {d.split("[")[0].split(">")[0].split("=")[0].strip().lower() for d in deps}
        for module in sorted(layering.THIRD_PARTY[layer]):
            assert DISTRIBUTION.get(module, module) in names, (
                f"layering.THIRD_PARTY lets the {layer} import {module}, which "
                f"client/pyproject.toml does not install for it ({sorted(names)})"
            )


def test_gateway_imports_the_text_layer_only_inside_its_routes():
    """MAY_IMPORT lets the gateway reach `vits2.text` (user dictionaries); importing the
    gateway must not load it, nor any exporter: the gateway extra alone has neither."""
    probe = (
        "import json, sys\n"
        "import tts_gateway.app, tts_gateway.models, tts_gateway.voicevox.user_dict\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not loaded & {"vits2", "tts_export", "tts_runtime", "tts_model_repository"}, loaded


def _tree(root: Path, files: dict[str, str]) -> dict[str, list[layering.Import]]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    dirs = {"tts_contract": "client/tts_contract", "tts_client": "client/tts_client"}
    return layering.graph(root, dirs)


def test_the_checks_fail_on_a_tree_that_breaks_them(tmp_path):
    graph = _tree(
        tmp_path,
        {
            "client/tts_contract/__init__.py": "",
            "client/tts_contract/request.py": '"""x"""\n\n\ndef f():\n    import tts_client.aio\n',
            "client/tts_client/__init__.py": "",
            "client/tts_client/aio.py": "from tts_client.client import X\nimport torch\n",
            "client/tts_client/client.py": "from . import aio\n",
        },
    )
    assert layering.upward(graph) == [
        "tts_contract.request:5 (contract) imports tts_client.aio (client)"
    ]
    assert layering.circles(graph) == [["tts_client.aio", "tts_client.client"]]
    assert layering.foreign(graph) == ["tts_client.aio:2 (client) imports torch"]
    clean = {m: [i for i in found if i.target not in ("tts_client.aio", "torch")]
             for m, found in graph.items()}  # fmt: skip
    assert not layering.upward(clean) and not layering.circles(clean)
    assert not layering.foreign(clean)
