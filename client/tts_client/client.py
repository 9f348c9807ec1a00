"""`TTSClient`: text -> `Audio` through a Triton server holding Bert-VITS2 voices.

One request goes to the voice's ensemble (docs/triton.md). Text over the voice's per-request
limits is cut at sentence ends, sent as several requests (seed offsets kept, so the audio is
what one request would have given) and joined with the voice's pauses (0.2 s between
sentences, 1 s between paragraphs by default). `stream` yields audio sentence by sentence.

Retries: only failures where the request never reached the server (connection refused,
gRPC UNAVAILABLE) are retried, ``retries`` times with exponential backoff. A refused input
(INVALID_ARG) is never retried. ``AsyncTTSClient`` (tts_client.aio) is the asyncio twin.
"""

from __future__ import annotations

import contextlib
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tts_client.audio import Audio
from tts_client.errors import (
    TTSError,
    UnknownVoiceError,
    map_error,
)
from tts_client.planner import Chunk, SynthesisParams, check_text, plan_chunks
from tts_client.streaming import stream_decoupled, stream_method_for
from tts_client.voices import (
    VoiceInfo,
    draining,
    first_ready,
    index_entries,
    load_stages,
    unknown_voice_message,
    voice_candidates,
    voice_models,
    warn_undrained,
)
from tts_client.wire import (
    STREAM_METHODS,
    ClientSettings,
    ProgressFn,
    ThreadToken,
    audio_from_result,
    close_quietly,
    make_inputs,
    normalize_url,
    requested_outputs,
    result_timestamps,
    with_pause,
)
from tts_contract.timestamps import parse as parse_timestamps

__all__ = ["STREAM_METHODS", "TTSClient", "VoiceInfo", "normalize_url"]


