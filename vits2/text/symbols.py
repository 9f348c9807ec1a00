"""The checkpoint's vocabulary: phone symbols, tone offsets and language ids of Bert-VITS2 v2.x.

The table is built the way upstream builds it (pad, then the sorted union of the three languages'
phones, then punctuation), so ids match every upstream checkpoint. Imports no torch.
"""

from __future__ import annotations

PAD = "_"
PUNCTUATION = ["!", "?", "…", ",", ".", "'", "-"]
"""The 7 punctuation marks the model knows; everything else is mapped onto these or dropped."""
SPECIAL = ["SP", "UNK"]

ZH_SYMBOLS = (
    "E En a ai an ang ao b c ch d e ei en eng er f g h i i0 ia ian iang iao ie in ing iong ir iu "
    "j k l m n o ong ou p q r s sh t u ua uai uan uang ui un uo v van ve vn w x y z zh AA EE OO"
).split()
JA_SYMBOLS = (
    "N a a: b by ch d dy e e: f g gy h hy i i: j k ky m my n ny o o: p py q r ry s sh t ts ty "
    "u u: w y z zy"
).split()
EN_SYMBOLS = (
    "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t th uh uw "
    "V w y z zh"
).split()

SYMBOLS: list[str] = (
    [PAD] + sorted(set(ZH_SYMBOLS + JA_SYMBOLS + EN_SYMBOLS)) + PUNCTUATION + SPECIAL
)
SYMBOL_TO_ID: dict[str, int] = {s: i for i, s in enumerate(SYMBOLS)}

LANGUAGES = ("ZH", "JP", "EN")
"""Languages a v2.3 voice speaks, in language-id order."""
LANGUAGE_ID: dict[str, int] = {"ZH": 0, "JP": 1, "EN": 2}
NUM_TONES_PER_LANGUAGE: dict[str, int] = {"ZH": 6, "JP": 2, "EN": 4}
TONE_OFFSET: dict[str, int] = {"ZH": 0, "JP": 6, "EN": 8}
NUM_TONES = sum(NUM_TONES_PER_LANGUAGE.values())
NUM_LANGUAGES = len(LANGUAGES)


def cleaned_text_to_sequence(
    phones: list[str], tones: list[int], language: str
) -> tuple[list[int], list[int], list[int]]:
    """Map phones and language-local tones to (phone ids, tone ids with offset, language ids)."""
    if language not in LANGUAGE_ID:
        raise ValueError(f"unknown language {language!r}; allowed: {', '.join(LANGUAGES)}")
    unknown = sorted({p for p in phones if p not in SYMBOL_TO_ID})
    if unknown:
        raise ValueError(f"phones not in the symbol table: {unknown}")
    offset = TONE_OFFSET[language]
    return (
        [SYMBOL_TO_ID[p] for p in phones],
        [t + offset for t in tones],
        [LANGUAGE_ID[language]] * len(phones),
    )


def intersperse(seq: list[int], item: int = 0) -> list[int]:
    """[a, b] -> [item, a, item, b, item], as upstream's add_blank."""
    out = [item] * (len(seq) * 2 + 1)
    out[1::2] = seq
    return out


def add_blank(
    phone_ids: list[int], tone_ids: list[int], language_ids: list[int], word2ph: list[int]
) -> tuple[list[int], list[int], list[int], list[int]]:
    """Upstream add_blank: interleave 0 into ids; word2ph doubled with the first entry +1."""
    doubled = [n * 2 for n in word2ph]
    if doubled:
        doubled[0] += 1
    return (
        intersperse(phone_ids),
        intersperse(tone_ids),
        intersperse(language_ids),
        doubled,
    )
