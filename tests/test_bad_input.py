"""A bad-input corpus sent to every boundary of a real tritonserver serving the tiny voice.

Boundaries: the public ensemble `tiny`, each of its models called directly with tritonclient
(`tiny_frontend`, `tiny_bert_zh`, `tiny_encoder`, `tiny_noise`, `tiny_decoder`, `tiny_join`),
the decoupled `tiny_stream` over gRPC, and the client library (`TTSClient`).

The contract (docs/triton.md, design "Bad input"): bad input is refused as INVALID_ARG (HTTP
400 / gRPC INVALID_ARGUMENT) with a message naming the field, or (unsupported scripts, odd
but harmless characters) gives a correct result: finite audio in [-1, 1]. Never a crash, an
HTTP 500, garbage output or a hang; the server and every model stay ready afterwards.

Cases may carry `bug=` (a known contract break): they then run as non-strict xfail
naming the fix, so the suite stays green and they turn XPASS once fixed.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import tritonclient.grpc as grpc
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

from tests.bad_input_cases import (
    ENSEMBLE,
    FRONTEND,
    HELLO,
    MAX_SEED,
    NUMBERS,
    STREAM,
    TRITON_TYPES,
    Case,
    P,
    encoder_inputs,
    i64,
    text,
)
from tests.bad_input_graph_cases import BERT, DECODER, ENCODER, JOIN, NOISE
from tts_contract.request import SCALES

pytestmark = pytest.mark.triton

CORPUS = ENSEMBLE + FRONTEND + NUMBERS + ENCODER + DECODER + BERT + NOISE + JOIN


def _params(cases: list[Case]):
    return [
        pytest.param(c, id=f"{c.model.strip('_') or 'ensemble'}:{c.id}", marks=_marks(c))
        for c in cases
    ]


def _marks(case: Case):
    return [pytest.mark.xfail(reason=case.bug, strict=False)] if case.bug else []


def http_inputs(arrays: dict[str, np.ndarray]) -> list[http.InferInput]:
    tensors = []
    for name, value in arrays.items():
        t = http.InferInput(name, list(value.shape), TRITON_TYPES[value.dtype])
        t.set_data_from_numpy(value)
        tensors.append(t)
    return tensors


def all_models(voice: str) -> list[str]:
    steps = ["frontend", "bert_zh", "bert_jp", "bert_en", "encoder", "noise", "decoder", "join"]
    return [voice, f"{voice}_stream"] + [f"{voice}_{m}" for m in steps]


def assert_everything_ready(url: str, voice: str) -> None:
    client = http.InferenceServerClient(url)
    try:
        assert client.is_server_ready()
        not_ready = [m for m in all_models(voice) if not client.is_model_ready(m)]
        assert not not_ready, f"models no longer ready: {not_ready}"
    finally:
        client.close()


def assert_sane_outputs(result, model_suffix: str) -> None:
    """A success must be a correct-looking result, not garbage."""
    for out in result.get_response()["outputs"]:
        value = result.as_numpy(out["name"])
        if value.dtype.kind == "f":
            assert np.isfinite(value).all(), f"{out['name']} holds NaN/inf"
        if out["name"] in ("durations", "frame_lengths", "audio_lengths"):
            assert (value >= 0).all(), f"{out['name']} is negative: {value.min()}"
    if model_suffix == "":
        audio = result.as_numpy("AUDIO")
        assert audio.size > 0 and np.abs(audio).max() <= 1.0


@pytest.mark.parametrize("case", _params(CORPUS))
def test_bad_input_corpus(triton_voice, case: Case):
    model = triton_voice.voice + case.model
    client = http.InferenceServerClient(triton_voice.http_url, network_timeout=120)
    try:
        if case.field is None:
            assert_sane_outputs(client.infer(model, http_inputs(case.inputs)), case.model)
        else:
            with pytest.raises(InferenceServerException) as err:
                client.infer(model, http_inputs(case.inputs))
            message = err.value.message()
            assert err.value.status() == case.status, f"HTTP {err.value.status()}: {message}"
            assert re.search(case.field, message), message
    finally:
        client.close()
    assert_everything_ready(triton_voice.http_url, triton_voice.voice)


def test_unknown_voice_is_not_found(triton_voice):
    client = http.InferenceServerClient(triton_voice.http_url)
    try:
        with pytest.raises(InferenceServerException, match="'no_such_voice'") as err:
            client.infer("no_such_voice", http_inputs(text(HELLO)))
        assert err.value.status() == "404"
    finally:
        client.close()
    assert_everything_ready(triton_voice.http_url, triton_voice.voice)


def test_bad_and_good_requests_in_one_dynamic_batch(triton_voice):
    """Bad requests batched with good ones fail alone: the good ones keep their results."""
    import concurrent.futures as cf

    model = f"{triton_voice.voice}_encoder"
    good = encoder_inputs()
    bads = [encoder_inputs(tones=i64(12, (1, P))), encoder_inputs(sid=i64(7, (1, 1)))]

    def call(arrays):
        client = http.InferenceServerClient(triton_voice.http_url)
        try:
            return client.infer(model, http_inputs(arrays)).as_numpy("durations")
        finally:
            client.close()

    alone = call(good)
    with cf.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(call, a) for a in [good, *bads] * 2]
        for k, fut in enumerate(futures):
            if k % 3 == 0:
                assert np.array_equal(fut.result(), alone)
            else:
                with pytest.raises(InferenceServerException, match="'tones'|'sid'") as err:
                    fut.result()
                assert err.value.status() == "400"
    assert_everything_ready(triton_voice.http_url, triton_voice.voice)


GRPC_CASES = [
    ("", text(""), "TEXT is empty"),
    ("", text(HELLO, SEED=i64(-(2**63))), "SEED must be in"),
    ("_encoder", encoder_inputs(phones=i64(500, (1, P))), "'phones'"),
]


@pytest.mark.parametrize("suffix, arrays, message", GRPC_CASES)
def test_grpc_reports_invalid_argument(triton_voice, suffix, arrays, message):
    client = grpc.InferenceServerClient(triton_voice.grpc_url)
    try:
        tensors = []
        for name, value in arrays.items():
            t = grpc.InferInput(name, list(value.shape), TRITON_TYPES[value.dtype])
            t.set_data_from_numpy(value)
            tensors.append(t)
        with pytest.raises(InferenceServerException, match=message) as err:
            client.infer(triton_voice.voice + suffix, tensors, client_timeout=120)
        assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
    finally:
        client.close()


@pytest.mark.parametrize("arrays, message", STREAM)
def test_stream_model_sends_the_error(triton_voice, arrays, message):
    import queue

    results: queue.Queue = queue.Queue()
    client = grpc.InferenceServerClient(triton_voice.grpc_url)
    try:
        client.start_stream(callback=lambda result, error: results.put((result, error)))
        tensors = []
        for name, value in arrays.items():
            t = grpc.InferInput(name, list(value.shape), TRITON_TYPES[value.dtype])
            t.set_data_from_numpy(value)
            tensors.append(t)
        client.async_stream_infer(f"{triton_voice.voice}_stream", tensors)
        result, error = results.get(timeout=60)  # bounded: a hung stream fails here
        assert result is None and error is not None
        assert message in error.message()  # a streamed error carries no status code
        client.stop_stream()
    finally:
        client.close()
    assert_everything_ready(triton_voice.http_url, triton_voice.voice)


# -- client-side boundary ----------------------------------------------------------------------
CLIENT_CASES = [
    (dict(text=b"bytes"), TypeError, None),
    (dict(text=None), TypeError, None),
    *((dict(text="你好", **{sc.name: math.nan}), "InvalidInputError", sc.input) for sc in SCALES),
    *((dict(text="你好", **{sc.name: -math.inf}), "InvalidInputError", sc.input) for sc in SCALES),
    (dict(text="你好", sdp_ratio=-0.0, noise_scale=1e-45), None, None),
    (dict(text="你好", length_scale="fast"), "InvalidInputError", "LENGTH_SCALE"),
    (dict(text="你好", seed=1.5), "InvalidInputError", "SEED"),
    (dict(text="你好", seed=math.inf), "InvalidInputError", "SEED"),
    (dict(text="你好", sdp_ratio=1.5), "InvalidInputError", "SDP_RATIO"),
    (dict(text="你好", speaker="bob"), "UnknownSpeakerError", "SPEAKER"),
    (dict(text="你好", speaker=7), "UnknownSpeakerError", "SPEAKER"),
    (dict(text="你好", language="FR"), "InvalidInputError", "LANGUAGE"),
    (dict(text=""), "InvalidInputError", "TEXT"),
    (dict(text="你\x00好"), "InvalidInputError", "TEXT"),
    (dict(text="😀"), "InvalidInputError", "TEXT"),
    (dict(text="你好", voice="no_such_voice"), "UnknownVoiceError", None),
    (dict(text="你好", seed=MAX_SEED), None, None),
    # once raw Python errors, now InvalidInputError naming the field
    (dict(text="你好", seed="abc"), "InvalidInputError", "SEED"),
    (dict(text="你好", seed=2**63), "InvalidInputError", "SEED"),
    (dict(text="你好\ud800"), "InvalidInputError", "TEXT"),
]


@pytest.mark.parametrize(
    "kwargs, error, field",
    CLIENT_CASES,
)
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_client_boundary(triton_voice, protocol, kwargs, error, field):
    from tts_client import client as client_mod
    from tts_client import errors

    url = triton_voice.grpc_url if protocol == "grpc" else triton_voice.http_url
    kwargs = {"voice": triton_voice.voice, **kwargs}
    with client_mod.TTSClient(url, protocol=protocol, timeout=120, retries=0) as tts:
        if error is None:
            audio = tts.synthesize(**kwargs)
            assert audio.samples.size and np.isfinite(audio.samples).all()
            return
        kind = error if isinstance(error, type) else getattr(errors, error)
        with pytest.raises(kind) as err:
            tts.synthesize(**kwargs)
        if field:
            assert err.value.field == field, err.value.message
        assert tts.ready(triton_voice.voice)


def test_corpus_size():
    """The corpus report: one line in the -s output; keeps the count from silently shrinking."""
    groups = {
        "ensemble": ENSEMBLE,
        "frontend": FRONTEND,
        "numbers": NUMBERS,
        "encoder": ENCODER,
        "decoder": DECODER,
        "bert_zh": BERT,
        "noise": NOISE,
        "join": JOIN,
    }
    total = len(CORPUS) + len(GRPC_CASES) + len(STREAM) + len(CLIENT_CASES)
    print(
        f"bad-input corpus: {total} cases ("
        + ", ".join(f"{k} {len(v)}" for k, v in groups.items())
        + f", grpc {len(GRPC_CASES)}, stream {len(STREAM)}, client {len(CLIENT_CASES)}"
        + f" x 2 protocols); known bugs: {sum(1 for c in CORPUS if c.bug)}"
    )
    assert total >= 100
