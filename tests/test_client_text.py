"""Client-side pieces that need no server: sentence splitting, chunk plans, error mapping."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from tts_client import errors
from tts_client.planner import SynthesisParams, plan_chunks
from tts_client.voices import VoiceInfo
from tts_contract.sentences import mix_runs, split_sentences

TEXTS = [
    "你好。今天天气很好！\n\n第二段？ 好的；再见…",
    'Mr. Smith went to Washington. He said "hi!" Then left.\nDr. Who? 3.5 is a number.',
    "他说：“你好。”然后走了。「こんにちは。」そうですね！",
    "no punctuation at all",
    "a.b.c is not a sentence end. But this is!",
    "\n\n 前面有空行。\r\n后面也有。\n",
]


@pytest.mark.parametrize("text", TEXTS)
def test_sentences_match_the_server_frontend(text):
    from vits2.text import sentences

    server = sentences.split_sentences([(c, "ZH") for c in text])
    mine = split_sentences(text)
    assert [s.text for s in mine] == ["".join(c for c, _ in chars) for chars, _ in server]
    assert [s.kind for s in mine] == [kind for _, kind in server]


CLAUSE_TEXT = (
    "语音合成技术近年来发展迅速，已经广泛应用于导航、客服、有声读物和辅助阅读等场景。短句。"
)


@pytest.mark.parametrize("clause_chars", [0, 24, 12, 1])
@pytest.mark.parametrize("text", [*TEXTS, CLAUSE_TEXT, "It costs 1,000 dollars, at 3:30 pm; ok."])
def test_clause_pieces_match_the_server_frontend(text, clause_chars):
    from vits2.text import sentences

    server = sentences.split_sentences([(c, "ZH") for c in text], clause_chars)
    mine = split_sentences(text, clause_chars)
    assert [s.text for s in mine] == ["".join(c for c, _ in chars) for chars, _ in server]
    assert [s.kind for s in mine] == [kind for _, kind in server]
    # pieces: the same text as the whole sentences, cut further
    assert "".join(s.text for s in mine) == "".join(s.text for s in split_sentences(text))


MIX_TEXTS = [
    "[ZH]你好，世界，[EN]hello, world.[ZH]短句。",  # 27 characters with its tags, 19 without
    "[ZH]你好。再见。[EN]Hello there. Bye.\n[JP]こんにちは、元気ですか。",
    "[EN]It ends here.[ZH]紧接着。 [EN] <zh>尖括号，也算标签。",
    "[ZH]你好。[ZH]こんにちは、世界。",  # a repeated tag closes its run
]


@pytest.mark.parametrize("clause_chars", [0, 24, 12, 1])
@pytest.mark.parametrize("text", MIX_TEXTS)
def test_mix_markup_is_cut_as_the_server_cuts_its_text(text, clause_chars):
    """Tags are not text: the server's frontend drops them before it cuts (parse_mix), so the
    client's pieces hold the same spoken text, and CLAUSE_CHARS counts no tag."""
    from vits2.text import sentences

    chars = [(c, lang) for lang, t in sentences.parse_mix(text) for c in t]
    server = sentences.split_sentences(chars, clause_chars)
    mine = split_sentences(text, clause_chars, mix=True)
    at = [i for _, a, b in mix_runs(text) for i in range(a, b)]  # where spoken characters sit
    spoken = ["".join(text[i] for i in at if s.start <= i < s.end) for s in mine]
    assert spoken == ["".join(c for c, _ in chars) for chars, _ in server]
    assert [s.kind for s in mine] == [kind for _, kind in server]
    assert all(text[s.start : s.end] == s.text for s in mine)


@pytest.mark.parametrize("clause_chars", [0, 12])
@pytest.mark.parametrize("text", MIX_TEXTS)
def test_mix_pieces_sent_alone_keep_their_languages(text, clause_chars):
    """Each per-sentence chunk, parsed alone as the server parses it, has the characters and
    languages its sentence has inside the whole text (a tag that closed a run stays closed)."""
    from vits2.text import sentences

    def spoken(chars):
        return [(c, lang) for c, lang in chars if not c.isspace()]

    whole = [(c, lang) for lang, t in sentences.parse_mix(text) for c in t]
    want = [spoken(chars) for chars, _ in sentences.split_sentences(whole, clause_chars)]
    chunks = plan_chunks(text, None, True, "MIX", clause_chars=clause_chars)
    got = [
        spoken((c, lang) for lang, t in sentences.parse_mix(ch.text) for c in t) for ch in chunks
    ]
    assert got == want
    if text == MIX_TEXTS[3]:  # the second run is detected (AUTO), not Chinese
        assert [c.text for c in chunks] == ["[ZH]你好。", "こんにちは、世界。"]


