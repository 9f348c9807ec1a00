"""The README's fenced examples, as tests/test_bare_clone.py runs them after the demo.

A block's info string says what the test does with it:
- ```` ```sh run ```` / ```` ```python run ````: run as copied (bash with errexit, or python);
  it must exit 0;
- ```` ```sh serve ````: a command that keeps serving (tts-serve, tts-gateway): started in the
  background, and the next blocks run once it answers;
- any other block is shown only (e.g. exporting a full-size voice: minutes).

The one change to a block is the addresses: a test cannot own 8000-8002 and 5000 on a shared
machine, so `127.0.0.1:PORT` becomes the test's free port, and a serving command gets its port
flags appended (`SERVE_FLAGS`). The `tts` commands find the server through `TTS_URL`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w+)[ \t]*(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
DEFAULT_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002, "gateway": 5000}
"""The ports the README names (tts-serve's and tts-gateway's defaults)."""


@dataclass(frozen=True)
class Example:
    language: str
    """sh or python."""
    mode: str
    """run, serve, or "" (shown only)."""
    code: str
    line: int
    """Where the block starts in the README (1-based), for failure messages."""


def examples(readme: Path) -> list[Example]:
    """Every fenced block of ``readme``, in order."""
    text = readme.read_text(encoding="utf-8")
    return [
        Example(m[1], m[2], m[3], text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)
    ]


def with_ports(code: str, ports: dict[str, int]) -> str:
    """``code`` with the README's default addresses replaced by ``ports``' ones."""
    for name, default in DEFAULT_PORTS.items():
        code = code.replace(f"127.0.0.1:{default}", f"127.0.0.1:{ports[name]}")
    return code


def serve_flags(ports: dict[str, int]) -> dict[str, str]:
    """Command -> the flags that put it on the test's ports."""
    return {
        "tts-serve": f"--http-port {ports['http']} --grpc-port {ports['grpc']} "
        f"--metrics-port {ports['metrics']}",
        "tts-gateway": f"--port {ports['gateway']}",
    }


def serving_command(code: str, ports: dict[str, int]) -> tuple[str, str]:
    """(the block to start, which command it serves): its serving line gets the port flags
    (before any trailing comment)."""
    flags = serve_flags(ports)
    out, served = [], ""
    for line in with_ports(code, ports).splitlines():
        command = line.partition(" #")[0]
        word = command.split()[0] if command.split() else ""
        if word in flags:
            line, served = f"{command.rstrip()} {flags[word]}", word
        out.append(line)
    if not served:
        raise ValueError(f"a serve block runs none of {', '.join(flags)}:\n{code}")
    return "\n".join(out) + "\n", served
