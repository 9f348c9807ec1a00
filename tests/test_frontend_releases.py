"""Per-release frontend profiles: exact parity with each release's own text code.

tests/data/frontend-upstream-2.{0,1,2}.jsonl were made by running each fishaudio/Bert-VITS2
release tag's `text.cleaner.clean_text` (make_frontend_release_goldens.py), frontend-sbv2*.jsonl
by running Style-Bert-VITS2 2.7.0's `style_bert_vits2.nlp.clean_text` (normal model and
JP-Extra; make_frontend_sbv2_goldens.py), on the sentences of the 2.3 goldens plus Japanese
written for SBV2's normaliser. Japanese rows also record the text the release's BERT reads
(`bert_text`; for 2.0 the token ids, `bert_input_ids`).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

import vits2
from vits2.text import clean_text
from vits2.text.frontend import Frontend, Sentence
from vits2.text.openjtalk import engine_info
from vits2.text.profiles import PROFILES, RELEASE_PROFILES, profile_for_release
from vits2.text.symbols import SYMBOL_TO_ID

DATA = Path(__file__).parent / "data"
GOLDEN = {
    "upstream-2.0": DATA / "frontend-upstream-2.0.jsonl",
    "upstream-2.1": DATA / "frontend-upstream-2.1.jsonl",
    "upstream-2.2": DATA / "frontend-upstream-2.2.jsonl",
    "sbv2": DATA / "frontend-sbv2.jsonl",
    "sbv2-jp-extra": DATA / "frontend-sbv2-jp-extra.jsonl",
}
PINNED = ("pypinyin", "jieba", "cn2an", "num2words", "sentencepiece")


def _rows(profile: str) -> list[dict]:
    return [json.loads(x) for x in GOLDEN[profile].read_text(encoding="utf-8").splitlines()]


def _cases() -> list:
    params = []
    for profile in GOLDEN:
        for n, case in enumerate(_rows(profile)[1:], 2):
            params.append(pytest.param(profile, case, id=f"{profile}-{case['category']}-{n}"))
    return params


@pytest.mark.parametrize("profile", list(GOLDEN))
def test_golden_made_with_installed_versions(profile):
    header = _rows(profile)[0]
    assert header["upstream"]["commit"]
    assert {n: header["versions"][n] for n in PINNED} == {n: version(n) for n in PINNED}
    assert header["engine"] == {**engine_info(), "dictionary": header["engine"]["dictionary"]}


@pytest.mark.parametrize(("profile", "case"), _cases())
def test_golden_line(profile, case, tokenizers):
    segments = case["segments"] if case["language"] == "MIX" else [case]
    for seg in segments:
        if "skipped" in seg:  # g2p_en needed NLTK's tagger for a homograph (none offline)
            continue
        lang = seg["language"]
        norm, phones, tones, word2ph = clean_text(
            seg["text"], lang, tokenizer=tokenizers[lang], profile=profile
        )
        if "error" in seg:  # upstream raises on this line; ours reads it
            assert len(phones) == len(tones) == sum(word2ph) and set(phones) <= SYMBOL_TO_ID.keys()
            continue
        # our Japanese norm_text is what the BERT reads; the other languages' is norm_text
        assert norm == seg.get("bert_text", seg["norm_text"])
        assert phones == seg["phones"]
        assert tones == seg["tones"]
        if profile == "upstream-2.0" and lang == "JP":
            continue  # word2ph follows 2.0's ku-nlp tokenizer: test_v20_japanese_word2ph
        assert word2ph == seg["word2ph"]


def test_release_profiles():
    assert profile_for_release("2.0") == profile_for_release("2.0.2-fix") == "upstream-2.0"
    assert profile_for_release("2.1") == "upstream-2.1"
    assert profile_for_release("2.2") == "upstream-2.2"
    assert profile_for_release("2.3") == "improved"
    assert profile_for_release("SBV2") == "sbv2"
    assert profile_for_release("sbv2-jp-extra") == "sbv2-jp-extra"
    assert set(RELEASE_PROFILES.values()) <= set(PROFILES)
    with pytest.raises(ValueError, match="no frontend profile for release '1.1'; known"):
        profile_for_release("1.1")


def test_releases_differ_where_the_goldens_say():
    """2.1 and 2.2 read the same phones (their joins differ); SBV2's Chinese and English are
    v2.3's; its two families differ only in "ん" ("n" / "N")."""
    strip = [json.dumps(r, ensure_ascii=False) for r in _rows("upstream-2.1")[1:]]
    assert strip == [json.dumps(r, ensure_ascii=False) for r in _rows("upstream-2.2")[1:]]
    assert PROFILES["upstream-2.1"].join_trim == (1, 1)
    assert PROFILES["upstream-2.2"].join_trim == (3, 2)
    v23 = {
        r["text"]: r
        for r in map(json.loads, (DATA / "frontend-upstream-2.3.jsonl").open(encoding="utf-8"))
        if "text" in r
    }
    for row in _rows("sbv2")[1:]:
        if row["language"] in ("ZH", "EN"):
            assert {k: row[k] for k in ("norm_text", "phones", "tones", "word2ph")} == {
                k: v23[row["text"]][k] for k in ("norm_text", "phones", "tones", "word2ph")
            }
    extra = {r["text"]: r for r in _rows("sbv2-jp-extra")[1:]}
    for row in _rows("sbv2")[1:]:
        ex = extra.get(row.get("text"), {})
        if "phones" in ex and "phones" in row:
            phones = ["N" if p == "n" else p for p in row["phones"]]
            assert [p if p != "n" else "N" for p in ex["phones"]] == phones
            assert ex["tones"] == row["tones"] and ex["word2ph"] == row["word2ph"]


