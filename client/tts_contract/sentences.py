"""The sentence rules: where a text is cut into utterances (stdlib only).

The server's frontend (`vits2.text.sentences`) and the client's planner (`tts_client.planner`)
both cut here, so text the client sends in pieces is numbered, seeded and paused the way the
server would have done it in one request. A sentence ends at 。！？；.!?;… (an ASCII mark only
before a space, a non-alphanumeric or the end, and not after an abbreviation such as "Mr."),
closing quotes/brackets stay with it; a newline ends a paragraph. Opt-in (CLAUSE_CHARS), a
sentence longer than that many characters is cut further at its clause marks (`clause_cuts`).
MIX markup's tags are not text: sentences and clause lengths are those of the text between them
(`mix_runs`), as the server's frontend speaks it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SentenceSpan", "boundaries", "clause_cuts", "mix_alone", "mix_runs", "split_sentences"]

CJK_END = frozenset("。！？；")
ASCII_END = frozenset(".!?;…")
CLOSERS = frozenset("”’」』）)]\"'")
CLAUSE_MARKS = frozenset(",，、:：;；—")
ABBREVIATIONS = frozenset(
    "mrs mr dr st co jr maj gen drs rev lt hon sgt capt esq ltd col ft vs etc".split()
)
"""Words whose period does not end a sentence ("Mr. Smith")."""
LANGUAGE_TAG_RE = re.compile(r"\[(ZH|JP|JA|EN)\]|<(zh|jp|ja|en)>", re.IGNORECASE)
"""MIX markup: ``[ZH]...[EN]...`` or ``<zh>...``."""
KIND_RANK = {"clause": -1, "sentence": 0, "paragraph": 1, "end": 2}
"""How strongly a cut ends an utterance; a "clause" piece is followed by no pause."""


def mix_runs(text: str) -> list[tuple[str, int, int]]:
    """(language, start, end) of each stretch of MIX markup the server speaks: ``[ZH]你好[EN]hi``
    -> [("ZH", 4, 6), ("EN", 10, 12)]. A tag repeated right after its text closes it (VITS style
    ``[ZH]你好[ZH]``), untagged text is "AUTO" (detected), and a blank stretch between two tags
    is dropped."""
    runs: list[tuple[str, int, int]] = []
    lang, pos = "AUTO", 0
    for m in LANGUAGE_TAG_RE.finditer(text):
        tag = (m.group(1) or m.group(2)).upper().replace("JA", "JP")
        if text[pos : m.start()].strip():
            runs.append((lang, pos, m.start()))
            lang = "AUTO" if tag == lang else tag  # "[ZH]x[ZH]" closes the ZH run
        else:
            lang = tag
        pos = m.end()
    if text[pos:].strip():
        runs.append((lang, pos, len(text)))
    return runs


def mix_alone(
    text: str, start: int, end: int, runs: list[tuple[str, int, int]] | None = None
) -> str:
    """``text[start:end]`` of MIX markup, to be sent alone and spoken in the languages it has
    inside ``text``: its leading tags give way to the language in force at its first spoken
    character (`mix_runs`; nothing for detected text, as after a closing tag). ``runs``:
    ``mix_runs(text)``, when the caller cuts one text many times."""
    runs = mix_runs(text) if runs is None else runs
    lang = next((run for run, a, b in runs if b > start and a < end), "AUTO")
    body = text[start:end]
    while m := LANGUAGE_TAG_RE.match(body, len(body) - len(body.lstrip())):
        body = body[m.end() :]
    return ("" if lang == "AUTO" else f"[{lang}]") + body


def boundaries(s: str) -> list[tuple[int, str]]:
    """(end index, "sentence" | "paragraph") where ``s`` is cut; a paragraph cut sits on the
    newline itself (which is dropped)."""
    cuts: list[tuple[int, str]] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in "\r\n":
            cuts.append((i, "paragraph"))
        elif c in CJK_END or c in ASCII_END:
            j = i
            while j + 1 < n and (s[j + 1] in CJK_END or s[j + 1] in ASCII_END):
                j += 1
            while j + 1 < n and s[j + 1] in CLOSERS:
                j += 1
            ok = True
            if all(ch in ASCII_END for ch in s[i : j + 1] if ch not in CLOSERS):
                after = s[j + 1] if j + 1 < n else " "
                ok = after.isspace() or not (after.isascii() and after.isalnum())
                if ok and s[i : j + 1] == ".":
                    word = re.search(r"([A-Za-z]+)$", s[:i])
                    ok = not (word and word.group(1).lower() in ABBREVIATIONS)
            if ok:
                cuts.append((j + 1, "sentence"))
            i = j
        i += 1
    return cuts


def clause_cuts(s: str, max_chars: int) -> list[int]:
    """Where sentence ``s`` is cut when it is longer than ``max_chars`` characters (0: never):
    after clause marks (`CLAUSE_MARKS`, with the closing quotes after them; an ASCII mark only
    before a space, so "1,000" and "3:30" stay whole), greedily: each piece runs to the last
    clause mark within ``max_chars`` characters of its start, or to the first one after that
    if there is none within, until what is left fits. The same text alone is cut the same way,
    piece by piece."""
    if max_chars <= 0 or len(s.strip()) <= max_chars:
        return []
    marks = []
    for i, c in enumerate(s):
        if c not in CLAUSE_MARKS or (c.isascii() and not s[i + 1 : i + 2].isspace()):
            continue
        j = i + 1
        while j < len(s) and s[j] in CLOSERS:
            j += 1
        if s[j:].strip() and s[:i].strip():
            marks.append(j)
    cuts: list[int] = []
    start = 0
    while len(s[start:].strip()) > max_chars:
        within = [m for m in marks if start < m <= start + max_chars]
        after = [m for m in marks if m > start + max_chars]
        if not within and not after:
            break
        start = max(within) if within else min(after)
        cuts.append(start)
    return cuts


def spans(s: str, clause_chars: int = 0) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each non-blank sentence of ``s``; kind is how it ends
    ("sentence", "paragraph" or "end"); a blank stretch strengthens the kind before it. With
    ``clause_chars`` > 0 a longer sentence comes as its pieces (`clause_cuts`), all but the
    last of kind "clause"."""
    out: list[tuple[int, int, str]] = []
    start = 0
    for end, kind in [*boundaries(s), (len(s), "end")]:
        begin = start
        start = end + 1 if kind == "paragraph" else end  # the newline itself is dropped
        if s[begin:end].strip():
            out.append((begin, end, kind))
        elif out and KIND_RANK[kind] > KIND_RANK[out[-1][2]]:
            out[-1] = (*out[-1][:2], kind)  # "a.\n" ends a paragraph, not just a sentence
    if clause_chars <= 0:
        return out
    pieces = []
    for begin, end, kind in out:
        cuts = [begin + c for c in clause_cuts(s[begin:end], clause_chars)]
        edges = [begin, *cuts, end]
        pieces += [(a, b, "clause") for a, b in zip(edges, edges[1:-1], strict=False)]
        pieces.append((edges[-2], end, kind))
    return pieces


