"""/models/add with a training checkpoint (issue 17): the upstream tiny G_*.pth becomes a task
(export, verify, repository, load) against the session's real tritonserver, polled over HTTP;
the voice it adds serves the PyTorch reference's audio. Plus the refusals and a failing task."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from tests.fixtures import TINY, require
from tests.triton_fixtures import wait_unloaded
from tts_client.client import TTSClient

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from tts_gateway.app import create_app  # noqa: E402

pytestmark = pytest.mark.triton

KEY = {"X-API-Key": "k"}
TEXT = "今天天气真不错。我们一起去公园散步吧！"
NAME = "run_G_tiny"  # <folder of config.json>_<checkpoint stem>


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A training run as upstream lays it out: run/config.json, run/models/G_tiny.pth."""
    root = tmp_path_factory.mktemp("runs")
    (root / "run" / "models").mkdir(parents=True)
    shutil.copy2(require(TINY / "G_tiny.pth"), root / "run" / "models" / "G_tiny.pth")
    shutil.copy2(TINY / "config.json", root / "run" / "config.json")
    return root


def _app(triton_voice, root, bert_dirs=None):
    return create_app(
        triton_voice.grpc_url, api_key="k", roots=[root], repository=triton_voice.repository,
        bert_dirs=bert_dirs or {},
    )  # fmt: skip


