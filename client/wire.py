"""tritonclient plumbing shared by the sync and asyncio clients: addresses, request inputs,
and `Audio` from results. No request rules here (those are `tts_client.contract`)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from tts_client.audio import Audio, silence
from tts_client.errors import TTSError

WIRE_DTYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}


def normalize_url(url: str, protocol: str) -> tuple[str, str]:
    """``("host:port", protocol)``; a leading ``http://`` or ``grpc://`` is dropped."""
    if protocol not in ("grpc", "http"):
        raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")
    for scheme in ("http://", "https://", "grpc://"):
        if url.startswith(scheme):
            url = url[len(scheme) :]
    return url.rstrip("/"), protocol


def audio_from_result(result: Any, sample_rate: int = 0, meta: dict | None = None) -> Audio:
    """Audio from an InferResult with AUDIO (+ SAMPLE_RATE when present)."""
    samples = result.as_numpy("AUDIO")
    rate = result.as_numpy("SAMPLE_RATE")
    if rate is not None and np.size(rate):
        sample_rate = int(np.asarray(rate).reshape(-1)[0])
    if samples is None:
        raise TTSError("the server's response has no AUDIO output")
    return Audio(np.asarray(samples, np.float32).reshape(-1), sample_rate, dict(meta or {}))


def with_pause(audio: Audio) -> Audio:
    """The chunk with its ``meta["pause_after"]`` seconds of silence appended."""
    gap = silence(float(audio.meta.get("pause_after", 0.0)), audio.sample_rate)
    if not len(gap):
        return audio
    return Audio(np.concatenate([audio.samples, gap]), audio.sample_rate, audio.meta)


def stream_pause(result: Any, default: float) -> float:
    """Seconds of silence at the end of a streamed sentence (``V_stream`` appends the pause to
    each chunk): PAUSE_AFTER when the model sends it, else the client's plan."""
    with contextlib.suppress(Exception):
        value = result.as_numpy("PAUSE_AFTER")
        if value is not None and np.size(value):
            return float(np.asarray(value).reshape(-1)[0])
    return default


def make_inputs(module: Any, arrays: Mapping[str, np.ndarray]) -> list[Any]:
    """``tritonclient.grpc`` / ``tritonclient.http`` InferInputs for ``arrays``."""
    inputs = []
    for name, arr in arrays.items():
        dtype = "BYTES" if arr.dtype == np.object_ else WIRE_DTYPES[arr.dtype]
        inp = module.InferInput(name, list(arr.shape), dtype)
        inp.set_data_from_numpy(arr)
        inputs.append(inp)
    return inputs


class ThreadToken:
    """Lives in one thread's locals; its finalizer closes that thread's HTTP client."""


def close_quietly(client: Any, registry: set[Any]) -> None:
    registry.discard(client)
    with contextlib.suppress(Exception):
        client.close()
