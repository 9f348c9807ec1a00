"""The text -> audio ensemble on a real tritonserver against the in-process PyTorch reference."""

from __future__ import annotations

import concurrent.futures as cf
import json
import math

import numpy as np
import pytest
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

from tests.triton_fixtures import infer_http, wait_unloaded

pytestmark = pytest.mark.triton

TEXTS = [
    ("你好，世界！", dict(SEED=1)),
    ("今天天气真不错，我们一起去公园散步吧。明天见！", dict(SEED=5, SDP_RATIO=0.5)),
    ("他说：“3.5%的人在2024年1月2日来了。”", dict(SEED=9, SPEAKER="spk2", LENGTH_SCALE=1.3)),
]


@pytest.mark.parametrize("text, inputs", TEXTS)
def test_ensemble_equals_pytorch_reference(triton_voice, text, inputs):
    res = infer_http(triton_voice.http_url, triton_voice.voice, text, **inputs)
    audio = res.as_numpy("AUDIO")
    assert res.as_numpy("SAMPLE_RATE")[0] == 44100
    ref, durations = triton_voice.reference(
        text,
        speaker=inputs.get("SPEAKER", ""),
        sdp_ratio=inputs.get("SDP_RATIO", 0.2),
        length_scale=inputs.get("LENGTH_SCALE", 1.0),
        seed=inputs["SEED"],
    )
    assert audio.shape == ref.shape, "durations differ (audio lengths differ)"
    assert np.abs(audio - ref).max() <= 1e-4


def test_same_seed_same_audio_other_seed_differs(triton_voice):
    a = infer_http(triton_voice.http_url, triton_voice.voice, "你好。", SEED=3).as_numpy("AUDIO")
    b = infer_http(triton_voice.http_url, triton_voice.voice, "你好。", SEED=3).as_numpy("AUDIO")
    c = infer_http(
        triton_voice.http_url, triton_voice.voice, "你好。", SEED=4, NOISE_SCALE=0.9
    ).as_numpy("AUDIO")
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def _batch_sizes(url: str, model: str) -> dict[int, int]:
    client = http.InferenceServerClient(url)
    try:
        stats = client.get_inference_statistics(model)["model_stats"][0]
    finally:
        client.close()
    return {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats["batch_stats"]}


