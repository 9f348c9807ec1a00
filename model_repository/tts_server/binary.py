"""Find a tritonserver to run: on PATH (NGC container) or the binary bundled in the
``nvidia-pytriton`` wheel, whose backend folder is assembled once in a cache directory (see
`tts_server.tritonserver` for how it is started). Also free-port helpers. No torch, no onnx.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import signal
import socket
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

NGC_BACKEND_DIR = Path("/opt/tritonserver/backends")
_INSTALL_HINT = (
    "Install the pip-bundled server with `pip install nvidia-pytriton` (Linux x86_64/aarch64, "
    "glibc >= 2.35) or run inside the NGC container nvcr.io/nvidia/tritonserver:<yy.mm>-py3, "
    "which puts `tritonserver` on PATH."
)
_SOURCES = ("auto", "path", "pytriton")


class TritonNotFoundError(RuntimeError):
    """No usable ``tritonserver`` installation was found."""


class TritonStartError(RuntimeError):
    """The server process exited or did not become ready in time."""


@dataclass(frozen=True)
class TritonBinary:
    """A ``tritonserver`` installation and what its process needs to run."""

    binary: Path
    """The ``tritonserver`` executable."""
    backend_dir: Path
    """Passed as ``--backend-directory``; holds ``python/triton_python_backend_stub``."""
    source: str
    """``"path"`` (e.g. NGC container) or ``"pytriton"`` (the nvidia-pytriton wheel)."""
    cache_dir: Path | None = None
    """Passed as ``--cache-directory`` when set (the wheel keeps its response cache here)."""
    python_stub: Path | None = None
    """The Python-backend stub that will run model.py files, when known."""
    version: str | None = None
    """nvidia-pytriton version for the wheel; None when unknown."""
    env: dict[str, str] = field(default_factory=dict)
    """Path lists to *prepend* to these variables (LD_LIBRARY_PATH, PATH, PYTHONPATH)."""

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The process environment: ``base`` (default os.environ) with ``env`` prepended."""
        merged = dict(os.environ if base is None else base)
        for name, value in self.env.items():
            old = merged.get(name)
            merged[name] = f"{value}{os.pathsep}{old}" if old else value
        return merged


SOURCE_FOLDERS = (".", "client", "export", "model_repository", "benchmarks")
"""The checkout's folders that hold its packages (each top folder holds its named ones)."""


def repo_root() -> Path | None:
    """The source checkout holding ``vits2/`` (for model.py imports), or None if not found.

    None for a regular (non-editable) install: the packages then sit in site-packages already.
    """
    root = Path(__file__).resolve().parents[2]
    return root if (root / "vits2").is_dir() and (root / "pyproject.toml").is_file() else None


def source_path() -> str | None:
    """PYTHONPATH that makes a checkout's packages importable by the Python-backend stubs
    (``model.py`` imports vits2, tts_runtime, tts_contract ...), or None outside a checkout."""
    root = repo_root()
    return os.pathsep.join(str(root / f) for f in SOURCE_FOLDERS) if root else None


def find_tritonserver(source: str = "auto") -> TritonBinary:
    """Locate a server: ``tritonserver`` on PATH first, then the nvidia-pytriton wheel.

    ``source`` forces one of them (``"path"`` or ``"pytriton"``); ``"auto"`` tries both.
    Raises TritonNotFoundError saying how to install one when nothing usable is found.
    """
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {_SOURCES}, got {source!r}")
    problems: list[str] = []
    if source in ("auto", "path"):
        found = shutil.which("tritonserver")
        if found:
            return _from_path(Path(found))
        problems.append("no `tritonserver` on PATH")
    if source in ("auto", "pytriton"):
        try:
            return _from_pytriton()
        except TritonNotFoundError as err:
            problems.append(str(err))
    raise TritonNotFoundError("; ".join(problems) + ". " + _INSTALL_HINT)


def _from_path(binary: Path) -> TritonBinary:
    beside = binary.resolve().parent.parent / "backends"
    backend_dir = beside if (beside / "python").is_dir() else NGC_BACKEND_DIR
    sources = source_path()
    # The container's stub runs the container's Python: only our sources are added, never
    # this venv, whose Python version may differ.
    env = {"PYTHONPATH": sources} if sources else {}
    stub = backend_dir / "python" / "triton_python_backend_stub"
    return TritonBinary(
        binary=binary,
        backend_dir=backend_dir,
        source="path",
        python_stub=stub if stub.is_file() else None,
        env=env,
    )


