"""English text normalisation as upstream Bert-VITS2 v2.3 `text/english.py` does it.

Numbers, ordinals, currency and decimals are spelled out with `inflect`; punctuation is mapped
onto the 7 marks the model knows. Upstream v2.3 and master normalise English the same way.
Rule `en-abbreviations` (the `improved` profile) expands common abbreviations ("Mr.", "Dr.",
...), so that they are read as words and their period is not read as a pause or a sentence
end; upstream defines the same table but never applies it. Rules `en-clock`, `en-percent` and
`en-negative` read "3:30", "100%" and "-5", which upstream leaves as "three:thirty",
"one hundred%" (the sign is silent) and "-five" (the minus a pause). Imports no torch.
"""

from __future__ import annotations

import re
from functools import lru_cache

from vits2.text.profiles import Profile, get_profile
from vits2.text.punctuation import replace_marks

_COMMA_NUMBER_RE = re.compile(r"([0-9][0-9\,]+[0-9])")
_DECIMAL_NUMBER_RE = re.compile(r"([0-9]+\.[0-9]+)")
_POUNDS_RE = re.compile(r"£([0-9\,]*[0-9]+)")
_DOLLARS_RE = re.compile(r"\$([0-9\.\,]*[0-9]+)")
_ORDINAL_RE = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER_RE = re.compile(r"[0-9]+")

ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("mrs", "misess"),
    ("mr", "mister"),
    ("dr", "doctor"),
    ("st", "saint"),  # "Baker St." is a street: see _STREET_RE
    ("co", "company"),
    ("jr", "junior"),
    ("maj", "major"),
    ("gen", "general"),
    ("drs", "doctors"),
    ("rev", "reverend"),
    ("lt", "lieutenant"),
    ("hon", "honorable"),
    ("sgt", "sergeant"),
    ("capt", "captain"),
    ("esq", "esquire"),
    ("ltd", "limited"),
    ("col", "colonel"),
    ("ft", "fort"),
    ("vs", "versus"),
    ("etc", "et cetera"),
)
"""(abbreviation, expansion); an abbreviation is expanded where a period follows it."""
_ABBREVIATION_RES = [(re.compile(rf"\b{a}\.", re.IGNORECASE), full) for a, full in ABBREVIATIONS]
# "St." names a saint before a name ("St. Louis") and a street after one ("Baker St.").
_SAINT_RE = re.compile(r"\bSt\.(?=\s+[A-Z])")
_STREET_RE = re.compile(r"\bSt\.", re.IGNORECASE)

# Upstream's punctuation map for English: full-width and typographic marks onto the 7 marks.
_PUNCT_SPACE_RE = re.compile(r"([,;.\?\!])([\w])")


@lru_cache(maxsize=1)
def _inflect():
    import inflect

    return inflect.engine()


def _expand_dollars(m: re.Match) -> str:
    match = m.group(1)
    parts = match.split(".")
    if len(parts) > 2:
        return match + " dollars"  # unexpected format, as upstream
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    if dollars and cents:
        dollar_unit = "dollar" if dollars == 1 else "dollars"
        cent_unit = "cent" if cents == 1 else "cents"
        return f"{dollars} {dollar_unit}, {cents} {cent_unit}"
    if dollars:
        return f"{dollars} {'dollar' if dollars == 1 else 'dollars'}"
    if cents:
        return f"{cents} {'cent' if cents == 1 else 'cents'}"
    return "zero dollars"


def _expand_number(m: re.Match) -> str:
    num = int(m.group(0))
    engine = _inflect()
    if 1000 < num < 3000:
        # Years are read in pairs ("nineteen ninety-nine"), as upstream.
        if num == 2000:
            return "two thousand"
        if 2000 < num < 2010:
            return "two thousand " + engine.number_to_words(num % 100)
        if num % 100 == 0:
            return engine.number_to_words(num // 100) + " hundred"
        return engine.number_to_words(num, andword="", zero="oh", group=2).replace(", ", " ")
    return engine.number_to_words(num, andword="")


def normalize_numbers(text: str) -> str:
    """Spell out numbers: "1,000" "$3.50" "£2" "1.5" "21st" "1999" -> words."""
    text = _COMMA_NUMBER_RE.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _POUNDS_RE.sub(r"\1 pounds", text)
    text = _DOLLARS_RE.sub(_expand_dollars, text)
    text = _DECIMAL_NUMBER_RE.sub(lambda m: m.group(1).replace(".", " point "), text)
    text = _ORDINAL_RE.sub(lambda m: _inflect().number_to_words(m.group(0)), text)
    text = _NUMBER_RE.sub(_expand_number, text)
    return text


def expand_abbreviations(text: str) -> str:
    text = _STREET_RE.sub("street", _SAINT_RE.sub("saint", text))
    for regex, replacement in _ABBREVIATION_RES:
        text = regex.sub(replacement, text)
    return text


def replace_punctuation(text: str) -> str:
    return replace_marks(text)


_CLOCK_RE = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_PERCENT_RE = re.compile(r"(\d)\s?%")
_NEGATIVE_RE = re.compile(r"(?<![\w)])-(?=\d)")


def _clock(m: re.Match) -> str:
    hour, minute = int(m.group(1)), m.group(2)
    if minute == "00":
        return f"{hour} o'clock" if hour <= 12 else f"{hour} hundred"
    return f"{hour} oh {int(minute)}" if minute[0] == "0" else f"{hour} {minute}"


_RULES = (
    ("en-abbreviations", expand_abbreviations),
    ("en-clock", lambda t: _CLOCK_RE.sub(_clock, t)),
    ("en-percent", lambda t: _PERCENT_RE.sub(r"\1 percent", t)),
    ("en-negative", lambda t: _NEGATIVE_RE.sub("minus ", t)),
)
"""The `improved` rules, applied in this order before numbers are spelled out."""


def text_normalize(text: str, profile: str | Profile | None = None) -> str:
    """Upstream's English `text_normalize`, after the profile's rules (`_RULES`)."""
    profile = get_profile(profile)
    for rule, rewrite in _RULES:
        if profile.has(rule):
            text = rewrite(text)
    text = normalize_numbers(text)
    if profile.en_words == "split-2.0":
        return text  # 2.0 maps no punctuation here (its post_replace_ph maps some marks)
    text = replace_punctuation(text)
    text = _PUNCT_SPACE_RE.sub(r"\1 \2", text)
    return text