class TTSClient(ClientSettings):
    """Synchronous client (gRPC or HTTP). Safe to share between threads.

    Options (`ClientSettings`): url, protocol ("grpc" or "http"), timeout (seconds per call),
    retries and backoff (only for calls that never reached the server), default_voice,
    stream_method (`STREAM_METHODS`) and stream_lookahead."""

    def _init_transport(self) -> None:
        self._clients: set[Any] = set()
        self._shared = types.SimpleNamespace()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._infos: dict[str, VoiceInfo] = {}
        self._closed = False
        if self.protocol == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
        self._module = module

    # -- plumbing ------------------------------------------------------------------------
    def _new_client(self) -> Any:
        if self.protocol == "grpc":
            return self._module.InferenceServerClient(self.url)
        return self._module.InferenceServerClient(
            self.url, connection_timeout=self.timeout, network_timeout=self.timeout
        )

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[Any]:
        """A tritonclient client: gRPC's one is shared (thread-safe). An HTTP client is bound
        to the thread that made it (gevent), so each thread gets its own, closed when the
        thread ends (or on `close`)."""
        if self._closed:
            raise TTSError("this TTSClient is closed")
        holder = self._shared if self.protocol == "grpc" else self._local
        client = getattr(holder, "client", None)
        if client is None:
            with self._lock:
                client = getattr(holder, "client", None)
                if client is None:
                    client = holder.client = self._new_client()
                    self._clients.add(client)
                    if self.protocol == "http":  # close it with its thread's locals
                        holder.owner = ThreadToken()
                        weakref.finalize(holder.owner, close_quietly, client, self._clients)
        yield client

    def _retry(
        self, fn: Callable[..., Any], *args: Any, model: str | None = None, **kw: Any
    ) -> Any:
        """Run ``fn``, mapping errors; retry only failures that never reached the server."""
        for attempt in range(self.retries + 1):
            try:
                return fn(*args, **kw)
            except Exception as err:  # noqa: BLE001 - mapped below
                mapped = map_error(err, model)
                if not mapped.retryable or attempt == self.retries:
                    raise mapped from err
            time.sleep(self.backoff * (2**attempt))
        raise AssertionError("unreachable")

    def _call(self, method: str, *args: Any, model: str | None = None, **kw: Any) -> Any:
        """``client.<method>(*args, **kw)`` on a borrowed client, with the client timeout."""
        if self.protocol == "grpc":
            kw.setdefault("client_timeout", self.timeout)

        def run() -> Any:
            with self._borrow() as client:
                return getattr(client, method)(*args, **kw)

        return self._retry(run, model=model)

    def _json(self) -> dict[str, Any]:
        return {"as_json": True} if self.protocol == "grpc" else {}

    # -- voices --------------------------------------------------------------------------
    def ready(self, voice: str | None = None) -> bool:
        """Whether the server (and ``voice``, if given) is ready; False when unreachable."""
        try:
            with self._borrow() as c:
                kw = {"client_timeout": self.timeout} if self.protocol == "grpc" else {}
                if voice is None:
                    return bool(c.is_server_ready(**kw))
                return bool(c.is_model_ready(voice, **kw))
        except Exception:  # noqa: BLE001 - "not ready" is the answer to any failure here
            return False

    def voices(self) -> list[VoiceInfo]:
        """Every voice in the repository; unloaded ones carry only name/state/ready=False."""
        raw = self._call("get_model_repository_index", **self._json())
        out = []
        for row in voice_candidates(index_entries(raw)):
            name, state = row["name"], row.get("state", "")
            if state == "READY":
                with contextlib.suppress(UnknownVoiceError):
                    out.append(self.voice_info(name, refresh=True))
                    continue
            out.append(VoiceInfo(name=name, ready=False, state=state))
        return out

    def voice_info(self, voice: str | None = None, refresh: bool = False) -> VoiceInfo:
        """The voice's metadata (cached); UnknownVoiceError when it is not loaded."""
        name = self._resolve(voice)
        if refresh or name not in self._infos:
            try:
                cfg = self._call("get_model_config", name, model=name, **self._json())
            except UnknownVoiceError:  # say which voices there are, not Triton's model words
                index = self._call("get_model_repository_index", **self._json())
                message = unknown_voice_message(name, voice_candidates(index_entries(index)))
                raise UnknownVoiceError(message) from None
            self._infos[name] = VoiceInfo.from_config(name, cfg, ready=True, state="READY")
        return self._infos[name]

    def _resolve(self, voice: str | None) -> str:
        name = voice or self.default_voice
        if name:
            return name
        self.default_voice = first_ready(self.voices())
        return self.default_voice

    def _repository_models(self, voice: str) -> list[str]:
        """The voice's models as the repository index lists them: BERT first, ensemble last."""
        return voice_models(voice, self._call("get_model_repository_index", **self._json()))

    def _each(self, method: str, models: list[str]) -> None:
        """``load_model`` / ``unload_model`` on several models at once (threads)."""

        def one(model: str) -> None:
            self._call(method, model, model=model)

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(models)))) as pool:
            for future in [pool.submit(one, m) for m in models]:
                future.result()

    def load_voice(self, name: str) -> VoiceInfo:
        """Load every model of the voice (BERT ones, then the ensemble with its steps, then
        the rest, such as the streaming model) and return its metadata."""
        for stage in load_stages(name, self._repository_models(name)):
            self._each("load_model", stage)
        info = self.voice_info(name, refresh=True)
        missing = [m for m in info.models if not self._call("is_model_ready", m)]
        if missing:  # anything the repository listing did not show
            self._each("load_model", missing)
        return info

    def _wait_unloaded(self, models: list[str], timeout: float = 30.0) -> None:
        """Until none of `models` is READY or UNLOADING in the repository index (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = draining(self._call("get_model_repository_index", **self._json()), models)
            if not busy:
                return
            time.sleep(0.1)
        warn_undrained(busy, timeout)

    def unload_voice(self, name: str) -> None:
        """Unload every model of the voice (the ensemble first, then the rest concurrently)."""
        known = self._infos.get(name)
        models = list(known.models) if known and known.models else self._repository_models(name)
        # entry points first, drained, then the models they call: no accepted request loses
        # its BERT/encoder/decoder halfway
        entry = [m for m in (name, f"{name}_stream") if m in models or m == name]
        self._each("unload_model", entry)
        self._wait_unloaded(entry)
        self._each("unload_model", [m for m in dict.fromkeys(models) if m not in entry])
        self._infos.pop(name, None)

    # -- synthesis -----------------------------------------------------------------------
    def _infer(self, voice: str, params: SynthesisParams, chunk: Chunk, rate: int) -> Audio:
        arrays = params.arrays(chunk.text, seed_offset=chunk.first_sentence)
        inputs = make_inputs(self._module, arrays)
        names = requested_outputs(bool(params.timestamps))
        outputs = [self._module.InferRequestedOutput(n) for n in names]
        result = self._call("infer", voice, inputs, outputs=outputs, model=voice)
        meta = {"text": chunk.text, "index": chunk.first_sentence, "pause_after": chunk.pause_after}
        audio = audio_from_result(result, rate, meta)
        audio.timestamps = parse_timestamps(result_timestamps(result))
        return audio

    def _prepare(self, text: str, voice: str | None, params: SynthesisParams, per_sentence: bool
                 ) -> tuple[str, VoiceInfo, list[Chunk]]:  # fmt: skip
        check_text(text)
        params.validate()
        name = self._resolve(voice)
        info = self.voice_info(name)
        language, whole = params.language_for(info), params.whole_request()
        return (
            name,
            info,
            plan_chunks(text, info, per_sentence, language, whole, params.clause_chars or 0),
        )

    def synthesize(
        self,
        text: str,
        voice: str | None = None,
        params: SynthesisParams | None = None,
        *,
        progress: ProgressFn | None = None,
        **knobs: Any,
    ) -> Audio:
        """Speak ``text``. ``params`` and/or the `SynthesisParams` fields as keywords (speaker,
        language, sdp_ratio, noise_scale, noise_scale_w, length_scale, seed; keywords win);
        None knobs take the speaker's defaults, ``seed=None`` is random. ``timestamps=True``
        fills ``Audio.timestamps``; ``durations`` (one sentence's frames per phone) goes to
        the voice's stream model (gRPC), whose chunks are joined."""
        params = SynthesisParams.merged(params, knobs)
        if params.durations is not None:  # only the stream model takes given durations
            return Audio.join(list(self.stream(text, voice, params, method="decoupled")))
        name, info, chunks = self._prepare(text, voice, params, per_sentence=False)
        if len(chunks) == 1:
            audio = self._infer(name, params, chunks[0], info.sample_rate)
            if progress:
                progress(1, 1, audio)
            return audio
        parts = []  # long text: chunks pipelined like `stream`, each ending with its pause
        for part in self._stream_pipelined(name, info, params, chunks):
            parts.append(part)
            if progress:
                progress(len(parts), len(chunks), part)
        return Audio.join(parts)

    def synthesize_many(
        self, texts: Sequence[str | Mapping[str, Any]], concurrency: int = 4
    ) -> list[Audio]:
        """Synthesize several texts concurrently (threads); results in input order.

        Each item is a text or a dict of `synthesize` keyword arguments (``text`` required).
        The first error is raised once the requests already started have finished.
        """
        jobs = [{"text": t} if isinstance(t, str) else dict(t) for t in texts]
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = [pool.submit(self.synthesize, **job) for job in jobs]
            return [f.result() for f in futures]

    def stream(
        self,
        text: str,
        voice: str | None = None,
        params: SynthesisParams | None = None,
        *,
        method: str | None = None,
        **knobs: Any,
    ) -> Iterator[Audio]:
        """Yield `Audio` chunks as soon as they are ready: one per sentence (pipelined), or
        one per vocoder window (decoupled, with a voice that has the decoder's halves: first
        audio after about 0.2 s of audio is decoded, not after the whole sentence).

        A sentence's last chunk ends with the pause that follows it (none after the last), so
        played back to back, or ``Audio.join(chunks)``, they equal `synthesize` with the same
        seed; ``meta["pause_after"]`` says how many seconds of the chunk's end are that pause.
        """
        method = self._stream_method(method)
        params = SynthesisParams.merged(params, knobs)
        name, info, chunks = self._prepare(text, voice, params, per_sentence=True)
        if stream_method_for(method, self.protocol, name, info) == "decoupled":
            yield from stream_decoupled(self, info, params, text, chunks)
        else:
            yield from self._stream_pipelined(name, info, params, chunks)

    def _stream_pipelined(
        self, name: str, info: VoiceInfo, params: SynthesisParams, chunks: list[Chunk],
        lookahead: int | None = None,
    ) -> Iterator[Audio]:  # fmt: skip
        """Sentences k+1..k+lookahead are in flight while k is handed out (the server batches
        them); default ``stream_lookahead``."""
        lookahead = self.stream_lookahead if lookahead is None else max(0, lookahead)
        pool = ThreadPoolExecutor(max_workers=lookahead + 1)
        pending: list[Future[Audio]] = []
        try:
            nxt = 0
            for _ in range(len(chunks)):
                while nxt < len(chunks) and len(pending) <= lookahead:
                    pending.append(
                        pool.submit(self._infer, name, params, chunks[nxt], info.sample_rate)
                    )
                    nxt += 1
                yield with_pause(pending.pop(0).result())
        finally:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True)

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Close every connection (do this before stopping a server: see triton-notes)."""
        self._closed = True
        with self._lock:
            clients, self._clients = list(self._clients), set()
        for c in clients:
            with contextlib.suppress(Exception):
                c.close()

    def __enter__(self) -> TTSClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
