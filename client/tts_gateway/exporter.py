"""`tts-export` run as a separate process: how /models/add exports, verifies and writes voices.

The gateway imports no exporter (the thin client's gateway extra installs none, and an export
holds torch and full-size BERTs in memory); it runs the full project's `tts-export` command,
one stage an invocation (``onnx``, ``verify``, ``repository``), and reads its output: every
line is progress, a failing stage's ``error:`` line (or its last line) is the reason.

Where the command is: the `tts-export` console script beside this interpreter (the same
environment), else on PATH. None: `ExporterMissing`, which says what to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["COMMAND", "ExportFailed", "ExporterMissing", "exporter_command", "run_export"]

COMMAND = "tts-export"
"""The full project's exporter console script (`pip install -e .` at the project root)."""
_TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d ")
_ERROR = "error: "


class ExporterMissing(RuntimeError):
    """`tts-export` is not installed where the gateway runs."""


class ExportFailed(RuntimeError):
    """A `tts-export` stage exited non-zero; the message is its reason, from its output."""


def exporter_command() -> list[str]:
    """The argv prefix that runs `tts-export`; `ExporterMissing` when there is none."""
    here = Path(sys.executable).parent
    found = shutil.which(COMMAND, path=os.pathsep.join([str(here), os.environ.get("PATH", "")]))
    if found is None:
        raise ExporterMissing(
            f"no `{COMMAND}` command beside {sys.executable} or on PATH: adding a checkpoint or "
            "an exported voice needs the full project installed beside the gateway (`pip "
            "install -e .` at the project root, not only ./client[gateway]); or write the "
            "repository with `tts-export repository` where it is installed and `tts load NAME`"
        )
    return [found]


def _reason(lines: list[str], code: int) -> str:
    errors = [line.removeprefix(_ERROR) for line in lines if line.startswith(_ERROR)]
    if errors:
        return errors[-1]
    tail = [line for line in lines if line.strip()]
    return tail[-1] if tail else f"{COMMAND} exited with status {code} and printed nothing"


def run_export(args: Sequence[str], progress: Callable[[str], None] | None = None) -> list[str]:
    """Run ``tts-export ARGS`` to its end; each output line (timestamp dropped) goes to
    ``progress`` as it comes. Returns the lines; `ExportFailed` with the reason on a non-zero
    exit. No time limit: a full-size export takes minutes, and its lines show it is alive."""
    argv = [*exporter_command(), *args]
    # a wide, plain console: rich would wrap long paths and colour the lines otherwise
    env = {**os.environ, "COLUMNS": "10000", "NO_COLOR": "1", "TERM": "dumb"}
    lines: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        stdin=subprocess.DEVNULL,
    ) as proc:  # fmt: skip
        try:
            for raw in proc.stdout or ():  # stdout=PIPE: always a stream
                line = _TIMESTAMP.sub("", raw.rstrip())
                lines.append(line)
                if progress is not None and line.strip():
                    progress(line)
            code = proc.wait()
        except BaseException:
            proc.kill()  # never leave an export running behind a failed task
            raise
    if code != 0:
        raise ExportFailed(_reason(lines, code))
    return lines
