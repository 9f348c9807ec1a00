"""Japanese frontend of Style-Bert-VITS2 2.7.0 (profiles `sbv2`, `sbv2-jp-extra`).

SBV2 rewrote Bert-VITS2's Japanese path; its voices learned these phones:

- normaliser: NFKC, numbers as Bert-VITS2 (num2words), "~" "～" "〜" are the long-vowel mark
  "ー", more dashes map to "-", and Latin and Greek letters are kept (OpenJTalk spells them);
  combining (han)dakuten marks are dropped.
- words: pyopenjtalk's words and readings; a word OpenJTalk reads as "、" is its own marks when
  it is only marks, else "'" per character (an unreadable symbol is a pause-like "'"); "？" is
  "?".
- phones: each katakana reading split into moras (OpenJTalk's mora table), "ー" repeats the
  vowel before it; a word starting with "ー" takes the last phone of the word before when that
  is a vowel or "N", else it is the dash "-". "ん" is "N" for JP-Extra, "n" for the normal
  model.
- tones: per accent phrase from the full-context labels (ESPnet's prosody marks: "[" rises,
  "]" falls), a phrase that only falls is lifted so tones are 0/1; marks get tone 0.
- word2ph: each word's phones spread over its BERT tokens; a word that is one mark is one token.
- The BERT reads the words joined (`bert_text`), which is what this module returns as the
  normalised text (Frontend segments tokenize it).

Where SBV2 raises (a reading it cannot split, tones it cannot align) this module keeps going
(unknown moras are "UNK", unaligned phones tone 0). Imports no torch.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from vits2.text import openjtalk
from vits2.text.ja_normalize import convert_numbers_to_words
from vits2.text.punctuation import REPLACE_MAP
from vits2.text.symbols import PUNCTUATION, SYMBOL_TO_ID
from vits2.text.tokenizers import distribute_phone, load_tokenizer

__all__ = ["clean_text", "normalize_text", "text_to_sep_kata"]

_DASHES = "\u02d7\u2010\u2012\u2013\u2014\u2015\u2043\u2212\u23af\u23e4\u2500\u2501\u2e3a\u2e3b"
_MAP = {**REPLACE_MAP, **{d: "-" for d in _DASHES}}
_MAP_RE = re.compile("|".join(re.escape(k) for k in _MAP))
_DROP_RE = re.compile(
    r"[^\u3040-\u309F\u30A0-\u30FF\u4E00-\u9FFF\u3400-\u4DBF\u3005A-Za-z\uFF21-\uFF3A"
    r"\uFF41-\uFF5A\u0370-\u03FF\u1F00-\u1FFF" + re.escape("".join(PUNCTUATION)) + "]+"
)
_PUNCT = set(PUNCTUATION)
_KATAKANA_RE = re.compile(r"[\u30A0-\u30FF]+")
_NO_KATAKANA_RE = re.compile(r"[^\u30A0-\u30FF]+")

# OpenJTalk's mora table (via VOICEVOX and SBV2; Copyright 2008-2014 Nagoya Institute of
# Technology, modified BSD licence): katakana mora -> consonant and vowel. Rows: a consonant,
# then the kana of its a i u e o (".": none), then two-kana moras "KANA consonant".
_ROWS = """
- アイウエオ|k カキクケコ|g ガギグゲゴ|s サ.スセソ|z ザ.ズゼゾ|t タ..テト|d ダ..デド|n ナニヌネノ
h ハヒ.ヘホ|b バビブベボ|p パピプペポ|m マミムメモ|y ヤ.ユ.ヨ|r ラリルレロ|w ワ|f .フ..
"""
_SINGLES = "シ sh i|ジ j i|チ ch i|ツ ts u|ヂ j i|ヅ z u|フ f u|ヴ v u|ン - N|ッ - q|ヲ - o|ヱ - e"
_SINGLES += "|ヰ - i|ヮ w a|ャ y a|ュ y u|ョ y o|ヶ k e|ァ - a|ィ - i|ゥ - u|ェ - e|ォ - o"
_PAIRS = (
    "ヴァ v a|ヴィ v i|ヴェ v e|ヴォ v o|ヴャ by a|ヴュ by u|ヴョ by o|ファ f a|フィ f i|フェ f e"
    "|フォ f o|ツァ ts a|ツィ ts i|ツェ ts e|ツォ ts o|ティ t i|トゥ t u|ディ d i|ドゥ d u"
    "|スィ s i|ズィ z i|ウィ w i|ウェ w e|ウォ w o|イェ y e|グヮ gw a|クヮ kw a"
    "|テャ ty a|テュ ty u|テョ ty o|デャ dy a|デュ dy u|デョ dy o"
)
_YOON = {"キ": "ky", "ギ": "gy", "ニ": "ny", "ヒ": "hy", "ビ": "by", "ピ": "py", "ミ": "my"}
_YOON |= {"リ": "ry", "シ": "sh", "ジ": "j", "チ": "ch"}


def _mora_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for row in _ROWS.replace("\n", "|").split("|"):
        if not row.strip():
            continue
        cons, kana = row.split(" ")
        for k, vowel in zip(kana, "aiueo", strict=False):
            if k != ".":
                table[k] = (vowel,) if cons == "-" else (cons, vowel)
    for entry in (_SINGLES + "|" + _PAIRS).split("|"):
        kana, cons, vowel = entry.split(" ")
        table[kana] = (vowel,) if cons == "-" else (cons, vowel)
    for kana, cons in _YOON.items():
        for small, vowel in zip("ャュェョ", "aueo", strict=True):
            table[kana + small] = (cons, vowel)
    return table


_MORAS = _mora_table()
_MORA_RE = re.compile("|".join(sorted(_MORAS, key=len, reverse=True)))
_LONG_RE = re.compile(r"(\w)(ー*)")
_VOWELS = {"a", "i", "u", "e", "o", "N"}


def _replace_punctuation(text: str) -> str:
    return _DROP_RE.sub("", _MAP_RE.sub(lambda m: _MAP[m.group()], text))


def normalize_text(text: str) -> str:
    """SBV2's `normalize_text`: NFKC, numbers, "~" "～" "〜" -> "ー", marks, kept characters."""
    res = unicodedata.normalize("NFKC", text)
    res = convert_numbers_to_words(res, "sbv2")
    for mark in "~～〜":
        res = res.replace(mark, "ー")
    res = _replace_punctuation(res)
    return res.replace("\u3099", "").replace("\u309a", "")


