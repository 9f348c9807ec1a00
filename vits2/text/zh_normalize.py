"""Chinese text normalisation: numbers to Chinese words, punctuation to the model's 7 marks.

Order and contract (what `normalize` does, and why):

1. `normalize_numbers`: in the `improved` profile a few digit patterns that cn2an reads badly
   are rewritten first (see `_prepass`, one named rule each), then `cn2an.transform(text,
   "an2cn")` reads the rest (upstream master without WeTextProcessing; the v2.3 tag instead
   passes each number to `cn2an.an2cn`): dates with 年/月/日
   ("2024年3月15日" -> "二零二四年三月十五日"), percents ("3.5%" -> "百分之三点五"),
   fractions ("1/2" -> "二分之一"), decimals ("98.5" -> "九十八点五"), ranges before a measure
   word ("3-5个" -> "三到五个"), negatives and plain integers (an 11-digit phone number written
   without separators is read as a cardinal, as the golden data has it).
2. `replace_punctuation`, as upstream v2.3: 嗯 -> 恩 and 呣 -> 母 (pypinyin gives them syllabic
   nasals the phone table lacks), the upstream punctuation map onto ! ? … , . ' -, then every
   character that is neither a CJK ideograph (U+4E00-U+9FA5) nor one of those marks is dropped:
   Latin letters, digits cn2an left, emoji, spaces, control characters.
3. Ideographs pypinyin has no reading for (a handful of rare compound unit characters such as
   兙) are dropped too: upstream crashes on them.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable

from vits2.text.profiles import Profile, get_profile
from vits2.text.punctuation import QUOTES_AND_BRACKETS, SENTENCE_MARKS
from vits2.text.symbols import PUNCTUATION

PUNCTUATION_MAP: dict[str, str] = {
    **SENTENCE_MARKS,
    "·": ",",
    "、": ",",
    "...": "…",
    **QUOTES_AND_BRACKETS,
    "～": "-",
    "~": "-",
    "「": "'",
    "」": "'",
}
"""Upstream's mapping of other punctuation onto the 7 marks the model knows (exact, in order)."""

_PUNCT_PATTERN = re.compile("|".join(re.escape(p) for p in PUNCTUATION_MAP))
_UNSUPPORTED = re.compile(r"[^\u4e00-\u9fa5" + re.escape("".join(PUNCTUATION)) + r"]+")

_DIGITS = "零一二三四五六七八九"
_CN2AN_MAX_DIGITS = 16
"""cn2an refuses integers longer than this; longer digit runs are read digit by digit."""

# Full-width digits and percent sign: cn2an's percent rule only knows ASCII "%".
_FULLWIDTH = str.maketrans("０１２３４５６７８９％", "0123456789%")

_ISO_DATE = re.compile(r"(?<!\d)(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)")
_PHONE = re.compile(
    r"(?<![\d-])(?:\+?86[ -]?)?(?:1\d{2}[ -]\d{4}[ -]\d{4}|0\d{2,3}-\d{7,8})(?![\d-])"
)
_THOUSANDS = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{3})+(?![\d,])")
_CLOCK = re.compile(r"(?<!\d)([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?(?!\d)")
# Codes like "007" (three or more digits); "03月" is left to cn2an, which reads it as 三月.
_LEADING_ZERO = re.compile(r"(?<![\d.])0\d{2,}(?![\d年月日号]|\.\d)")
_CELSIUS = re.compile(r"(?<![\d.])(-?)(\d+(?:\.\d+)?)℃")
_LONG_DIGITS = re.compile(rf"\d{{{_CN2AN_MAX_DIGITS + 1},}}")
_RANGE = re.compile(r"(?<![\d.-])(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)(?![\d.-])")


def read_digits(digits: str) -> str:
    """Read a digit string one digit at a time ("010" -> "零一零"); other characters are dropped."""
    return "".join(_DIGITS[int(d)] for d in digits if d.isdigit())


def _iso_date(m: re.Match[str]) -> str:
    year, _, month, day = m.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return m.group(0)
    return f"{year}年{int(month)}月{int(day)}日"


def _clock(m: re.Match[str]) -> str:
    hour, minute, second = m.groups()
    from cn2an import an2cn

    text = f"{an2cn(str(int(hour)))}点"
    if minute != "00":
        text += ("零" if minute[0] == "0" else "") + an2cn(str(int(minute))) + "分"
    if second is not None and second != "00":
        text += ("零" if second[0] == "0" else "") + an2cn(str(int(second))) + "秒"
    return text