def _from_pytriton() -> TritonBinary:
    spec = importlib.util.find_spec("pytriton")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise TritonNotFoundError("the nvidia-pytriton package is not installed")
    pkg = Path(next(iter(spec.submodule_search_locations)))
    dist = pkg / "tritonserver"
    binary = dist / "bin" / "tritonserver"
    if not binary.is_file():
        raise TritonNotFoundError(f"nvidia-pytriton at {pkg} has no bundled server at {binary}")
    try:
        version = importlib.metadata.version("nvidia-pytriton")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = dist / "python_backend_stubs" / py / "triton_python_backend_stub"
    if not stub.is_file():
        stub = dist / "backends" / "python" / "triton_python_backend_stub"  # older wheels
    if not stub.is_file():
        have = sorted(p.name for p in (dist / "python_backend_stubs").glob("*"))
        raise TritonNotFoundError(
            f"nvidia-pytriton {version} has no Python-backend stub for Python {py} "
            f"(stubs for: {', '.join(have) or 'none'}); use one of those Python versions"
        )
    # pytriton's own layout: libs beside the package when installed, external_libs when editable.
    libs = pkg.parent / "nvidia_pytriton.libs"
    if not libs.is_dir():
        libs = dist / "external_libs"
    ld_paths = [str(libs), *_libpython_dirs(py)]
    sources = source_path()
    env = {
        "LD_LIBRARY_PATH": os.pathsep.join(ld_paths),
        "PATH": str(Path(sys.prefix) / "bin"),
    }
    if sources:
        env["PYTHONPATH"] = sources
    cache = dist / "caches"
    return TritonBinary(
        binary=binary,
        backend_dir=_assemble_backend_dir(dist / "backends", stub, version, py),
        source="pytriton",
        cache_dir=cache if cache.is_dir() else None,
        python_stub=stub,
        version=version,
        env=env,
    )


def _libpython_dirs(py: str) -> list[str]:
    """Folder of this interpreter's shared libpython; the stub links ``libpython{py}.so.1.0``."""
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and (Path(libdir) / f"libpython{py}.so.1.0").is_file():
        return [libdir]
    if ctypes.util.find_library(f"python{py}"):
        return []  # the system loader finds it
    raise TritonNotFoundError(
        f"the Python-backend stub needs libpython{py}.so.1.0, which neither {libdir} nor the "
        f"system library path has; install it (Debian/Ubuntu: apt-get install libpython{py}) "
        "or use a Python built with --enable-shared"
    )


def _cache_root() -> Path:
    explicit = os.environ.get("BERTVITS2_TRITON_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bertvits2-triton"


def _assemble_backend_dir(wheel_backends: Path, stub: Path, version: str, py: str) -> Path:
    """A backend folder = the wheel's ``python`` backend + the stub for this Python.

    Copied (not linked) into a cache folder keyed by wheel location, version and Python, and
    rebuilt when a file's size differs; built in a scratch folder and renamed so that
    concurrent callers never see a half-written folder.
    """
    sources = {p.name: p for p in (wheel_backends / "python").iterdir() if p.is_file()}
    sources["triton_python_backend_stub"] = stub
    key = hashlib.sha256(str(wheel_backends.resolve()).encode()).hexdigest()[:10]
    name = f"pytriton-{version}-py{py}-{key}"

    def complete(folder: Path) -> bool:
        return all(
            (folder / "python" / n).is_file()
            and (folder / "python" / n).stat().st_size == src.stat().st_size
            for n, src in sources.items()
        )

    for root in (_cache_root(), Path(tempfile.gettempdir()) / f"bertvits2-triton-{os.getuid()}"):
        final = root / name / "backends"
        if complete(final):
            return final
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
            scratch.chmod(0o755)  # mkdtemp makes it private; the cache is shareable
            (scratch / "python").mkdir()
            for n, src in sources.items():
                shutil.copy2(src, scratch / "python" / n)
            (scratch / "python" / "triton_python_backend_stub").chmod(0o755)
            if final.exists() and not complete(final):
                shutil.rmtree(final, ignore_errors=True)  # stale copy from another wheel build
            try:
                scratch.rename(final)
            except OSError:  # another process won the race; its copy is identical
                shutil.rmtree(scratch, ignore_errors=True)
            if complete(final):
                return final
        except OSError:
            continue  # cache not writable: fall back to the temp folder
    raise TritonNotFoundError(f"could not write a backend folder under {_cache_root()} or /tmp")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (then readiness checks would reach it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((_url_host(host).strip("[]"), port)) == 0


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"  # a wildcard bind is reached through loopback
    return f"[{host}]" if ":" in host else host


# -- process helpers (used by tts_server.tritonserver) ----------------------------------
def _die_with_parent_fn():
    """preexec_fn asking Linux to SIGTERM the server when the thread that started it dies.

    Only used from the main thread: the signal follows the forking *thread*, so a server
    started from a worker thread would otherwise die with that thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def _set_pdeathsig() -> None:
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG

    return _set_pdeathsig


def _http_ok(url: str) -> bool:
    """True when ``url`` answers 200 within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of group ``pgid``, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields after the ")" closing the command name: state ppid pgrp ...
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


def _kill_group(pgid: int, wait_s: float = 5.0) -> None:
    """SIGKILL every process in group ``pgid``; wait (bounded) until none is left running.

    Zombies count as gone: orphaned stubs are reaped by init, not by us.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