def test_mix_tags_do_not_count_toward_clause_chars():
    text = MIX_TEXTS[0]
    assert [s.text for s in split_sentences(text, 24, mix=True)] == [
        "[ZH]你好，世界，[EN]hello, world.",
        "[ZH]短句。",
    ]
    # read as plain text, the tags made the first sentence 27 characters: cut at a comma
    assert len(split_sentences(text, 24)) == 3
    # the client's plan numbers (and seeds) its pieces as the server does
    per = plan_chunks(text, None, per_sentence=True, language="MIX", clause_chars=24)
    assert [(c.text, c.first_sentence) for c in per] == [
        ("[ZH]你好，世界，[EN]hello, world.", 0),
        ("[ZH]短句。", 1),
    ]


def test_clause_cuts_only_long_sentences_at_clause_marks():
    pieces = split_sentences(CLAUSE_TEXT, 24)
    assert [(p.text, p.kind) for p in pieces] == [
        ("语音合成技术近年来发展迅速，已经广泛应用于导航、", "clause"),  # last mark within 24
        ("客服、有声读物和辅助阅读等场景。", "sentence"),
        ("短句。", "end"),
    ]
    assert [p.text for p in split_sentences(CLAUSE_TEXT, 8)][:2] == [
        "语音合成技术近年来发展迅速，",  # no mark within 8 characters: the first one after
        "已经广泛应用于导航、",
    ]
    assert split_sentences(CLAUSE_TEXT, 0) == split_sentences(CLAUSE_TEXT)
    assert len(split_sentences(CLAUSE_TEXT, 100)) == 2  # no sentence over 100 characters
    # ASCII marks cut only before a space: numbers and times stay whole
    english = [p.text for p in split_sentences("It costs 1,000 dollars, at 3:30 pm; ok.", 5)]
    assert english == ["It costs 1,000 dollars,", " at 3:30 pm;", " ok."]
    # a piece alone is cut as it was inside its sentence (the client plans piece by piece)
    for n in (1, 5, 12, 24):
        for piece in split_sentences(CLAUSE_TEXT, n):
            assert [p.text for p in split_sentences(piece.text, n)] == [piece.text]


def test_plan_counts_clause_pieces_as_the_server_does():
    per = plan_chunks(CLAUSE_TEXT, None, per_sentence=True, clause_chars=24)
    assert [c.first_sentence for c in per] == [0, 1, 2]
    assert [c.pause_after for c in per] == [0.0, 0.2, 0.0]  # no pause after a clause piece
    arrays = SynthesisParams(clause_chars=24, seed=5).validate().arrays(per[1].text, 1)
    assert arrays["CLAUSE_CHARS"].dtype == np.int64 and arrays["CLAUSE_CHARS"].tolist() == [24]
    assert "CLAUSE_CHARS" not in SynthesisParams(clause_chars=0).validate().arrays("x")
    for bad in (-1, 1.5, True, "12", 10**6):
        with pytest.raises(errors.InvalidInputError, match=r"CLAUSE_CHARS must be an integer"):
            SynthesisParams(clause_chars=bad).validate()


def test_plan_keeps_text_seed_offsets_and_pauses():
    text = "你好。今天天气很好！\n第二段？ Mr. Smith went home."
    whole = plan_chunks(text, VoiceInfo("v", limits={"max_text_chars": 100}))
    assert len(whole) == 1 and whole[0].text == text
    per = plan_chunks(text, None, per_sentence=True)
    assert [c.text for c in per] == [
        "你好。",
        "今天天气很好！",
        "第二段？",
        " Mr. Smith went home.",
    ]
    assert [c.first_sentence for c in per] == [0, 1, 2, 3]
    assert [c.pause_after for c in per] == [0.2, 1.0, 0.2, 0.0]
    packed = plan_chunks(text, VoiceInfo("v", limits={"max_sentences": 2, "paragraph_pause": 2.0}))
    assert [c.text for c in packed] == ["你好。今天天气很好！", "第二段？ Mr. Smith went home."]
    assert [(c.first_sentence, c.pause_after) for c in packed] == [(0, 2.0), (2, 0.0)]


