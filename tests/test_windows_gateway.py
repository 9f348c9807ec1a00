"""The gateway's streaming responses come from the voice's decoupled stream model (one piece
per vocoder window, first bytes after the first window): OpenAI's speech API called with the
real `openai` package over HTTP, and upstream's /voice?stream=true, against the session
tritonserver (tiny voice). Joined, the pieces equal the non-streamed audio of the same seed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tts_client.audio import Audio
from tts_client.client import TTSClient

pytest.importorskip("fastapi")
pytest.importorskip("openai")
pytest.importorskip("uvicorn")

from tests.test_gateway import KEY as UPSTREAM_KEY  # noqa: E402
from tests.test_gateway import gateway, roots  # noqa: E402, F401 (fixtures)
from tests.test_gateway_openai import base_url, client  # noqa: E402, F401 (fixtures)

pytestmark = pytest.mark.triton

TEXT = "你好，世界。今天天气真不错，我们一起去公园散步吧！\n明天见？谢谢你。"
SENTENCES = 4


def _stream_requests(triton_voice, at_least: int = 0) -> int:
    """Requests the voice's decoupled stream model has answered so far (Triton's statistics).
    Triton counts a decoupled request after its final response has gone out, so a count read
    right after the last byte may lag: wait (up to 10 s) until it reaches `at_least`."""
    import tritonclient.grpc as grpc

    deadline = time.monotonic() + 10
    with grpc.InferenceServerClient(triton_voice.grpc_url) as c:
        while True:
            stats = c.get_inference_statistics(f"{triton_voice.voice}_stream", as_json=True)
            success = stats["model_stats"][0]["inference_stats"]["success"]
            count = int(success.get("count", 0))  # JSON leaves out zero counts
            if count >= at_least or time.monotonic() > deadline:
                return count
            time.sleep(0.1)


@pytest.fixture(scope="module")
def whole(triton_voice) -> Audio:
    """The same request, not streamed (one ensemble request)."""
    with TTSClient(triton_voice.grpc_url) as tts:
        return tts.synthesize(TEXT, speaker="spk1", length_scale=1.0, seed=5)


def _lsb(got: np.ndarray, want: np.ndarray) -> int:
    assert len(got) == len(want)
    return int(np.abs(got.astype(int) - want).max())


def test_openai_streaming_response_comes_per_window(client, triton_voice, whole):  # noqa: F811
    before = _stream_requests(triton_voice)
    pieces, arrived = [], []
    t0 = time.perf_counter()
    with client.audio.speech.with_streaming_response.create(
        model=triton_voice.voice, voice="spk1", input=TEXT, response_format="pcm",
        extra_body={"seed": 5},
    ) as r:  # fmt: skip
        assert r.headers.get("transfer-encoding") == "chunked"
        for piece in r.iter_bytes():
            pieces.append(piece)
            arrived.append(time.perf_counter() - t0)
    assert _stream_requests(triton_voice, before + 1) == before + 1  # one decoupled request
    # the float chunks equal the ensemble's audio within 1e-4: at most 1-2 16-bit steps
    assert _lsb(np.frombuffer(b"".join(pieces), "<i2"), whole.to_pcm16()) <= 2
    assert len(pieces) > SENTENCES, "pieces per vocoder window, not per sentence"
    assert arrived[0] < arrived[-1]


def test_upstream_voice_stream_comes_from_the_stream_model(gateway, triton_voice):  # noqa: F811
    params = {"text": TEXT, "speaker_name": "spk1", "seed": 2}
    whole = gateway.get("/voice", params={**params, "normalize": "false"}, headers=UPSTREAM_KEY)
    assert whole.status_code == 200, whole.text
    before = _stream_requests(triton_voice)
    query = {**params, "stream": "true"}
    with gateway.stream("GET", "/voice", params=query, headers=UPSTREAM_KEY) as r:
        assert r.status_code == 200
        streamed = b"".join(r.iter_bytes())
    assert _stream_requests(triton_voice, before + 1) == before + 1
    assert streamed[:4] == b"RIFF" and len(streamed) == len(whole.content)
    assert _lsb(np.frombuffer(streamed[44:], "<i2"), np.frombuffer(whole.content[44:], "<i2")) <= 2
