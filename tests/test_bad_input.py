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
from dataclasses import dataclass

import numpy as np
import pytest
import tritonclient.grpc as grpc
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.triton

MAX_SEED = 2**63 - 1
C = 32  # inter_channels of the tiny fixture voice
P, T, F = 7, 6, 14  # phones, BERT tokens, frames of the direct-model base requests
TRITON_TYPES = {
    np.dtype(np.int64): "INT64",
    np.dtype(np.int32): "INT32",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
    np.dtype(np.bool_): "BOOL",
    np.dtype(object): "BYTES",
}


def s(value: str | bytes) -> np.ndarray:
    return np.array([value if isinstance(value, bytes) else value.encode()], dtype=object)


def f32(value: float, shape=(1,)) -> np.ndarray:
    return np.full(shape, value, np.float32)


def i64(value: int, shape=(1,)) -> np.ndarray:
    return np.full(shape, value, np.int64)


@dataclass
class Case:
    id: str
    model: str
    """Model suffix after the voice name: "" is the ensemble, "_encoder" a step."""
    inputs: dict[str, np.ndarray]
    field: str | None
    """Regex the error message must contain (the field); None: the request must succeed."""
    status: str = "400"
    bug: str | None = None


def encoder_inputs(**changes: np.ndarray) -> dict[str, np.ndarray]:
    feeds = {
        "phones": i64(5, (1, P)),
        "tones": i64(0, (1, P)),
        "languages": i64(0, (1, P)),
        "phone_lengths": i64(P, (1, 1)),
        "bert_zh": f32(0.0, (1, 1024, P)),
        "bert_ja": f32(0.0, (1, 1024, P)),
        "bert_en": f32(0.0, (1, 1024, P)),
        "sid": i64(0, (1, 1)),
        "sdp_ratio": f32(0.2, (1, 1)),
        "noise_scale_w": f32(0.8, (1, 1)),
        "length_scale": f32(1.0, (1, 1)),
        "noise_sdp": f32(0.5, (1, 2, P)),
    }
    return {**feeds, **changes}


def decoder_inputs(**changes: np.ndarray) -> dict[str, np.ndarray]:
    feeds = {
        "m_p": f32(0.1, (1, C, P)),
        "logs_p": f32(-1.0, (1, C, P)),
        "g": f32(0.0, (1, C, 1)),
        "durations": i64(2, (1, P)),
        "frame_lengths": i64(F, (1, 1)),
        "noise_scale": f32(0.6, (1, 1)),
        "noise_z": f32(0.3, (1, C, F)),
    }
    return {**feeds, **changes}


def bert_inputs(**changes: np.ndarray) -> dict[str, np.ndarray]:
    feeds = {
        "input_ids": np.array([[101, 872, 1962, 511, 679, 102]], np.int64),
        "attention_mask": i64(1, (1, T)),
        "token_type_ids": i64(0, (1, T)),
        "phone_to_token": np.array([[0, 1, 1, 2, 2, 3, 3, 5]], np.int64),
    }
    return {**feeds, **changes}


def noise_inputs(**changes: np.ndarray) -> dict[str, np.ndarray]:
    return {"frame_lengths": i64(F, (1, 1)), "seeds": i64(1, (1, 1)), **changes}


def join_inputs(**changes: np.ndarray) -> dict[str, np.ndarray]:
    feeds = {
        "audio": f32(0.01, (2, 4096)),
        "audio_lengths": np.array([[4096], [2048]], np.int64),
        "pause_after": np.array([[0.2], [0.0]], np.float32),
    }
    return {**feeds, **changes}


