"""A user's first hour: the demo's voice and export steps run from a bare clone.

The repository is cloned into a temporary folder with no `../shared` beside it; the clone is
installed (editable, nothing downloaded) into a throwaway venv that borrows this environment's
dependencies, and `scripts/demo.sh export` runs there with a tiny voice. A re-run must find
both steps complete and skip them. The clone holds the committed HEAD, not uncommitted edits.
Cost: about 95 s of CPU (1-5 min wall, depending on what else runs).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    """Run cmd; on failure the assertion shows its output (the test's only diagnostics)."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout + proc.stderr


def _overlay_venv(venv: Path, project: Path) -> Path:
    """A venv whose dependencies are this interpreter's site-packages (a .pth line) and whose
    own installs are `project` and its thin client distribution (`client/`, where the clone has
    one), editable: a real install of the clone without any download."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    own = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=venv.parent,
    ).strip()
    Path(own, "_borrowed_dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )
    editables = [project / "client", project]
    for path in [p for p in editables if (p / "pyproject.toml").is_file()]:
        _run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
            + ["--no-build-isolation", "-e", str(path)],
            cwd=venv.parent,
        )
    return venv / "bin"


def test_demo_builds_and_exports_a_voice_from_a_bare_clone(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the project to clone")
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(ROOT), str(clone)], cwd=tmp_path)
    assert not (clone.parent / "shared").exists()
    bin_dir = _overlay_venv(tmp_path / "venv", clone)
    # The imports must come from the clone: this environment's own install is editable (a
    # finder pointing at ROOT, inactive in the overlay), never a copy that would shadow it.
    where = _run(
        [str(bin_dir / "python"), "-c", "import vits2, tts_export; print(tts_export.__file__)"],
        cwd=tmp_path,
    )
    assert str(clone) in where, f"the overlay venv imports tts_export from {where}, not the clone"

    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.update(DEMO_INSTALL="0", DEMO_TINY="1", VIRTUAL_ENV=str(bin_dir.parent))
    env.pop("PYTHONPATH", None)
    out = _run(["bash", "scripts/demo.sh", "export"], cwd=clone, env=env, timeout=600)
    voice = clone / "demo" / "voice" / "demo"
    for name in ("voice.json", "encoder.onnx", "decoder.onnx", "bert_zh.onnx", "bert_en.onnx"):
        assert (voice / name).is_file(), f"{name} missing after the export step:\n{out}"
    assert "OK: " in out, out  # tts-export verify passed inside the export step
    assert not list((clone / "demo").rglob("*.partial")), out

    again = _run(["bash", "scripts/demo.sh", "export"], cwd=clone, env=env, timeout=60)
    assert "voice: demo/src is complete, skipped" in again, again
    assert "export: demo/voice/demo is complete, skipped" in again, again
