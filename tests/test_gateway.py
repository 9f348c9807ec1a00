"""Upstream Bert-VITS2's HTTP API (server_fastapi.py v2.3) served by the gateway over a real
tritonserver with the tiny voice: defaults, auto_split silence, status codes, /models/*."""

from __future__ import annotations

import os
import shutil
import socket

import numpy as np
import pytest

from tests.fixtures import free_port, served_app
from tests.triton_fixtures import wait_unloaded
from tts_client.audio import Audio
from tts_client.client import TTSClient

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from tts_gateway.app import create_app  # noqa: E402
from tts_gateway.upstream import client_takes, cut_sent  # noqa: E402

pytestmark = pytest.mark.triton

TEXT = "今天天气真不错。我们一起去公园散步吧！"
KEY = {"X-API-Key": "s3cret"}
RATE = 44100


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return tmp_path_factory.mktemp("models-root")


@pytest.fixture(scope="module")
def gateway(triton_voice, roots):
    app = create_app(
        triton_voice.grpc_url, api_key="s3cret", roots=[roots],
        repository=triton_voice.repository, max_body_bytes=200_000,
    )  # fmt: skip
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def tts(triton_voice):
    with TTSClient(triton_voice.grpc_url) as client:
        yield client


def upstream_int16(samples: np.ndarray) -> np.ndarray:
    """gradio's convert_to_16_bit_wav, as upstream's /voice applies it: peak-normalize, x32767,
    truncate."""
    return (samples.astype(np.float64) / np.abs(samples).max() * 32767).astype(np.int16)


def pcm_of(wav: bytes) -> np.ndarray:
    return np.frombuffer(wav[44:], "<i2")


def test_voice_get_uses_upstream_defaults_and_its_16_bit_conversion(gateway, tts):
    params = {"text": TEXT, "model_id": 0, "speaker_name": "spk1", "seed": 4}
    r = gateway.get("/voice", params=params, headers=KEY)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    # upstream's /voice defaults: sdp_ratio 0.2, noise 0.2, noisew 0.9, length 1
    want = tts.synthesize(
        TEXT, speaker="spk1", sdp_ratio=0.2, noise_scale=0.2, noise_scale_w=0.9,
        length_scale=1.0, seed=4,
    )  # fmt: skip
    got = Audio.from_wav(r.content)
    assert got.sample_rate == RATE
    assert np.array_equal(pcm_of(r.content), upstream_int16(want.samples))
    explicit = {**params, "sdp_ratio": 0.2, "noise": 0.2, "noisew": 0.9, "length": 1}
    assert gateway.get("/voice", params=explicit, headers=KEY).content == r.content
    raw = gateway.get("/voice", params={**params, "normalize": "false"}, headers=KEY)
    assert np.array_equal(pcm_of(raw.content), want.to_pcm16())
    # the voice's own per-speaker defaults (noise 0.6, noisew 0.8) are not what /voice uses
    voice_defaults = tts.synthesize(TEXT, speaker="spk1", seed=4)
    assert not np.array_equal(pcm_of(raw.content), voice_defaults.to_pcm16())


def test_voice_post_form_json_and_text_bodies_agree(gateway):
    query = {"model_id": 0, "speaker_id": 2, "seed": 1, "api_key": "s3cret"}
    form = gateway.post("/voice", params=query, data={"text": TEXT})  # upstream's form
    body = gateway.post(
        "/voice", params={"api_key": "s3cret"}, json={"text": TEXT, "speaker_id": 2, "seed": 1}
    )
    plain = gateway.post(
        "/voice", params=query, content=TEXT.encode(), headers={"content-type": "text/plain"}
    )
    assert form.status_code == body.status_code == plain.status_code == 200
    assert form.content == body.content == plain.content


