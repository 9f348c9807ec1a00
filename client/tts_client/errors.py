"""Client-side errors, and the mapping from tritonclient's exceptions onto them.

Every error keeps the server's own message (``.message``) so that a user sees what the
server said (which field, which range), plus the raw status (``"400"``,
``"StatusCode.INVALID_ARGUMENT"``, ...) where there was one.
"""

from __future__ import annotations

import asyncio
import re
import socket

from tts_contract.request import REQUEST_INPUTS

__all__ = [
    "InvalidInputError",
    "ServerBusyError",
    "ServerUnavailableError",
    "TTSError",
    "TTSTimeoutError",
    "UnknownSpeakerError",
    "UnknownVoiceError",
    "map_error",
]


class TTSError(Exception):
    """Base class of every error the client raises."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        """The server's message (or the client's, where the server was not reached)."""
        self.status = status
        """Raw status: HTTP code as a string or a gRPC ``StatusCode.X`` name; None if unknown."""

    retryable = False
    """True only where the request certainly never reached the server (safe to send again)."""


class InvalidInputError(TTSError, ValueError):
    """The server refused an input (HTTP 400 / gRPC INVALID_ARGUMENT)."""

    @property
    def field(self) -> str | None:
        """The input the message names (``SDP_RATIO``, ``TEXT``, ...), if it names one."""
        m = _FIELD_RE.search(self.message)
        return m.group(1) if m else None


class UnknownSpeakerError(InvalidInputError):
    """The voice has no such speaker; the message lists the ones it has."""


class UnknownVoiceError(TTSError, LookupError):
    """No such voice (model) on the server, or it is not loaded."""


class ServerUnavailableError(TTSError, ConnectionError):
    """The server could not be reached or is not ready."""


class ServerBusyError(ServerUnavailableError):
    """The server is at its limit and refused the request without running it: a model's
    queue was full, or the request waited there past the queue timeout (Triton's queue policy;
    the gateway's 503). Safe to send again after a pause: the clients retry it with backoff."""

    retryable = True
    retry_after: float | None = None
    """Seconds the server asked the caller to wait (the gateway's Retry-After), if it said."""


BUSY_MESSAGES = ("exceeds maximum queue size", "request timeout expired")
"""Triton's messages for a request its queue policy refused (queue full, waited too long)."""


class TTSTimeoutError(TTSError, TimeoutError):
    """The request did not finish within the client's timeout."""


_FIELD_RE = (
    re.compile(  # the contract's input names, longest first (NOISE_SCALE_W before NOISE_SCALE)
        r"\b(" + "|".join(sorted((i.name for i in REQUEST_INPUTS), key=len, reverse=True)) + r")\b"
    )
)
_UNKNOWN_MODEL = (
    "unknown model",
    "is not found",
    "no available versions",
    "is not ready",
    "not loaded",
    "failed to load",
)
_CONNECT = (
    "connection refused",
    "failed to connect",
    "connect failed",
    "cannot connect",
    "failed to establish",
    "name or service not known",
    "no route to host",
    "connection reset",
    "broken pipe",
    "unavailable",
    "socket closed",
)
_TIMEOUT = ("deadline exceeded", "timed out", "timeout")
# Messages that mean no connection was made, so the request was never sent (safe to retry).
_NOT_CONNECTED = (
    "failed to connect",
    "connection refused",
    "connect failed",
    "cannot connect",
    "dns resolution failed",
    "name or service not known",
    "no route to host",
)


def _status_of(err: BaseException) -> str | None:
    status = getattr(err, "status", None)
    if callable(status):
        try:
            status = status()
        except Exception:
            status = None
    if status is None:
        code = getattr(err, "code", None)  # grpc.RpcError
        if callable(code):
            try:
                status = str(code())
            except Exception:
                status = None
    return None if status is None else str(status)


def _message_of(err: BaseException) -> str:
    msg = getattr(err, "message", None)
    if callable(msg):
        try:
            msg = msg()
        except Exception:
            msg = None
    if not msg:
        details = getattr(err, "details", None)
        if callable(details):
            try:
                msg = details()
            except Exception:
                msg = None
    return str(msg or err or type(err).__name__)


WRONG_PROTOCOL = {
    "expected http/": "the address answered, but not in HTTP: is it Triton's gRPC port? "
    "Give the HTTP port (8000 by default) with --protocol http, or use --protocol grpc",
}
"""A transport's words for a port that speaks the other protocol -> the likely mistake."""


def _wrong_protocol(low: str) -> str | None:
    return next((hint for words, hint in WRONG_PROTOCOL.items() if words in low), None)


def map_error(err: BaseException, model: str | None = None) -> TTSError:
    """The TTSError for an exception raised by tritonclient (gRPC or HTTP, sync or aio).

    Already-mapped errors come back unchanged; ``model`` names the voice/model for messages
    where the transport gives none (e.g. connection refused).
    """
    if isinstance(err, TTSError):
        return err
    status = _status_of(err)
    message = _message_of(err)
    low = message.lower()
    where = f" (model {model!r})" if model else ""
    wrong_port = _wrong_protocol(low)
    if wrong_port:
        e = ServerUnavailableError(f"{wrong_port} (the transport said: {message})", status)
        e.retryable = False  # the same port answers the same way again
        return e

    # Transport-level failures first: the exception type says it all.
    if isinstance(err, (asyncio.TimeoutError, socket.timeout, TimeoutError)) or (
        type(err).__name__ in ("Timeout", "ServerTimeoutError")
    ):
        return TTSTimeoutError(f"request timed out{where}: {message}", status)
    if isinstance(err, (ConnectionError, socket.gaierror)) or type(err).__name__.startswith(
        "ClientConnector"
    ):
        e = ServerUnavailableError(f"cannot reach the Triton server{where}: {message}", status)
        # Refused / not resolved / not connected: nothing was sent. A reset or broken pipe
        # may come after the server accepted the request, so it is not retried.
        e.retryable = not isinstance(err, (ConnectionResetError, BrokenPipeError))
        return e

    if any(b in low for b in BUSY_MESSAGES):
        return ServerBusyError(f"the server is busy, try again shortly: {message}", status)
    if status in ("StatusCode.DEADLINE_EXCEEDED", "504", "408") or (
        status is None and any(t in low for t in _TIMEOUT)
    ):
        return TTSTimeoutError(message, status)
    if status in ("StatusCode.UNAVAILABLE", "503") or (
        status is None and any(c in low for c in _CONNECT)
    ):
        e = ServerUnavailableError(message, status)
        # gRPC says UNAVAILABLE both for "could not connect" (safe to resend) and for a
        # connection lost mid-request (not safe): only the former is retried.
        e.retryable = any(c in low for c in _NOT_CONNECTED)
        return e
    if ("load failed" in low or "failed to load" in low) and "unknown model" not in low:
        return TTSError(message, status)  # the model exists but its initialize() failed
    if "unknown speaker" in low:
        return UnknownSpeakerError(message, status)
    if any(u in low for u in _UNKNOWN_MODEL) and "model" in low:
        return UnknownVoiceError(message, status)
    if status in ("StatusCode.NOT_FOUND", "404"):
        return UnknownVoiceError(message, status)
    # Stream errors come without a status: a message naming an input is a refused input.
    if status in ("400", "StatusCode.INVALID_ARGUMENT") or (
        status is None and _FIELD_RE.search(message)
    ):
        return InvalidInputError(message, status)
    if isinstance(err, OSError):
        return ServerUnavailableError(f"cannot reach the Triton server{where}: {message}", status)
    return TTSError(message, status)