def test_plan_splits_an_over_long_sentence_without_pause():
    voice = VoiceInfo("v", limits={"max_text_chars": 10})
    chunks = plan_chunks("一二三四五，六七八九十一二三。好。", voice)
    assert all(len(c.text) <= 10 for c in chunks)
    assert "".join(c.text for c in chunks) == "一二三四五，六七八九十一二三。好。"
    assert [c.pause_after for c in chunks] == [0.0, 0.2, 0.0]
    assert [c.first_sentence for c in chunks] == [0, 1, 2]


def test_plan_carries_mix_language_tags():
    chunks = plan_chunks("[ZH]你好。再见。[EN]Hello there. Bye.", None, True, "MIX")
    assert [c.text for c in chunks] == ["[ZH]你好。", "[ZH]再见。", "[EN]Hello there.", "[EN] Bye."]


def test_params_leave_defaults_out_and_refuse_nan():
    arrays = SynthesisParams(speaker=2, seed=10).validate().arrays("你好", seed_offset=3)
    assert arrays["SEED"].tolist() == [13] and arrays["SPEAKER"].tolist() == [b"2"]
    # a knob left as None is left out of the request: the server uses the speaker's default
    assert "SDP_RATIO" not in arrays and arrays["TEXT"].tolist() == ["你好".encode()]
    assert "SEED" not in SynthesisParams().arrays("x")  # no seed: the server draws one
    given = SynthesisParams(length_scale=1.5).validate().arrays("x")
    assert given["LENGTH_SCALE"].dtype == np.float32 and given["LENGTH_SCALE"].tolist() == [1.5]
    with pytest.raises(errors.InvalidInputError, match=r"LENGTH_SCALE must be a number, got nan"):
        SynthesisParams(length_scale=float("nan")).validate()
    for bad in (float("inf"), -0.5, 7.0):
        with pytest.raises(errors.InvalidInputError, match=r"LENGTH_SCALE must be in \[0.1, 5.0\]"):
            SynthesisParams(length_scale=bad).validate()
    with pytest.raises(
        errors.InvalidInputError, match=r"SEED must be in \[0, \d+\] \(an integer\)"
    ):
        SynthesisParams(seed=1.5).validate()


class _RpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


@pytest.mark.parametrize(
    "err, kind, retryable",
    [
        (InferenceServerException("SDP_RATIO must be in [0, 1], got 3.0", "400"), errors.InvalidInputError, False),
        (InferenceServerException("in ensemble 'v', unknown SPEAKER 'x'; this voice has: a", "StatusCode.INVALID_ARGUMENT"), errors.UnknownSpeakerError, False),
        (InferenceServerException("Request for unknown model: 'nope' is not found", "StatusCode.NOT_FOUND"), errors.UnknownVoiceError, False),
        (InferenceServerException("Request for unknown model: 'nope' is not found", "400"), errors.UnknownVoiceError, False),
        (InferenceServerException("failed to connect to all addresses; Connection refused", "StatusCode.UNAVAILABLE"), errors.ServerUnavailableError, True),
        (InferenceServerException("Socket closed", "StatusCode.UNAVAILABLE"), errors.ServerUnavailableError, False),
        (InferenceServerException("Deadline Exceeded", "StatusCode.DEADLINE_EXCEEDED"), errors.TTSTimeoutError, False),
        (InferenceServerException("TEXT is empty; give some text to speak"), errors.InvalidInputError, False),
        (InferenceServerException("boom", "500"), errors.TTSError, False),
        (_RpcError(grpc.StatusCode.INVALID_ARGUMENT, "NOISE_SCALE must be in [0, 2]"), errors.InvalidInputError, False),
        (ConnectionRefusedError(111, "Connection refused"), errors.ServerUnavailableError, True),
        (ConnectionResetError(104, "Connection reset by peer"), errors.ServerUnavailableError, False),
        (TimeoutError("timed out"), errors.TTSTimeoutError, False),
    ],
)  # fmt: skip
def test_error_mapping(err, kind, retryable):
    mapped = errors.map_error(err, "v")
    assert type(mapped) is kind
    assert mapped.retryable is retryable
    assert mapped.message  # the server's (or the transport's) words are kept
    if isinstance(err, InferenceServerException):
        assert err.message() in mapped.message
