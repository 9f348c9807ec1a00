"""The sentence rules: where a text is cut into utterances (stdlib only).

The server's frontend (`vits2.text.sentences`) and the client's planner (`tts_client.planner`)
both cut here, so text the client sends in pieces is numbered, seeded and paused the way the
server would have done it in one request. A sentence ends at 。！？；.!?;… (an ASCII mark only
before a space, a non-alphanumeric or the end, and not after an abbreviation such as "Mr."),
closing quotes/brackets stay with it; a newline ends a paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SentenceSpan", "boundaries", "split_sentences"]

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
KIND_RANK = {"sentence": 0, "paragraph": 1, "end": 2}


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


def spans(s: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each non-blank sentence of ``s``; kind is how it ends
    ("sentence", "paragraph" or "end"); a blank stretch strengthens the kind before it."""
    out: list[tuple[int, int, str]] = []
    start = 0
    for end, kind in [*boundaries(s), (len(s), "end")]:
        begin = start
        start = end + 1 if kind == "paragraph" else end  # the newline itself is dropped
        if s[begin:end].strip():
            out.append((begin, end, kind))
        elif out and KIND_RANK[kind] > KIND_RANK[out[-1][2]]:
            out[-1] = (*out[-1][:2], kind)  # "a.\n" ends a paragraph, not just a sentence
    return out


@dataclass
class SentenceSpan:
    """A stretch of the input text that the server speaks as one utterance."""

    text: str
    start: int
    """Offset in the original text (for progress reporting)."""
    end: int
    kind: str
    """How it ends: "sentence", "paragraph" (a newline follows) or "end" (last one)."""


def split_sentences(text: str) -> list[SentenceSpan]:
    """Sentences of ``text`` with how each ends; whitespace-only stretches are dropped."""
    return [SentenceSpan(text[a:b], a, b, kind) for a, b, kind in spans(text)]
