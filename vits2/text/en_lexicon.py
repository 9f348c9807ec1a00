"""The English lexicon every English g2p reads: CMUdict 0.6 (upstream's syllabified
`text/cmudict.rep`, shipped gzipped beside this module) and what upstream's `g2p_en.G2p()` does
for a word it lacks (`oov_arpabet`: g2p_en's cleaning, tokenizer, CMUdict and GRU model,
restated in numpy). The 2.3 piece-level g2p (`english`) and the whole-word g2p of 2.0-2.2
(`en_releases`) both read it; it imports neither. Imports no torch.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "ARPA",
    "CMU06_FILE",
    "cmu06",
    "cmu06_phones",
    "g2p_en_dict",
    "oov_arpabet",
    "tweet_tokenize",
]

_VOWELS = ["AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"]
_CONSONANTS = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split()
# Upstream's `arpa` set: what the neural fallback may emit that is refined into phone + tone.
ARPA = {v + s for v in _VOWELS for s in "012"} | set(_CONSONANTS) | {"ER", "IH"}

CMU06_FILE = Path(__file__).with_name("cmudict-0.6-syllables.rep.gz")
"""CMUdict 0.6 syllabified, header kept (Carnegie Mellon University; free use, credit asked)."""
_CMU06_FIRST_ENTRY_LINE = 49  # upstream's read_dict starts here (lines 1-48 are the header)

_cmu_lock = threading.Lock()
_cmu06: dict[str, str] | None = None
_cmu_latest: dict[str, str] | None = None


def cmu06() -> dict[str, str]:
    """Upper-case word -> its CMUdict 0.6 entry as written ("AE1 N D", syllables joined by
    " - "). Loaded once (about 0.2 s); entries are split into phones on lookup."""
    global _cmu06
    if _cmu06 is not None:
        return _cmu06
    with _cmu_lock:
        if _cmu06 is None:
            lines = gzip.decompress(CMU06_FILE.read_bytes()).decode("ascii").splitlines()
            table: dict[str, str] = {}
            # Every entry line is "WORD  PHONES" with exactly one double space (checked when
            # the file was added), so partition equals upstream's split("  ")[1].
            for line in lines[_CMU06_FIRST_ENTRY_LINE - 1 :]:
                word, _, phones = line.strip().partition("  ")
                if phones:
                    table[word] = phones
            _cmu06 = table
    return _cmu06


def cmu06_phones(word: str) -> list[str] | None:
    """ARPAbet phones of `word` (any case) in CMUdict 0.6, or None where it has no entry."""
    entry = cmu06().get(word.upper())
    if entry is None:
        return None
    return [ph for syllable in entry.split(" - ") for ph in syllable.split(" ")]


_VARIANT_RE = re.compile(r"\(\d+\)$")


def g2p_en_dict() -> dict[str, str]:
    """Upper-case word -> first pronunciation ("AH0 N D") in the CMUdict g2p_en consults for a
    piece that CMUdict 0.6 lacks (NLTK's copy upstream; the `cmudict` package's file here, read
    as its `entries()` reads it: "#" starts a comment, "WORD(2)" is a variant of WORD)."""
    global _cmu_latest
    if _cmu_latest is not None:
        return _cmu_latest
    with _cmu_lock:
        if _cmu_latest is None:
            import cmudict

            with cmudict.dict_stream() as stream:
                text = stream.read().decode("utf-8")
            table: dict[str, str] = {}
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split(None, 1)
                if parts:
                    word = _VARIANT_RE.sub("", parts[0]).upper()
                    if word not in table:
                        table[word] = parts[1].strip() if len(parts) > 1 else ""
            _cmu_latest = table
    return _cmu_latest


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


# g2p_en tokenizes with nltk's TweetTokenizer. On what its cleaning leaves (a-z, space and
# ' . , ? ! -) that tokenizer reduces to: runs of 4+ equal non-letters shortened to 3, then
# naked domain names ("ab.cd", its URL pattern), words with inner ' or - (letters at both
# ends), plain words, ellipses, any other character. Its other patterns (URLs with a slash,
# emoticons, arrows, handles, hashtags, e-mail) need characters the cleaning removed.
# Restated here so that the frontend never imports NLTK.
_HANG_RE = re.compile(r"([^a-z])\1{3,}")
_TWEET_TOKEN_RE = re.compile(
    r"[a-z]+(?:[.\-][a-z]+){0,126}[.][a-z]{2,13}\b"
    r"|[a-z](?:[a-z]|['\-_])+[a-z]|[a-z_]+|\.(?:[^\S\r\n]*\.)+|\S"
)


def tweet_tokenize(text: str) -> list[str]:
    """nltk TweetTokenizer().tokenize on g2p_en-cleaned text ("'hello" -> ["'", "hello"])."""
    return _TWEET_TOKEN_RE.findall(_HANG_RE.sub(r"\1\1\1", text))


@lru_cache(maxsize=4096)
def oov_arpabet(piece: str) -> tuple[str, ...]:
    """What upstream's `G2p()(piece)` gives for a piece not in CMUdict 0.6, without NLTK data.

    Same preprocessing (strip accents, lower-case, keep a-z and ' . , ? ! -, "i.e." and
    "e.g." spelled out) and tokenizer; tokens without a letter are passed through as
    themselves; words in g2p_en's CMUdict are looked up, others predicted. The homograph table
    (which would need NLTK's tagger) is skipped: all but 18 inflected forms of its words are in
    CMUdict 0.6, which is checked first; those 18 take their CMUdict reading here.
    """
    text = "".join(
        c for c in unicodedata.normalize("NFD", piece) if unicodedata.category(c) != "Mn"
    )
    text = _OOV_CLEAN_RE.sub("", text.lower())
    text = text.replace("i.e.", "that is").replace("e.g.", "for example")
    prons: list[str] = []
    for token in tweet_tokenize(text):
        if not re.search("[a-z]", token):
            prons.append(token)
        elif token.upper() in g2p_en_dict():
            prons.extend(g2p_en_dict()[token.upper()].split())
        else:
            prons.extend(_neural().predict(token))
    return tuple(prons)
