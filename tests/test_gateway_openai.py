"""OpenAI's speech API on the gateway, called with the real `openai` package over HTTP on
127.0.0.1 (uvicorn), against a real tritonserver with the tiny voice."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.fixtures import served_app
from tts_client.audio import Audio
from tts_client.client import TTSClient

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")

from tts_gateway.app import create_app  # noqa: E402
from tts_gateway.encoding import available_formats  # noqa: E402

pytestmark = pytest.mark.triton

TEXT = "今天天气真不错。我们一起去公园散步吧！"
KEY = "sk-test"


@pytest.fixture(scope="module")
def base_url(triton_voice):
    app = create_app(triton_voice.grpc_url, api_key=KEY, voice_aliases={"alloy": "spk2"})
    with served_app(app) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def client(base_url):
    return openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def want(triton_voice):
    """The same request through TTSClient: speaker spk1, seed 3, speed 1 -> length_scale 1."""
    with TTSClient(triton_voice.grpc_url) as tts:
        return tts.synthesize(TEXT, speaker="spk1", length_scale=1.0, seed=3)


def close(got: np.ndarray, want: np.ndarray, lsb: int = 2) -> bool:
    """Equal length and within ``lsb`` 16-bit steps (sentences may batch differently)."""
    return len(got) == len(want) and int(np.abs(got.astype(int) - want).max()) <= lsb


def test_speech_create_wav_equals_the_client(client, triton_voice, want):
    r = client.audio.speech.create(
        model=triton_voice.voice, voice="spk1", input=TEXT, response_format="wav",
        extra_body={"seed": 3},
    )  # fmt: skip
    audio = Audio.from_wav(r.content)
    assert audio.sample_rate == 44100
    assert r.response.headers["x-sample-rate"] == "44100"
    assert close(audio.to_pcm16(), want.to_pcm16())


def test_streaming_response_pcm_arrives_in_pieces_and_equals_the_client(client, triton_voice):
    with TTSClient(triton_voice.grpc_url) as tts:  # speed 2 -> length_scale 0.5
        fast = tts.synthesize(TEXT, speaker="spk1", length_scale=0.5, seed=3)
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="spk1", input=TEXT, response_format="pcm", speed=2.0,
        extra_body={"seed": 3},
    ) as r:  # fmt: skip
        assert r.headers.get("transfer-encoding") == "chunked"
        pieces = list(r.iter_bytes())
    body = b"".join(pieces)
    assert close(np.frombuffer(body, "<i2"), fast.to_pcm16())


def test_flac_is_lossless_and_mp3_opus_decode(client, triton_voice, want):
    import soundfile as sf

    formats = available_formats()
    assert {"wav", "pcm"} <= set(formats)
    for fmt in ("flac", "mp3", "opus"):
        if fmt not in formats:
            continue
        r = client.audio.speech.create(
            model=triton_voice.voice, voice="spk1", input=TEXT, response_format=fmt,
            extra_body={"seed": 3},
        )  # fmt: skip
        data, rate = sf.read(io.BytesIO(r.content), dtype="int16")
        if fmt == "flac":
            assert rate == 44100 and close(data, want.to_pcm16(), 0)
        else:  # lossy: same duration within a codec frame or two
            assert rate == (48000 if fmt == "opus" else 44100)
            assert abs(len(data) / rate - want.duration) < 0.1, fmt


def test_models_list_and_voice_aliases(client, triton_voice):
    ids = [m.id for m in client.models.list()]
    assert ids == [triton_voice.voice]
    assert client.models.retrieve(triton_voice.voice).id == triton_voice.voice
    with TTSClient(triton_voice.grpc_url) as tts:
        spk2 = tts.synthesize("你好。", speaker="spk2", length_scale=1.0, seed=1)
    r = client.audio.speech.create(
        model="tts-1", voice="alloy", input="你好。", response_format="wav", extra_body={"seed": 1}
    )
    assert close(Audio.from_wav(r.content).to_pcm16(), spk2.to_pcm16())


def test_errors_come_in_openai_shape(client, base_url, triton_voice):
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.speech.create(model=triton_voice.voice, voice="nova", input=TEXT)
    assert err.value.status_code == 400 and "spk0" in err.value.message
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.audio.speech.create(model="tts-1", voice="spk0", input=TEXT, response_format="aac")
    with pytest.raises(openai.BadRequestError, match="speed"):
        client.audio.speech.create(model="tts-1", voice="spk0", input=TEXT, speed=9)
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="nope", voice="spk0", input=TEXT)
    wrong = openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_clause_chars_rides_along_streamed_and_whole(client, triton_voice):
    """clause_chars (CLAUSE_CHARS) cuts long sentences at clause marks: the streamed pcm and the
    whole wav equal the client's request with the same value; a bad value is a 400 naming it."""
    text = "今天天气真不错，我们一起去公园散步吧，然后去吃饭。"
    with TTSClient(triton_voice.grpc_url) as tts:
        cut = tts.synthesize(text, speaker="spk1", length_scale=1.0, seed=3, clause_chars=8)
        whole = tts.synthesize(text, speaker="spk1", length_scale=1.0, seed=3)
    assert len(cut.samples) != len(whole.samples)  # three utterances, not one
    body = {"seed": 3, "clause_chars": 8}
    r = client.audio.speech.create(
        model="tts-1", voice="spk1", input=text, response_format="wav", extra_body=body
    )
    assert close(Audio.from_wav(r.content).to_pcm16(), cut.to_pcm16())
    assert "x-ignored-fields" not in r.response.headers
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="spk1", input=text, response_format="pcm", extra_body=body
    ) as streamed:
        pcm = np.frombuffer(b"".join(streamed.iter_bytes()), "<i2")
    assert close(pcm, cut.to_pcm16())
    with pytest.raises(openai.BadRequestError, match="CLAUSE_CHARS|clause_chars"):
        client.audio.speech.create(
            model="tts-1", voice="spk1", input=text, extra_body={"clause_chars": -3}
        )
