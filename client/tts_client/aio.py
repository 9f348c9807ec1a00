"""`AsyncTTSClient`: the asyncio twin of `TTSClient` (tritonclient.grpc.aio / http.aio).

Same methods as coroutines; `stream` is an async generator. Behaviour (chunking of long
text, seeds, pauses, retries, error mapping) is the sync client's, see tts_client.client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from tts_client.audio import Audio
from tts_client.errors import UnknownVoiceError, map_error
from tts_client.planner import Chunk, SynthesisParams, check_text, plan_chunks
from tts_client.streaming import StreamReader, stream_method_for
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
    ClientSettings,
    ProgressFn,
    audio_from_result,
    make_inputs,
    requested_outputs,
    result_timestamps,
    with_pause,
)
from tts_contract.timestamps import parse as parse_timestamps

__all__ = ["AsyncTTSClient"]


# After a decoupled request's final or error response, how long the server may take to close the
# stream before the client cancels it instead
STREAM_CLOSE_S = 5.0


async def _read_to_end(stream: Any, timeout: float) -> None:
    """Read a finished request's stream until the server closes it. An aio stream left open is
    cancelled by gRPC when it is dropped, and on tritonserver 2.51 a cancel that comes after the
    request's last response can leave the stream model UNLOADING for good (docs/triton-notes.md);
    only a stream that does not close within ``timeout`` is cancelled."""

    async def drain() -> None:
        async for _ in stream:
            pass

    try:
        await asyncio.wait_for(drain(), timeout)
    except Exception:  # noqa: BLE001 - the request is over; a stream that will not close is cut
        with contextlib.suppress(Exception):
            stream.cancel()


class AsyncTTSClient(ClientSettings):
    """Asyncio client (gRPC or HTTP); use from one event loop. Options as `TTSClient`'s."""

    def _init_transport(self) -> None:
        self._infos: dict[str, VoiceInfo] = {}
        self._c: Any = None
        if self.protocol == "grpc":
            import tritonclient.grpc as module
            import tritonclient.grpc.aio as aio
        else:
            import tritonclient.http as module
            import tritonclient.http.aio as aio
        self._module, self._aio = module, aio

    @property
    def _client(self) -> Any:
        if self._c is None:  # created lazily: the aiohttp session wants a running loop
            if self.protocol == "grpc":
                self._c = self._aio.InferenceServerClient(self.url)
            else:
                self._c = self._aio.InferenceServerClient(self.url, conn_timeout=self.timeout)
        return self._c

    async def _call(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, model: str | None = None, **kw: Any
    ) -> Any:
        """Await ``fn`` under the client timeout; retry only failures that never reached the
        server."""
        for attempt in range(self.retries + 1):
            try:
                return await asyncio.wait_for(fn(*args, **kw), self.timeout)
            except Exception as err:  # noqa: BLE001 - mapped below
                mapped = map_error(err, model)
                if not mapped.retryable or attempt == self.retries:
                    raise mapped from err
            await asyncio.sleep(self.backoff * (2**attempt))
        raise AssertionError("unreachable")

    def _json(self) -> dict[str, Any]:
        return {"as_json": True} if self.protocol == "grpc" else {}

    # -- voices --------------------------------------------------------------------------
    async def ready(self, voice: str | None = None) -> bool:
        try:
            if voice is None:
                return bool(await asyncio.wait_for(self._client.is_server_ready(), self.timeout))
            return bool(await asyncio.wait_for(self._client.is_model_ready(voice), self.timeout))
        except Exception:  # noqa: BLE001 - "not ready" is the answer to any failure here
            return False

    async def voices(self) -> list[VoiceInfo]:
        raw = await self._call(self._client.get_model_repository_index, **self._json())
        out = []
        for row in voice_candidates(index_entries(raw)):
            name, state = row["name"], row.get("state", "")
            if state == "READY":
                with contextlib.suppress(UnknownVoiceError):
                    out.append(await self.voice_info(name, refresh=True))
                    continue
            out.append(VoiceInfo(name=name, ready=False, state=state))
        return out

    async def voice_info(self, voice: str | None = None, refresh: bool = False) -> VoiceInfo:
        name = await self._resolve(voice)
        if refresh or name not in self._infos:
            get_config = self._client.get_model_config
            try:
                cfg = await self._call(get_config, name, model=name, **self._json())
            except UnknownVoiceError:  # say which voices there are (as the sync client)
                index = await self._call(self._client.get_model_repository_index, **self._json())
                message = unknown_voice_message(name, voice_candidates(index_entries(index)))
                raise UnknownVoiceError(message) from None
            self._infos[name] = VoiceInfo.from_config(name, cfg, ready=True, state="READY")
        return self._infos[name]

    async def _resolve(self, voice: str | None) -> str:
        name = voice or self.default_voice
        if name:
            return name
        self.default_voice = first_ready(await self.voices())
        return self.default_voice

    async def _repository_models(self, voice: str) -> list[str]:
        raw = await self._call(self._client.get_model_repository_index, **self._json())
        return voice_models(voice, raw)

    async def _each(self, method: str, models: list[str]) -> None:
        calls = [self._call(getattr(self._client, method), m, model=m) for m in models]
        await asyncio.gather(*calls)

    async def load_voice(self, name: str) -> VoiceInfo:
        for stage in load_stages(name, await self._repository_models(name)):
            await self._each("load_model", stage)
        info = await self.voice_info(name, refresh=True)
        missing = [m for m in info.models if not await self._client.is_model_ready(m)]
        if missing:
            await self._each("load_model", missing)
        return info

    async def _wait_unloaded(self, models: list[str], timeout: float = 30.0) -> None:
        """Until none of `models` is READY or UNLOADING in the repository index (bounded)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            index = self._client.get_model_repository_index
            busy = draining(await self._call(index, **self._json()), models)
            if not busy:
                return
            await asyncio.sleep(0.1)
        warn_undrained(busy, timeout)

    async def unload_voice(self, name: str) -> None:
        known = self._infos.get(name)
        models = (
            list(known.models) if known and known.models else await self._repository_models(name)
        )
        # entry points first, drained, then the models they call: no accepted request loses
        # its BERT/encoder/decoder halfway
        entry = [m for m in (name, f"{name}_stream") if m in models or m == name]
        await self._each("unload_model", entry)
        await self._wait_unloaded(entry)
        await self._each("unload_model", [m for m in dict.fromkeys(models) if m not in entry])
        self._infos.pop(name, None)

    # -- synthesis -----------------------------------------------------------------------
    async def _infer(self, voice: str, params: SynthesisParams, chunk: Chunk, rate: int) -> Audio:
        arrays = params.arrays(chunk.text, seed_offset=chunk.first_sentence)
        inputs = make_inputs(self._module, arrays)
        names = requested_outputs(bool(params.timestamps))
        outputs = [self._module.InferRequestedOutput(n) for n in names]
        result = await self._call(self._client.infer, voice, inputs, outputs=outputs, model=voice)
        meta = {"text": chunk.text, "index": chunk.first_sentence, "pause_after": chunk.pause_after}
        audio = audio_from_result(result, rate, meta)
        audio.timestamps = parse_timestamps(result_timestamps(result))
        return audio

    async def _prepare(
        self, text: str, voice: str | None, params: SynthesisParams, per_sentence: bool
    ) -> tuple[str, VoiceInfo, list[Chunk]]:
        check_text(text)
        params.validate()
        name = await self._resolve(voice)
        info = await self.voice_info(name)
        language, whole = params.language_for(info), params.whole_request()
        return (
            name,
            info,
            plan_chunks(text, info, per_sentence, language, whole, params.clause_chars or 0),
        )

    async def synthesize(
        self,
        text: str,
        voice: str | None = None,
        params: SynthesisParams | None = None,
        *,
        progress: ProgressFn | None = None,
        **knobs: Any,
    ) -> Audio:
        params = SynthesisParams.merged(params, knobs)
        name, info, chunks = await self._prepare(text, voice, params, per_sentence=False)
        if len(chunks) == 1:
            audio = await self._infer(name, params, chunks[0], info.sample_rate)
            if progress:
                progress(1, 1, audio)
            return audio
        parts = []  # long text: chunks pipelined like `stream`, each ending with its pause
        async for part in self._pipelined(name, info, params, chunks):
            parts.append(part)
            if progress:
                progress(len(parts), len(chunks), part)
        return Audio.join(parts)

    async def synthesize_many(
        self, texts: Sequence[str | Mapping[str, Any]], concurrency: int = 4
    ) -> list[Audio]:
        """Like `TTSClient.synthesize_many`, with at most ``concurrency`` requests in flight."""
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(job: dict[str, Any]) -> Audio:
            async with gate:
                return await self.synthesize(**job)

        jobs = [{"text": t} if isinstance(t, str) else dict(t) for t in texts]
        return list(await asyncio.gather(*(one(j) for j in jobs)))

    async def stream(
        self,
        text: str,
        voice: str | None = None,
        params: SynthesisParams | None = None,
        *,
        method: str | None = None,
        **knobs: Any,
    ) -> AsyncIterator[Audio]:
        """Async generator of `Audio` chunks (per sentence or per window: `TTSClient.stream`)."""
        method = self._stream_method(method)
        params = SynthesisParams.merged(params, knobs)
        name, info, chunks = await self._prepare(text, voice, params, per_sentence=True)
        if stream_method_for(method, self.protocol, name, info) == "decoupled":
            async for chunk in self._stream_decoupled(name, info, params, text, chunks):
                yield chunk
            return
        async for chunk in self._pipelined(name, info, params, chunks):
            yield chunk

    async def _pipelined(
        self, name: str, info: VoiceInfo, params: SynthesisParams, chunks: list[Chunk]
    ) -> AsyncIterator[Audio]:
        """Chunks in order, ``stream_lookahead`` more in flight (the server batches them)."""
        tasks: list[asyncio.Task[Audio]] = []
        try:
            nxt = 0
            for _ in range(len(chunks)):
                while nxt < len(chunks) and len(tasks) <= self.stream_lookahead:
                    coro = self._infer(name, params, chunks[nxt], info.sample_rate)
                    tasks.append(asyncio.ensure_future(coro))
                    nxt += 1
                yield with_pause(await tasks.pop(0))
        finally:
            for t in tasks:
                t.cancel()

    async def _stream_decoupled(
        self, name: str, info: VoiceInfo, params: SynthesisParams, text: str, plan: list[Chunk]
    ) -> AsyncIterator[Audio]:
        inputs = make_inputs(self._module, params.arrays(text))

        async def requests() -> AsyncIterator[dict[str, Any]]:
            # (the aio client cannot ask for the empty final response: the stream simply ends)
            yield {"model_name": info.stream_model, "inputs": inputs}

        stream = self._client.stream_infer(requests())
        reader = StreamReader(info, plan)
        exhausted = False
        try:
            while True:
                try:
                    result, error = await asyncio.wait_for(stream.__anext__(), self.timeout)
                except StopAsyncIteration:  # the server closed the stream: the request is over
                    reader.ended = exhausted = True
                    break
                except asyncio.TimeoutError:
                    raise reader.timed_out(self.timeout) from None
                except Exception as err:  # noqa: BLE001 - transport errors
                    raise map_error(err, info.stream_model) from err
                chunk, final = reader.take(result, error)
                if chunk is not None:
                    yield chunk
                if final:
                    break
        finally:
            if not reader.ended:  # cancel only a request still running (`StreamReader`)
                with contextlib.suppress(Exception):
                    stream.cancel()
            elif not exhausted:
                await _read_to_end(stream, STREAM_CLOSE_S)

    # -- lifetime ------------------------------------------------------------------------
    async def close(self) -> None:
        if self._c is not None:
            with contextlib.suppress(Exception):
                await self._c.close()
            self._c = None

    async def __aenter__(self) -> AsyncTTSClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
