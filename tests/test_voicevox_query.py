"""The VOICEVOX face's pure parts (no server): accents become the tones the voice's frontend
writes, the user-dictionary words become valid MeCab lines, kana notation, field checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import JP_TOKENIZER_DIR
from tests.fixtures import require
from tts_gateway.backend import ApiError
from tts_gateway.voicevox.plan import _tones
from tts_gateway.voicevox.query import QueryError, check, kana_of
from tts_gateway.voicevox.user_dict import csv_line, make_word

GOLDEN = Path(__file__).parent / "data" / "frontend-sbv2-jp-extra.jsonl"


def test_an_accent_gives_the_tones_the_sbv2_frontend_reads_on_every_golden_sentence():
    """What lets an unchanged phrase and a moved accent mean the same to the voice."""
    from vits2.serving.alignment import sentence_alignment
    from vits2.text.frontend import Frontend

    frontend = Frontend({"JP": str(require(JP_TOKENIZER_DIR))}, profile="sbv2-jp-extra")
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]
    texts = [r["text"] for r in rows if isinstance(r.get("text"), str)]
    checked = 0
    for text in texts:
        for sentence in frontend(text, "JP"):
            a = sentence_alignment(sentence, frontend.profile, None, frontend.ja_dictionary())
            for ph in a["phrases"]:
                first, stop = ph["moras"]
                vowels = [a["moras"][k]["phones"][1] - 1 for k in range(first, stop)]
                assert [a["phones"][v]["tone"] for v in vowels] == _tones(
                    ph["accent"], stop - first
                ), (text, ph)
                checked += 1
    assert len(texts) >= 80 and checked >= 250


def test_user_words_are_mecab_lines_the_dictionary_compiler_takes(tmp_path):
    from vits2.text.openjtalk import compile_user_dict, read_user_dict_csv, run

    word = make_word("鬱金", "ギンギン", 1, "COMMON_NOUN", 10)
    assert (word["context_id"], word["mora_count"], word["part_of_speech_detail_1"]) == (
        1345,
        4,
        "一般",
    )
    csv = tmp_path / "w.csv"
    csv.write_text(csv_line(word) + "\n", encoding="utf-8")
    assert read_user_dict_csv(csv) == [csv_line(word)]
    dic = compile_user_dict([csv], tmp_path / "w.dic")
    assert run("鬱金を食べる。", str(dic))[0][0]["pron"] == "ギンギン"
    for args, field in (
        (("x", "ぎんぎん", 1, None, 5), "pronunciation"),
        (("x", "ギン", 3, None, 5), "accent_type"),
        (("x", "ギン", 1, "NOUN", 5), "word_type"),
        (("x", "ギン", 1, None, 11), "priority"),
        (("  ", "ギン", 1, None, 5), "surface"),
    ):
        with pytest.raises(ApiError) as err:
            make_word(*args)
        assert err.value.field == field


def _query(**fields) -> dict:
    mora = {"text": "ア", "consonant": None, "consonant_length": None, "vowel": "a",
            "vowel_length": 0.1, "pitch": 5.0}  # fmt: skip
    phrase = {"moras": [mora, dict(mora, vowel="U", text="ウ")], "accent": 1,
              "pause_mora": None, "is_interrogative": True}  # fmt: skip
    base = {"accent_phrases": [phrase], "speedScale": 1.0, "pitchScale": 0.0,
            "intonationScale": 1.0, "volumeScale": 1.0, "prePhonemeLength": 0.1,
            "postPhonemeLength": 0.1, "outputSamplingRate": 24000, "outputStereo": False}  # fmt: skip
    return {**base, **fields}


def test_kana_and_field_checks_name_what_is_wrong():
    assert kana_of(_query()["accent_phrases"]) == "ア'_ウ？"
    assert check(_query()) is not None
    bad = [
        ({"speedScale": float("nan")}, "speedScale"),
        ({"pitchScale": 3}, "pitchScale"),
        ({"outputSamplingRate": 1.5}, "outputSamplingRate"),
        ({"outputStereo": "yes"}, "outputStereo"),
        ({"pauseLength": -1}, "pauseLength"),
        ({"accent_phrases": []}, "accent_phrases"),
    ]
    for fields, field in bad:
        with pytest.raises(QueryError) as err:
            check(_query(**fields))
        assert err.value.field == field
    phrase = dict(_query()["accent_phrases"][0], accent=3)
    with pytest.raises(QueryError, match=r"accent_phrases\[0\].accent: must be 1..2"):
        check(_query(accent_phrases=[phrase]))
    mora = dict(phrase["moras"][0], vowel_length=float("inf"))
    with pytest.raises(QueryError, match=r"moras\[0\].vowel_length"):
        check(_query(accent_phrases=[dict(phrase, accent=1, moras=[mora])]))