def test_cut_sent_follows_upstream():
    # upstream's re_matching.cut_sent rules: 。！;？? end a piece; "……" and "......" too;
    # a closing quote stays with its sentence; ASCII "." and "!" do not cut
    assert cut_sent("你好。今天好吗？很好！") == ["你好。", "今天好吗？", "很好！"]
    assert cut_sent("Hello. How are you? Fine!") == ["Hello. How are you?", " Fine!"]
    assert cut_sent("他说：“走吧。”我们走了。") == ["他说：“走吧。”", "我们走了。"]
    assert cut_sent("等等……好的......走") == ["等等……", "好的......", "走"]
    assert cut_sent("一；二;三") == ["一；二;", "三"]


def test_auto_split_puts_upstream_silence_after_every_piece(gateway, tts):
    text = "今天天气真不错。我们一起去公园散步吧！你说好吗？"
    params = {"text": text, "speaker_name": "spk0", "seed": 3, "auto_split": "true"}
    r = gateway.get("/voice", params=params, headers=KEY)
    assert r.status_code == 200
    pieces = cut_sent(text)
    assert len(pieces) == 3
    gap = int(RATE * 0.2)  # upstream: np.zeros(int(44100 * 0.2)) after each piece
    parts = []
    for i, piece in enumerate(pieces):
        one = tts.synthesize(
            piece, speaker="spk0", sdp_ratio=0.2, noise_scale=0.2, noise_scale_w=0.9,
            length_scale=1.0, seed=3 + i,
        )  # fmt: skip
        parts += [one.samples, np.zeros(gap, np.float32)]
    want = np.concatenate(parts)
    got = pcm_of(r.content)
    assert len(got) == len(want)
    assert np.array_equal(got, upstream_int16(want))
    assert not got[-gap:].any()  # the last piece is followed by silence too


def test_stream_extension_sends_chunked_wav_equal_to_the_whole(gateway):
    params = {"text": TEXT, "speaker_name": "spk1", "seed": 2, "api_key": "s3cret"}
    whole = gateway.get("/voice", params={**params, "normalize": "false"})
    with gateway.stream("GET", "/voice", params={**params, "stream": "true"}) as r:
        assert r.status_code == 200 and "content-length" not in r.headers
        streamed = b"".join(r.iter_bytes())
    # sentences go as separate requests: equal to one request within 2 LSB (batching order)
    assert streamed[:4] == b"RIFF" and len(streamed) == len(whole.content)
    assert np.abs(pcm_of(streamed).astype(int) - pcm_of(whole.content)).max() <= 2
    assert Audio.from_wav(streamed).sample_rate == RATE


@pytest.mark.parametrize(
    "params, http, code, field, detail",
    [
        ({"text": TEXT, "speaker_id": 0, "sdp_ratio": "abc"}, 400, 21, "sdp_ratio", "sdp_ratio"),
        ({"text": TEXT, "speaker_id": 0, "noise": "7"}, 400, 21, "noise", "NOISE_SCALE"),
        ({"text": TEXT, "speaker_id": 0, "length": "0"}, 400, 21, "length", "LENGTH_SCALE"),
        ({"text": "", "speaker_id": 0}, 400, 21, "text", "text"),
        ({"speaker_id": 0}, 400, 21, "text", "text"),
        ({"text": TEXT}, 400, 11, "speaker_name", "请提供speaker_name或speaker_id"),
        ({"text": TEXT, "speaker_id": 0, "auto_split": "maybe"}, 400, 21, "auto_split", "auto_split"),
        ({"text": TEXT, "speaker_id": 0, "model_id": 3}, 404, 10, "model_id", "模型model_id=3未加载"),
        ({"text": TEXT, "speaker_id": 0, "model_id": "nope"}, 404, 10, "model_id", "模型model_id=nope未加载"),
        ({"text": TEXT, "speaker_name": "bob"}, 404, 13, "speaker_name", "角色speaker_name=bob不存在"),
        ({"text": TEXT, "speaker_id": 9}, 404, 12, "speaker_id", "角色speaker_id=9不存在"),
        ({"text": TEXT, "speaker_id": 0, "auto_translate": "true"}, 400, 20, "auto_translate", "auto_translate"),
        ({"text": "字" * 20_001, "speaker_id": 0}, 413, 21, "text", "20000"),
    ],
)  # fmt: skip
def test_voice_errors_use_upstream_codes_and_texts(gateway, params, http, code, field, detail):
    r = gateway.post("/voice", json=params, headers=KEY)
    assert r.status_code == http, r.text
    body = r.json()
    assert (body["status"], body["field"]) == (code, field)
    assert detail in body["detail"] and body["message"]


