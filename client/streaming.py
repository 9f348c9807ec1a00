"""Decoupled streaming: one request to a voice's ``V_stream`` model over a gRPC stream, one
`Audio` per response as the server sends it (`TTSClient.stream(method="decoupled")`): per
vocoder window of each sentence where the repository has the decoder's halves (first audio
after ~0.2 s of a sentence is decoded), else per sentence."""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from typing import Any

from tts_client.audio import Audio
from tts_client.errors import TTSTimeoutError, map_error
from tts_client.planner import Chunk, SynthesisParams
from tts_client.voices import VoiceInfo
from tts_client.wire import audio_from_result, make_inputs, stream_pause


def stream_response(
    result: Any, info: VoiceInfo, plan: list[Chunk], index: int
) -> tuple[Audio | None, bool]:
    """(the `Audio` a streamed response carries, or None; whether it is the final response).
    ``meta["pause_after"]``: the response's PAUSE_AFTER, else the client's plan."""
    response = result.get_response()
    chunk = None
    if response.outputs:
        planned = plan[index].pause_after if index < len(plan) else 0.0
        chunk = audio_from_result(result, info.sample_rate, {"index": index})
        chunk.meta["pause_after"] = stream_pause(result, planned)
    final = response.parameters.get("triton_final_response")
    return chunk, final is not None and final.bool_param


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
    try:
        tts._retry(
            client.start_stream, callback=lambda result, error: responses.put((result, error))
        )
        inputs = make_inputs(grpcclient, params.arrays(text))
        tts._retry(
            client.async_stream_infer, info.stream_model, inputs, enable_empty_final_response=True
        )
        index = 0
        while True:
            try:
                result, error = responses.get(timeout=tts.timeout)
            except queue.Empty:
                raise TTSTimeoutError(
                    f"no streamed audio from {info.stream_model} within {tts.timeout:.0f} s"
                ) from None
            if error is not None:
                raise map_error(error, info.stream_model)
            chunk, final = stream_response(result, info, plan, index)
            if chunk is not None:
                index += 1
                yield chunk
            if final:
                break
    finally:
        with contextlib.suppress(Exception):
            client.stop_stream(cancel_requests=True)
        with contextlib.suppress(Exception):
            client.close()
