"""Pinyin syllable -> (initial phone, final phone), the "opencpop-strict" scheme of Bert-VITS2.

Upstream reads this table from `opencpop-strict.txt`; here it is derived from the spelling rules
that the table follows, so every well-formed syllable maps without a data file:

- zero-initial syllables get a glottal marker as initial: a* -> "AA", e* -> "EE", o* -> "OO",
  and keep the whole syllable as the final ("ang" -> AA ang, "er" -> EE er);
- "y"/"w" stay initials; after j/q/x/y a written "u" is really "ü" ("v"): ju -> j v,
  yuan -> y van, que -> q ve, xun -> x vn (the "v" spellings jv, yvan, ... map the same);
- "yan" -> y En and "ye" -> y E (the fronted vowel of these two has its own phones);
- the apical vowels get their own finals: zhi/chi/shi/ri -> "ir", zi/ci/si -> "i0";
- everything else splits into the spelled initial and the rest (gui -> g ui, niu -> n iu).

`pinyin_key` turns pypinyin's strict (initial, final) pair into the spelled syllable the way
upstream `_g2p` does (uei/iou/uen contractions after an initial; y/w spelling without one).
Syllables the table cannot hold (syllabic nasals m/n/ng/hm/hng and "ê", which upstream crashes
on) map through `EXTRA_SYLLABLES` onto the nearest trained syllable.
"""

from __future__ import annotations

from vits2.text.symbols import ZH_SYMBOLS

# Longest first so "zh" wins over "z".
INITIALS: tuple[str, ...] = (
    "zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h",
    "j", "q", "x", "r", "z", "c", "s", "y", "w",
)  # fmt: skip
"""Spelled initials of pinyin, including the glide spellings y and w."""

ZERO_INITIAL_MARKER: dict[str, str] = {"a": "AA", "e": "EE", "o": "OO"}
"""Initial phone of a syllable written without a consonant, keyed by its first letter."""

ZERO_INITIAL_FINALS: frozenset[str] = frozenset("a ai an ang ao e ei en eng er o ou".split())
"""Syllables that stand without any initial letter (not even y/w)."""

CONSONANT_FINALS: frozenset[str] = frozenset(
    (
        "a ai an ang ao e ei en eng i ia ian iang iao ie in ing iong iu o ong ou "
        "u ua uai uan uang ue ui un uo v van ve vn"
    ).split()
)
"""Final spellings allowed after a consonant or y/w (before the j/q/x/y "u" -> "v" rule)."""

EXTRA_SYLLABLES: dict[str, tuple[str, str]] = {
    # Syllabic nasals: upstream rewrites 嗯 -> 恩 (en) and 呣 -> 母 (mu) before g2p; other
    # characters read this way go the same direction.
    "n": ("EE", "en"),
    "ng": ("EE", "eng"),
    "m": ("m", "u"),
    "hm": ("h", "en"),
    "hng": ("h", "eng"),
    # "ê" (欸 in some phrases) is the interjection now usually read "ei".
    "ê": ("EE", "ei"),
    # "wong" (one extension-B character), which strict pypinyin splits as "" + "ong"; the
    # standard spelling of that sound is "weng".
    "ong": ("w", "eng"),
}
"""Syllables pypinyin can produce that the opencpop table has no entry for."""

_ZH_PHONES = frozenset(ZH_SYMBOLS)


def _final_phone(initial: str, rest: str) -> str:
    if initial in ("j", "q", "x", "y") and rest.startswith("u"):
        rest = "v" + rest[1:]
    if initial in ("l", "n") and rest == "ue":
        rest = "ve"
    if initial == "y":
        return {"an": "En", "e": "E"}.get(rest, rest)
    if rest == "i" and initial in ("zh", "ch", "sh", "r"):
        return "ir"
    if rest == "i" and initial in ("z", "c", "s"):
        return "i0"
    return rest


def _allowed(initial: str, final: str) -> bool:
    """Coarse Mandarin phonotactics, enough to reject strings that are not syllables."""
    if final.startswith("v"):
        return initial in ("j", "q", "x", "y") or (initial in ("l", "n") and final in ("v", "ve"))
    if initial in ("j", "q", "x"):
        return final.startswith("i")
    if final.startswith("i") and final not in ("ir", "i0"):
        return initial not in ("zh", "ch", "sh", "r", "z", "c", "s", "g", "k", "h", "w")
    return True


def syllable_to_phones(syllable: str) -> tuple[str, str]:
    """Map a toneless pinyin syllable ("zhi", "yuan", "jv", "er") to its two phones.

    Raises ValueError for a string that is not shaped like a Mandarin syllable.
    """
    if syllable in EXTRA_SYLLABLES:
        return EXTRA_SYLLABLES[syllable]
    if syllable in ZERO_INITIAL_FINALS:
        return ZERO_INITIAL_MARKER[syllable[0]], syllable
    for initial in INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            rest = syllable[len(initial) :]
            break
    else:
        raise ValueError(f"{syllable!r} is not a pinyin syllable (no known initial or final)")
    final = _final_phone(initial, rest)
    if rest not in CONSONANT_FINALS or final not in _ZH_PHONES or not _allowed(initial, final):
        raise ValueError(
            f"{syllable!r} is not a pinyin syllable: final {rest!r} after initial {initial!r}"
        )
    return initial, final


_CONTRACTED_FINALS = {"uei": "ui", "iou": "iu", "uen": "un"}
_BARE_SYLLABLES = {"ing": "ying", "i": "yi", "in": "yin", "u": "wu"}
_GLIDE_SPELLING = {"v": "yu", "e": "e", "i": "y", "u": "w"}


def pinyin_key(initial: str, final: str) -> str:
    """Spell pypinyin's strict (initial, toneless final) pair as a syllable, as upstream does.

    ("g", "uei") -> "gui"; ("", "iou") -> "you"; ("", "v") -> "yu"; ("", "uan") -> "wan".
    """
    if initial:
        return initial + _CONTRACTED_FINALS.get(final, final)
    if final in _BARE_SYLLABLES:
        return _BARE_SYLLABLES[final]
    if final and final[0] in _GLIDE_SPELLING:
        return _GLIDE_SPELLING[final[0]] + final[1:]
    return final


def phones_for(initial: str, final: str) -> list[str]:
    """Phones of one syllable from pypinyin's strict initial and toneless final."""
    return list(syllable_to_phones(pinyin_key(initial, final)))