def test_style_text_is_passed_on_or_refused_clearly(gateway, tts):
    params = {"text": TEXT, "speaker_name": "spk0", "seed": 6, "normalize": "false"}
    r = gateway.get(
        "/voice", params={**params, "style_text": "开心", "style_weight": 0.5}, headers=KEY
    )
    if not client_takes("style_text"):
        assert r.status_code == 400 and (r.json()["status"], r.json()["field"]) == (
            20,
            "style_text",
        )
        return
    assert r.status_code == 200, r.text
    want = tts.synthesize(
        TEXT, speaker="spk0", sdp_ratio=0.2, noise_scale=0.2, noise_scale_w=0.9,
        length_scale=1.0, seed=6, style_text="开心", style_text_weight=0.5,
    )  # fmt: skip
    assert np.array_equal(pcm_of(r.content), want.to_pcm16())


def test_style_weight_alone_is_accepted(gateway):
    params = {"text": "你好。", "speaker_id": 0, "seed": 1, "style_weight": 0.5, "emotion": 3}
    assert gateway.get("/voice", params=params, headers=KEY).status_code == 200


def test_conditioning_a_voice_does_not_take_is_refused_by_name(gateway):
    # the tiny voice is 2.3: no reference clip, no styles (upstream 2.3 ignores emotion)
    wav = Audio(np.zeros(1600, np.float32), 16000).to_wav()
    form = {"text": "你好。", "speaker_id": "0"}
    r = gateway.post("/voice", data=form, files={"reference_audio": ("a.wav", wav)}, headers=KEY)
    assert r.status_code == 400 and r.json()["status"] == 20, r.text
    assert r.json()["field"] == "reference_audio" and "2.1 and 2.2" in r.json()["message"]
    r = gateway.post("/voice", data=form, files={"text2": ("a.txt", b"x")}, headers=KEY)
    assert r.status_code == 400 and "only reference_audio" in r.json()["message"]
    for extra, field in (({"style": "Happy"}, "style"), ({"reference_audio_path": "a.wav"}, "reference_audio_path")):  # fmt: skip
        r = gateway.get("/voice", params={**form, **extra}, headers=KEY)
        assert r.status_code == 400 and r.json()["field"] == field, r.text


def test_api_key_guards_everything_but_health(gateway):
    for path in ("/voice", "/models/info", "/status", "/models/get_local", "/docs"):
        r = gateway.get(path, params={"text": TEXT})
        assert r.status_code == 401 and "API key" in r.json()["detail"], path
    assert gateway.get("/models/info", headers={"X-API-Key": "wrong"}).status_code == 401
    # OpenAI's Bearer form counts on /v1 only
    bearer = {"Authorization": "Bearer s3cret"}
    assert gateway.get("/models/info", headers=bearer).status_code == 401
    assert gateway.get("/v1/models", headers=bearer).status_code == 200
    assert gateway.get("/status", params={"api_key": "s3cret"}).status_code == 200
    health = gateway.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok", "triton": True}


def test_bodies_over_the_limit_get_413(gateway):
    big = {"text": "字" * 100_000, "speaker_id": 0}  # 300 kB of UTF-8 > max_body_bytes 200 kB
    r = gateway.post("/voice", json=big, headers=KEY)
    assert r.status_code == 413 and r.json()["status"] == 32, r.text

    def chunks():  # no Content-Length: the limit applies while the body is read
        for _ in range(30):
            yield b"x" * 10_000

    r = gateway.post("/voice", content=chunks(), headers={**KEY, "content-type": "text/plain"})
    assert r.status_code == 413 and "POST /jobs" in r.json()["detail"]


