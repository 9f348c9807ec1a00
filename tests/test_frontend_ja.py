"""Japanese frontend: normalisation, pyopenjtalk readings, accent tones, char-token spread."""

from __future__ import annotations

from pathlib import Path

import pytest

from vits2.text import SYMBOL_TO_ID, clean_text
from vits2.text.japanese import (
    align_tones,
    hira_to_kata,
    hiragana_to_phones,
    kata_to_hira,
    number_to_kanji,
    text_normalize,
)


def test_dictionary_is_bundled():
    import pyopenjtalk

    dict_dir = Path(pyopenjtalk.OPEN_JTALK_DICT_DIR.decode())
    assert dict_dir.is_dir() and (dict_dir / "sys.dic").is_file()
    assert Path(pyopenjtalk.__file__).parent in dict_dir.parents  # shipped in the wheel


@pytest.mark.parametrize(
    ("number", "kanji"),
    [
        ("0", "零"),
        ("10", "十"),
        ("11", "十一"),
        ("123", "百二十三"),
        ("1000", "千"),
        ("1234", "千二百三十四"),
        ("10000", "一万"),
        ("20000000", "二千万"),
        ("100000000", "一億"),
        ("3.14", "三点一四"),
    ],
)
def test_number_to_kanji(number, kanji):
    assert number_to_kanji(number) == kanji


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("こんにちは、世界！", "こんにちは,世界!"),
        ("「はい」と言った。", "'はい'と言った."),
        ("123円です", "百二十三円です"),
        ("abcテスト", "テスト"),
        ("ＡＢＣ　テスト☃", "テスト"),
    ],
)
def test_text_normalize(text, expected):
    assert text_normalize(text) == expected


def test_kana_to_phones():
    assert kata_to_hira("トウキョウ") == "とうきょう"
    # as jaconv (upstream's kana conversion): iteration marks convert, ヷ..ヺ do not
    assert kata_to_hira("ヴァヽヾヷヺー") == "ゔぁゝゞヷヺー"
    assert hira_to_kata("ゔぁゝゞー") == "ヴァヽヾー"
    assert hiragana_to_phones("きょう") == ["ky", "o", "u"]
    assert hiragana_to_phones("こーひー") == ["k", "o", "o", "h", "i", "i"]
    assert hiragana_to_phones("ほんと") == ["h", "o", "n", "t", "o"]  # ん is "n" in v2.3
    assert hiragana_to_phones("きって") == ["k", "i", "q", "t", "e"]
    assert hiragana_to_phones("ゔぁ") == ["v", "a"]
    assert hiragana_to_phones("ちゃ") == ["ch", "a"]


def test_align_tones_lifts_falling_words():
    # a word that falls after its first phone: H then L
    assert align_tones([["a", "m", "e"]], [("a", -1), ("m", 0), ("e", 0)]) == [1, 0, 0]
    # a word that rises after its first mora: L then H
    assert align_tones([["a", "m", "e"]], [("a", 0), ("m", 1), ("e", 0)]) == [0, 0, 1]


@pytest.mark.parametrize(
    ("text", "tones"),
    [
        ("雨", [1, 0, 0]),  # a-me: high-low (atamadaka)
        ("飴", [0, 1, 1]),  # a-me: low-high (heiban)
        ("箸", [1, 1, 0, 0]),  # ha-shi: high-low
        ("橋", [0, 0, 1, 1]),  # ha-shi: low-high
    ],
)
def test_accent_tones(text, tones, jp_tokenizer):
    _, phones, got, _ = clean_text(text, "JP", tokenizer=jp_tokenizer)
    assert got[1:-1] == tones, phones


@pytest.mark.parametrize(
    "text",
    [
        "こんにちは、世界ー！",
        "東京タワーへ行きましょう...",
        "「はい」と言った。",
        "ヴァイオリン!?",
        "私は学生です。2024年に1,234円払った",
        "ぼくはーーーー",
        "ーあ",
        "薔薇の𠮷野家、々〆",
    ],
)
def test_g2p_contract(text, jp_tokenizer):
    norm, phones, tones, word2ph = clean_text(text, "JP", tokenizer=jp_tokenizer)
    assert len(word2ph) == len(jp_tokenizer(norm)["input_ids"])
    assert sum(word2ph) == len(phones) == len(tones)
    assert phones[0] == phones[-1] == "_"
    assert all(p in SYMBOL_TO_ID for p in phones)
    assert set(tones) <= {0, 1}


def test_long_vowels_and_readings(jp_tokenizer):
    _, phones, _, word2ph = clean_text("東京タワー", "JP", tokenizer=jp_tokenizer)
    assert phones == ["_", "t", "o", "o", "ky", "o", "o", "t", "a", "w", "a", "a", "_"]
    # OpenJTalk 1.11's words 東京 (6 phones) and タワー (5), each spread over its character
    # tokens, earlier ones first
    assert word2ph == [1, 3, 3, 2, 2, 1, 1]


def test_tokenizer_is_character_level(jp_tokenizer):
    assert jp_tokenizer.tokenize("東京タワー") == ["東", "京", "タ", "ワ", "ー"]