def text(value: str | bytes, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    return {"TEXT": s(value), **inputs}


HELLO = "你好。"
ENSEMBLE = [
    # -- TEXT ---------------------------------------------------------------------------------
    Case("tabs-ideographic-space", "", text("\t\r\n\u3000 \u200b"), "TEXT"),
    Case("ascii-punctuation-only", "", text("...!!!???---"), "TEXT"),
    Case("100k-characters", "", text("你好。" * 33334), r"TEXT has 100002 characters; at most"),
    Case("too-many-sentences", "", text("好。" * 20), r"TEXT has 20 sentences; at most 16"),
    Case("nul-character", "", text("你好\x00世界"), "TEXT contains NUL"),
    Case("control-characters", "", text("你\x07好\x1b[31m世\x7f界\u202e"), None),
    Case("invalid-utf8", "", text(b"\xff\xfe\xfa"), "TEXT is not valid UTF-8"),
    Case("truncated-utf8", "", text("你好".encode()[:-1]), "TEXT is not valid UTF-8"),
    Case("emoji-only", "", text("😀😀😀"), "TEXT"),
    Case("emoji-inside-chinese", "", text("你好😀世界"), None),
    Case("thai", "", text("สวัสดีครับ"), "TEXT"),
    Case("arabic", "", text("مرحبا بالعالم"), "TEXT"),
    Case("thai-auto", "", text("สวัสดีครับ", LANGUAGE=s("AUTO")), "TEXT"),
    Case("arabic-as-english", "", text("مرحبا بالعالم", LANGUAGE=s("EN")), "TEXT"),
    Case("chinese-as-english", "", text("你好", LANGUAGE=s("EN")), "TEXT"),
    Case("mix-unknown-tag", "", text("[FR]bonjour[ZH]你好", LANGUAGE=s("MIX")), None),
    # -- SPEAKER / LANGUAGE -------------------------------------------------------------------
    Case("speaker-id-out-of-range", "", text(HELLO, SPEAKER=s("3")), "unknown SPEAKER '3'"),
    Case("speaker-negative-id", "", text(HELLO, SPEAKER=s("-1")), "unknown SPEAKER '-1'"),
    Case("speaker-id-ok", "", text(HELLO, SPEAKER=s("2")), None),
    Case("speaker-invalid-utf8", "", text(HELLO, SPEAKER=s(b"\xff")), "SPEAKER is not valid"),
    Case("speaker-huge", "", text(HELLO, SPEAKER=s("9" * 400)), "unknown SPEAKER"),
    Case("language-lowercase-ja", "", text("こんにちは", LANGUAGE=s("ja")), None),
    Case("language-invalid-utf8", "", text(HELLO, LANGUAGE=s(b"\xff")), "LANGUAGE is not valid"),
    Case("language-unknown", "", text(HELLO, LANGUAGE=s("KLINGON")), "unknown LANGUAGE"),
    # -- scales -------------------------------------------------------------------------------
    Case("sdp-minus-inf", "", text(HELLO, SDP_RATIO=f32(-math.inf)), r"SDP_RATIO must be in"),
    Case("noise-w-nan-is-default", "", text(HELLO, NOISE_SCALE_W=f32(math.nan)), None),
    Case("noise-w-huge", "", text(HELLO, NOISE_SCALE_W=f32(1e30)), r"NOISE_SCALE_W must be in"),
    Case("noise-negative", "", text(HELLO, NOISE_SCALE=f32(-0.1)), r"NOISE_SCALE must be in"),
    Case("length-zero", "", text(HELLO, LENGTH_SCALE=f32(0.0)), r"LENGTH_SCALE must be in"),
    Case("length-max-ok", "", text(HELLO, LENGTH_SCALE=f32(5.0)), None),
    Case("length-float-max", "", text(HELLO, LENGTH_SCALE=f32(3e38)), r"LENGTH_SCALE must be in"),
    # -- SEED ---------------------------------------------------------------------------------
    Case("seed-int64-max", "", text("你好。世界。再见。", SEED=i64(MAX_SEED)), None),
    # 2**63 does not fit INT64: it can only arrive as its two's complement, -2**63
    Case("seed-2**63-wrapped", "", text(HELLO, SEED=i64(-(2**63))), r"SEED must be in"),
    Case("seed-minus-one-random", "", text(HELLO, SEED=i64(-1)), None),
    # -- dtypes, shapes, names ----------------------------------------------------------------
    Case("seed-int32", "", text(HELLO, SEED=np.array([5], np.int32)), "'SEED'"),
    Case("text-fp32", "", {"TEXT": f32(1.0)}, "'TEXT'"),
    Case("text-two-elements", "", {"TEXT": np.array([b"a", b"b"], dtype=object)}, "'TEXT'"),
    Case("sdp-2d", "", text(HELLO, SDP_RATIO=f32(0.5, (1, 1))), "'SDP_RATIO'"),
    Case("unknown-input", "", text(HELLO, FOO=i64(1)), "'FOO'"),
    Case("missing-text", "", {"SEED": i64(1)}, "TEXT"),
]

FRONTEND = [
    Case("empty-text", "_frontend", text(""), "TEXT is empty"),
    Case("invalid-utf8", "_frontend", text(b"\xc3\x28"), "TEXT is not valid UTF-8"),
    Case("seed-2**63-wrapped", "_frontend", text(HELLO, SEED=i64(-(2**63))), "SEED must be in"),
    Case("sdp-fp64", "_frontend", text(HELLO, SDP_RATIO=np.array([0.5])), "'SDP_RATIO'"),
    Case("speaker-unknown", "_frontend", text(HELLO, SPEAKER=s("bob")), "unknown SPEAKER"),
    Case("length-nan-is-default", "_frontend", text(HELLO, LENGTH_SCALE=f32(math.nan)), None),
]

ENCODER = [
    Case("ok", "_encoder", encoder_inputs(), None),
    Case("phones-fp32", "_encoder", encoder_inputs(phones=f32(5.0, (1, P))), "'phones'"),
    Case("phones-112", "_encoder", encoder_inputs(phones=i64(112, (1, P))), "'phones'"),
    Case("phones-negative", "_encoder", encoder_inputs(phones=i64(-1, (1, P))), "'phones'"),
    Case("phones-huge", "_encoder", encoder_inputs(phones=i64(10**12, (1, P))), "'phones'"),
    Case("tones-12", "_encoder", encoder_inputs(tones=i64(12, (1, P))), "'tones'"),
    Case("languages-3", "_encoder", encoder_inputs(languages=i64(3, (1, P))), "'languages'"),
    Case("sid-3", "_encoder", encoder_inputs(sid=i64(3, (1, 1))), "'sid'"),
    Case("sid-negative", "_encoder", encoder_inputs(sid=i64(-1, (1, 1))), "'sid'"),
    Case(
        "phone-lengths-over-axis",
        "_encoder",
        encoder_inputs(phone_lengths=i64(100, (1, 1))),
        "'phone_lengths'",
    ),  # fmt: skip
    Case(
        "phone-lengths-zero",
        "_encoder",
        encoder_inputs(phone_lengths=i64(0, (1, 1))),
        "'phone_lengths'",
    ),  # fmt: skip
    Case(
        "bert-phone-axis-mismatch",
        "_encoder",
        encoder_inputs(bert_zh=f32(0, (1, 1024, P + 2))),
        "'bert_zh'",
    ),  # fmt: skip
    Case("bert-512-channels", "_encoder", encoder_inputs(bert_zh=f32(0, (1, 512, P))), "'bert_zh'"),
    Case("sid-batch-mismatch", "_encoder", encoder_inputs(sid=i64(0, (2, 1))), "'sid'"),
    Case(
        "length-scale-nan",
        "_encoder",
        encoder_inputs(length_scale=f32(math.nan, (1, 1))),
        "'length_scale'",
    ),  # fmt: skip
    Case(
        "length-scale-inf",
        "_encoder",
        encoder_inputs(length_scale=f32(math.inf, (1, 1))),
        "'length_scale'",
    ),  # fmt: skip
    Case(
        "length-scale-negative",
        "_encoder",
        encoder_inputs(length_scale=f32(-1, (1, 1))),
        "'length_scale'",
    ),  # fmt: skip
    Case(
        "length-scale-huge",
        "_encoder",
        encoder_inputs(length_scale=f32(1e6, (1, 1))),
        "'length_scale'",
    ),  # fmt: skip
    Case("sdp-ratio-2", "_encoder", encoder_inputs(sdp_ratio=f32(2, (1, 1))), "'sdp_ratio'"),
    Case(
        "empty-phone-axis",
        "_encoder",
        {
            k: (v[..., :0] if v.ndim > 2 or k in ("phones", "tones", "languages") else v)
            for k, v in encoder_inputs().items()
        },
        "phone",
    ),  # fmt: skip
    Case(
        "noise-sdp-nan",
        "_encoder",
        encoder_inputs(noise_sdp=f32(math.nan, (1, 2, P))),
        "'noise_sdp'",
    ),  # fmt: skip
    Case(
        "bert-inf",
        "_encoder",
        encoder_inputs(bert_en=f32(math.inf, (1, 1024, P))),
        "'bert_en'",
    ),  # fmt: skip
]

DECODER = [
    Case("ok", "_decoder", decoder_inputs(), None),
    Case(
        "frame-lengths-over-axis",
        "_decoder",
        decoder_inputs(frame_lengths=i64(100, (1, 1))),
        "'frame_lengths'",
    ),  # fmt: skip
    Case(
        "frame-lengths-negative",
        "_decoder",
        decoder_inputs(frame_lengths=i64(-1, (1, 1))),
        "'frame_lengths'",
    ),  # fmt: skip
    Case(
        "durations-negative", "_decoder", decoder_inputs(durations=i64(-5, (1, P))), "'durations'"
    ),
    Case("durations-huge", "_decoder", decoder_inputs(durations=i64(10**9, (1, P))), "'durations'"),
    Case(
        "noise-scale-inf",
        "_decoder",
        decoder_inputs(noise_scale=f32(math.inf, (1, 1))),
        "'noise_scale'",
    ),  # fmt: skip
    Case("wrong-channel-count", "_decoder", decoder_inputs(m_p=f32(0, (1, 16, P))), "'m_p'"),
    Case("durations-fp32", "_decoder", decoder_inputs(durations=f32(2, (1, P))), "'durations'"),
    Case(
        "empty-frame-axis",
        "_decoder",
        decoder_inputs(noise_z=f32(0, (1, C, 0)), frame_lengths=i64(0, (1, 1))),
        "frame",
    ),  # fmt: skip
    Case(
        "noise-z-nan",
        "_decoder",
        decoder_inputs(noise_z=f32(math.nan, (1, C, F))),
        "'noise_z'",
    ),  # fmt: skip
]

BERT = [
    Case("ok", "_bert_zh", bert_inputs(), None),
    Case(
        "input-ids-over-vocab", "_bert_zh", bert_inputs(input_ids=i64(10**7, (1, T))), "'input_ids'"
    ),  # fmt: skip
    Case("input-ids-negative", "_bert_zh", bert_inputs(input_ids=i64(-1, (1, T))), "'input_ids'"),
    Case(
        "phone-to-token-past-tokens",
        "_bert_zh",
        bert_inputs(phone_to_token=i64(99, (1, 4))),
        "'phone_to_token'",
    ),  # fmt: skip
    Case(
        "phone-to-token-negative",
        "_bert_zh",
        bert_inputs(phone_to_token=i64(-1, (1, 4))),
        "'phone_to_token'",
    ),  # fmt: skip
    Case(
        "token-type-5", "_bert_zh", bert_inputs(token_type_ids=i64(5, (1, T))), "'token_type_ids'"
    ),  # fmt: skip
    Case(
        "mask-token-mismatch",
        "_bert_zh",
        bert_inputs(attention_mask=i64(1, (1, T + 1))),
        "'attention_mask'",
    ),  # fmt: skip
    Case("mask-2", "_bert_zh", bert_inputs(attention_mask=i64(2, (1, T))), "'attention_mask'"),
    Case("ids-fp32", "_bert_zh", bert_inputs(input_ids=f32(1, (1, T))), "'input_ids'"),
    Case(
        "1000-tokens",
        "_bert_zh",
        bert_inputs(
            input_ids=i64(1, (1, 1000)),
            attention_mask=i64(1, (1, 1000)),
            token_type_ids=i64(0, (1, 1000)),
        ),
        "token",
    ),  # fmt: skip
]

NOISE = [
    Case("ok", "_noise", noise_inputs(), None),
    Case("seed-int64-max", "_noise", noise_inputs(seeds=i64(MAX_SEED, (1, 1))), None),
    Case("frames-too-many", "_noise", noise_inputs(frame_lengths=i64(10**7, (1, 1))), "frames"),
    Case("missing-seeds", "_noise", {"frame_lengths": i64(F, (1, 1))}, "'seeds'"),
    Case(
        "frames-negative",
        "_noise",
        noise_inputs(frame_lengths=i64(-5, (1, 1))),
        "frame_lengths",
    ),  # fmt: skip
    Case("seed-negative", "_noise", noise_inputs(seeds=i64(-1, (1, 1))), "seeds"),
    Case("rows-mismatch", "_noise", noise_inputs(seeds=i64(1, (2, 1))), "seeds"),
    Case(
        "no-rows",
        "_noise",
        noise_inputs(frame_lengths=i64(0, (0, 1)), seeds=i64(0, (0, 1))),
        "frame_lengths",
    ),  # fmt: skip
]

JOIN = [
    Case("ok", "_join", join_inputs(), None),
    Case("audio-fp64", "_join", join_inputs(audio=np.zeros((2, 4096))), "'audio'"),
    Case(
        "lengths-past-audio",
        "_join",
        join_inputs(audio_lengths=i64(10**6, (2, 1))),
        "audio_lengths",
    ),  # fmt: skip
    Case(
        "lengths-negative",
        "_join",
        join_inputs(audio_lengths=i64(-1, (2, 1))),
        "audio_lengths",
    ),  # fmt: skip
    Case(
        "pause-nan",
        "_join",
        join_inputs(pause_after=f32(math.nan, (2, 1))),
        "pause_after",
    ),  # fmt: skip
    Case(
        "pause-negative",
        "_join",
        join_inputs(pause_after=f32(-1, (2, 1))),
        "pause_after",
    ),  # fmt: skip
    Case("audio-nan", "_join", join_inputs(audio=f32(math.nan, (2, 4096))), "audio"),
    Case(
        "rows-mismatch",
        "_join",
        join_inputs(audio_lengths=i64(5, (3, 1))),
        "audio_lengths",
    ),  # fmt: skip
]

CORPUS = ENSEMBLE + FRONTEND + ENCODER + DECODER + BERT + NOISE + JOIN


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


@pytest.mark.parametrize(
    "arrays, message",
    [(text("   "), "TEXT is empty"), (text(HELLO, SDP_RATIO=f32(7.0)), "SDP_RATIO must be in")],
)
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
    (dict(text="你好", sdp_ratio=math.nan), "InvalidInputError", "SDP_RATIO"),
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
]
CLIENT_BUGS = [
    # client-side bugs: raw Python errors instead of InvalidInputError naming the field
    (dict(text="你好", seed="abc"), "InvalidInputError", "SEED"),
    (dict(text="你好", seed=2**63), "InvalidInputError", "SEED"),
    (dict(text="你好\ud800"), "InvalidInputError", "TEXT"),
]


@pytest.mark.parametrize(
    "kwargs, error, field",
    CLIENT_CASES + [pytest.param(*c) for c in CLIENT_BUGS],
)
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_client_boundary(triton_voice, protocol, kwargs, error, field):
    client_mod = pytest.importorskip("tts_client.client", reason="TTSClient not written yet")
    errors = pytest.importorskip("tts_client.errors")
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
        "encoder": ENCODER,
        "decoder": DECODER,
        "bert_zh": BERT,
        "noise": NOISE,
        "join": JOIN,
    }
    total = len(CORPUS) + len(GRPC_CASES) + 2 + len(CLIENT_CASES) + len(CLIENT_BUGS)
    print(
        f"bad-input corpus: {total} cases ("
        + ", ".join(f"{k} {len(v)}" for k, v in groups.items())
        + f", grpc {len(GRPC_CASES)}, stream 2, client {len(CLIENT_CASES) + len(CLIENT_BUGS)}"
        + f" x 2 protocols); known bugs: {sum(1 for c in CORPUS if c.bug) + len(CLIENT_BUGS)}"
    )
    assert total >= 100
