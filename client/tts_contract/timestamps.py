"""TIMESTAMPS as the client holds them: one object per `Audio` (``Audio.timestamps``), its
times in samples from that audio's first sample and its indices into its own lists (the
contract's `TIMESTAMPS_KEYS`). Joining audio joins them (`join`); a stream chunk's are made
relative to the chunk (`WindowReader`). Stdlib only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tts_contract.request import TIMESTAMPS_KEYS

__all__ = ["INDEX_FIELDS", "WindowReader", "as_json", "join", "parse", "shift", "with_seconds"]

INDEX_FIELDS: dict[str, dict[str, str]] = {
    "phones": {"sentence": "sentences"},
    "words": {"sentence": "sentences", "phones": "phones"},
    "moras": {"phones": "phones", "phrase": "phrases"},
    "phrases": {"moras": "moras", "pause": "phones"},
}
"""List -> its fields that index another list (an int, or a [first, last + 1] pair)."""


def parse(raw: Any) -> dict | None:
    """The TIMESTAMPS output's value (JSON bytes; empty: none) as a dict, or None."""
    if raw is None:
        return None
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("utf-8")
    if not raw:
        return None
    out = json.loads(raw)
    if not isinstance(out, dict):
        raise ValueError(f"TIMESTAMPS must be a JSON object, got {type(out).__name__}")
    return out


def _moved(value: Any, by: int) -> Any:
    if isinstance(value, list):
        return [v + by for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return value + by
    return value  # None (a phrase without a pause)


def shift(ts: dict, samples: int, counts: dict[str, int] | None = None) -> dict:
    """``ts`` with every time moved by ``samples`` and every index by ``counts`` (items of
    each list before it)."""
    counts = counts or {}
    out = {k: v for k, v in ts.items() if k not in TIMESTAMPS_KEYS}
    for key in TIMESTAMPS_KEYS:
        items = []
        for item in ts.get(key, []):
            item = {**item, "start": item["start"] + samples, "end": item["end"] + samples}
            for name, target in INDEX_FIELDS.get(key, {}).items():
                if name in item:
                    item[name] = _moved(item[name], counts.get(target, 0))
            items.append(item)
        out[key] = items
    return out


def join(parts: Sequence[tuple[dict | None, int]], gaps: Sequence[int] = ()) -> dict | None:
    """The timestamps of audio parts played one after another: (timestamps, samples) per part,
    ``gaps`` samples of silence after each but the last. None unless every part has them."""
    if not parts or any(ts is None for ts, _ in parts):
        return None
    first = parts[0][0]
    out = {k: v for k, v in first.items() if k not in TIMESTAMPS_KEYS}
    out.update({k: [] for k in TIMESTAMPS_KEYS})
    at = 0
    for i, (ts, samples) in enumerate(parts):
        moved = shift(ts, at, {k: len(out[k]) for k in TIMESTAMPS_KEYS})
        for k in TIMESTAMPS_KEYS:
            out[k] += moved[k]
        at += samples + (gaps[i] if i < len(gaps) else 0)
    return out


def with_seconds(ts: dict) -> dict:
    """A copy with ``start_s`` / ``end_s`` (seconds) beside every item's samples."""
    rate = int(ts["sample_rate"])
    out = dict(ts)
    for key in TIMESTAMPS_KEYS:
        out[key] = [{**it, "start_s": it["start"] / rate, "end_s": it["end"] / rate}
                    for it in ts.get(key, [])]  # fmt: skip
    return out


class WindowReader:
    """Turns the stream model's per-chunk TIMESTAMPS (request times and indices, with the
    chunk's ``span``) into each chunk's own (times from its first sample, indices into its own
    lists: an item of an earlier chunk has a negative index), so `join` of the chunks gives
    the request's."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(TIMESTAMPS_KEYS, 0)

    def take(self, raw: Any, sample_rate: int, hop: int = 0) -> dict | None:
        window = parse(raw)
        if window is None:
            return None
        start = int(window["span"][0])
        base = {"sample_rate": sample_rate, "hop_length": window.get("hop_length", hop)}
        ts = shift({**base, **{k: window.get(k, []) for k in TIMESTAMPS_KEYS}}, -start,
                   {k: -n for k, n in self.counts.items()})  # fmt: skip
        for k in TIMESTAMPS_KEYS:
            self.counts[k] += len(window.get(k, []))
        return ts


def as_json(audio: Any, wav: bytes) -> dict:
    """The gateway's JSON variant of a spoken text (``/voice?timestamps=true``): the WAV it
    would have sent (base64), its sample rate and duration, and its timestamps with seconds."""
    import base64

    if audio.timestamps is None:
        raise ValueError("the server sent no TIMESTAMPS (a server from before them?)")
    return {
        "format": "wav",
        "sample_rate": audio.sample_rate,
        "duration": audio.duration,
        "audio": base64.b64encode(wav).decode("ascii"),
        "timestamps": with_seconds(audio.timestamps),
    }
