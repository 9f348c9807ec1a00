"""The symbol table is the checkpoint's vocabulary: it must equal upstream's, id for id."""

from __future__ import annotations

import json

import pytest

from tests.fixtures import TINY, require
from vits2 import text

SYMBOLS_JSON = TINY / "symbols.json"


@pytest.fixture(scope="module")
def upstream() -> dict:
    return json.loads(require(SYMBOLS_JSON).read_text(encoding="utf-8"))


def test_symbol_table_equals_upstream_in_order(upstream):
    assert text.SYMBOLS == upstream["symbols"]
    assert len(text.SYMBOLS) == 112
    assert text.SYMBOL_TO_ID == {s: i for i, s in enumerate(upstream["symbols"])}


def test_tone_and_language_counts(upstream):
    assert text.NUM_TONES == upstream["num_tones"] == 12
    assert text.NUM_LANGUAGES == upstream["num_languages"] == 3
    assert text.TONE_OFFSET == {"ZH": 0, "JP": 6, "EN": 8}
    assert text.LANGUAGE_ID == {"ZH": 0, "JP": 1, "EN": 2}


def test_pad_first_punctuation_and_specials_last():
    assert text.SYMBOLS[0] == "_"
    assert text.SYMBOLS[-9:] == ["!", "?", "…", ",", ".", "'", "-", "SP", "UNK"]


def test_intersperse():
    assert text.intersperse([5, 6, 7]) == [0, 5, 0, 6, 0, 7, 0]
    assert text.intersperse([5], item=9) == [9, 5, 9]
    assert text.intersperse([]) == [0]


def test_add_blank_doubles_word2ph_and_pads_first():
    phones, tones, languages, word2ph = text.add_blank(
        [0, 62, 40, 0], [0, 2, 2, 0], [0] * 4, [1, 2, 1]
    )
    assert phones == [0, 0, 0, 62, 0, 40, 0, 0, 0]
    assert tones == [0, 0, 0, 2, 0, 2, 0, 0, 0]
    assert languages == [0] * 9
    assert word2ph == [3, 4, 2]
    assert sum(word2ph) == len(phones)


def test_cleaned_text_to_sequence_offsets_tones():
    phone_ids, tone_ids, language_ids = text.cleaned_text_to_sequence(
        ["_", "a", "_"], [0, 1, 0], "JP"
    )
    assert phone_ids == [0, text.SYMBOL_TO_ID["a"], 0]
    assert tone_ids == [6, 7, 6]
    assert language_ids == [1, 1, 1]


def test_cleaned_text_to_sequence_rejects_unknown_input():
    with pytest.raises(ValueError, match="allowed: ZH, JP, EN"):
        text.cleaned_text_to_sequence(["a"], [0], "KO")
    with pytest.raises(ValueError, match="not in the symbol table"):
        text.cleaned_text_to_sequence(["ə"], [0], "ZH")