@lru_cache(maxsize=256)
def _parse(
    text: str, dictionary: str | None
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """OpenJTalk's (surface, reading) per word and the full-context labels of `text`."""
    parsed, labels = openjtalk.run(text, dictionary)
    return tuple((p["string"], p["pron"]) for p in parsed), tuple(labels)


def text_to_sep_kata(norm_text: str, dictionary: str | None = None) -> tuple[list[str], list[str]]:
    """Words of normalised text and their readings (katakana, or marks)."""
    words: list[str] = []
    readings: list[str] = []
    for surface, pron in _parse(norm_text, dictionary)[0]:
        word, yomi = _replace_punctuation(surface), pron.replace("’", "")
        if yomi == "？":
            yomi = "?"
        elif yomi == "、" or (yomi and _NO_KATAKANA_RE.fullmatch(yomi)):
            # OpenJTalk reads every mark "、"
            yomi = word if set(word) <= _PUNCT else "'" * len(word)
        if not yomi:
            continue
        words.append(word)
        readings.append(yomi)
    return words, readings


def _kata_to_phones(text: str) -> list[str]:
    """A reading -> phones; marks stay themselves; a leading "ー" is kept for `_handle_long`."""
    if set(text) <= _PUNCT:
        return list(text)
    if not _KATAKANA_RE.fullmatch(text):  # SBV2 raises here; read what can be read
        text = "".join(c for c in text if _KATAKANA_RE.match(c))
    spaced = _MORA_RE.sub(lambda m: " " + " ".join(_MORAS[m.group()]), text)
    spaced = _LONG_RE.sub(lambda m: m.group(1) + (" " + m.group(1)) * len(m.group(2)), spaced)
    return [p for p in spaced.strip().split(" ") if p]


def _handle_long(sep: list[list[str]]) -> list[list[str]]:
    for i, phones in enumerate(sep):
        if not phones:
            continue
        if phones[0] == "ー":
            prev = sep[i - 1][-1] if i > 0 and sep[i - 1] else ""
            phones[0] = prev if prev in _VOWELS else "-"
        for j in range(1, len(phones)):
            if phones[j] == "ー":
                phones[j] = phones[j - 1][-1]
    return sep


_A1 = re.compile(r"/A:([0-9\-]+)\+")
_A2 = re.compile(r"\+(\d+)\+")
_A3 = re.compile(r"\+(\d+)/")
_E3 = re.compile(r"!(\d+)_")
_F1 = re.compile(r"/F:(\d+)_")
_P3 = re.compile(r"\-(.*?)\+")


def _num(regex: re.Pattern, label: str) -> int:
    m = regex.search(label)
    return int(m.group(1)) if m else -50


def _prosody(labels: tuple[str, ...]) -> list[str]:
    """Phones with prosody marks: "^" start, "$"/"?" end, "_" pause, "#" phrase border,
    "[" pitch rise, "]" pitch fall (ESPnet's pyopenjtalk_g2p_prosody, unvoiced vowels lower)."""
    out: list[str] = []
    for n, label in enumerate(labels):
        p3 = (_P3.search(label) or re.match("(.*)", "")).group(1)
        if p3 in ("A", "E", "I", "O", "U"):
            p3 = p3.lower()
        if p3 == "sil":
            if n == 0:
                out.append("^")
            elif n == len(labels) - 1:
                out += {0: ["$"], 1: ["?"]}.get(_num(_E3, label), [])
            continue
        if p3 == "pau":
            out.append("_")
            continue
        out.append(p3)
        a1, a2, a3, f1 = (_num(r, label) for r in (_A1, _A2, _A3, _F1))
        a2_next = _num(_A2, labels[n + 1]) if n + 1 < len(labels) else -50
        if a3 == 1 and a2_next == 1 and p3 in "aeiouAEIOUNcl":  # a substring test, as SBV2
            out.append("#")
        elif a1 == 0 and a2_next == a2 + 1 and a2 != f1:
            out.append("]")
        elif a2 == 1 and a2_next == 2:
            out.append("[")
    return out


def _fix_tones(phrase: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """A phrase's relative tones -> 0/1: {-1, 0} is lifted by one; anything else clipped."""
    if {t for _, t in phrase} == {-1, 0}:
        return [(p, t + 1) for p, t in phrase]
    return [(p, min(max(t, 0), 1)) for p, t in phrase]


def _phone_tones(labels: tuple[str, ...]) -> list[tuple[str, int]]:
    """(phone, tone) of every phone without marks, tones 0/1 per accent phrase."""
    out: list[tuple[str, int]] = []
    phrase: list[tuple[str, int]] = []
    tone = 0
    for sym in _prosody(labels):
        if sym in ("$", "?", "_", "#"):
            out += _fix_tones(phrase)
            phrase, tone = [], 0
        elif sym in ("[", "]"):
            tone += 1 if sym == "[" else -1
        elif sym != "^":
            phrase.append(("q" if sym == "cl" else sym, tone))
    return out + _fix_tones(phrase)


def _align(phones: list[str], phone_tones: list[tuple[str, int]]) -> list[int]:
    """Tones for phones with marks: label phones in order; marks (and, where SBV2 would raise,
    unmatched phones) tone 0."""
    tones: list[int] = []
    k = 0
    for ph in phones:
        if k < len(phone_tones) and ph == phone_tones[k][0]:
            tones.append(phone_tones[k][1])
            k += 1
        else:
            tones.append(0)
    return tones


def clean_text(
    text: str, tokenizer, jp_extra: bool, dictionary: str | None = None
) -> tuple[str, list[str], list[int], list[int]]:
    """SBV2's Japanese `clean_text` -> (bert_text, phones, tones, word2ph); "_" padding at
    both ends; word2ph has one entry per token of `tokenizer(bert_text)`. `dictionary` is the
    compiled user dictionary SBV2 reads with (its default one for the sbv2 profiles)."""
    tok = load_tokenizer(tokenizer, "JP")
    norm = normalize_text(text)
    if not norm:
        return "", ["_", "_"], [0, 0], [1, 1]
    words, readings = text_to_sep_kata(norm, dictionary)
    sep = _handle_long([_kata_to_phones(r) for r in readings])
    flat = [p for ph in sep for p in ph]
    tones = _align(flat, _phone_tones(_parse(norm, dictionary)[1]))
    word2ph: list[int] = []
    for word, ph in zip(words, sep, strict=True):
        n_tok = 1 if word in _PUNCT else len(tok.tokenize(word))
        word2ph += distribute_phone(len(ph), n_tok) if n_tok else []
    if not jp_extra:
        flat = ["n" if p == "N" else p for p in flat]
    flat = [p if p in SYMBOL_TO_ID else "UNK" for p in flat]
    return "".join(words), ["_", *flat, "_"], [0, *tones, 0], [1, *word2ph, 1]