def test_models_info_and_status(gateway, triton_voice):
    info = gateway.get("/models/info", headers=KEY).json()
    assert list(info) == ["0"]
    voice = info["0"]
    for key in ("config_path", "model_path", "device", "language", "spk2id", "id2spk", "version"):
        assert key in voice  # upstream's Model.to_dict fields
    assert voice["name"] == triton_voice.voice and voice["sample_rate"] == RATE
    assert voice["spk2id"] == {"spk0": 0, "spk1": 1, "spk2": 2}
    assert voice["id2spk"]["2"] == "spk2" and voice["language"] == "ZH"
    status = gateway.get("/status", headers=KEY).json()
    assert status["triton"]["ready"] is True and "memory_percent" in status


def test_get_local_and_unloaded_scan_like_upstream(gateway, roots, tmp_path):
    run = roots / "run1"
    (run / "models").mkdir(parents=True)
    for name in ("G_2000.pth", "G_100.pth", "G_latest.pth", "D_100.pth", "notes.txt"):
        (run / name).write_bytes(b"x")
    (run / "models" / "G_50.pth").write_bytes(b"x")
    (roots / "G_7.pth").write_bytes(b"x")
    want = {"run1": ["G_100.pth", "G_2000.pth", "G_latest.pth", "models/G_50.pth"],
            ".": ["G_7.pth"]}  # fmt: skip
    r = gateway.get("/models/get_local", headers=KEY)
    assert r.status_code == 200 and r.json() == want
    r = gateway.get("/models/get_unloaded", params={"root_dir": str(roots)}, headers=KEY)
    assert r.json() == want
    outside = gateway.get("/models/get_local", params={"root_dir": str(tmp_path)}, headers=KEY)
    assert outside.status_code == 403 and outside.json()["status"] == 31
    up = gateway.get("/models/get_local", params={"root_dir": str(roots / "..")}, headers=KEY)
    assert up.status_code == 403


def test_models_add_refusals(gateway, roots, tmp_path):
    (roots / "ckpt" / "sub").mkdir(parents=True)
    (roots / "ckpt" / "sub" / "G_10.pth").write_bytes(b"x")
    r = gateway.get(
        "/models/add", params={"model_path": str(roots / "ckpt/sub/G_10.pth")}, headers=KEY
    )
    assert r.status_code == 400 and r.json()["status"] == 15  # no config.json in ./ or ../
    (roots / "ckpt" / "config.json").write_text("{}")
    r = gateway.get(
        "/models/add", params={"model_path": str(roots / "ckpt/sub/G_10.pth")}, headers=KEY
    )
    assert r.json()["status"] == 16 and "tts-export onnx" in r.json()["message"]
    (tmp_path / "voice.json").write_text("{}")
    r = gateway.get("/models/add", params={"model_path": str(tmp_path)}, headers=KEY)
    assert r.status_code == 403 and r.json()["status"] == 31
    r = gateway.get("/models/delete", params={"model_id": 7}, headers=KEY)
    assert r.status_code == 404 and r.json() == {
        "status": 14, "detail": "模型7不存在，删除失败", "field": "model_id",
        "message": r.json()["message"],
    }  # fmt: skip


