"""The punctuation map upstream's English and Japanese cleaners share (Chinese has its own)."""

from __future__ import annotations

import re

SENTENCE_MARKS: dict[str, str] = {
    "：": ",",
    "；": ",",
    "，": ",",
    "。": ".",
    "！": "!",
    "？": "?",
    "\n": ".",
}
"""The head of upstream's punctuation maps, the same in the Chinese and the English/Japanese
cleaners: full-width clause and sentence marks, and a newline ending a sentence."""

QUOTES_AND_BRACKETS: dict[str, str] = {
    "$": ".",
    "“": "'",
    "”": "'",
    '"': "'",
    "‘": "'",
    "’": "'",
    "（": "'",
    "）": "'",
    "(": "'",
    ")": "'",
    "《": "'",
    "》": "'",
    "【": "'",
    "】": "'",
    "[": "'",
    "]": "'",
    "—": "-",
}
"""The run of upstream's punctuation maps that the Chinese and the English/Japanese cleaners
share, in upstream's order (the maps are applied as one regex alternation, in order)."""

REPLACE_MAP: dict[str, str] = {
    **SENTENCE_MARKS,
    "．": ".",
    "…": "...",
    "···": "...",
    "・・・": "...",
    "·": ",",
    "・": ",",
    "、": ",",
    **QUOTES_AND_BRACKETS,
    "−": "-",
    "～": "-",
    "~": "-",
    "「": "'",
    "」": "'",
}
_REPLACE_RE = re.compile("|".join(re.escape(p) for p in REPLACE_MAP))

_ELLIPSES = ("…", "···", "・・・")
REPLACE_MAP_20: dict[str, str] = {
    ("..." if k == "…" else k): ("…" if k in _ELLIPSES else v)
    for k, v in REPLACE_MAP.items()
    if k != '"'
}
"""Bert-VITS2 2.0's Japanese map, same order: "..." "···" "・・・" -> "…" (2.1 on: "…" ->
"..."), and no '"' entry (the mark is then dropped as a character outside the kept set)."""
_REPLACE_20_RE = re.compile("|".join(re.escape(p) for p in REPLACE_MAP_20))


def replace_marks(text: str, v20: bool = False) -> str:
    """Map full-width and other marks onto the model's punctuation (`v20`: 2.0's map)."""
    if v20:
        return _REPLACE_20_RE.sub(lambda m: REPLACE_MAP_20[m.group()], text)
    return _REPLACE_RE.sub(lambda m: REPLACE_MAP[m.group()], text)
