"""English g2p of Bert-VITS2 2.0, 2.1 and 2.2 (profiles `upstream-2.0/2.1/2.2`).

Before v2.3 upstream read English by whole words, not DeBERTa pieces:

- words: the normalised text split at whitespace and , ; . ? ! (2.0 also at "-"), each word
  looked up whole in CMUdict 0.6, else read as `g2p_en.G2p()(word)` reads it (its cleaning,
  tokenizer, dictionary and model: `en_lexicon.oov_arpabet`);
- tones: stress n -> n + 1 as in 2.3, but a phone without a stress digit has tone 0 (2.3: 3);
- word2ph (2.1, 2.2): each word's phones spread over that word's own tokens (`tokenize(word)`),
  so a word with more tokens than phones gives tokens 0 phones;
- word2ph (2.0): one entry per word, and the 2.0 BERT gives word i the feature of token i (its
  English BERT was indexed by word number, not aligned to the word's tokens);
- 2.0 does not map punctuation in `text_normalize`; its `post_replace_ph` maps full-width
  marks itself and anything outside the symbol table to "UNK".

Imports no torch.
"""

from __future__ import annotations

import re

from vits2.text.en_lexicon import ARPA, cmu06_phones, oov_arpabet
from vits2.text.punctuation import SENTENCE_MARKS
from vits2.text.symbols import SYMBOL_TO_ID
from vits2.text.tokenizers import distribute_phone

__all__ = ["g2p_words"]

_SPLIT_RE = re.compile(r"([,;.\?\!\s+])")
_SPLIT_20_RE = re.compile(r"([,;.\-\?\!\s+])")

_POST_REPLACE_20 = {**SENTENCE_MARKS, "·": ",", "、": ",", "...": "…", "v": "V"}
"""2.0's `post_replace_ph` map (2.1 and 2.2 map "…" to "...", which is not a symbol: "UNK")."""
_POST_REPLACE_21 = {**_POST_REPLACE_20, "...": "...", "…": "...", "···": "...", "・・・": "..."}


def _refine(ph: str) -> tuple[str, int]:
    """ARPAbet -> (phone, tone): stress n -> n + 1; no stress digit -> 0 (before v2.3)."""
    if ph and ph[-1].isdigit():
        return ph[:-1].lower(), int(ph[-1]) + 1
    return ph.lower(), 0


def _post_replace(ph: str, table: dict[str, str]) -> str:
    ph = table.get(ph, ph)
    return ph if ph in SYMBOL_TO_ID else "UNK"


def _word_phones(word: str, table: dict[str, str]) -> tuple[list[str], list[int]]:
    """One whole word: CMUdict 0.6, else g2p_en; punctuation and symbols pass as themselves."""
    entry = cmu06_phones(word)
    pairs = []
    if entry is not None:
        pairs = [_refine(ph) for ph in entry]
    else:
        for ph in oov_arpabet(word):
            pairs.append(_refine(ph) if ph in ARPA else (ph, 0))
    return [_post_replace(p, table) for p, _ in pairs], [t for _, t in pairs]


def g2p_words(norm_text: str, tokenizer, release: str) -> tuple[list[str], list[int], list[int]]:
    """(phones, tones, word2ph) as the 2.0 ("split-2.0") or 2.1/2.2 ("split") g2p gives them;
    "_" padding at both ends, word2ph with the [CLS]/[SEP] entries of 1."""
    v20 = release == "split-2.0"
    words = [w for w in (_SPLIT_20_RE if v20 else _SPLIT_RE).split(norm_text) if w.strip()]
    table = _POST_REPLACE_20 if v20 else _POST_REPLACE_21
    phones: list[str] = []
    tones: list[int] = []
    word2ph: list[int] = []
    for word in words:
        p, t = _word_phones(word, table)
        phones += p
        tones += t
        if v20:
            word2ph.append(len(p))
        else:
            n_tok = len(tokenizer.tokenize(word))
            word2ph += distribute_phone(len(p), n_tok) if n_tok else []
    return ["_"] + phones + ["_"], [0] + tones + [0], [1] + word2ph + [1]
