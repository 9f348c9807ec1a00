"""Long-form jobs on the gateway against a real tritonserver with the tiny voice: a 20-sentence
job survives a gateway restart mid-job, waits for and then fails clearly without Triton, resumes,
and its audio equals one-shot synthesis with the same seed."""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest

from tts_client.audio import Audio
from tts_client.client import TTSClient

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from tts_gateway.app import create_app  # noqa: E402

pytestmark = pytest.mark.triton

SENTENCES = [
    "今天天气真不错。", "我们一起去公园散步吧！", "你想喝点什么？", "我要一杯热茶。",
    "公园里有很多花。", "小鸟在树上唱歌。", "孩子们在草地上玩。", "风吹过湖面。",
    "我们坐在长椅上休息。", "太阳慢慢落山了。", "晚上我们去吃饭吧。", "这家饭馆很有名。",
    "菜的味道非常好。", "服务员很热情。", "我们聊了很久。", "时间过得真快！",
    "明天还要上班。", "我们该回家了。", "路上车不多。", "今天真开心！",
]  # fmt: skip
LONG = "".join(SENTENCES[:10]) + "\n" + "".join(SENTENCES[10:])  # two paragraphs


def poll(gw: TestClient, job_id: str, until: tuple[str, ...], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = gw.get(f"/jobs/{job_id}").json()
        if job["state"] in until:
            return job
        assert time.monotonic() < deadline, f"job still {job['state']} after {timeout} s: {job}"
        time.sleep(0.05)


def one_shot(url: str, text: str, seed: int) -> np.ndarray:
    with TTSClient(url) as tts:
        return tts.synthesize(text, speaker="spk1", seed=seed).to_pcm16()


def close(got: np.ndarray, want: np.ndarray, lsb: int = 2) -> bool:
    """Equal length, and within ``lsb`` 16-bit steps (sentences batch differently)."""
    return len(got) == len(want) and int(np.abs(got.astype(int) - want).max()) <= lsb


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_job_survives_a_gateway_restart_mid_job(triton_voice, tmp_path):
    jobs_dir = tmp_path / "jobs"
    body = {"text": LONG, "model": triton_voice.voice, "speaker": "spk1", "seed": 7}
    with TestClient(create_app(triton_voice.grpc_url, jobs_dir=jobs_dir)) as gw:
        r = gw.post("/jobs", json=body)
        assert r.status_code == 202 and r.headers["location"] == f"/jobs/{r.json()['id']}"
        job = r.json()
        assert job["total"] == 20 and job["done"] == 0 and job["state"] in ("queued", "running")
        deadline = time.monotonic() + 120
        while gw.get(f"/jobs/{job['id']}").json()["done"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert gw.get(f"/jobs/{job['id']}/audio").json()["status"] == 34  # not finished: 409
    # the gateway stopped mid-job: state and finished sentences are on disk
    saved = json.loads((jobs_dir / job["id"] / "job.json").read_text())
    assert saved["state"] in ("queued", "running") and 0 < saved["done"] < 20, saved
    with TestClient(create_app(triton_voice.grpc_url, jobs_dir=jobs_dir)) as gw:
        done = poll(gw, job["id"], ("done", "failed"))
        assert done["state"] == "done" and done["done"] == 20 and done["resumed"] == 1, done
        wav = gw.get(f"/jobs/{job['id']}/audio").content
        flac = gw.get(f"/jobs/{job['id']}/audio", params={"format": "flac"})
        assert flac.status_code == 200 and flac.headers["content-type"] == "audio/flac"
    got = Audio.from_wav(wav)
    assert got.sample_rate == 44100
    assert close(got.to_pcm16(), one_shot(triton_voice.grpc_url, LONG, 7))


def test_job_without_triton_waits_then_fails_clearly_and_resumes(triton_voice, tmp_path):
    jobs_dir, text = tmp_path / "jobs", "".join(SENTENCES[:4])
    # accepted, then the gateway went away before running it (no lifespan: no worker)
    gw = TestClient(create_app(triton_voice.grpc_url, jobs_dir=jobs_dir))
    job_id = gw.post("/jobs", json={"text": text, "speaker": 1, "seed": 11}).json()["id"]
    # restarted where Triton cannot be reached: the job waits, then fails with the reason
    app = create_app(dead_url(), jobs_dir=jobs_dir, job_retry_s=1.0, timeout=5)
    with TestClient(app) as gw:
        seen = set()
        deadline = time.monotonic() + 120
        while (job := gw.get(f"/jobs/{job_id}").json())["state"] not in ("failed", "done"):
            seen.add(job["state"])
            assert time.monotonic() < deadline, job
            time.sleep(0.02)
        assert "waiting" in seen and job["state"] == "failed"
        assert "not reachable" in job["error"] and f"/jobs/{job_id}/resume" in job["error"]
        assert gw.get(f"/jobs/{job_id}/audio").status_code == 409
        partial = gw.get(f"/jobs/{job_id}/audio", params={"partial": "true"})
        assert partial.status_code == 200 and len(Audio.from_wav(partial.content)) == 0
    # Triton is back: resume goes on from the first missing sentence
    with TestClient(create_app(triton_voice.grpc_url, jobs_dir=jobs_dir)) as gw:
        assert gw.post(f"/jobs/{job_id}/resume").json()["state"] == "queued"
        job = poll(gw, job_id, ("done", "failed"))
        assert job["state"] == "done" and job["done"] == 4, job
        got = Audio.from_wav(gw.get(f"/jobs/{job_id}/audio").content).to_pcm16()
    assert close(got, one_shot(triton_voice.grpc_url, text, 11))


def test_cancel_purge_and_errors(triton_voice, tmp_path):
    with TestClient(create_app(triton_voice.grpc_url, jobs_dir=tmp_path / "jobs")) as gw:
        job = gw.post("/jobs", json={"text": LONG, "seed": 1}).json()
        cancelled = gw.delete(f"/jobs/{job['id']}").json()
        assert cancelled["state"] in ("cancelled", "done")
        assert [j["id"] for j in gw.get("/jobs").json()["jobs"]] == [job["id"]]
        r = gw.get("/jobs/0123456789abcdef0123456789abcdef")
        assert r.status_code == 404 and r.json()["status"] == 33
        assert gw.get("/jobs/../../etc").status_code == 404
        assert gw.post("/jobs", json={"text": "  "}).json()["status"] == 21
        assert gw.post("/jobs", json={"text": "你好。", "model": "nope"}).status_code == 404
        assert gw.post("/jobs", json={"text": "你好。", "speaker": "bob"}).json()["status"] == 13
        gw.delete(f"/jobs/{job['id']}", params={"purge": "true"})
        assert gw.get(f"/jobs/{job['id']}").status_code == 404
        assert not (tmp_path / "jobs" / job["id"]).exists()


def test_job_numbers_clause_pieces_and_mix_runs_as_one_shot(triton_voice, tmp_path):
    """A job speaks a sentence at a time; with CLAUSE_CHARS and MIX markup its pieces are the
    server's (tags do not count), so each keeps the seed it has in one-shot synthesis."""
    text = "[ZH]今天天气真不错，我们一起去公园散步吧，好吗？[ZH]你想喝点什么？我要一杯热茶。"
    knobs = {"language": "MIX", "clause_chars": 10}
    body = {"text": text, "model": triton_voice.voice, "speaker": "spk1", "seed": 3, **knobs}
    with TestClient(create_app(triton_voice.grpc_url, jobs_dir=tmp_path / "jobs")) as gw:
        r = gw.post("/jobs", json=body)
        assert r.status_code == 202, r.text
        done = poll(gw, r.json()["id"], ("done", "failed"))
        assert done["state"] == "done" and done["total"] == 5, done  # 3 clause pieces + 2
        got = Audio.from_wav(gw.get(f"/jobs/{done['id']}/audio").content).to_pcm16()
    with TTSClient(triton_voice.grpc_url) as tts:
        want = tts.synthesize(text, speaker="spk1", seed=3, **knobs).to_pcm16()
    assert close(got, want)