def _poll(client: TestClient, task_id: str, timeout: float = 600.0) -> tuple[dict, list[str]]:
    """The finished task and the stages seen while it ran."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/models/add/{task_id}", headers=KEY)
        assert r.status_code == 200, r.text
        task = r.json()
        if task["stage"] and task["stage"] not in seen:
            seen.append(task["stage"])
        if task["state"] in ("done", "failed"):
            return task, seen
        assert time.monotonic() < deadline, f"task still {task['state']} after {timeout} s"
        time.sleep(0.1)


def _forget(triton_voice, name: str) -> None:
    with TTSClient(triton_voice.grpc_url) as client:
        if any(v.name == name and v.ready for v in client.voices()):
            client.unload_voice(name)
    wait_unloaded(triton_voice.http_url, [p.name for p in triton_voice.repository.glob(f"{name}*")])
    for p in triton_voice.repository.glob(f"{name}*"):
        shutil.rmtree(p)


def test_checkpoint_is_exported_verified_loaded_and_serves_the_reference(
    triton_voice, root, tiny_bert_dirs
):
    ckpt = root / "run" / "models" / "G_tiny.pth"
    try:
        with TestClient(_app(triton_voice, root, tiny_bert_dirs)) as gw:
            t0 = time.perf_counter()
            r = gw.get("/models/add", params={"model_path": str(ckpt)}, headers=KEY)
            answered = time.perf_counter() - t0
            assert r.status_code == 202, r.text
            first = r.json()
            assert first["state"] in ("queued", "running") and first["name"] == NAME
            assert first["url"] == f"/models/add/{first['id']}"
            # the same checkpoint again while it runs: the same task, not a second export
            again = gw.get("/models/add", params={"model_path": str(ckpt)}, headers=KEY)
            assert again.status_code == 202 and again.json()["id"] == first["id"]

            task, seen = _poll(gw, first["id"])
            assert task["state"] == "done", task["message"]
            print(f"\nanswered in {answered:.2f} s; stages seen {seen}; {task['stages']}")
            assert seen[-1] == "load" and all(s in ("export", "verify", "repository", "load")
                                              for s in seen)  # fmt: skip
            assert all(s["state"] == "done" for s in task["stages"].values())
            assert task["status"] == 0 and task["detail"] == "模型添加成功"
            info = task["Data"]["model_info"]
            assert info["name"] == NAME and info["model_path"] == str(ckpt)
            assert info["config_path"] == str(root / "run" / "config.json")
            assert info["spk2id"] == {"spk0": 0, "spk1": 1, "spk2": 2}
            model_id = task["Data"]["model_id"]
            assert model_id in {int(k) for k in gw.get("/models/info", headers=KEY).json()}
            # the loaded checkpoint leaves get_unloaded, as upstream's scan does
            assert gw.get("/models/get_local", headers=KEY).json() == {"run": ["models/G_tiny.pth"]}
            assert gw.get("/models/get_unloaded", headers=KEY).json() == {}
            # added again once loaded: answered at once with its id (upstream's reference)
            r = gw.get("/models/add", params={"model_path": str(ckpt)}, headers=KEY)
            assert r.status_code == 200 and r.json()["Data"]["model_id"] == model_id
            params = {"text": TEXT, "model_id": model_id, "speaker_name": "spk1", "seed": 7}
            assert gw.get("/voice", params=params, headers=KEY).status_code == 200

        with TTSClient(triton_voice.grpc_url) as tts:
            audio = tts.synthesize(TEXT, voice=NAME, speaker="spk1", seed=7).samples
        ref, _ = triton_voice.reference(TEXT, "spk1", seed=7)
        assert audio.shape == ref.shape
        err = float(np.abs(audio - ref).max())
        print(f"added voice vs PyTorch reference: max|err| {err:.2e}")
        assert err <= 1e-4
    finally:
        _forget(triton_voice, NAME)


def test_refusals_and_a_failing_task(triton_voice, root, tmp_path, tiny_bert_dirs, monkeypatch):
    ckpt = str(root / "run" / "models" / "G_tiny.pth")
    with TestClient(_app(triton_voice, root)) as gw:  # no BERT folders configured
        r = gw.get("/models/add", params={"model_path": ckpt}, headers=KEY)
        body = r.json()
        assert (
            r.status_code == 400 and body["status"] == 16 and "--bert LANG=DIR" in body["message"]
        )
        outside = gw.get("/models/add", params={"model_path": str(TINY / "G_tiny.pth")},
                         headers=KEY)  # fmt: skip
        assert outside.status_code == 403 and outside.json()["status"] == 31
        missing = gw.get("/models/add/0123", headers=KEY)
        assert missing.status_code == 404 and missing.json()["status"] == 33

    bad = root / "broken" / "G_5.pth"
    bad.parent.mkdir()
    bad.write_bytes(b"not a checkpoint")
    with TestClient(_app(triton_voice, root, tiny_bert_dirs)) as gw:
        r = gw.get("/models/add", params={"model_path": str(bad)}, headers=KEY)
        assert r.status_code == 400 and r.json()["status"] == 15  # no config.json near it
        shutil.copy2(TINY / "config.json", bad.parent / "config.json")
        r = gw.get("/models/add", params={"model_path": str(bad), "name": "broken"}, headers=KEY)
        assert r.status_code == 202
        task, _ = _poll(gw, r.json()["id"], timeout=120)
        assert task["state"] == "failed" and task["status"] == 16 and task["stage"] == "export"
        assert task["stages"]["export"]["state"] == "failed"
        assert task["message"].startswith("export failed: ") and str(bad) in task["message"]
        assert not list(triton_voice.repository.glob("broken*"))

        # the thin client install (./client[gateway]) has no `tts-export`: 501, what to install
        monkeypatch.setattr("tts_gateway.exporter.COMMAND", "tts-export-not-installed")
        r = gw.get("/models/add", params={"model_path": ckpt}, headers=KEY)
        assert r.status_code == 501 and "full project" in r.json()["message"]


def test_cli_gateway_bert_takes_lang_equals_dir():
    from typer.testing import CliRunner

    from tts_gateway.cli import app

    result = CliRunner().invoke(app, ["--bert", "bert/chinese"])
    assert result.exit_code == 2 and "LANG=DIR" in result.output


def test_user_dict_is_checked_before_anything_is_written(triton_voice, root):
    """/models/add?user_dict=: a bad line is named (status 16), a CSV outside the roots is
    refused (status 31); nothing reaches the repository."""
    voice = root / "exported"
    if not voice.exists():
        shutil.copytree(triton_voice.voice_dir, voice)
    csv = root / "bad_dict.csv"
    csv.write_text(
        "虹猫丸,,,8609,名詞,固有名詞,一般,*,*,*,虹猫丸,ニャンマル,ニャンマル,9/4,*\n",
        encoding="utf-8",
    )
    params = {"model_path": str(voice), "name": "with_dict", "user_dict": str(csv)}
    with TestClient(_app(triton_voice, root)) as gw:
        r = gw.get("/models/add", params=params, headers=KEY)
        body = r.json()
        assert r.status_code == 400 and body["status"] == 16, r.text
        assert "bad_dict.csv line 1: the accent (field 14) '9/4'" in body["message"]
        outside = gw.get(
            "/models/add", params={**params, "user_dict": str(TINY / "config.json")}, headers=KEY
        )
        assert outside.status_code == 403 and outside.json()["status"] == 31
    assert not list(triton_voice.repository.glob("with_dict*"))