def test_models_add_loads_an_exported_voice_and_delete_unloads_it(gateway, triton_voice, roots):
    # a symlink leading out of the roots is followed, and refused
    (roots / "link").symlink_to(triton_voice.voice_dir, target_is_directory=True)
    r = gateway.get("/models/add", params={"model_path": str(roots / "link")}, headers=KEY)
    assert r.status_code == 403 and r.json()["status"] == 31
    (roots / "link").unlink()
    shutil.copytree(triton_voice.voice_dir, roots / "exported", copy_function=os.link)
    name = "tiny_added"
    try:
        params = {"model_path": str(roots / "exported"), "name": name}
        r = gateway.get("/models/add", params=params, headers=KEY)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == 0 and body["detail"] == "模型添加成功"
        model_id = body["Data"]["model_id"]
        assert model_id == 1 and body["Data"]["model_info"]["name"] == name
        unloaded = gateway.get("/models/get_unloaded", headers=KEY).json()
        assert "exported" not in unloaded
        assert gateway.get("/models/get_local", headers=KEY).json()["exported"] == ["voice.json"]
        params = {"text": "你好。", "model_id": model_id, "speaker_id": 1, "seed": 5}
        added = gateway.get("/voice", params=params, headers=KEY)
        first = gateway.get("/voice", params={**params, "model_id": 0}, headers=KEY)
        assert added.status_code == 200 and added.content == first.content  # same weights
        r = gateway.get("/models/delete", params={"model_id": model_id}, headers=KEY)
        assert r.json() == {"status": 0, "detail": "删除成功"}
        assert list(gateway.get("/models/info", headers=KEY).json()) == ["0"]
    finally:
        with TTSClient(triton_voice.grpc_url) as client:
            if any(v.name == name and v.ready for v in client.voices()):
                client.unload_voice(name)
        models = [p.name for p in triton_voice.repository.glob(f"{name}*")]
        wait_unloaded(triton_voice.http_url, models)
        for p in triton_voice.repository.glob(f"{name}*"):
            shutil.rmtree(p)


def test_triton_down_is_503():
    with TestClient(create_app(f"127.0.0.1:{free_port()}")) as client:
        r = client.get("/voice", params={"text": TEXT, "speaker_id": 0})
        assert r.status_code == 503 and r.json()["status"] == 40
        assert client.get("/status").json()["triton"]["ready"] is False
        assert client.get("/health").json() == {"status": "ok", "triton": False}


def test_jobs_off_says_how_to_turn_them_on(gateway):
    for method, path in (("POST", "/jobs"), ("GET", "/jobs/abc"), ("GET", "/jobs/abc/audio")):
        r = gateway.request(method, path, headers=KEY, json={"text": TEXT})
        assert r.status_code == 404, (method, path)
        assert "start it with --jobs-dir DIR" in r.json()["message"], r.json()


def test_startup_summary_says_what_the_gateway_serves(triton_voice, tmp_path):
    from tts_gateway.cli import summary

    on = create_app(triton_voice.grpc_url, api_key="k", jobs_dir=tmp_path).state.config
    lines = summary(on, "127.0.0.1", 5000)
    assert (
        lines[0] == f"tts-gateway on http://127.0.0.1:5000 over Triton grpc {triton_voice.grpc_url}"
    )
    voice = next(line for line in lines if line.startswith("  voice "))
    assert f"0: {triton_voice.voice} (release 2.3; speakers spk0, spk1, spk2" in voice
    assert any(line.startswith("  routes   /voice ") for line in lines)
    assert f"  jobs     on: POST /jobs, state and audio in {tmp_path}" in lines
    assert any(line.startswith("  key      required") for line in lines)
    off = summary(create_app(triton_voice.grpc_url).state.config, "::1", 5001)
    assert off[0].startswith("tts-gateway on http://[::1]:5001 ")
    assert "  jobs     off: start with --jobs-dir DIR to turn on POST /jobs" in off
    assert any(line.startswith("  key      none") for line in off)
    assert all(len(line) < 200 for line in lines + off)  # one fact a line, no table


def test_real_http_server_over_uvicorn(triton_voice):
    pytest.importorskip("uvicorn")
    from tts_gateway.cli import http_protocol

    app = create_app(triton_voice.http_url, protocol="http")
    with served_app(app, start_s=20, http=http_protocol()) as base:
        r = httpx.get(
            f"{base}/voice",
            params={"text": "你好。", "speaker_name": "spk0", "seed": 1},
            timeout=60,
        )
        assert r.status_code == 200
        audio = Audio.from_wav(r.content)
        assert audio.sample_rate == RATE and audio.duration > 0.1
        # raw UTF-8 in the request line (curl "...?text=你好") never reaches a route: the HTTP
        # server's own 400 must say what to do
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall("GET /voice?text=你好 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400"), answer
        assert b"--data-urlencode" in answer, answer
