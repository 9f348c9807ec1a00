"""Frontend profiles: exact parity with upstream's own text code, per release, and the API.

tests/data/frontend-upstream-*.jsonl were made by running fishaudio/Bert-VITS2's `text.cleaner.
clean_text` (the `v2.3` tag and master, commits in each file's first line) on sentences written
for this project: English, Japanese, Chinese, number-heavy ones in each, and mixed-language
segment lists. English word2ph follows the tiny English tokenizer the test session trains
(deterministic pieces; the file records their hash), Japanese the real character tokenizer.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import pytest

from vits2.text import PROFILE_NAMES, clean_text, get_profile
from vits2.text.frontend import Frontend
from vits2.text.openjtalk import engine_info
from vits2.text.profiles import DEFAULT_PROFILE, IMPROVED_RULES, PROFILES

DATA = Path(__file__).parent / "data"
GOLDEN = {
    "upstream-2.3": DATA / "frontend-upstream-2.3.jsonl",
    "upstream-master": DATA / "frontend-upstream-master.jsonl",
}
# Libraries whose version changes these outputs and that pyproject pins.
PINNED = ("pypinyin", "jieba", "cn2an", "num2words", "sentencepiece")


def _header(profile: str) -> dict:
    return json.loads(GOLDEN[profile].read_text(encoding="utf-8").splitlines()[0])


def _lines() -> list:
    params = []
    for profile, path in GOLDEN.items():
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        for n, line in enumerate(lines, 2):
            case = json.loads(line)
            params.append(pytest.param(profile, case, id=f"{profile}-{case['category']}-{n}"))
    return params


@pytest.mark.parametrize("profile", list(GOLDEN))
def test_golden_made_with_installed_versions(profile, tiny_bert_dirs):
    import sentencepiece as spm

    header = _header(profile)
    assert header["upstream"]["repository"] == "fishaudio/Bert-VITS2"
    made = {name: header["versions"][name] for name in PINNED}
    assert made == {name: version(name) for name in PINNED}, "golden data made with other versions"
    # OpenJTalk 1.11 + naist-jdic 1.11, the package the project installs
    assert header["engine"] == {**engine_info(), "dictionary": header["engine"]["dictionary"]}
    # the English tokenizer the session trained has the pieces the goldens were made with
    sp = spm.SentencePieceProcessor(model_file=str(tiny_bert_dirs["EN"] / "spm.model"))
    pieces = "\n".join(
        f"{sp.id_to_piece(i)}\t{sp.get_score(i)!r}" for i in range(sp.get_piece_size())
    )
    assert hashlib.sha256(pieces.encode()).hexdigest() == header["en_tokenizer_pieces_sha256"], (
        "the session's English tokenizer is not the one the goldens were made with"
    )


@pytest.mark.parametrize(("profile", "case"), _lines())
def test_golden_line(profile, case, tokenizers):
    segments = case["segments"] if case["language"] == "MIX" else [case]
    for seg in segments:
        lang = seg["language"]
        norm, phones, tones, word2ph = clean_text(
            seg["text"], lang, tokenizer=tokenizers[lang], profile=profile
        )
        # our Japanese norm_text is what the BERT reads (OpenJTalk's words joined: 1.11 spells
        # the kanji numerals 一四 as 十四); the other languages' is norm_text
        assert norm == seg.get("bert_text", seg["norm_text"])
        assert phones == seg["phones"]
        assert tones == seg["tones"]
        assert word2ph == seg["word2ph"]


def test_goldens_tell_the_releases_apart():
    """The files differ where the releases differ (ZH numbers, JP kana), nowhere else."""
    rows = {p: [json.loads(x) for x in GOLDEN[p].read_text().splitlines()[1:]] for p in GOLDEN}
    differ = {
        (a["category"], a.get("text"))
        for a, b in zip(rows["upstream-2.3"], rows["upstream-master"], strict=True)
        if a != b
    }
    assert {cat for cat, _ in differ} == {"ZH-numbers", "JP", "JP-numbers"}
    assert ("JP", "イェーイ、最高の一日だ！") in differ


def test_profile_names_and_lookup():
    assert PROFILE_NAMES[:3] == ("improved", "upstream-2.3", "upstream-master")
    assert set(PROFILE_NAMES[3:]) == {
        "upstream-2.0",
        "upstream-2.1",
        "upstream-2.2",
        "sbv2",
        "sbv2-jp-extra",
    }
    assert DEFAULT_PROFILE == "improved" and get_profile(None).name == "improved"
    assert get_profile("Upstream-Master") is PROFILES["upstream-master"]
    assert PROFILES["improved"].rules == frozenset(IMPROVED_RULES)
    assert all(not p.rules for name, p in PROFILES.items() if name != "improved")
    with pytest.raises(ValueError, match="unknown frontend profile 'v2.3'; allowed: improved"):
        get_profile("v2.3")
    with pytest.raises(KeyError, match="unknown frontend rule"):
        PROFILES["improved"].has("no-such-rule")
    with pytest.raises(ValueError, match="unknown frontend profile"):
        clean_text("你好", "ZH", profile="upstream")


def test_clean_text_accepts_upstream_master_by_name():
    norm, phones, tones, word2ph = clean_text("3-5人", "ZH", profile="upstream-master")
    assert norm == "三负五人"
    assert clean_text("3-5人", "ZH")[0] == "三到五人"  # default: improved


def test_frontend_profile_and_per_call_override(tiny_bert_dirs):
    dirs = {k: str(v) for k, v in tiny_bert_dirs.items()}
    upstream = Frontend(dirs, profile="upstream-master")
    assert upstream.profile.name == "upstream-master"
    assert Frontend(dirs).profile.name == "improved"
    (sent,) = upstream("3-5人", "ZH")
    assert sent.segments[0].norm_text == "三负五人"
    (sent,) = upstream("3-5人", "ZH", profile="improved")
    assert sent.segments[0].norm_text == "三到五人"
    seg = upstream.segment("Dr. Who", "EN", profile="improved")
    assert seg.norm_text == "doctor Who"
    with pytest.raises(ValueError, match="unknown frontend profile"):
        Frontend(dirs, profile="nope")
    with pytest.raises(ValueError, match="unknown frontend profile"):
        upstream("你好", "ZH", profile="nope")
