"""Chinese g2p of Bert-VITS2 v2.3: normalised text -> phones, tones (0-5), word2ph.

Pipeline, as upstream `text/chinese.py`: split after every punctuation mark; per piece, jieba
POS segmentation, regrouping and tone sandhi (`tone_sandhi`), pypinyin strict initials and
FINALS_TONE3 finals (neutral tone written 5), then two phones per syllable (`zh_phones`) and one
phone per punctuation mark (tone 0). word2ph counts phones per character; the result is wrapped
in the padding phone "_" (tone 0, word2ph 1) at both ends.

jieba loads its dictionary (about a second, cached under the temp dir) on the first call, not on
import, and does so without logging. Imports no torch.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable

from vits2.text.symbols import PAD, PUNCTUATION
from vits2.text.tone_sandhi import ToneSandhi
from vits2.text.zh_normalize import normalize
from vits2.text.zh_phones import pinyin_key, syllable_to_phones

__all__ = ["g2p", "text_normalize"]

_SENTENCE_SPLIT = re.compile(r"(?<=[" + re.escape("".join(PUNCTUATION)) + r"])\s*")
_OUTSIDE_ALPHABET = re.compile(r"[^\u4e00-\u9fa5" + re.escape("".join(PUNCTUATION)) + r"]")


def text_normalize(text: str, profile=None) -> str:
    """Upstream `text_normalize` (numbers as the profile's release reads them, see
    `zh_normalize`): punctuation mapped onto the 7 marks, every other character outside CJK
    U+4E00-U+9FA5 dropped."""
    return normalize(text, profile)


@functools.cache
def _jieba() -> tuple[Callable[[str], list], Callable[[str], list[str]]]:
    """(posseg.lcut, cut_for_search), with the dictionary loaded quietly on first use."""
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.posseg.lcut, lambda word: list(jieba.cut_for_search(word))


@functools.lru_cache(maxsize=1 << 16)
def _pinyin(word: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """pypinyin strict initials and FINALS_TONE3 finals of a word, one pair per character.

    Syllabic nasals (噷 hm, 嗯 n/ng, 呣 m) have no strict final, which upstream crashes on; they
    come back here with an empty initial and the whole toned syllable as final ("hm5"), which
    `zh_phones` maps onto a trained syllable. Cached: a word's reading does not depend on its
    context, and pypinyin is most of the frontend's time.
    """
    from pypinyin import Style, lazy_pinyin

    initials = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.INITIALS)
    finals = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3)
    if not all(finals):
        syllables = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.TONE3)
        for k, final in enumerate(finals):
            if not final:
                initials[k], finals[k] = "", syllables[k]
    return tuple(initials), tuple(finals)


def _initials_finals(word: str) -> tuple[list[str], list[str]]:
    initials, finals = _pinyin(word)
    return list(initials), list(finals)


def _finals(word: str) -> list[str]:
    return list(_pinyin(word)[1])


@functools.cache
def _tone_sandhi() -> ToneSandhi:
    return ToneSandhi(finals_of=_finals, search_cut=_jieba()[1])


def _syllable(initial: str, final: str, context: str) -> tuple[list[str], int]:
    """(phones, tone) of one toned syllable; a punctuation mark comes back as itself, tone 0."""
    if initial == final and initial in PUNCTUATION:
        return [initial], 0
    tone = final[-1:]
    if tone not in ("1", "2", "3", "4", "5"):
        raise ValueError(f"no pinyin for {initial + final!r} in {context!r}")
    try:
        return list(syllable_to_phones(pinyin_key(initial, final[:-1]))), int(tone)
    except ValueError as err:
        raise ValueError(f"cannot map pinyin {initial + final!r} in {context!r}: {err}") from None


def _g2p_sentence(sentence: str) -> tuple[list[str], list[int], list[int]]:
    lcut, _ = _jieba()
    sandhi = _tone_sandhi()
    phones: list[str] = []
    tones: list[int] = []
    word2ph: list[int] = []
    for word, pos in sandhi.pre_merge_for_modify([(w, p) for w, p in lcut(sentence)]):
        if pos == "eng":
            continue
        initials, finals = _initials_finals(word)
        finals = sandhi.modified_tone(word, pos, finals)
        for initial, final in zip(initials, finals, strict=True):
            syllable_phones, tone = _syllable(initial, final, sentence)
            phones += syllable_phones
            tones += [tone] * len(syllable_phones)
            word2ph.append(len(syllable_phones))
    return phones, tones, word2ph


def g2p(norm_text: str) -> tuple[list[str], list[int], list[int]]:
    """Phones, tones (0-5) and word2ph of `text_normalize` output, padded with "_" at both ends.

    word2ph has one entry per character of `norm_text` plus the two padding entries, so
    len(word2ph) == len(norm_text) + 2 and sum(word2ph) == len(phones). Empty text gives just
    the padding. Raises ValueError for characters `text_normalize` would have removed.
    """
    stray = sorted(set(_OUTSIDE_ALPHABET.findall(norm_text)))
    if stray:
        raise ValueError(
            f"g2p got characters outside normalised Chinese text: {stray!r}; allowed are CJK "
            f"ideographs U+4E00-U+9FA5 and {''.join(PUNCTUATION)!r}; call text_normalize first"
        )
    phones: list[str] = [PAD]
    tones: list[int] = [0]
    word2ph: list[int] = [1]
    for sentence in _SENTENCE_SPLIT.split(norm_text):
        if sentence.strip():
            sentence_phones, sentence_tones, sentence_word2ph = _g2p_sentence(sentence)
            phones += sentence_phones
            tones += sentence_tones
            word2ph += sentence_word2ph
    phones.append(PAD)
    tones.append(0)
    word2ph.append(1)
    if len(word2ph) != len(norm_text) + 2 or sum(word2ph) != len(phones):
        raise RuntimeError(f"word2ph does not cover {norm_text!r} one entry per character")
    return phones, tones, word2ph
