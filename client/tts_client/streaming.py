"""Decoupled streaming: one request to a voice's ``V_stream`` model over a gRPC stream, one
`Audio` per response as the server sends it (`TTSClient.stream(method="decoupled")`): per
vocoder window of each sentence where the repository has the decoder's halves (first audio
after ~0.2 s of a sentence is decoded), else per sentence.

Where streamed chunks go as they arrive: `first_audio_method` (which stream method gives the
earliest audio), `WavStreamWriter` (a WAV file or pipe written chunk by chunk) and
`open_player` (raw PCM into aplay, ffplay or paplay)."""

from __future__ import annotations

import contextlib
import queue
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from tts_client.audio import Audio
from tts_client.encoding import pcm16, wav_header
from tts_client.errors import TTSError, TTSTimeoutError, map_error
from tts_client.planner import Chunk, SynthesisParams
from tts_client.voices import VoiceInfo
from tts_client.wire import audio_from_result, make_inputs, result_timestamps, stream_pause
from tts_contract.timestamps import WindowReader


class StreamReader:
    """Turns one decoupled request's responses into `Audio` chunks, in order (the sync and
    async clients' loops share it): ``take(result, error)`` -> (the chunk a response carries,
    or None; whether it is the final response). ``meta["pause_after"]``: the response's
    PAUSE_AFTER, else the client's plan. ``ended``: the request is over on the server (its
    final or an error response came); only a request not ended is worth cancelling."""

    def __init__(self, info: VoiceInfo, plan: list[Chunk]) -> None:
        self.info, self.plan, self.index = info, plan, 0
        self.windows = WindowReader()
        self.ended = False

    def take(self, result: Any, error: Any) -> tuple[Audio | None, bool]:
        if error is not None:
            self.ended = True
            raise map_error(error, self.info.stream_model)
        response = result.get_response()
        chunk = None
        if response.outputs:
            i = self.index
            planned = self.plan[i].pause_after if i < len(self.plan) else 0.0
            chunk = audio_from_result(result, self.info.sample_rate, {"index": i})
            chunk.meta["pause_after"] = stream_pause(result, planned)
            chunk.timestamps = self.windows.take(result_timestamps(result), chunk.sample_rate)
            self.index += 1
        final = response.parameters.get("triton_final_response")
        self.ended = final is not None and final.bool_param
        return chunk, self.ended

    def chunks(self, responses: Iterable[tuple[Any, Any]]) -> Iterator[Audio]:
        """The chunks of (result, error) ``responses`` up to the final one."""
        for result, error in responses:
            chunk, final = self.take(result, error)
            if chunk is not None:
                yield chunk
            if final:
                return

    def timed_out(self, seconds: float) -> TTSTimeoutError:
        """What a stream that sent nothing for ``seconds`` raises."""
        return TTSTimeoutError(
            f"no streamed audio from {self.info.stream_model} within {seconds:.0f} s"
        )


def stream_decoupled(
    tts: Any, info: VoiceInfo, params: SynthesisParams, text: str, plan: list[Chunk]
) -> Iterator[Audio]:
    """Audio chunks from ``info.stream_model`` for ``text``, in order; ``tts`` is the
    `TTSClient` (its address, timeout and retry rule). Joined they equal `synthesize`.

    The model appends each sentence's pause to the sentence's last chunk and says how long it
    is (PAUSE_AFTER; 0 on a sentence's other chunks); ``meta["pause_after"]`` records it. A
    server without PAUSE_AFTER sends one chunk per sentence: then the client's sentence plan
    (``plan``, which follows the server's rules) gives the pause."""
    import tritonclient.grpc as grpcclient

    responses: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client = grpcclient.InferenceServerClient(tts.url)  # one stream per client
    reader = StreamReader(info, plan)
    try:
        tts._retry(
            client.start_stream, callback=lambda result, error: responses.put((result, error))
        )
        inputs = make_inputs(grpcclient, params.arrays(text))
        tts._retry(
            client.async_stream_infer, info.stream_model, inputs, enable_empty_final_response=True
        )

        def arrived() -> Iterator[tuple[Any, Any]]:
            while True:
                try:
                    yield responses.get(timeout=tts.timeout)
                except queue.Empty:
                    raise reader.timed_out(tts.timeout) from None

        yield from reader.chunks(arrived())
    finally:
        # Cancel only a request still running (the caller left early, or nothing came in
        # time). Cancelling one that is over can leave the stream model unable to unload:
        # tried here, 5 of 22 unloads after such a cancel stayed UNLOADING for good.
        with contextlib.suppress(Exception):
            client.stop_stream(cancel_requests=not reader.ended)
        with contextlib.suppress(Exception):
            client.close()


