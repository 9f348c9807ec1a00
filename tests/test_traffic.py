"""Real traffic on a real tritonserver (127.0.0.1): every request a new sentence length, the
runtime and precision `auto` picks on this CPU, memory that stays bounded, and an overloaded
server that answers "busy, retry later" at once instead of queueing without bound.

- Varied soak: 600 requests at concurrency 16 on the tiny voice, texts of 1-60 characters
  in ZH/JP/EN with distinct seeds (so each has its own frame count); zero errors; the server's
  total resident memory at the end within +10% of what it was after the first third (the
  onnxruntime arenas grow to the largest batch x length they meet, which takes a few hundred
  requests: 2,000 requests grew +3.4% after the first 10%, 600 grew +9.6%); sampled
  answers equal the same request sent alone.
- Overload: 64 long requests at concurrency 64 against a queue of 2: every request either
  succeeds or gets the retryable busy error within the stated time, and the server is ready and
  serving afterwards.

Every loop is bounded by a count and a wall-clock deadline.
"""

from __future__ import annotations

import concurrent.futures as cf
import random
import threading
import time

import numpy as np
import pytest
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

from tests.test_soak import server_rss_mib
from tts_client.errors import ServerBusyError, map_error

pytestmark = [pytest.mark.triton, pytest.mark.slow]

CONCURRENCY = 16
PARITY = 1e-4
ZH = "今天天气很好我们一起去公园散步吧春天的花开得正好孩子们在草地上奔跑老人们坐在长椅上聊天"
JP = "きょうはとてもいい天気ですね公園を散歩しましょう桜の花がきれいに咲いています子供たちが走っています"
EN = (
    "the quick brown fox jumps over the lazy dog while a small bird sings in the old tree "
    "and children laugh in the park near the river"
)


def varied_text(rng: random.Random) -> tuple[str, str]:
    """(text, language): a slice of 1-60 characters of one language's pool, ending with a
    full stop, so that almost every request has its own length."""
    language, pool = rng.choice((("ZH", ZH), ("JP", JP), ("EN", EN)))
    n = rng.randint(1, 60)
    start = rng.randint(0, len(pool) - 1)
    text = (pool * 3)[start : start + n].strip() or pool[:n]
    if language == "EN" and not any(c.isalpha() for c in text):
        text = "hello"
    return text + ("." if language == "EN" else "。"), language


def _inputs(text: str, language: str, seed: int) -> list[http.InferInput]:
    values = {
        "TEXT": ("BYTES", np.array([text.encode()], dtype=object)),
        "LANGUAGE": ("BYTES", np.array([language.encode()], dtype=object)),
        "SEED": ("INT64", np.array([seed], np.int64)),
    }
    out = []
    for name, (dtype, value) in values.items():
        tensor = http.InferInput(name, [1], dtype)
        tensor.set_data_from_numpy(value)
        out.append(tensor)
    return out


@pytest.fixture(scope="module")
def auto_server(tmp_path_factory, tiny_voice_dir):
    """The tiny voice in a repository written as `tts-export repository` writes it by
    default (`--graph-runtime auto`: this CPU's runtimes, precisions and shape plans)."""
    from tts_export.repository import RepositoryOptions, write_repository
    from tts_server.tritonserver import TritonServer

    root = tmp_path_factory.mktemp("auto")
    models = write_repository(
        tiny_voice_dir[0], root / "repo", RepositoryOptions(graph_runtime="auto", name="auto")
    )
    server = TritonServer(root / "repo", load_models=["*"], log_path=root / "tritonserver.log")
    server.start()
    try:
        server.wait_ready(600)
        yield server, "auto", models
    finally:
        server.stop()


