"""The bad-input corpus, as data: what each Triton model of a voice is sent and which field its
error must name (None: the request must succeed). Used by tests/test_bad_input.py."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tts_contract.request import (
    ADJUST_SCALES,
    MAX_SEED,  # noqa: E402
    SCALES,
)

C = 32  # inter_channels of the tiny fixture voice
P, T, F = 7, 6, 14  # phones, BERT tokens, frames of the direct-model base requests
TRITON_TYPES = {
    np.dtype(np.int64): "INT64",
    np.dtype(np.int32): "INT32",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
    np.dtype(np.float16): "FP16",
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
    # -- CLAUSE_CHARS -------------------------------------------------------------------------
    Case("clause-chars-ok", "", text("你好，世界，今天天气真不错。", CLAUSE_CHARS=i64(4)), None),
    Case("clause-chars-negative", "", text(HELLO, CLAUSE_CHARS=i64(-1)), r"CLAUSE_CHARS must be"),
    Case("clause-chars-huge", "", text(HELLO, CLAUSE_CHARS=i64(2**62)), r"CLAUSE_CHARS must be"),
    Case("clause-chars-fp32", "", text(HELLO, CLAUSE_CHARS=f32(4.0)), "'CLAUSE_CHARS'"),
    Case("clause-chars-frontend", "_frontend", text(HELLO, CLAUSE_CHARS=i64(-5)), "CLAUSE_CHARS"),
    # -- dtypes, shapes, names ----------------------------------------------------------------
    Case("seed-int32", "", text(HELLO, SEED=np.array([5], np.int32)), "'SEED'"),
    Case("text-fp32", "", {"TEXT": f32(1.0)}, "'TEXT'"),
    Case("text-two-elements", "", {"TEXT": np.array([b"a", b"b"], dtype=object)}, "'TEXT'"),
    Case("sdp-2d", "", text(HELLO, SDP_RATIO=f32(0.5, (1, 1))), "'SDP_RATIO'"),
    Case("unknown-input", "", text(HELLO, FOO=i64(1)), "'FOO'"),
    Case("missing-text", "", {"SEED": i64(1)}, "TEXT"),
    # conditioning inputs a 2.3 voice does not take (the other releases: test_served_releases)
    *(
        Case(f"{name.lower()}-to-2.3", "", text(HELLO, **{name: value}), rf"{name} is not an input")
        for name, value in (
            ("EMOTION", s("Sad")),
            ("EMOTION_ID", i64(3)),
            ("REFERENCE_AUDIO", s(b"RIFF")),
            ("STYLE", s("Happy")),
            ("STYLE_WEIGHT", f32(math.nan)),
        )
    ),
    Case("empty-emotion-is-left-out", "", text(HELLO, EMOTION=s("")), None),
]

FRONTEND = [
    Case("empty-text", "_frontend", text(""), "TEXT is empty"),
    Case("invalid-utf8", "_frontend", text(b"\xc3\x28"), "TEXT is not valid UTF-8"),
    Case("seed-2**63-wrapped", "_frontend", text(HELLO, SEED=i64(-(2**63))), "SEED must be in"),
    Case("sdp-fp64", "_frontend", text(HELLO, SDP_RATIO=np.array([0.5])), "'SDP_RATIO'"),
    Case("speaker-unknown", "_frontend", text(HELLO, SPEAKER=s("bob")), "unknown SPEAKER"),
]

# -- numbers at the edges (issue 16): NaN is never a default, at every entry point -------------
NUMBERS = [
    *(
        Case(f"{sc.name}-nan{where}", where, text(HELLO, **{sc.input: f32(math.nan)}), sc.input)
        for sc in SCALES
        for where in ("", "_frontend")
    ),
    # -0.0 equals 0.0: inside [0, 1] for SDP_RATIO, below LENGTH_SCALE's 0.1
    Case("sdp-minus-zero", "", text(HELLO, SDP_RATIO=f32(-0.0)), None),
    Case("length-minus-zero", "", text(HELLO, LENGTH_SCALE=f32(-0.0)), "LENGTH_SCALE must be in"),
    # the smallest float32 subnormal: a fine noise scale, far too short a length scale
    Case("noise-subnormal", "", text(HELLO, NOISE_SCALE=f32(1e-45)), None),
    Case("length-subnormal", "", text(HELLO, LENGTH_SCALE=f32(1e-45)), "LENGTH_SCALE must be in"),
    # FP16 / FP64 where FP32 is declared
    Case("sdp-fp16", "", text(HELLO, SDP_RATIO=np.array([0.5], np.float16)), "'SDP_RATIO'"),
    Case("noise-fp64", "", text(HELLO, NOISE_SCALE=np.array([0.5])), "'NOISE_SCALE'"),
    Case("length-fp16", "_frontend", text(HELLO, LENGTH_SCALE=np.array([1], np.float16)), "'LENGTH_SCALE'"),
    # empty tensors
    Case("text-empty-tensor", "", {"TEXT": np.array([], dtype=object)}, "'TEXT'"),
    Case("sdp-empty-tensor", "", text(HELLO, SDP_RATIO=f32(0.5, (0,))), "'SDP_RATIO'"),
    Case("seed-empty-tensor", "_frontend", text(HELLO, SEED=i64(1, (0,))), "SEED"),
    # Style-Bert-VITS2's pronunciation controls (issue 24)
    *(
        Case(f"{sc.name}-{bad}", "", text(HELLO, **{sc.input: f32(value)}), sc.input)
        for sc in ADJUST_SCALES
        for bad, value in (("nan", math.nan), ("inf", math.inf), ("over", sc.high + 1))
    ),
    Case("pitch-1.2", "", text(HELLO, PITCH_SCALE=f32(1.2), INTONATION_SCALE=f32(0.5)), None),
    Case("given-phones-2.3", "", text(HELLO, GIVEN_PHONES=s("_ a _"), GIVEN_TONES=s("0 0 0")),
         "GIVEN_PHONES / GIVEN_TONES are Style-Bert-VITS2's"),
    Case("given-tones-only-2.3", "_frontend", text(HELLO, GIVEN_TONES=s("0 1 0")),
         "release 2.3"),
    Case("given-empty", "", text(HELLO, GIVEN_PHONES=s(""), GIVEN_TONES=s("")), None),
]  # fmt: skip
STREAM = [
    (text("   "), "TEXT is empty"),
    (text(HELLO, SDP_RATIO=f32(7.0)), "SDP_RATIO must be in"),
    *((text(HELLO, **{sc.input: f32(math.nan)}), f"{sc.input} must be a number") for sc in SCALES),
    (text(HELLO, PITCH_SCALE=f32(1.2)), "move the F0 of the whole waveform"),
]
"""(inputs, message) for the decoupled stream model, which answers over a gRPC stream."""