def first_audio_method(protocol: str, info: VoiceInfo) -> str:
    """The `TTSClient.stream` method whose first audio comes soonest for this voice:
    ``decoupled`` where it has a ``V_stream`` model and the client speaks gRPC (one chunk per
    vocoder window: first audio after the first window, not the first sentence), else
    ``pipelined`` (HTTP, or a repository without a stream model)."""
    return "decoupled" if protocol == "grpc" and info.has_stream_model else "pipelined"


def stream_method_for(method: str, protocol: str, name: str, info: VoiceInfo) -> str:
    """``method`` as voice ``name`` runs it: ``auto`` resolved (`first_audio_method`); a
    TTSError where ``decoupled`` cannot run (HTTP, or no stream model)."""
    if method == "auto":
        return first_audio_method(protocol, info)
    if method == "decoupled" and (protocol != "grpc" or not info.has_stream_model):
        raise TTSError(
            f"decoupled streaming needs protocol 'grpc' and a {name}_stream model "
            f"(protocol {protocol!r}, voice models: {', '.join(info.models)})"
        )
    return method


class WavStreamWriter:
    """A mono 16-bit WAV written chunk by chunk: the header with the first chunk, every chunk's
    samples flushed as they arrive (a reader or player sees them at once).

    seekable (a file): `close` writes the real RIFF/data sizes into the header, so the file
    equals `Audio.save` of the joined chunks. Not seekable (stdout, a pipe): the header keeps
    the "unknown length" sizes streaming WAV readers accept (`gateway_audio.wav_header`)."""

    def __init__(self, out: BinaryIO, seekable: bool) -> None:
        self.out, self.seekable = out, seekable
        self.sample_rate: int | None = None
        self.data_bytes = 0

    def write(self, chunk: Audio) -> None:
        if self.sample_rate is None:
            self.sample_rate = chunk.sample_rate
            self.out.write(wav_header(chunk.sample_rate))
        elif chunk.sample_rate != self.sample_rate:
            raise ValueError(
                f"chunk at {chunk.sample_rate} Hz in a {self.sample_rate} Hz stream; a stream "
                "keeps one sample rate"
            )
        body = pcm16(chunk.samples)
        self.out.write(body)
        self.out.flush()
        self.data_bytes += len(body)

    def close(self) -> None:
        """Fix the header's sizes (seekable outputs); an empty stream leaves nothing."""
        if self.sample_rate is not None and self.seekable:
            self.out.seek(4)
            self.out.write(struct.pack("<I", 36 + self.data_bytes))
            self.out.seek(40)
            self.out.write(struct.pack("<I", self.data_bytes))
            self.out.seek(0, 2)
        self.out.flush()


PLAYERS: dict[str, Callable[[int], list[str]]] = {
    "aplay": lambda rate: ["aplay", "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(rate)],
    "ffplay": lambda rate: [
        "ffplay", "-nodisp", "-autoexit", "-loglevel", "error", "-f", "s16le", "-ar", str(rate),
        "-i", "-",
    ],
    "paplay": lambda rate: [
        "paplay", "--raw", "--format=s16le", "--channels=1", f"--rate={rate}",
    ],
}  # fmt: skip
"""Players that take raw mono 16-bit PCM on stdin, in the order they are looked for."""


def open_player(sample_rate: int) -> subprocess.Popen:
    """The first of `PLAYERS` on PATH, reading raw PCM at `sample_rate` from its stdin (write
    ``pcm16(chunk.samples)`` to ``.stdin``; close it and wait when done)."""
    for name, command in PLAYERS.items():
        if shutil.which(name):
            return subprocess.Popen(command(sample_rate), stdin=subprocess.PIPE)
    raise TTSError(
        f"--play needs an audio player on PATH: one of {', '.join(PLAYERS)} (alsa-utils, "
        "ffmpeg or pulseaudio-utils); install one, or write a file with -o"
    )
