"""Japanese numbers as words: num2words(lang="ja") as upstream, plus the `improved` rules.

Upstream (both releases) removes thousands separators, moves a currency sign after its amount
as a word ("$5" -> 5ドル), then replaces every number by num2words' reading. num2words reads a
decimal as a float ("1.0" -> 一, "12.30" -> 十二点三) and upstream leaves every other digit
pattern to fall apart: "15:30" -> 十五 三十 with the colon lost, "2024/05/01" as three numbers
run together, "50%" with the percent sign dropped, "1〜2時間" as 十二時間 (twelve hours), "3/4"
as 三四, "-5度" with the minus read as a pause. The `improved` profile rewrites those patterns
first (one named rule each, `IMPROVED_RULES`) into words num2words and OpenJTalk read right.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from vits2.text.profiles import Profile, get_profile

__all__ = ["convert_numbers_to_words", "number_to_kanji"]

_DIGITS = "零一二三四五六七八九"
_NUMBER_WITH_SEPARATOR_RE = re.compile("[0-9]{1,3}(,[0-9]{3})+")
_CURRENCY_MAP = {"$": "ドル", "¥": "円", "£": "ポンド", "€": "ユーロ"}
_CURRENCY_RE = re.compile(r"([$¥£€])([0-9.]*[0-9])")
_NUMBER_RE = re.compile(r"[0-9]+(\.[0-9]+)?")

_DATE_RE = re.compile(r"(?<![\d/.-])(\d{4})([/.-])(\d{1,2})\2(\d{1,2})(?![\d/.-])")
_CLOCK_RE = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_PERCENT_RE = re.compile(r"(\d)%")
_RANGE_RE = re.compile(r"(\d)\s*[〜~]\s*(?=[\d$¥£€])")
_NEGATIVE_RE = re.compile(r"(?<![0-9A-Za-z)])[-−](?=\d)")
_FRACTION_RE = re.compile(r"(?<![\d/])(\d+)/(\d+)(?![\d/])")


def _date(m: re.Match[str]) -> str:
    year, _, month, day = m.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return m.group(0)
    return f"{year}年{int(month)}月{int(day)}日"


def _clock(m: re.Match[str]) -> str:
    hour, minute = m.groups()
    return f"{int(hour)}時" + ("" if minute == "00" else f"{int(minute)}分")


_PREPASS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("ja-date", lambda t: _DATE_RE.sub(_date, t)),
    ("ja-clock", lambda t: _CLOCK_RE.sub(_clock, t)),
    ("ja-percent", lambda t: _PERCENT_RE.sub(r"\1パーセント", t)),
    ("ja-range", lambda t: _RANGE_RE.sub(r"\1から", t)),
    ("ja-negative", lambda t: _NEGATIVE_RE.sub("マイナス", t)),
    ("ja-fraction", lambda t: _FRACTION_RE.sub(r"\2分の\1", t)),
)
"""The `improved` rules that rewrite digit patterns before num2words, in the order they run
(dates before fractions and minus signs: "2024/05/01" holds both)."""


def _num2words(number: str) -> str:
    from num2words import num2words

    try:
        return num2words(number, lang="ja")
    except (OverflowError, ValueError, NotImplementedError):  # upstream raises; read digits
        return "".join(_DIGITS[int(c)] for c in number if c.isdigit())


def number_to_kanji(number: str, profile: str | Profile | None = None) -> str:
    """ "123" -> "百二十三", "10000000" -> "千万": num2words(lang="ja"), as upstream.

    num2words reads a decimal as a float ("1.0" -> 一, "12.30" -> 十二点三); rule
    `ja-decimals-as-written` reads the digits after the point as written (一点零, 十二点三零).
    """
    whole, point, frac = number.partition(".")
    if point and get_profile(profile).has("ja-decimals-as-written"):
        return _num2words(whole) + "点" + "".join(_DIGITS[int(c)] for c in frac)
    return _num2words(number)


def convert_numbers_to_words(text: str, profile: str | Profile | None = None) -> str:
    """Numbers in NFKC-normalised text -> kanji words, as the profile reads them."""
    profile = get_profile(profile)
    for rule, rewrite in _PREPASS:
        if profile.has(rule):
            text = rewrite(text)
    text = _NUMBER_WITH_SEPARATOR_RE.sub(lambda m: m[0].replace(",", ""), text)
    text = _CURRENCY_RE.sub(lambda m: m[2] + _CURRENCY_MAP.get(m[1], m[1]), text)
    return _NUMBER_RE.sub(lambda m: number_to_kanji(m[0], profile), text)
