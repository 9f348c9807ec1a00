"""The `tts` CLI's file arguments: an output is checked before any work is done (a missing
folder must not cost a synthesis first), an input is read with an error naming its option."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def check_output(path: Path | None, option: str) -> None:
    """Refuse an output file that cannot be written, before any synthesis ("-": stdout)."""
    if path is None or str(path) == "-":
        return
    folder = path.parent
    if path.is_dir():
        why = "is a folder; give a file name, e.g. " + str(path / "out.wav")
    elif not folder.is_dir():
        why = f"cannot be written: the folder {folder} does not exist (create it first)"
    elif not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        why = "cannot be written: no permission; choose another place"
    else:
        return
    raise typer.BadParameter(f"{path} {why}", param_hint=option)


def read_file(path: Path | None, option: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as e:
        raise typer.BadParameter(f"cannot read {path}: {e.strerror}", param_hint=option) from None
