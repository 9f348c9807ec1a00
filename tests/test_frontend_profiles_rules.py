"""Every `improved` rule: upstream's output (the upstream-master profile, which the goldens hold
to upstream's own code), ours, and why ours is what a listener should hear."""

from __future__ import annotations

import pytest

from vits2.text import clean_text
from vits2.text.japanese import hiragana_to_phones
from vits2.text.profiles import IMPROVED_RULES

# (rule, language, text, upstream-master norm_text, improved norm_text, why)
CASES = [
    (
        "zh-fullwidth-digits",
        "ZH",
        "５０％的人",
        "五十的人",
        "百分之五十的人",
        "the full-width percent sign is dropped upstream, so fifty percent becomes fifty",
    ),
    (
        "zh-iso-date",
        "ZH",
        "2024-05-01开会",
        "二千零二十四负五负一开会",
        "二零二四年五月一日开会",
        "a date read as 'two thousand twenty-four minus five minus one'",
    ),
    (
        "zh-iso-date",
        "ZH",
        "日期是2024/05/01",
        "日期是五分之二千零二十四一",
        "日期是二零二四年五月一日",
        "slashes read as a fraction",
    ),
    (
        "zh-phone-number",
        "ZH",
        "电话138-1234-5678",
        "电话一百三十八负一千二百三十四负五千六百七十八",
        "电话一三八一二三四五六七八",
        "phone numbers are read digit by digit, not as amounts with minus signs",
    ),
    (
        "zh-thousands",
        "ZH",
        "一共1,200元",
        "一共一,二百元",
        "一共一千二百元",
        "the thousands comma splits 1,200 into 'one, two hundred' with a pause",
    ),
    (
        "zh-clock",
        "ZH",
        "会议在15:30开始",
        "会议在十五三十开始",
        "会议在十五点三十分开始",
        "the colon is dropped: 'fifteen thirty' with no hour or minute",
    ),
    (
        "zh-celsius",
        "ZH",
        "气温-3.5℃",
        "气温负三.五摄氏度",
        "气温零下三点五摄氏度",
        "the decimal point survives as a sentence stop and below zero is 'minus'",
    ),
    (
        "zh-leading-zero",
        "ZH",
        "代号007",
        "代号七",
        "代号零零七",
        "a code's leading zeros are not spoken",
    ),
    (
        "zh-long-digits",
        "ZH",
        "编号12345678901234567890",
        "编号",
        "编号一二三四五六七八九零一二三四五六七八九零",
        "cn2an cannot read over 16 digits and the digits are then deleted: silence",
    ),
    (
        "zh-range",
        "ZH",
        "3-5人一组",
        "三负五人一组",
        "三到五人一组",
        "'three minus five people' instead of 'three to five people'",
    ),
    (
        "en-abbreviations",
        "EN",
        "Dr. Smith met Capt. Jones on Baker St.",
        "Dr. Smith met Capt. Jones on Baker St.",
        "doctor Smith met captain Jones on Baker street",
        "upstream spells D R and reads the period as a pause; St. is a saint before a name",
    ),
    (
        "en-clock",
        "EN",
        "Meet at 3:30, 3:05 or 9:00.",
        "Meet at three:thirty, three:five or nine:zero.",
        "Meet at three thirty, three oh five or nine o'clock.",
        "the colon is silent and 3:05 becomes 'three five', 9:00 'nine zero'",
    ),
    (
        "en-percent",
        "EN",
        "It rose 100% today.",
        "It rose one hundred% today.",
        "It rose one hundred percent today.",
        "the percent sign has no phones: 'one hundred' for 'one hundred percent'",
    ),
    (
        "en-negative",
        "EN",
        "It was -5 degrees.",
        "It was -five degrees.",
        "It was minus five degrees.",
        "the minus sign is read as a pause; 'well-known' and '10-20' keep their hyphen",
    ),
    (
        "ja-date",
        "JP",
        "2024/05/01に会いましょう",
        "二千二十四百五十一に会いましょう",
        "二千二十四年五月一日に会いましょう",
        "the slashes vanish and OpenJTalk reads the run-together numerals as one amount",
    ),
    (
        "ja-date",
        "JP",
        "2024-05-01です",
        "二千二十四-五-一です",
        "二千二十四年五月一日です",
        "hyphens are read as pauses between three bare numbers",
    ),
    (
        "ja-clock",
        "JP",
        "会議は15:30からです",
        "会議は十五十三十からです",
        "会議は十五時三十分からです",
        "the colon is dropped and 15 30 run together",
    ),
    (
        "ja-clock",
        "JP",
        "12:00に",
        "十二零に",
        "十二時に",
        "on the hour: 'twelve zero' (the colon lost)",
    ),
    (
        "ja-percent",
        "JP",
        "50%の確率",
        "五十の確率",
        "五十パーセントの確率",
        "the percent sign is dropped: 'fifty' for 'fifty percent'",
    ),
    (
        "ja-range",
        "JP",
        "約1〜2時間",
        "約十二時間",
        "約一から二時間",
        "the wave dash is dropped: 'about twelve hours' for 'one to two hours'",
    ),
    (
        "ja-negative",
        "JP",
        "気温は-5度です",
        "気温は-五度です",
        "気温はマイナス五度です",
        "the minus sign is read as a pause; a hyphen after a letter or digit stays one",
    ),
    (
        "ja-fraction",
        "JP",
        "3/4の人が賛成した",
        "三十四の人が賛成した",
        "四分の三の人が賛成した",
        "the slash is dropped and OpenJTalk reads 三四 'thirty-four' for 'three quarters'",
    ),
    (
        "ja-decimals-as-written",
        "JP",
        "バージョン1.0です",
        "バージョン一です",
        "バージョン一点零です",
        "num2words reads 1.0 as the float 1: 'version one' for 'version one point zero'",
    ),
    (
        "ja-decimals-as-written",
        "JP",
        "12.30ドル",
        "十二点三ドル",
        "十二点三零ドル",
        "the written trailing zero is dropped",
    ),
]


