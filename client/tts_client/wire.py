"""tritonclient plumbing shared by the sync and asyncio clients: addresses, request inputs,
and `Audio` from results. No request rules here (those are `tts_contract.request`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tts_client.audio import Audio, silence
from tts_client.errors import TTSError
from tts_contract.request import OUTPUTS

ProgressFn = Callable[[int, int, Audio], None]
"""Called as ``progress(done, total, audio_of_that_chunk)`` after each chunk of long text."""

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
    samples = np.concatenate([audio.samples, gap])
    return Audio(samples, audio.sample_rate, audio.meta, timestamps=audio.timestamps)


def requested_outputs(timestamps: bool) -> list[str]:
    """The outputs a request asks for: TIMESTAMPS only with WITH_TIMESTAMPS 1 (a server from
    before it has no such output)."""
    return [n for n in OUTPUTS if n != "TIMESTAMPS" or timestamps]


def result_timestamps(result: Any) -> Any:
    """The TIMESTAMPS output's raw value of a result, or None when it has none."""
    with contextlib.suppress(Exception):
        value = result.as_numpy("TIMESTAMPS")
        if value is not None and np.size(value):
            return np.asarray(value).reshape(-1)[0]
    return None


def stream_pause(result: Any, default: float) -> float:
    """Seconds of silence at the end of a streamed sentence (``V_stream`` appends the pause to
    each chunk): PAUSE_AFTER when the model sends it, else the client's plan."""
    with contextlib.suppress(Exception):
        value = result.as_numpy("PAUSE_AFTER")
        if value is not None and np.size(value):
            # FP32 on the wire: 0.2 arrives as 0.2000000029...; keep the decimal it was sent as
            return float(str(np.float32(np.asarray(value).reshape(-1)[0])))
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


STREAM_METHODS = ("auto", "pipelined", "decoupled")
"""How `stream` gets sentence audio: ``pipelined`` = one ensemble request per sentence with
the next ``stream_lookahead`` in flight while the current one is handed out (works over HTTP
too); ``decoupled`` = the voice's ``V_stream`` model over one gRPC stream, one chunk per vocoder
window; ``auto`` = whichever gives first audio sooner (`streaming.first_audio_method`):
decoupled over gRPC where the voice has a stream model, else pipelined. Full-size voice through
Triton (benchmarks/RESULTS.md): the windows bring first audio 1.5-2.0x sooner than a chunk per
sentence (en-long 1.66 -> 0.84 s), for 20-50% more time to the last chunk."""


class ClientSettings:
    """What `TTSClient` and `AsyncTTSClient` are configured with; each sets up its own
    transport in `_init_transport`."""

    def __init__(
        self,
        url: str = "127.0.0.1:8001",
        protocol: str = "grpc",
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        default_voice: str | None = None,
        stream_method: str = "auto",
        stream_lookahead: int = 1,
    ) -> None:
        self.url, self.protocol = normalize_url(url, protocol)
        if stream_method not in STREAM_METHODS:
            raise ValueError(
                f"stream_method must be one of {STREAM_METHODS}, got {stream_method!r}"
            )
        self.timeout = float(timeout)
        """Seconds per call before giving up."""
        self.retries = max(0, int(retries))
        """Retries of calls that never reached the server (never of refused input)."""
        self.backoff = float(backoff)
        self.default_voice = default_voice
        self.stream_method = stream_method
        self.stream_lookahead = max(0, int(stream_lookahead))
        self._init_transport()

    def _init_transport(self) -> None:
        raise NotImplementedError

    def _stream_method(self, method: str | None) -> str:
        """A `stream` call's method (None: the client's), checked before any request."""
        method = method or self.stream_method
        if method not in STREAM_METHODS:
            raise ValueError(f"method must be one of {STREAM_METHODS}, got {method!r}")
        return method
