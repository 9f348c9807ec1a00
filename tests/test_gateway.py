"""The upstream-compatible HTTP gateway over a real tritonserver serving the tiny voice."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tts_client.audio import Audio
from tts_client.client import TTSClient
from tts_client.serve import free_port

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from tts_client.gateway import create_app  # noqa: E402

pytestmark = pytest.mark.triton

TEXT = "今天天气真不错。我们一起去公园散步吧！"
KEY = {"X-API-Key": "s3cret"}


@pytest.fixture(scope="module")
def gateway(triton_voice):  # noqa: F811
    with TestClient(create_app(triton_voice.grpc_url, api_key="s3cret")) as client:
        yield client


def test_voice_get_returns_the_same_audio_as_the_client(gateway, triton_voice):  # noqa: F811
    params = {"text": TEXT, "model_id": 0, "speaker_name": "spk1", "seed": 4}
    r = gateway.get("/voice", params=params, headers=KEY)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    got = Audio.from_wav(r.content)
    with TTSClient(triton_voice.grpc_url) as client:
        # upstream's defaults: sdp_ratio 0.2, noise 0.2, noisew 0.9, length 1
        want = client.synthesize(
            TEXT, speaker="spk1", sdp_ratio=0.2, noise_scale=0.2, noise_scale_w=0.9,
            length_scale=1.0, seed=4,
        )  # fmt: skip
    assert got.sample_rate == 44100 and len(got) == len(want)
    assert np.abs(got.samples - np.clip(want.samples, -1, 1)).max() < 2.0 / 32767


def test_voice_post_form_json_and_auto_split(gateway, triton_voice):  # noqa: F811
    query = {"model_id": triton_voice.voice, "speaker_id": 2, "seed": 1, "api_key": "s3cret"}
    form = gateway.post("/voice", params=query, data={"text": TEXT})
    body = gateway.post("/voice", params={"api_key": "s3cret"}, json={"text": TEXT, "speaker_id": 2, "seed": 1})  # fmt: skip
    assert form.status_code == body.status_code == 200
    assert form.content == body.content
    split = gateway.post("/voice", params={**query, "auto_split": "true"}, data={"text": TEXT})
    assert split.status_code == 200
    whole, parts = Audio.from_wav(form.content), Audio.from_wav(split.content)
    # upstream's auto_split: one request per sentence, 0.2 s of silence after each (last too)
    assert len(parts) == len(whole) + round(0.2 * 44100)
    assert np.all(parts.samples[-round(0.2 * 44100) :] == 0)


@pytest.mark.parametrize(
    "params, status, code, field",
    [
        ({"text": TEXT, "sdp_ratio": "abc"}, 400, 21, "sdp_ratio"),
        ({"text": TEXT, "noise": "7"}, 400, 21, "noise"),
        ({"text": TEXT, "length": "0"}, 400, 21, "length"),
        ({"text": ""}, 400, 21, "text"),
        ({}, 400, 21, "text"),
        ({"text": TEXT, "auto_split": "maybe"}, 400, 21, "auto_split"),
        ({"text": TEXT, "model_id": 3}, 404, 10, "model_id"),
        ({"text": TEXT, "model_id": "nope"}, 404, 10, "model_id"),
        ({"text": TEXT, "speaker_name": "bob"}, 404, 13, "speaker_name"),
        ({"text": TEXT, "speaker_id": 9}, 404, 12, "speaker_id"),
        ({"text": TEXT, "auto_translate": "true"}, 400, 20, "auto_translate"),
    ],
)
def test_bad_parameters_get_json_errors(gateway, params, status, code, field):
    r = gateway.get("/voice", params=params, headers=KEY)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == code and body["field"] == field
    assert field in body["detail"]


def test_api_key_is_enforced(gateway):
    r = gateway.get("/voice", params={"text": TEXT})
    assert r.status_code == 401 and "API key" in r.json()["detail"]
    assert gateway.get("/models/info", headers={"X-API-Key": "wrong"}).status_code == 401
    assert gateway.get("/status", params={"api_key": "s3cret"}).status_code == 200


def test_models_info_and_status(gateway, triton_voice):  # noqa: F811
    info = gateway.get("/models/info", headers=KEY).json()
    assert list(info) == ["0"]
    voice = info["0"]
    assert voice["name"] == triton_voice.voice and voice["sample_rate"] == 44100
    assert voice["spk2id"] == {"spk0": 0, "spk1": 1, "spk2": 2}
    assert voice["id2spk"]["2"] == "spk2"
    status = gateway.get("/status", headers=KEY).json()
    assert status["triton"]["ready"] is True and "memory_percent" in status


def test_triton_down_is_503():
    with TestClient(create_app(f"127.0.0.1:{free_port()}")) as client:
        r = client.get("/voice", params={"text": TEXT})
        assert r.status_code == 503 and r.json()["status"] == 40
        assert client.get("/status").json()["triton"]["ready"] is False


def test_real_http_server_over_uvicorn(triton_voice):  # noqa: F811
    uvicorn = pytest.importorskip("uvicorn")
    port = free_port()
    app = create_app(triton_voice.http_url, protocol="http")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        r = httpx.get(
            f"http://127.0.0.1:{port}/voice", params={"text": "你好。", "seed": 1}, timeout=60
        )
        assert r.status_code == 200
        audio = Audio.from_wav(r.content)
        assert audio.sample_rate == 44100 and audio.duration > 0.1
    finally:
        server.should_exit = True
        thread.join(timeout=10)
