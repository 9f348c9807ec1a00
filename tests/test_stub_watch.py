"""A Python-backend stub killed under load comes back without a hand restart.

What Triton's Python backend does by itself when a stub dies (kill -9 of the vocoder's stub,
pip-bundled server, tried here): nothing. The server and the model stay READY while every
request through that model fails with "Stub process '<model>_0_0' is not healthy", for as long
as one waits. `StubWatch` (what `tts-serve` runs) notices, unloads the model, so that readiness
tells the truth, and loads it again. Requests in flight get a clear error; later ones succeed.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

from tts_server.supervise import memory_table, model_memory, model_stubs

pytestmark = [pytest.mark.triton, pytest.mark.slow]


def _inputs(i: int) -> list[http.InferInput]:
    text = http.InferInput("TEXT", [1], "BYTES")
    text.set_data_from_numpy(np.array(["你好，世界。".encode()], dtype=object))
    seed = http.InferInput("SEED", [1], "INT64")
    seed.set_data_from_numpy(np.array([i], np.int64))
    return [text, seed]


@pytest.fixture(scope="module")
def watched(tmp_path_factory, tiny_voice_dir):
    from tts_export.repository import write_repository
    from tts_server.tritonserver import TritonServer, health_endpoint, supervise

    root = tmp_path_factory.mktemp("watched")
    write_repository(tiny_voice_dir[0], root / "repo")
    server = TritonServer(root / "repo", load_models=["*"], log_path=root / "tritonserver.log")
    server.start()
    try:
        server.wait_ready(300)
        watch = supervise(server, poll_s=0.2)
        health = health_endpoint(server, watch, 0)
        server.health_url = f"http://127.0.0.1:{health.port}"
        yield server, watch
        health.close()
        watch.stop()
    finally:
        server.stop()


def test_memory_report_names_every_python_model(watched):
    server, _ = watched
    memory = model_memory(server.pid)
    assert {"tritonserver", "tiny_vocoder", "tiny_frontend", "tiny_bert_zh"} <= set(memory)
    assert all(mib > 0 for mib in memory.values())
    table = memory_table(memory)
    assert "tiny_vocoder" in table and table.splitlines()[-1].split()[0] == "total"


def test_a_killed_stub_is_reloaded_and_health_tells_the_truth_meanwhile(watched, capsys):
    server, watch = watched
    client = http.InferenceServerClient(server.http_address, network_timeout=120)
    assert client.infer("tiny", _inputs(0)).as_numpy("AUDIO").size > 0
    outcomes: list[tuple[float, float, str]] = []  # (sent, answered, "ok" or the error)
    readiness: list[tuple[float, bool]] = []
    stop = threading.Event()

    def load() -> None:
        c = http.InferenceServerClient(server.http_address, network_timeout=120)
        for i in range(2000):  # bounded; stopped by the test
            if stop.is_set():
                return
            sent = time.monotonic()
            try:
                c.infer("tiny", _inputs(i))
                outcomes.append((sent, time.monotonic(), "ok"))
            except InferenceServerException as e:
                outcomes.append((sent, time.monotonic(), e.message()))
                time.sleep(0.05)

    def probe() -> None:  # what a readiness probe sees: `tts-serve --health-port`'s /ready
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"{server.health_url}/ready", timeout=5) as r:
                    readiness.append((time.monotonic(), r.status == 200))
            except (urllib.error.URLError, OSError):  # 503: not ready
                readiness.append((time.monotonic(), False))
            time.sleep(0.05)

    threads = [threading.Thread(target=f, daemon=True) for f in (load, load, probe)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    (stub,) = model_stubs(server.pid)["tiny_vocoder"]
    killed_at = time.monotonic()
    stub.kill()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        # wait for what the asserts below read: successes of requests sent once the model was
        # back, not ones sent before (a request in flight at the kill may fail after ready_at)
        ready_at = watch.events[-1].ready_at if watch.events else None
        late = [o for sent, _, o in outcomes if ready_at and sent > ready_at and o == "ok"]
        if len(late) >= 4:
            break
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(timeout=130)
    event = watch.events[-1]
    failed = [o for _, answered, o in outcomes if answered > killed_at and o != "ok"]
    not_ready = [t for t, ready in readiness if t > killed_at and not ready]
    after = [o for sent, _, o in outcomes if event.ready_at and sent > event.ready_at]
    with capsys.disabled():
        print(
            f"\nstub kill: {event.describe()}; {len(failed)} requests failed meanwhile "
            f"({sorted({f[:60] for f in failed})}), server not ready for "
            f"{(max(not_ready) - min(not_ready)) if not_ready else 0:.1f} s, "
            f"{after.count('ok')}/{len(after)} requests sent after it succeeded"
        )
    assert event.model == "tiny_vocoder" and event.ready_at is not None, event.describe()
    assert event.ready_at - killed_at < 60
    assert not_ready, "readiness never told that a model was broken"
    assert all(
        "tiny_vocoder" in f or "unavailable" in f.lower() or "not ready" in f.lower()
        for f in failed
    ), failed[:3]
    assert after and all(o == "ok" for o in after), after[:3]
    assert client.is_server_ready() and client.is_model_ready("tiny_vocoder")
    with urllib.request.urlopen(f"{server.health_url}/ready", timeout=5) as r:
        assert r.status == 200
    client.close()


def test_a_model_unloaded_on_purpose_is_left_alone(watched):
    server, watch = watched
    client = http.InferenceServerClient(server.http_address, network_timeout=120)
    events = len(watch.events)
    client.unload_model("tiny_join")
    time.sleep(1.0)  # several polls
    assert len(watch.events) == events and not client.is_model_ready("tiny_join")
    client.load_model("tiny_join")
    time.sleep(1.0)
    assert len(watch.events) == events
    assert client.infer("tiny", _inputs(1)).as_numpy("AUDIO").size > 0
    client.close()


def test_readiness_stays_true_while_another_model_loads(watched):
    """Triton says not ready for as long as any model loads, though the loaded ones serve on;
    `/ready` (`tritonserver.serving`) does not pass that on: loading a second voice must not
    take the server out of service."""
    import tritonclient.grpc as grpcclient

    server, watch = watched
    events = len(watch.events)
    triton = grpcclient.InferenceServerClient(server.grpc_url)
    triton.unload_model("tiny_stream")
    deadline = time.monotonic() + 60
    while triton.is_model_ready("tiny_stream"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    load = threading.Thread(target=triton.load_model, args=("tiny_stream",))
    load.start()
    ours, theirs = [], []
    while load.is_alive():
        for url, seen in ((f"{server.health_url}/ready", ours),
                          (f"{server.http_url}/v2/health/ready", theirs)):  # fmt: skip
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    seen.append(r.status)
            except urllib.error.HTTPError as e:
                seen.append(e.code)
        time.sleep(0.05)
    load.join()
    assert triton.is_model_ready("tiny_stream") and len(watch.events) == events
    assert 400 in theirs, f"Triton never said not ready during the load: {theirs}"
    assert set(ours) == {200}, ours
    triton.close()