def test_varied_soak_600_new_lengths_bounded_memory(auto_server, capsys):
    server, voice, _ = auto_server
    rng = random.Random(23)
    requests = [(*varied_text(rng), 1000 + i) for i in range(600)]
    first_third = len(requests) // 3
    errors: list[tuple[int, str]] = []
    audio_seconds = [0.0]
    marks: dict[str, float] = {}
    lock = threading.Lock()
    done = [0]
    deadline = time.monotonic() + 1500

    def worker(indices: list[int]) -> None:
        client = http.InferenceServerClient(server.http_address, network_timeout=120)
        try:
            for i in indices:
                if time.monotonic() > deadline:
                    return
                text, language, seed = requests[i]
                try:
                    audio = client.infer(voice, _inputs(text, language, seed)).as_numpy("AUDIO")
                    seconds = audio.size / 44100
                except InferenceServerException as e:
                    with lock:
                        errors.append((i, f"{e.status()} {e.message()}"))
                    continue
                with lock:
                    if i % 100 == 0:
                        sampled[i] = audio
                    audio_seconds[0] += seconds
                    done[0] += 1
                    if done[0] == first_third:
                        marks["third"] = server_rss_mib(server.pid)[0]
        finally:
            client.close()

    sampled: dict[int, np.ndarray] = {}
    before, procs = server_rss_mib(server.pid)
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(CONCURRENCY) as pool:
        chunks = [list(range(k, len(requests), CONCURRENCY)) for k in range(CONCURRENCY)]
        list(pool.map(worker, chunks))
    elapsed = time.monotonic() - t0
    after, _ = server_rss_mib(server.pid)
    # sampled answers equal the same request alone (no mixed-up rows under load)
    client = http.InferenceServerClient(server.http_address, network_timeout=120)
    try:
        for i, loaded in sampled.items():
            text, language, seed = requests[i]
            alone = client.infer(voice, _inputs(text, language, seed)).as_numpy("AUDIO")
            assert alone.shape == loaded.shape and np.abs(alone - loaded).max() <= PARITY, i
    finally:
        client.close()
    third = marks.get("third", before)
    with capsys.disabled():
        print(
            f"\nvaried soak: {done[0]} requests ({len({len(t) for t, _, _ in requests})} text "
            f"lengths, distinct seeds) at concurrency {CONCURRENCY} in {elapsed:.0f} s "
            f"({done[0] / elapsed:.1f} req/s, {audio_seconds[0] / elapsed:.1f} audio s/s), "
            f"{len(errors)} errors; server RSS ({procs} processes) {before:.0f} -> {third:.0f} "
            f"after a third -> {after:.0f} MiB at the end ({(after - third) / third:+.1%})"
        )
    assert not errors, errors[:5]
    assert done[0] == len(requests), f"only {done[0]} of {len(requests)} within the deadline"
    assert after <= 1.10 * third, (
        f"RSS {third:.0f} -> {after:.0f} MiB after a third of the requests"
    )


LONG = "今天天气很好，我们一起去公园散步吧。春天的花开得正好，孩子们在草地上奔跑。" * 3
BUSY_WITHIN_S = 10.0
"""How soon a refused request hears so: Triton refuses past the queue size at once, and after
the queue timeout (5 s here) for one that waited."""


@pytest.fixture(scope="module")
def small_queue_server(tmp_path_factory, tiny_voice_dir):
    from tts_export.repository import RepositoryOptions, write_repository
    from tts_server.tritonserver import TritonServer

    root = tmp_path_factory.mktemp("queue")
    opts = RepositoryOptions(name="q", max_queue=2, queue_timeout_s=5.0)
    write_repository(tiny_voice_dir[0], root / "repo", opts)
    server = TritonServer(root / "repo", load_models=["*"], log_path=root / "tritonserver.log")
    server.start()
    try:
        server.wait_ready(600)
        yield server
    finally:
        server.stop()


def test_overload_is_answered_busy_at_once_and_the_server_recovers(small_queue_server, capsys):
    server = small_queue_server

    def one(i: int) -> tuple[str, float, str]:
        client = http.InferenceServerClient(server.http_address, network_timeout=300)
        t0 = time.monotonic()
        try:
            client.infer("q", _inputs(LONG, "ZH", i))
            return "ok", time.monotonic() - t0, ""
        except InferenceServerException as e:
            return type(map_error(e)).__name__, time.monotonic() - t0, e.message()
        finally:
            client.close()

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(64) as pool:
        outcomes = list(pool.map(one, range(64)))
    elapsed = time.monotonic() - t0
    ok = [o for o in outcomes if o[0] == "ok"]
    busy = [o for o in outcomes if o[0] == ServerBusyError.__name__]
    other = [o for o in outcomes if o[0] not in ("ok", ServerBusyError.__name__)]
    with capsys.disabled():
        print(
            f"\noverload: 64 long requests at concurrency 64 against queues of 2: {len(ok)} "
            f"served (slowest {max((o[1] for o in ok), default=0):.1f} s), {len(busy)} busy "
            f"(slowest answer {max((o[1] for o in busy), default=0):.2f} s), {len(other)} other, "
            f"all done in {elapsed:.0f} s"
        )
    assert not other, other[:3]
    assert ok and busy, "the test must both serve and refuse"
    assert all(o[1] <= BUSY_WITHIN_S for o in busy), sorted(o[1] for o in busy)[-3:]
    client = http.InferenceServerClient(server.http_address, network_timeout=120)
    try:
        assert client.is_server_ready()
        assert client.infer("q", _inputs("你好。", "ZH", 1)).as_numpy("AUDIO").size > 0
    finally:
        client.close()


def test_the_client_retries_busy_answers_with_backoff(small_queue_server):
    """TTSClient sends a busy-refused request again (it never ran), with backoff, so that
    callers of a saturated server get their audio, only later."""
    from tts_client.client import TTSClient

    server = small_queue_server
    results: list = []

    def speak(i: int) -> None:
        with TTSClient(server.http_address, protocol="http", retries=8, backoff=0.5) as tts:
            results.append(tts.synthesize(LONG, voice="q", seed=i, language="ZH"))

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(results) == 12 and all(a.samples.size > 0 for a in results)
