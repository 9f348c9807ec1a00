"""`tts-export repository --stream-instances`: how many requests the decoupled stream model
streams at once. One instance streams one request at a time, so a second concurrent stream's
first audio waits for the whole first stream (measured with perf_analyzer on the full-size
voice: first audio p50 0.57 s alone, 4.7 s beside another stream)."""

from __future__ import annotations

import threading

import pytest
from typer.testing import CliRunner

from tests.test_repository_configs import _config
from tests.triton_fixtures import VOICE, running_triton, stream_results

TEXT = "今天天气很好，我们一起去公园散步吧。路边的花开得正艳，孩子们在草地上追逐嬉戏。"


def test_stream_instances_reach_the_stream_model_only(tmp_path, tiny_voice_dir):
    from tts_export.cli import app

    args = ["repository", "--voice", str(tiny_voice_dir[0]), "--out", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--stream-instances", "3"])
    assert result.exit_code == 0, result.output
    count = lambda m: _config(tmp_path / f"{VOICE}_{m}" / "config.pbtxt").instance_group[0].count  # noqa: E731
    assert count("stream") == 3 and count("frontend") == 1 and count("vocoder") == 1
    result = CliRunner().invoke(app, [*args, "--stream-instances", "0"])
    assert result.exit_code != 0 and "--stream-instances" in result.output


@pytest.mark.triton
@pytest.mark.slow
def test_two_instances_stream_two_requests_at_once(tmp_path, tiny_voice_dir):
    """With 2 instances, the second stream's first audio comes before the first one ends."""
    from tts_export.repository import RepositoryOptions, write_repository

    repo = tmp_path / "repo"
    write_repository(tiny_voice_dir[0], repo, RepositoryOptions(stream_instances=2))
    with running_triton(repo, tmp_path / "tritonserver.log", 300) as server:
        inputs = {"TEXT": TEXT * 3, "LANGUAGE": "ZH", "SEED": 7}
        stream_results(server.grpc_url, f"{VOICE}_stream", inputs)  # warm-up
        arrivals: list[list[float]] = [[], []]
        errors: list[BaseException] = []

        def one(i: int) -> None:
            try:
                stream_results(server.grpc_url, f"{VOICE}_stream", inputs, arrivals[i])
            except BaseException as e:  # noqa: BLE001 - reported by the test below
                errors.append(e)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    assert not errors, errors
    assert all(len(a) >= 3 for a in arrivals), [len(a) for a in arrivals]
    early, late = sorted(arrivals, key=lambda a: a[0])
    assert late[0] < early[-1], "the second stream waited for the first to end"
