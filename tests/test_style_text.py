"""Upstream v2.3's style text and per-request frontend profiles, end to end.

Style text: the text's phone-level BERT features become feature * (1 - w) + mean * w, where
mean is the style text's `hidden_states[-3]` averaged over all its tokens ([CLS] and [SEP]
included), exactly as upstream's get_bert_feature does. Checked against transformers run
directly, then through the reference, the in-process runner and the Triton ensemble."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.fixtures import TINY, require
from tts_contract.request import RequestError

TEXT = "今天天气很好，我们去公园散步吧。"
STYLE = "我非常生气！你怎么能这样对我？"


@pytest.fixture(scope="module")
def reference(tiny_voice_dir):
    from vits2.synthesize import Synthesizer

    voice_dir, berts = tiny_voice_dir
    return Synthesizer(require(TINY / "G_tiny.pth"), berts, voice_dir=voice_dir)


def _upstream_features(bert_dir, text_tokens: dict, phone_to_token, style: str, weight: float):
    """Upstream's formula, written out with transformers (hidden_states[-3], repeat per
    word2ph == gather by phone_to_token, mean over the style text's tokens)."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(bert_dir), local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(str(bert_dir), local_files_only=True)
    with torch.no_grad():
        res = model(**text_tokens, output_hidden_states=True)["hidden_states"][-3][0]
        style_inputs = tok(style, return_tensors="pt")
        style_res = model(**style_inputs, output_hidden_states=True)["hidden_states"][-3][0]
    mean = style_res.mean(0)
    phone = res[torch.as_tensor(phone_to_token)]
    return (phone * (1 - weight) + mean.repeat(len(phone_to_token), 1) * weight).T.numpy()


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.7, 1.0])
def test_style_mixing_equals_upstream_formula(reference, tiny_voice_dir, weight):
    from vits2.serving.request import parse_request

    pipeline = reference.pipeline
    req = parse_request(pipeline.voice, TEXT, seed=1, style_text=STYLE, style_text_weight=weight)
    (sentence,) = pipeline.sentences(req)
    (segment,) = sentence.segments
    ours = pipeline.segment_features([segment], reference._bert, req.style)[0]
    tokens = {
        "input_ids": torch.tensor([segment.input_ids]),
        "attention_mask": torch.tensor([segment.attention_mask]),
    }
    if segment.token_type_ids is not None:
        tokens["token_type_ids"] = torch.tensor([segment.token_type_ids])
    expected = _upstream_features(
        tiny_voice_dir[1]["ZH"], tokens, segment.phone_to_token, STYLE, weight
    )
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() <= 1e-5
    plain = pipeline.segment_features([segment], reference._bert)[0]
    if weight == 0.0:  # weight 0 is no style text at all, bit for bit
        assert np.array_equal(ours, plain)
    else:
        assert np.abs(ours - plain).max() > 1e-3


def test_absent_style_text_changes_nothing(reference):
    plain = reference(TEXT, seed=5).audio
    assert np.array_equal(
        reference(TEXT, seed=5, style_text="", style_text_weight=0.9).audio, plain
    )
    assert np.array_equal(reference(TEXT, seed=5, style_text=None).audio, plain)
    styled = reference(TEXT, seed=5, style_text=STYLE).audio
    # the style moves the features, so the durations too: other audio
    assert styled.shape != plain.shape or np.abs(styled - plain).max() > 1e-4


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(style_text_weight=1.5), r"STYLE_TEXT_WEIGHT must be in \[0.0, 1.0\]"),
        (dict(style_text_weight=float("nan")), "STYLE_TEXT_WEIGHT must be a number, got nan"),
        (dict(style_text="好" * 600), "STYLE_TEXT has 600 characters; at most 500"),
        (dict(style_text="a\x00b"), "STYLE_TEXT contains NUL"),
        (dict(profile="upstream-9.9"), "PROFILE: unknown frontend profile 'upstream-9.9'"),
    ],
)
def test_bad_style_and_profile_fields_are_refused(reference, fields, message):
    with pytest.raises(RequestError, match=message):
        reference(TEXT, seed=1, **fields)


def test_in_process_runner_equals_reference_with_style_text_and_profile(reference, tiny_voice_dir):
    from tts_runtime.inprocess import VoiceGraphs

    graphs = VoiceGraphs(tiny_voice_dir[0])
    fields = dict(style_text=STYLE, style_text_weight=0.5, profile="upstream-master")
    ours = graphs.synthesize(TEXT, seed=7, **fields)
    ref = reference(TEXT, seed=7, **fields).audio
    assert ours.shape == ref.shape and np.abs(ours - ref).max() <= 1e-4


def test_profile_override_reaches_the_frontend(reference):
    """A clock time: the improved profile reads it as a time, upstream-master garbles it."""
    text = "会议在15:30开始。"
    improved = reference(text, seed=1).sentences[0]
    master = reference(text, seed=1, profile="upstream-master").sentences[0]
    assert improved.phone_ids != master.phone_ids


@pytest.mark.triton
def test_ensemble_carries_style_text_and_profile(triton_voice):
    from tts_client.client import TTSClient

    fields = dict(style_text=STYLE, style_text_weight=0.6, profile="upstream-master")
    with TTSClient(triton_voice.grpc_url) as client:
        served = client.synthesize(TEXT, triton_voice.voice, seed=11, **fields).samples
        plain = client.synthesize(TEXT, triton_voice.voice, seed=11).samples
    ref, _ = triton_voice.reference(TEXT, seed=11, **fields)
    assert served.shape == ref.shape and np.abs(served - ref).max() <= 1e-4
    assert served.shape != plain.shape or np.abs(served - plain).max() > 1e-4