@pytest.mark.parametrize(
    ("rule", "lang", "text", "upstream", "improved", "why"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_rule(rule, lang, text, upstream, improved, why, en_tokenizer, jp_tokenizer):
    tok = {"EN": en_tokenizer, "JP": jp_tokenizer}.get(lang)
    up = clean_text(text, lang, tokenizer=tok, profile="upstream-master")
    ours = clean_text(text, lang, tokenizer=tok, profile="improved")
    assert up[0] == upstream, why
    assert ours[0] == improved, why
    assert sum(ours[3]) == len(ours[1]) == len(ours[2])


def test_small_vowel_kana():
    """ja-small-vowel-kana: master's table drops the small vowel in five entries (its
    neighbours, かぁ きぃ くぅ ..., lengthen the vowel instead); ours lengthens or keeps it."""
    for kana, master, ours in [
        ("しぃ", ["sh", "i"], ["sh", "i", "i"]),
        ("ちぃ", ["ch", "i"], ["ch", "i", "i"]),
        ("つぅ", ["ts", "u"], ["ts", "u", "u"]),
        ("ずぁ", ["z", "u"], ["z", "u", "a"]),
        ("どぁ", ["d", "o"], ["d", "o", "a"]),
    ]:
        assert hiragana_to_phones(kana, small_vowels=False) == master, kana
        assert hiragana_to_phones(kana) == ours, kana


def test_small_vowel_kana_in_a_sentence(jp_tokenizer):
    up = clean_text("ずぁ", "JP", tokenizer=jp_tokenizer, profile="upstream-master")
    ours = clean_text("ずぁ", "JP", tokenizer=jp_tokenizer, profile="improved")
    assert up[1] == ["_", "z", "u", "_"]  # the vowel of ぁ is lost
    assert ours[1] == ["_", "z", "u", "a", "_"]


def test_every_rule_is_tested():
    assert {c[0] for c in CASES} | {"ja-small-vowel-kana"} == set(IMPROVED_RULES)


@pytest.mark.parametrize("text", ["A-5", "10-5", "03-1234-5678", "99/100/3"])
def test_japanese_rules_leave_other_patterns_as_upstream(text, jp_tokenizer):
    """A hyphen after a letter or digit is no minus sign; three slashed numbers that are not a
    valid date are no fraction: both read as upstream reads them."""
    up = clean_text(text, "JP", tokenizer=jp_tokenizer, profile="upstream-master")
    assert clean_text(text, "JP", tokenizer=jp_tokenizer, profile="improved") == up


# Golden sentences where improved differs from upstream-master, and the rule responsible.
DEVIATIONS = {
    "Dr. Smith lives on Baker St. near the park.": "en-abbreviations",
    "Capt. Jones and Lt. Brown met Mr. Green.": "en-abbreviations",
    "価格は12.30ドルです。": "ja-decimals-as-written",
    "バージョン1.0をリリースしました。": "ja-decimals-as-written",
    "気温は-5度です。": "ja-negative",
    "3/4の人が賛成した。": "ja-fraction",
    "会议在15:30开始。": "zh-clock",
    "日期是2024/05/01。": "zh-iso-date",
    "3-5人一组。": "zh-range",
    "一共1,200元。": "zh-thousands",
}


def test_improved_deviates_from_upstream_master_only_by_its_rules(en_tokenizer, jp_tokenizer):
    """On every golden line improved gives upstream-master's output, except the lines above,
    where switching off the one responsible rule gives upstream-master's output again."""
    import dataclasses
    import json
    from pathlib import Path

    from vits2.text.profiles import PROFILES

    improved = PROFILES["improved"]
    toks = {"EN": en_tokenizer, "JP": jp_tokenizer, "ZH": None}
    path = Path(__file__).parent / "data" / "frontend-upstream-master.jsonl"
    seen = set()
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        case = json.loads(line)
        for seg in case["segments"] if case["language"] == "MIX" else [case]:
            lang = seg["language"]
            norm = seg.get("bert_text", seg["norm_text"])  # ours: what the BERT reads
            expected = (norm, seg["phones"], seg["tones"], seg["word2ph"])
            got = clean_text(seg["text"], lang, tokenizer=toks[lang], profile=improved)
            if seg["text"] not in DEVIATIONS:
                assert got == expected, seg["text"]
                continue
            seen.add(seg["text"])
            assert got != expected, seg["text"]
            rule = DEVIATIONS[seg["text"]]
            without = dataclasses.replace(improved, name="test", rules=improved.rules - {rule})
            assert clean_text(seg["text"], lang, tokenizer=toks[lang], profile=without) == expected
    assert seen == set(DEVIATIONS)
