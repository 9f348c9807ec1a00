"""Triton's `perf_analyzer` from the package registries, where NGC's SDK container is not at hand.

The PyPI wheel `tritonclient` 2.41.0 carries the C++ `perf_analyzer` binary (the wheels this
project installs do not: their `perf-analyzer` dependency is an empty placeholder). The binary
links two libraries that a plain Linux machine lacks:

- `libb64.so.0d`, from Debian's (and Ubuntu's) package `libb64-0d`;
- `libcudart.so.12`, from PyPI's `nvidia-cuda-runtime-cu12` (3.5 MB). It is only linked:
  nothing runs on a GPU, and none is needed.

`fetch(folder)` downloads the three once into `folder`, unpacks them there (nothing is
installed into the system or the venv), checks that the binary starts, and returns how to run
it. A second call finds them unpacked and downloads nothing.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PERF_ANALYZER_WHEEL = "tritonclient==2.41.0"
"""The wheel whose data scripts hold bin/perf_analyzer."""
CUDA_RUNTIME_WHEEL = "nvidia-cuda-runtime-cu12==12.9.79"
"""libcudart.so.12, which perf_analyzer links (the CUDA 12 runtime; no GPU is used)."""
B64_DEBIAN_PACKAGE = "libb64-0d"
"""libb64.so.0d, which perf_analyzer links (base64 for --input-data's b64 tensors)."""


class PerfAnalyzerUnavailable(RuntimeError):
    """perf_analyzer or a library it needs could not be fetched or does not start."""


@dataclass(frozen=True)
class PerfAnalyzer:
    """A runnable perf_analyzer: the binary and the folders that hold its libraries."""

    binary: Path
    library_dirs: tuple[Path, ...]
    version: str

    def env(self) -> dict[str, str]:
        """This process's environment with the libraries' folders first on LD_LIBRARY_PATH."""
        env = dict(os.environ)
        paths = [str(p) for p in self.library_dirs]
        if env.get("LD_LIBRARY_PATH"):
            paths.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(paths)
        return env


def _run(
    cmd: list[str], what: str, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise PerfAnalyzerUnavailable(f"{what}: {cmd[0]} is not on this machine") from e
    except subprocess.CalledProcessError as e:
        tail = (e.stderr or e.stdout or "").strip().splitlines()[-3:]
        raise PerfAnalyzerUnavailable(f"{what} failed: {' / '.join(tail)}") from e


def _wheel(spec: str, downloads: Path, progress: Callable[[str], None]) -> Path:
    """The downloaded wheel of `spec` (name==version), from the pip index this Python uses."""
    name = spec.split("==")[0].replace("-", "_")
    found = sorted(downloads.glob(f"{name}-*.whl"))
    if not found:
        progress(f"downloading {spec} (pip download)")
        _run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "-d", str(downloads), spec],
            f"pip download {spec}",
        )  # fmt: skip
        found = sorted(downloads.glob(f"{name}-*.whl"))
    if not found:
        raise PerfAnalyzerUnavailable(f"pip download {spec} left no wheel in {downloads}")
    return found[-1]


def _unpack(wheel: Path, into: Path) -> Path:
    if not into.is_dir():
        tmp = into.with_name(into.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        tmp.rename(into)
    return into


def _missing_libraries(binary: Path, library_dirs: list[Path]) -> list[str]:
    """The shared libraries `ldd` cannot find for `binary` with `library_dirs` on the path."""
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(str(p) for p in library_dirs))
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=env).stdout
    return [line.split()[0] for line in out.splitlines() if "not found" in line]


def _debian_library(package: str, folder: Path, progress: Callable[[str], None]) -> Path:
    """Download Debian's `package` (apt-get download; no install) and unpack it into `folder`;
    returns the folder holding its shared libraries."""
    unpacked = folder / package
    if not unpacked.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        progress(f"downloading Debian's {package} (apt-get download)")
        try:
            _run(["apt-get", "download", "-q", package], f"apt-get download {package}", folder)
        except PerfAnalyzerUnavailable:
            if os.geteuid() != 0:
                raise PerfAnalyzerUnavailable(
                    f"perf_analyzer needs {package}: `apt-get download {package}` failed (try "
                    f"`sudo apt-get update` first, or install {package} with your package manager)"
                ) from None
            _run(["apt-get", "update", "-qq"], "apt-get update")  # a fresh machine has no lists
            _run(["apt-get", "download", "-q", package], f"apt-get download {package}", folder)
        debs = sorted(folder.glob(f"{package}_*.deb"))
        if not debs:
            raise PerfAnalyzerUnavailable(f"apt-get download {package} left no .deb in {folder}")
        _run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], f"unpacking {debs[-1].name}")
    libs = sorted({p.parent for p in unpacked.rglob("*.so*")})
    if not libs:
        raise PerfAnalyzerUnavailable(f"{package} holds no shared library ({unpacked})")
    return libs[0]


def fetch(folder: Path, progress: Callable[[str], None] = print) -> PerfAnalyzer:
    """perf_analyzer and its libraries in `folder` (downloaded on first use), checked to start."""
    folder = Path(folder)
    downloads = folder / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    client = _unpack(_wheel(PERF_ANALYZER_WHEEL, downloads, progress), folder / "tritonclient")
    binaries = sorted(client.glob("*.data/data/bin/perf_analyzer"))
    if not binaries:
        raise PerfAnalyzerUnavailable(
            f"the {PERF_ANALYZER_WHEEL} wheel for this machine ({os.uname().machine}) has no "
            "perf_analyzer; use NGC's tritonserver SDK container instead (benchmarks/README.md)"
        )
    binary = binaries[0]
    binary.chmod(0o755)
    cudart = _unpack(_wheel(CUDA_RUNTIME_WHEEL, downloads, progress), folder / "cuda_runtime")
    library_dirs = sorted({p.parent for p in cudart.rglob("libcudart.so.12")})
    if any("libb64" in lib for lib in _missing_libraries(binary, library_dirs)):
        library_dirs.append(_debian_library(B64_DEBIAN_PACKAGE, folder / "debian", progress))
    missing = _missing_libraries(binary, library_dirs)
    if missing:
        raise PerfAnalyzerUnavailable(f"perf_analyzer still lacks {', '.join(missing)}")
    tool = PerfAnalyzer(binary, tuple(library_dirs), "")
    run = _run([str(binary), "--version"], "perf_analyzer --version", env=tool.env())
    out = run.stdout + run.stderr
    version = next((line.strip() for line in out.splitlines() if "Version" in line), out.strip())
    return dataclasses.replace(tool, version=version)
