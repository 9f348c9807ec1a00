"""`tts load`'s progress: a voice's models load for up to minutes, and the user sees how many
are ready meanwhile (one updated line in a terminal, a line every few seconds in a log)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from tts_client.client import TTSClient
    from tts_client.voices import VoiceInfo

LOAD_REPORT_S = 10.0
"""Seconds between progress lines of `tts load` in a log (a terminal updates one line)."""


def load_with_progress(client: TTSClient, name: str, watcher: Callable[[], TTSClient]) -> VoiceInfo:
    """``client.load_voice(name)`` in a thread while stderr says how many of the voice's
    models are ready and for how long it has loaded (a full-size voice takes a minute);
    ``watcher()`` opens a second client for those checks."""
    models = client._repository_models(name)  # an unknown name fails here, listing the voices
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["info"] = client.load_voice(name)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = e

    thread = threading.Thread(target=work, name=f"load {name}", daemon=True)
    started, last_line, tty = time.perf_counter(), 0.0, sys.stderr.isatty()
    thread.start()
    with watcher() as probe:
        while thread.is_alive():
            thread.join(1.0)
            elapsed = time.perf_counter() - started
            if not thread.is_alive() or (not tty and elapsed - last_line < LOAD_REPORT_S):
                continue
            ready = sum(probe.ready(m) for m in models)
            line = f"loading {name}: {ready} of {len(models)} models ready after {elapsed:.0f} s"
            typer.echo(f"\r{line}" if tty else line, err=True, nl=not tty)
            last_line = elapsed
    if tty and last_line:
        typer.echo("", err=True)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["info"]