@dataclass
class SentenceSpan:
    """A stretch of the input text that the server speaks as one utterance."""

    text: str
    start: int
    """Offset in the original text (for progress reporting)."""
    end: int
    kind: str
    """How it ends: "sentence", "paragraph" (a newline follows), "end" (last one), or "clause"
    (a clause mark, where CLAUSE_CHARS cut a long sentence: no pause follows)."""


def split_sentences(text: str, clause_chars: int = 0, mix: bool = False) -> list[SentenceSpan]:
    """Sentences of ``text`` with how each ends; whitespace-only stretches are dropped. With
    ``clause_chars`` > 0, longer sentences come as their clause pieces (`spans`). With ``mix``
    the text is MIX markup, cut where the text of its runs is cut (`mix_runs`: tags do not
    count toward CLAUSE_CHARS, and do not end or start a sentence); each span runs from just
    after the spoken character before it, so the tags in between lead the span they switch."""
    if not mix:
        return [SentenceSpan(text[a:b], a, b, kind) for a, b, kind in spans(text, clause_chars)]
    at = [i for _, start, end in mix_runs(text) for i in range(start, end)]
    spoken = "".join(text[i] for i in at)
    out = []
    for a, b, kind in spans(spoken, clause_chars):
        start, end = (at[a - 1] + 1 if a else 0), at[b - 1] + 1
        out.append(SentenceSpan(text[start:end], start, end, kind))
    return out