def test_join_trim_per_profile(tiny_bert_dirs):
    dirs = {k: str(v) for k, v in tiny_bert_dirs.items()}
    text = "[ZH]我喜欢听[EN]rock music[ZH]，你呢？"
    (s21,) = Frontend(dirs, profile="upstream-2.1")(text, "MIX")
    (s22,) = Frontend(dirs, profile="upstream-2.2")(text, "MIX")
    assert [(s.trim_start, s.trim_end) for s in s21.segments] == [(0, 1), (1, 1), (1, 0)]
    assert [(s.trim_start, s.trim_end) for s in s22.segments] == [(0, 2), (3, 2), (3, 0)]
    assert len(s21.phone_ids) == len(s22.phone_ids) + 6  # (2 + 3 + 2 + 3) - 4
    assert isinstance(s21, Sentence)


V20_JP_TOKENIZER = Path(vits2.__file__).parent / "bert-configs" / "deberta-v2-large-japanese"
"""2.0's Japanese BERT tokenizer, shipped as package data (SOURCE.txt there)."""


def test_v20_japanese_word2ph_and_bert_ids():
    """2.0's Japanese word2ph and BERT ids follow ku-nlp/deberta-v2-large-japanese's tokenizer
    (tokenizer files of the v2.0.2.1 tag's bert/ folder)."""
    from vits2.text.frontend import load_tokenizer
    from vits2.text.japanese import bert_input_ids_v20

    tok = load_tokenizer(V20_JP_TOKENIZER, "JP")
    for case in _rows("upstream-2.0")[1:]:
        for seg in case["segments"] if case["language"] == "MIX" else [case]:
            if seg["language"] != "JP":
                continue
            norm, phones, _, word2ph = clean_text(seg["text"], "JP", tok, "upstream-2.0")
            assert word2ph == seg["word2ph"]
            assert bert_input_ids_v20(norm, tok) == seg["bert_input_ids"]


def test_frontend_segments_per_release(tiny_bert_dirs):
    """Segments carry each release's phones and what its BERT reads."""
    dirs = {k: str(v) for k, v in tiny_bert_dirs.items()}
    (sent,) = Frontend(dirs, profile="sbv2-jp-extra")("ｈｅｌｌｏ、ねえ〜、こんにちは！", "JP")
    (seg,) = sent.segments
    assert "N" in seg.phones and seg.norm_text == "ｈｅｌｌｏ,ねえー,こんにちは!"
    assert len(seg.input_ids) == len(seg.word2ph) and len(seg.phone_to_token) == len(seg.phone_ids)
    (sent,) = Frontend(dirs, profile="sbv2")("こんにちは！", "JP")
    assert "N" not in sent.segments[0].phones
    seg = Frontend(dirs, profile="upstream-2.0").segment("Hello, well-known world.", "EN")
    assert seg.word2ph == [1, 4, 1, 3, 1, 3, 4, 1, 1]  # one entry per word (2.0), not per token
    assert seg.phone_to_token[:4] == [0, 0, 0, 1]  # word i takes token i's feature
