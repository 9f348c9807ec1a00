"""BERT reference: hidden_states[-3], phone-level spread, the three slots of v2.3 inference."""

from __future__ import annotations

import pytest
import torch

from vits2.bert import BERT_DIM, BertFeatureExtractor, segment_bert, utterance_bert

TEXTS = {
    "ZH": "你好，世界。",
    "JP": "こんにちは、世界。",
    "EN": "Hello, world, I don't know!",
}


@pytest.fixture(scope="module")
def extractors(tiny_bert_dirs):
    return {lang: BertFeatureExtractor(path) for lang, path in tiny_bert_dirs.items()}


@pytest.mark.parametrize("lang", ["ZH", "JP", "EN"])
def test_layer_is_hidden_states_minus_3(lang, tiny_bert_dirs, extractors, frontend):
    from transformers import AutoModel

    (sent,) = frontend(TEXTS[lang], lang)
    seg = sent.segments[0]
    ex = extractors[lang]
    assert ex.truncated  # the last two layers are not run
    full = AutoModel.from_pretrained(str(tiny_bert_dirs[lang]), local_files_only=True).eval()
    inputs = {"input_ids": torch.tensor([seg.input_ids])}
    inputs["attention_mask"] = torch.tensor([seg.attention_mask])
    if seg.token_type_ids is not None:
        inputs["token_type_ids"] = torch.tensor([seg.token_type_ids])
    with torch.no_grad():
        states = full(**inputs, output_hidden_states=True).hidden_states
    assert len(states) == full.config.num_hidden_layers + 1
    got = ex.hidden(seg.input_ids, seg.attention_mask, seg.token_type_ids)
    torch.testing.assert_close(got, states[-3][0], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, states[-2][0], atol=1e-3)


@pytest.mark.parametrize("lang", ["ZH", "JP", "EN"])
def test_phone_level_spread(lang, extractors, frontend):
    (sent,) = frontend(TEXTS[lang], lang)
    seg = sent.segments[0]
    feats = segment_bert(seg, extractors[lang])
    assert feats.shape == (BERT_DIM, len(seg.phone_ids))
    assert feats.dtype == torch.float32
    hidden = extractors[lang].hidden(seg.input_ids, seg.attention_mask, seg.token_type_ids)
    # upstream: token i's feature repeated word2ph[i] times (word2ph after add_blank)
    upstream = torch.repeat_interleave(hidden, torch.tensor(seg.blank_word2ph), dim=0).T
    torch.testing.assert_close(feats, upstream, rtol=0, atol=0)


def test_utterance_bert_single_language(extractors, frontend):
    (sent,) = frontend(TEXTS["EN"], "EN")
    g = torch.Generator().manual_seed(7)
    zh, ja, en = utterance_bert(sent, extractors, g)
    p = len(sent.phone_ids)
    assert zh.shape == ja.shape == en.shape == (BERT_DIM, p)
    torch.testing.assert_close(en, segment_bert(sent.segments[0], extractors["EN"]))
    # the other slots are standard normal noise, drawn in slot order from the generator
    g = torch.Generator().manual_seed(7)
    torch.testing.assert_close(zh, torch.randn(BERT_DIM, p, generator=g))
    torch.testing.assert_close(ja, torch.randn(BERT_DIM, p, generator=g))
    assert abs(float(zh.std()) - 1.0) < 0.05
    # same seed, same features; another seed, other noise
    again = utterance_bert(sent, extractors, torch.Generator().manual_seed(7))
    assert all(torch.equal(a, b) for a, b in zip(again, (zh, ja, en), strict=True))
    other = utterance_bert(sent, extractors, torch.Generator().manual_seed(8))
    assert not torch.equal(other[0], zh) and torch.equal(other[2], en)


def test_utterance_bert_mixed(extractors, frontend):
    (sent,) = frontend("[ZH]你好[EN]hello world[JP]こんにちは", "MIX")
    zh, ja, en = utterance_bert(sent, extractors, torch.Generator().manual_seed(0))
    assert zh.shape == ja.shape == en.shape == (BERT_DIM, len(sent.phone_ids))
    start = 0
    for seg, slot in zip(sent.segments, (zh, en, ja), strict=True):
        own = segment_bert(seg, extractors[seg.language])[:, seg.kept]
        n = own.shape[1]
        torch.testing.assert_close(slot[:, start : start + n], own)
        start += n
    assert start == len(sent.phone_ids)


def test_missing_extractor_and_bad_folder(extractors, frontend, tmp_path):
    (sent,) = frontend(TEXTS["JP"], "JP")
    with pytest.raises(ValueError, match="no BERT for language JP"):
        utterance_bert(sent, {"ZH": extractors["ZH"]})
    with pytest.raises(FileNotFoundError, match="not a BERT model folder"):
        BertFeatureExtractor(tmp_path)
