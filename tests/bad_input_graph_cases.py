"""The bad-input corpus for the step models (encoder, decoder, BERT, noise, join): each
model's own tensors, wrong one way at a time. Used by tests/test_bad_input.py."""

from __future__ import annotations

import math

import numpy as np

from tests.bad_input_cases import (
    MAX_SEED,
    C,
    Case,
    F,
    P,
    T,
    bert_inputs,
    decoder_inputs,
    encoder_inputs,
    f32,
    i64,
    join_inputs,
    noise_inputs,
)

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
        "sdp-ratio-nan", "_encoder", encoder_inputs(sdp_ratio=f32(math.nan, (1, 1))), "'sdp_ratio'"
    ),
    Case(
        "noise-w-nan",
        "_encoder",
        encoder_inputs(noise_scale_w=f32(math.nan, (1, 1))),
        "'noise_scale_w'",
    ),
    Case(
        "bert-ja-nan", "_encoder", encoder_inputs(bert_ja=f32(math.nan, (1, 1024, P))), "'bert_ja'"
    ),
    Case(
        "sdp-ratio-fp64", "_encoder", encoder_inputs(sdp_ratio=np.full((1, 1), 0.5)), "'sdp_ratio'"
    ),
    Case("phones-empty", "_encoder", encoder_inputs(phones=i64(5, (1, 0))), "phones"),
    Case(
        "length-batch-mismatch",
        "_encoder",
        encoder_inputs(length_scale=f32(1, (2, 1))),
        "batch size does not match",
    ),
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
        "noise-scale-nan",
        "_decoder",
        decoder_inputs(noise_scale=f32(math.nan, (1, 1))),
        "'noise_scale'",
    ),
    Case(
        "noise-scale-batch-mismatch",
        "_decoder",
        decoder_inputs(noise_scale=f32(0.5, (2, 1))),
        "batch size does not match",
    ),
    Case(
        "noise-z-fp16",
        "_decoder",
        decoder_inputs(noise_z=np.zeros((1, C, F), np.float16)),
        "'noise_z'",
    ),
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
    Case("pitch-nan", "_join", join_inputs(pitch_scale=f32(math.nan, (2, 1))), "PITCH_SCALE"),
    Case(
        "pitch-per-sentence-differs",
        "_join",
        join_inputs(pitch_scale=np.array([[1.2], [1.1]], np.float32)),
        "pitch_scale must hold one value per sentence",
    ),  # fmt: skip
    Case("intonation-ok", "_join", join_inputs(intonation_scale=f32(0.5, (2, 1))), None),
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
