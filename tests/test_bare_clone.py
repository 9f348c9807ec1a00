"""A user's first hour: the demo from a bare clone, then the README's examples as copied.

The repository is cloned into a temporary folder with no `../shared` beside it; the clone is
installed (editable, nothing downloaded) into a throwaway venv that borrows this environment's
dependencies (the clone's `.venv` points at it, so the README's `. .venv/bin/activate` works),
and `scripts/demo.sh repository` runs there with a tiny voice. A re-run must find every step
complete and skip it. Then the README's marked examples run against the demo voice on one
tritonserver and one gateway that the README's own `sh serve` blocks start
(tests/readme_examples.py says how blocks are marked and what is changed: only the ports).
The clone holds the committed HEAD, not uncommitted edits.
Cost: about 95 s of CPU for the demo, about a minute more for the examples (1-6 min wall,
depending on what else runs).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import readme_examples

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


def test_demo_from_a_bare_clone_then_the_readme_examples_as_copied(tmp_path):
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
    out = _run(["bash", "scripts/demo.sh", "repository"], cwd=clone, env=env, timeout=600)
    voice = clone / "demo" / "voice" / "demo"
    for name in ("voice.json", "encoder.onnx", "decoder.onnx", "bert_zh.onnx", "bert_en.onnx"):
        assert (voice / name).is_file(), f"{name} missing after the export step:\n{out}"
    assert "OK: " in out, out  # tts-export verify passed inside the export step
    assert not list((clone / "demo").rglob("*.partial")), out
    assert ".partial" not in out, f"the demo names a folder that is gone when it ends:\n{out}"
    assert "names to use: voice demo; speakers demo_a, demo_b; repository demo/repository" in out
    served = clone / "demo" / "repository" / "demo_encoder" / "1" / "model.onnx"
    assert served.stat().st_ino == (voice / "encoder.onnx").stat().st_ino, (
        "the demo's repository holds a second copy of the encoder graph, not a hard link"
    )

    again = _run(["bash", "scripts/demo.sh", "repository"], cwd=clone, env=env, timeout=60)
    for step, folder in (("voice", "src"), ("export", "voice/demo"), ("repository", "repository")):
        assert f"{step}: demo/{folder} is complete, skipped" in again, again

    (clone / ".venv").symlink_to(bin_dir.parent, target_is_directory=True)
    _run_readme_examples(clone, env)


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait_answering(url: str, proc: subprocess.Popen, timeout: float, what: str) -> None:
    """Until ``url`` answers 200 (bounded by ``timeout``); fails early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{what} exited ({proc.returncode}) before answering"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"{what} did not answer {url} within {timeout:.0f} s")


def _run_readme_examples(clone: Path, env: dict[str, str]) -> None:
    """The README's `sh serve` blocks start in the background; its `sh run` and `python run`
    blocks run in order, in the clone, and must exit 0."""
    names = ("http", "grpc", "metrics", "gateway")
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    env = {**env, "TTS_URL": f"127.0.0.1:{ports['grpc']}"}
    ready_url = {
        "tts-serve": (f"http://127.0.0.1:{ports['http']}/v2/health/ready", 600.0),
        "tts-gateway": (f"http://127.0.0.1:{ports['gateway']}/health", 60.0),
    }
    blocks = readme_examples.examples(clone / "README.md")
    assert {b.mode for b in blocks} >= {"run", "serve"}, "the README marks no examples to run"
    started: list[subprocess.Popen] = []
    try:
        for block in blocks:
            where = f"README.md line {block.line} ({block.language} {block.mode})"
            if block.mode == "serve":
                code, command = readme_examples.serving_command(block.code, ports)
                proc = subprocess.Popen(
                    ["bash", "-c", code], cwd=clone, env=env, start_new_session=True,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                started.append(proc)
                url, timeout = ready_url[command]
                _wait_answering(url, proc, timeout, f"{where}: {command}")
            elif block.mode == "run":
                code = readme_examples.with_ports(block.code, ports)
                run = ["bash", "-eo", "pipefail", "-c", code]
                if block.language == "python":
                    run = [str(Path(env["VIRTUAL_ENV"]) / "bin" / "python"), "-c", code]
                proc = subprocess.run(
                    run, cwd=clone, env=env, capture_output=True, text=True, timeout=180,
                    check=False,
                )  # fmt: skip
                assert proc.returncode == 0, (
                    f"{where} exited {proc.returncode}:\n{code}\n{proc.stdout}\n{proc.stderr}"
                )
    finally:
        for proc in reversed(started):  # the gateway, then the server (their whole groups)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    for name in ("hello.wav", "stream.wav", "out.wav", "book.wav"):
        assert (clone / name).stat().st_size > 44, f"the README's examples wrote no {name}"
