"""The gateway's playground without a browser: GET /contract answers the request contract and
the loaded voices of a real tritonserver (tiny voice); the page and its files are served open,
offline-only (no address outside the gateway) and ship in the client's wheel; the route the page
speaks through takes every field the page sends."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from tts_client.client import TTSClient
from tts_contract import request as contract

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from tts_gateway.app import create_app  # noqa: E402
from tts_gateway.playground import PAGE_FILES, page_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY = {"X-API-Key": "s3cret"}
TEXT = "今天天气真不错。我们一起去公园散步吧！"


@pytest.fixture(scope="module")
def gateway(triton_voice):
    app = create_app(triton_voice.grpc_url, api_key="s3cret")
    with TestClient(app) as client:
        yield client


@pytest.mark.triton
def test_contract_answers_the_contract_and_the_voices(gateway, triton_voice):
    r = gateway.get("/contract", headers=KEY)
    assert r.status_code == 200, r.text
    got = r.json()
    assert [s["name"] for s in got["scales"]] == [s.name for s in contract.REQUEST_SCALES]
    for scale, sent in zip(contract.REQUEST_SCALES, got["scales"], strict=True):
        assert {k: sent[k] for k in ("name", "input", "low", "high", "default")} == asdict(scale)
        assert sent["voice_default"] == (scale in contract.SCALES)
    assert int(got["seed"]["max"]) == contract.MAX_SEED  # exact: sent as text
    assert got["emotion_ids"] == {"min": 0, "max": len(contract.EMOTION_IDS) - 1}
    assert got["profiles"]["names"] == list(contract.PROFILE_NAMES)
    assert got["language_modes"] == list(contract.LANGUAGE_MODES)
    assert got["limits"] == asdict(contract.Limits())
    assert got["gateway"]["speech_route"] == "/v1/audio/speech"
    with TTSClient(triton_voice.grpc_url) as tts:
        info = next(v for v in tts.voices() if v.name == triton_voice.voice)
    (voice,) = got["voices"]
    assert voice["name"] == info.name and voice["id"] == 0
    assert [(s["name"], s["id"]) for s in voice["speakers"]] == sorted(
        info.speakers.items(), key=lambda kv: kv[1]
    )
    assert voice["speakers"][0]["defaults"] == info.speaker_defaults[voice["speakers"][0]["name"]]
    assert voice["languages"] == info.languages and voice["default_language"] == "ZH"
    assert voice["release"] == info.release and voice["sample_rate"] == info.sample_rate
    assert voice["streams"] is True and voice["limits"] == asdict(info.request_limits)


@pytest.mark.triton
def test_the_page_is_open_but_the_data_needs_the_key(gateway):
    for path in ["/playground", *(f"/playground/{name}" for name in PAGE_FILES)]:
        r = gateway.get(path)  # no key
        assert r.status_code == 200, path
        assert "default-src 'none'" in r.headers["content-security-policy"]
    r = gateway.get("/contract")
    assert r.status_code == 401 and "X-API-Key" in r.json()["message"]
    r = gateway.get("/playground/../contract")
    assert r.status_code in (401, 404)
    r = gateway.get("/playground/secret.py", headers=KEY)
    assert r.status_code == 404 and "index.html" in r.json()["message"]


def test_the_page_loads_nothing_from_elsewhere_and_restates_no_range():
    for name in PAGE_FILES:
        text = page_file(name).decode("utf-8")
        # no URL with a host: everything comes from the gateway that served the page
        assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), name
        assert "@import" not in text and "<iframe" not in text, name
    script = "".join(page_file(n).decode("utf-8") for n in PAGE_FILES if n.endswith(".js"))
    # the contract's numbers come from GET /contract, not from the page
    for scale in contract.REQUEST_SCALES:
        assert scale.name not in script, scale.name
    assert str(contract.MAX_SEED) not in script


def test_the_client_wheel_ships_the_page(tmp_path):
    src = tmp_path / "client"
    shutil.copytree(
        ROOT / "client", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "w"), "."]
    subprocess.run(build, cwd=src, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "w").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"tts_gateway/static/{name}" for name in PAGE_FILES} <= names


@pytest.mark.triton
def test_the_speech_route_takes_what_the_page_sends(gateway, triton_voice):
    """The body the page builds (every value as typed text, profile and language included)
    gives the client's audio for the same knobs; a bad value is refused naming its field."""
    body = {
        "model": triton_voice.voice, "voice": "spk1", "input": TEXT, "response_format": "pcm",
        "language": "ZH", "seed": "7", "profile": "upstream-2.3", "sdp_ratio": "0.3",
        "noise_scale": "0.6", "noise_scale_w": "0.8", "length_scale": "1.1",
        "style_text_weight": "0.7", "pitch_scale": "1", "intonation_scale": "1",
    }  # fmt: skip
    r = gateway.post("/v1/audio/speech", json=body, headers=KEY)
    assert r.status_code == 200, r.text
    with TTSClient(triton_voice.grpc_url) as tts:
        want = tts.synthesize(
            TEXT, speaker="spk1", language="ZH", seed=7, profile="upstream-2.3", sdp_ratio=0.3,
            noise_scale=0.6, noise_scale_w=0.8, length_scale=1.1,
        )  # fmt: skip
        other = tts.synthesize(
            TEXT, speaker="spk1", language="ZH", seed=7, sdp_ratio=0.3, noise_scale=0.6,
            noise_scale_w=0.8, length_scale=1.1, profile="upstream-2.0",
        )  # fmt: skip
    got = np.frombuffer(r.content, "<i2")
    assert len(got) == len(want.samples)
    assert int(np.abs(got.astype(int) - want.to_pcm16()).max()) <= 2
    assert "profile" not in r.headers.get("x-ignored-fields", "")
    assert len(other.samples) > 0  # another profile is a valid request too
    bad = gateway.post("/v1/audio/speech", json={**body, "profile": "nope"}, headers=KEY)
    assert bad.status_code == 400
    err = bad.json()["error"]
    assert err["param"] == "profile" and "upstream-2.3" in err["message"], err
    bad = gateway.post("/v1/audio/speech", json={**body, "style_weight": "1"}, headers=KEY)
    err = bad.json()["error"]
    assert bad.status_code == 400 and err["param"] == "style_weight", err