_PREPASS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("zh-fullwidth-digits", lambda t: t.translate(_FULLWIDTH)),
    ("zh-iso-date", lambda t: _ISO_DATE.sub(_iso_date, t)),
    (
        "zh-phone-number",
        lambda t: _PHONE.sub(lambda m: read_digits(m.group(0).removeprefix("+")), t),
    ),
    ("zh-thousands", lambda t: _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), t)),
    ("zh-clock", lambda t: _CLOCK.sub(_clock, t)),
    (
        "zh-celsius",
        lambda t: _CELSIUS.sub(lambda m: ("零下" if m.group(1) else "") + m.group(2) + "摄氏度", t),
    ),
    ("zh-leading-zero", lambda t: _LEADING_ZERO.sub(lambda m: read_digits(m.group(0)), t)),
    ("zh-long-digits", lambda t: _LONG_DIGITS.sub(lambda m: read_digits(m.group(0)), t)),
    ("zh-range", lambda t: _RANGE.sub(lambda m: f"{m.group(1)}到{m.group(2)}", t)),
)
"""The `improved` rules that rewrite digit patterns before cn2an, in the order they run."""


def _prepass(text: str, profile: Profile) -> str:
    """Rewrite digit patterns that cn2an.transform would turn into nonsense (profile rules).

    Each rule fixes a case where the plain cn2an path gives garbage: "2024-03-15" would read
    as 二千零二十四负三负十五, "1,000,000" as 一,零,零, "-3.5℃" as -三.五摄氏度, "12:30" as 十二三十 (the colon is
    dropped), "138-1234-5678" with minus signs, "007" as 七, and integers over 16 digits would
    be left as digits and then silently deleted.
    """
    for rule, rewrite in _PREPASS:
        if profile.has(rule):
            text = rewrite(text)
    return text


_V23_NUMBER = re.compile(r"\d+(?:\.?\d+)?")


def _an2cn_each(text: str) -> str:
    """The v2.3 tag's reading: each number (digits, optionally one decimal point) through
    cn2an.an2cn, replacing its first occurrence left to right, as upstream's loop does."""
    from cn2an import an2cn

    for number in _V23_NUMBER.findall(text):
        try:
            reading = an2cn(number)
        except (ValueError, KeyError):  # upstream raises here; read the digits instead
            reading = read_digits(number)
        text = text.replace(number, reading, 1)
    return text


@functools.cache
def _cn2an_transform() -> Callable[[str, str], str]:
    import cn2an

    # cn2an warns and keeps the digits of a number it cannot read; replace_punctuation then
    # drops them, which is the upstream outcome. Silenced once here (catch_warnings is not
    # thread-safe), for cn2an's own modules only.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"cn2an(\.|$)")
    return cn2an.transform


def normalize_numbers(text: str, profile: str | Profile | None = None) -> str:
    """Replace Arabic numbers with their Chinese reading, as the profile's release does."""
    profile = get_profile(profile)
    if profile.zh_numbers == "an2cn-each":
        return _prepass(_an2cn_each(text), profile)
    text = _prepass(text, profile)
    if not any(c.isdigit() for c in text):
        return text
    return _cn2an_transform()(text, "an2cn")


def replace_punctuation(text: str) -> str:
    """Upstream `replace_punctuation`: map punctuation onto the 7 marks, drop everything else."""
    text = text.replace("嗯", "恩").replace("呣", "母")
    text = _PUNCT_PATTERN.sub(lambda m: PUNCTUATION_MAP[m.group(0)], text)
    return _UNSUPPORTED.sub("", text)


def drop_unreadable(text: str) -> str:
    """Drop ideographs that pypinyin has no reading for (upstream's g2p would crash on them)."""
    from pypinyin.constants import PINYIN_DICT

    return "".join(c for c in text if c in PUNCTUATION or ord(c) in PINYIN_DICT)


def normalize(text: str, profile: str | Profile | None = None) -> str:
    """Full Chinese normalisation: numbers, punctuation, unsupported characters."""
    return drop_unreadable(replace_punctuation(normalize_numbers(text, profile)))
