"""Japanese user dictionaries (Style-Bert-VITS2's CSV format): a made-up word is read as the
dictionary says, per voice, through the frontend, `tts-export onnx --user-dict` and the
repository's copy; a bad CSV is refused naming its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures import FIXTURES, require
from vits2.text import clean_text, openjtalk
from vits2.text.frontend import Frontend

WORD = "虹猫丸"
"""A made-up name; OpenJTalk alone reads it ニジネコマル."""
NYANMARU = f"{WORD},,,8609,名詞,固有名詞,一般,*,*,*,{WORD},ニャンマル,ニャンマル,1/4,*\n"
NIJIMARU = f"{WORD},,,8609,名詞,固有名詞,一般,*,*,*,{WORD},ニジマル,ニジマル,0/3,*\n"
SBV2_TINY = FIXTURES / "style-bert-vits2-tiny"


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _phones(frontend: Frontend, text: str = WORD) -> str:
    (sentence,) = frontend(text, "JP")
    return " ".join(p for s in sentence.segments for p in s.phones[1:-1])


@pytest.fixture(scope="module")
def dictionaries(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("dict")
    return {
        name: str(openjtalk.compile_user_dict([_csv(tmp, f"{name}.csv", text)], tmp / name))
        for name, text in (("nyan", NYANMARU), ("niji", NIJIMARU))
    }


def test_made_up_word_read_as_the_dictionary_says(dictionaries, jp_tokenizer):
    for profile in ("upstream-2.3", "upstream-master", "sbv2-jp-extra", "improved"):
        plain = clean_text(WORD, "JP", jp_tokenizer, profile)[1]
        nyan = clean_text(WORD, "JP", jp_tokenizer, profile, dictionaries["nyan"])[1]
        assert " ".join(plain[1:-1]) == "n i j i n e k o m a r u", profile
        assert " ".join(nyan[1:-1]).replace("N", "n") == "ny a n m a r u", profile


def test_two_voices_two_dictionaries_in_one_process(dictionaries, tiny_bert_dirs):
    tokenizers = {"JP": str(tiny_bert_dirs["JP"])}
    nyan = Frontend(tokenizers, profile="sbv2-jp-extra", user_dict=dictionaries["nyan"])
    niji = Frontend(tokenizers, profile="sbv2-jp-extra", user_dict=dictionaries["niji"])
    plain = Frontend(tokenizers, profile="sbv2-jp-extra")
    for _ in range(2):  # interleaved: no dictionary leaks into another voice's reading
        assert _phones(nyan) == "ny a N m a r u"
        assert _phones(niji) == "n i j i m a r u"
        assert _phones(plain) == "n i j i n e k o m a r u"


def test_sbv2_profiles_read_with_sbv2s_default_dictionary(jp_tokenizer):
    """担々麺 is one of SBV2's five default words; the Bert-VITS2 profiles read it without."""
    sbv2 = clean_text("担々麺", "JP", jp_tokenizer, "sbv2")[1]
    upstream = clean_text("担々麺", "JP", jp_tokenizer, "upstream-2.3")[1]
    assert " ".join(sbv2[1:-1]) == "t a n t a n m e n"
    assert " ".join(upstream[1:-1]) != " ".join(sbv2[1:-1])


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("虹猫丸,,,8609,名詞,固有名詞\n", "6 fields, expected 15"),
        (NYANMARU.replace("8609", "cheap"), "the cost (field 4) 'cheap' is not an integer"),
        (NYANMARU.replace("ニャンマル,ニャンマル", "にゃんまる,ニャンマル"), "reading (field 12)"),
        (NYANMARU.replace("1/4", "5/4"), "the accent (field 14) '5/4'"),
        (NYANMARU.replace("虹猫丸,,", ",,", 1), "the surface (field 1) is empty"),
    ],
)
def test_bad_csv_is_refused_naming_its_line(tmp_path, line, problem):
    path = _csv(tmp_path, "bad.csv", NIJIMARU + "\n" + line)
    with pytest.raises(ValueError, match=rf"bad.csv line 3: .*{re.escape(problem)}") as err:
        openjtalk.read_user_dict_csv(path)
    assert "Fix the line" in str(err.value)
    path.write_bytes(NIJIMARU.encode() + "虹".encode("shift_jis"))
    with pytest.raises(ValueError, match="line 2: not UTF-8 text"):
        openjtalk.read_user_dict_csv(path)


def test_export_user_dict_reads_the_word_and_travels_to_the_repository(tmp_path, tiny_bert_dirs):
    """`tts-export onnx --user-dict` on the tiny Style-Bert-VITS2 voice: the CSV is copied and
    compiled into the voice (with SBV2's default words), its frontend reads the word as the
    dictionary says, and so does the repository's frontend copy; a bad CSV fails the export
    naming its line."""
    from tts_export.cli import app
    from tts_export.repository import write_repository
    from vits2.serving.pipeline import FrontendPipeline

    args = ["onnx", "--checkpoint", str(require(SBV2_TINY / "G_tiny.pth")), "--no-simplify"]
    for lang, path in tiny_bert_dirs.items():
        args += ["--bert", f"{lang}={path}"]
    bad = _csv(tmp_path, "bad.csv", NYANMARU.replace("1/4", "1-4"))
    result = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "bad"), "--user-dict", str(bad)]
    )
    assert result.exit_code != 0 and "bad.csv line 1" in result.output

    csv = _csv(tmp_path, "words.csv", NYANMARU)
    out = tmp_path / "voice"
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--user-dict", str(csv)])
    assert result.exit_code == 0, result.output
    assert (out / "user_dict.csv").read_text(encoding="utf-8") == NYANMARU
    pipeline = FrontendPipeline.from_voice_dir(out)
    assert pipeline.voice.user_dict == "user_dict.dic"
    assert _phones(pipeline.frontend) == "ny a n m a r u"  # sbv2 (normal): "ん" is n
    assert _phones(pipeline.frontend, "担々麺") == "t a n t a n m e n"  # SBV2's default words

    repo = tmp_path / "repo"
    write_repository(out, repo)
    served = FrontendPipeline.from_voice_dir(repo / "voice_frontend" / "1" / "voice")
    assert _phones(served.frontend) == "ny a n m a r u"


def test_gateway_view_adds_a_dictionary_without_changing_the_folder(tmp_path, tiny_voice_dir):
    """/models/add?user_dict=: the repository is written from a view of the exported folder
    with the dictionary compiled in; the folder itself is left as it was."""
    from tts_export.voice import with_user_dict
    from vits2.serving.pipeline import FrontendPipeline

    voice_dir, _ = tiny_voice_dir
    before = sorted(p.name for p in voice_dir.iterdir())
    view = with_user_dict(voice_dir, _csv(tmp_path, "w.csv", NIJIMARU), tmp_path / "view")
    assert sorted(p.name for p in voice_dir.iterdir()) == before
    pipeline = FrontendPipeline.from_voice_dir(view)
    if "JP" in pipeline.frontend.languages:
        assert _phones(pipeline.frontend) == "n i j i m a r u"
    assert pipeline.voice.user_dict == "user_dict.dic"