def test_concurrent_requests_are_batched_and_equal_unbatched(triton_voice):
    texts = ["你好。", "世界真大。", "我们一起去散步吧。", "明天见。", "谢谢你。", "好的。"]
    alone = [
        infer_http(triton_voice.http_url, triton_voice.voice, t, SEED=i).as_numpy("AUDIO")
        for i, t in enumerate(texts)
    ]
    # the decoder step runs its halves over BLS: the flow and vocoder models batch
    before = _batch_sizes(triton_voice.http_url, f"{triton_voice.voice}_flow")
    with cf.ThreadPoolExecutor(len(texts)) as pool:
        futures = [
            pool.submit(infer_http, triton_voice.http_url, triton_voice.voice, t, SEED=i)
            for i, t in enumerate(texts)
            for _ in range(2)
        ]
        together = [f.result().as_numpy("AUDIO") for f in futures]
    after = _batch_sizes(triton_voice.http_url, f"{triton_voice.voice}_flow")
    grown = {b: after[b] - before.get(b, 0) for b in after if after[b] > before.get(b, 0)}
    assert any(b > 1 for b in grown), f"no batch > 1 in flow stats: {grown}"
    for k, audio in enumerate(together):
        ref = alone[k // 2]
        assert audio.shape == ref.shape
        assert np.abs(audio - ref).max() <= 1e-4


BAD = [
    (dict(text=""), "TEXT is empty"),
    (dict(text="   \n"), "TEXT is empty"),
    (dict(text="，。！？"), "TEXT"),
    (dict(text="你好", SPEAKER="bob"), "unknown SPEAKER 'bob'"),
    (dict(text="你好", LANGUAGE="FR"), "unknown LANGUAGE 'FR'"),
    # NaN is never a default (leave the input out for that): it is refused like any bad number
    (dict(text="你好", SDP_RATIO=math.nan), "SDP_RATIO must be a number, got nan"),
    (dict(text="你好", SDP_RATIO=1.5), r"SDP_RATIO must be in \[0.0, 1.0\], got 1.5"),
    (dict(text="你好", NOISE_SCALE=math.inf), "NOISE_SCALE must be in"),
    (dict(text="你好", LENGTH_SCALE=-1.0), "LENGTH_SCALE must be in"),
    (dict(text="你好", SEED=-5), "SEED must be in"),
]


@pytest.mark.parametrize("inputs, message", BAD)
def test_bad_input_names_the_field_and_server_stays_ready(triton_voice, inputs, message):
    inputs = dict(inputs)
    text = inputs.pop("text")
    if message is None:
        assert (
            infer_http(triton_voice.http_url, triton_voice.voice, text, **inputs)
            .as_numpy("AUDIO")
            .size
            > 0
        )
    else:
        with pytest.raises(InferenceServerException, match=message) as err:
            infer_http(triton_voice.http_url, triton_voice.voice, text, **inputs)
        assert err.value.status() == "400"
    client = http.InferenceServerClient(triton_voice.http_url)
    try:
        assert client.is_server_ready() and client.is_model_ready(triton_voice.voice)
    finally:
        client.close()


def test_wrong_dtype_is_refused_with_the_field(triton_voice):
    client = http.InferenceServerClient(triton_voice.http_url)
    try:
        t = http.InferInput("TEXT", [1], "BYTES")
        t.set_data_from_numpy(np.array([b"hi"], dtype=object))
        s = http.InferInput("SDP_RATIO", [1], "FP64")
        s.set_data_from_numpy(np.array([0.5], np.float64))
        with pytest.raises(InferenceServerException, match="SDP_RATIO"):
            client.infer(triton_voice.voice, [t, s])
        assert client.is_server_ready()
    finally:
        client.close()


def test_voice_metadata_in_ensemble_config(triton_voice):
    client = http.InferenceServerClient(triton_voice.http_url)
    try:
        config = client.get_model_config(triton_voice.voice)
    finally:
        client.close()
    meta = json.loads(config["parameters"]["voice"]["string_value"])
    assert meta["speakers"] == {"spk0": 0, "spk1": 1, "spk2": 2}
    assert meta["sample_rate"] == 44100 and set(meta["languages"]) == {"ZH", "EN", "JP"}
    assert meta["models"][-2:] == [triton_voice.voice, f"{triton_voice.voice}_stream"]
    assert meta["speaker_defaults"]["spk0"]["sdp_ratio"] == 0.2


def test_second_voice_loads_and_unloads_while_first_serves(triton_voice, tiny_voice_dir):
    from tts_export.repository import RepositoryOptions, write_repository

    voice_dir, _ = tiny_voice_dir
    models = write_repository(voice_dir, triton_voice.repository, RepositoryOptions(name="second"))
    client = http.InferenceServerClient(triton_voice.http_url)
    try:
        with cf.ThreadPoolExecutor(2) as pool:
            busy = [
                pool.submit(infer_http, triton_voice.http_url, triton_voice.voice, "你好。", SEED=i)
                for i in range(4)
            ]
            for m in models:
                client.load_model(m)
            assert client.is_model_ready("second")
            a = infer_http(triton_voice.http_url, "second", "你好。", SEED=1).as_numpy("AUDIO")
            b = infer_http(triton_voice.http_url, triton_voice.voice, "你好。", SEED=1).as_numpy(
                "AUDIO"
            )
            assert np.array_equal(a, b)  # same weights, same seed
            for m in reversed(models):
                client.unload_model(m)
            assert all(f.result().as_numpy("AUDIO").size for f in busy)
        assert not client.is_model_ready("second")
        assert client.is_model_ready(triton_voice.voice)
    finally:
        client.close()
        wait_unloaded(triton_voice.http_url, models)


def test_stream_model_sends_windows_that_join_to_the_ensemble_audio(triton_voice):
    import queue

    import tritonclient.grpc as grpc

    text = "你好，世界！今天天气真不错。我们一起去公园散步吧。"
    whole = infer_http(triton_voice.http_url, triton_voice.voice, text, SEED=21).as_numpy("AUDIO")
    results: queue.Queue = queue.Queue()
    client = grpc.InferenceServerClient(triton_voice.grpc_url)
    try:
        client.start_stream(callback=lambda result, error: results.put((result, error)))
        t = grpc.InferInput("TEXT", [1], "BYTES")
        t.set_data_from_numpy(np.array([text.encode()], dtype=object))
        s = grpc.InferInput("SEED", [1], "INT64")
        s.set_data_from_numpy(np.array([21], np.int64))
        client.async_stream_infer(
            f"{triton_voice.voice}_stream", [t, s], enable_empty_final_response=True
        )
        chunks, pauses = [], []
        while True:
            result, error = results.get(timeout=120)
            assert error is None, error
            response = result.get_response()
            if (
                response.parameters.get("triton_final_response")
                and response.parameters["triton_final_response"].bool_param
            ):
                break
            chunks.append(result.as_numpy("AUDIO"))
            pauses.append(float(result.as_numpy("PAUSE_AFTER")[0]))
        client.stop_stream()
    finally:
        client.close()
    # one response per vocoder window; the pause after a sentence rides on its last window
    assert len(chunks) >= 3 and sum(p > 0 for p in pauses) == 2 and pauses[-1] == 0
    joined = np.concatenate(chunks)
    assert joined.shape == whole.shape
    assert np.abs(joined - whole).max() <= 1e-4


def test_graph_model_refuses_out_of_range_ids_and_keeps_batchmates(triton_voice):
    from tts_export import acoustic
    from vits2.random_voice import make_random_model, tiny_config

    feeds = {
        k: v.numpy()
        for k, v in acoustic.example_encoder_inputs(make_random_model(tiny_config()), 1, 9).items()
    }

    def call(values):
        tensors = []
        for name, value in values.items():
            value = value[:, None] if value.ndim == 1 else value
            t = http.InferInput(
                name, list(value.shape), "FP32" if value.dtype == np.float32 else "INT64"
            )
            t.set_data_from_numpy(value)
            tensors.append(t)
        client = http.InferenceServerClient(triton_voice.http_url)  # one per thread (gevent)
        try:
            return client.infer(f"{triton_voice.voice}_encoder", tensors)
        finally:
            client.close()

    bad = dict(feeds, phones=np.full_like(feeds["phones"], 500))
    with cf.ThreadPoolExecutor(2) as pool:
        good_f = pool.submit(call, feeds)
        with pytest.raises(
            InferenceServerException, match=r"'phones' values must be in \[0, 112\)"
        ):
            call(bad)
        assert good_f.result().as_numpy("durations").shape == (1, 9)
    client = http.InferenceServerClient(triton_voice.http_url)
    try:
        assert client.is_model_ready(f"{triton_voice.voice}_encoder")
    finally:
        client.close()
