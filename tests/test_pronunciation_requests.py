"""PITCH_SCALE, INTONATION_SCALE, GIVEN_PHONES and GIVEN_TONES through the request path (the
contract, parse_request, the frontend pipeline, the join step), and the default language taken
from the voice."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import TINY, require, small_manifest
from tts_client.errors import InvalidInputError
from tts_client.planner import SynthesisParams, plan_chunks
from tts_client.voices import VoiceInfo
from tts_contract.request import RequestError, default_language
from vits2.serving.pipeline import FrontendPipeline
from vits2.serving.pitch import adjust_voice
from vits2.serving.request import parse_request

HELLO = "你好。"
GIVEN = Path(__file__).parent / "data" / "sbv2-given-phones.jsonl"


def _jp_extra_pipeline(jp_dir: Path) -> FrontendPipeline:
    manifest = small_manifest(
        "sbv2-jp-extra", version="2.7.0-JP-Extra", languages=["JP"],
        frontend_profile="sbv2-jp-extra", styles={"Neutral": 0},
    )  # fmt: skip
    return FrontendPipeline(manifest, {"JP": jp_dir}, style_vectors=np.zeros((1, 256), np.float32))


@pytest.fixture(scope="module")
def reference(tiny_voice_dir):
    from vits2.synthesize import Synthesizer

    voice_dir, berts = tiny_voice_dir
    return Synthesizer(require(TINY / "G_tiny.pth"), berts, voice_dir=voice_dir)


def test_pitch_and_intonation_move_the_whole_waveform(reference):
    """The reference (and so every path that runs the join step) gives SBV2's adjust_voice of
    the unchanged audio; PITCH_SCALE nan is refused by name."""
    text = "你好，世界。今天天气很好。"
    plain = reference(text, seed=5).audio
    moved = reference(text, seed=5, pitch_scale=1.25, intonation_scale=0.5).audio
    expected = adjust_voice(plain, reference.sample_rate, 1.25, 0.5)
    assert moved.shape == expected.shape
    assert np.abs(moved - expected).max() <= 1e-5
    with pytest.raises(RequestError, match="PITCH_SCALE must be a number, got nan"):
        reference(HELLO, seed=1, pitch_scale=math.nan)
    with pytest.raises(RequestError, match=r"INTONATION_SCALE must be in \[0.0, 2.0\], got inf"):
        reference(HELLO, seed=1, intonation_scale=math.inf)


def test_given_phones_are_refused_for_bert_vits2_releases():
    voice = small_manifest("2.3", languages=["JP"])
    with pytest.raises(RequestError, match="Style-Bert-VITS2's .* release 2.3"):
        parse_request(
            voice, "こんにちは", language="JP", given_phones="_ k o _", given_tones="0 0 0 0"
        )


def test_given_phones_checked_against_the_symbol_table_and_language():
    voice = small_manifest("sbv2-jp-extra", version="2.7.0-JP-Extra", languages=["JP", "EN"])
    args = dict(given_tones="0 0 0 0")
    with pytest.raises(RequestError, match=r"outside the voice's symbol table: \['xx'\]"):
        parse_request(voice, "こんにちは", language="JP", given_phones="_ k xx _", **args)
    with pytest.raises(RequestError, match="GIVEN_TONES must be 0 .* got \\[2\\]"):
        parse_request(
            voice, "こんにちは", language="JP", given_phones="_ k o _", given_tones="0 2 0 0"
        )
    with pytest.raises(RequestError, match="LANGUAGE is EN: send LANGUAGE JP"):
        parse_request(voice, "hello", language="EN", given_phones="_ k o _", **args)
    with pytest.raises(RequestError, match="at most 400"):
        parse_request(voice, "こ", language="JP", given_phones="_ " + "a " * 401 + "_", **args)


def test_given_phones_through_the_frontend_pipeline(tiny_bert_dirs):
    """A request's GIVEN_PHONES / GIVEN_TONES become its sentence's ids, as SBV2's
    clean_text_with_given_phone_tone says (the golden rows)."""
    from vits2.text.symbols import cleaned_text_to_sequence

    pipeline = _jp_extra_pipeline(tiny_bert_dirs["JP"])
    rows = [json.loads(x) for x in GIVEN.read_text(encoding="utf-8").splitlines()[1:]]
    row = next(r for r in rows if r["use_jp_extra"] and r["case"] == "phones added")
    req = parse_request(
        pipeline.voice, row["text"], language="JP",
        given_phones=" ".join(row["given_phone"]), given_tones=row["given_tone"],
    )  # fmt: skip
    (sentence,) = pipeline.sentences(req)
    (segment,) = sentence.segments
    assert (segment.phones, segment.tones, segment.word2ph) == (
        row["phones"], row["tones"], row["word2ph"]
    )  # fmt: skip
    ids = cleaned_text_to_sequence(row["phones"], row["tones"], "JP")[0]
    assert segment.phone_ids[1::2] == ids and len(segment.phone_to_token) == len(segment.phone_ids)
    far = next(r for r in rows if r["use_jp_extra"] and r["case"] == "far off")
    req = parse_request(
        pipeline.voice, far["text"], language="JP",
        given_phones=far["given_phone"], given_tones=far["given_tone"],
    )  # fmt: skip
    with pytest.raises(RequestError, match="too far from the text's reading"):
        pipeline.sentences(req)
    two = parse_request(pipeline.voice, "はい。いいえ。", language="JP", given_tones=[0] * 9)
    with pytest.raises(RequestError, match="TEXT is 2 sentences: send one sentence"):
        pipeline.sentences(two)


def test_default_language_comes_from_the_voice(tiny_bert_dirs):
    """A voice with only a Japanese BERT speaks Japanese when no language is given: the
    server's request check, the client's params and the gateway share one rule."""
    from tts_gateway.upstream import default_language as gateway_default

    assert default_language(["JP"]) == "JP"
    assert default_language(["ZH", "JP", "EN"]) == "ZH" and default_language(["EN", "JP"]) == "EN"
    voice = small_manifest("sbv2-jp-extra", version="2.7.0-JP-Extra", languages=["JP"])
    assert parse_request(voice, "こんにちは").language == "JP"
    info = VoiceInfo(name="v", languages=["JP"])
    assert SynthesisParams().language_for(info) == "JP"
    assert SynthesisParams(language="EN").language_for(info) == "EN"
    assert gateway_default(info) == "JP"
    assert b"LANGUAGE" not in {k.encode() for k, v in SynthesisParams().arrays("x").items() if v[0]}
    pipeline = _jp_extra_pipeline(tiny_bert_dirs["JP"])
    (sentence,) = pipeline.sentences(parse_request(pipeline.voice, "こんにちは。"))
    assert sentence.languages == ["JP"]


def test_client_refuses_whole_request_knobs_it_would_cut():
    params = SynthesisParams(pitch_scale=1.2).validate()
    assert params.whole_request() == ["PITCH_SCALE"]
    assert SynthesisParams(pitch_scale=1.0).validate().whole_request() == []
    with pytest.raises(InvalidInputError, match="PITCH_SCALE move the F0 of the whole waveform"):
        plan_chunks("你好。", None, per_sentence=True, whole=params.whole_request())
    info = VoiceInfo(name="v", languages=["ZH"], limits={"max_text_chars": 10})
    with pytest.raises(InvalidInputError, match="GIVEN_TONES act on one request's whole text"):
        plan_chunks("你好。" * 10, info, whole=["GIVEN_TONES"])
    assert len(plan_chunks("你好。", info, whole=["PITCH_SCALE"])) == 1
    arrays = (
        SynthesisParams(given_phones=["_", "a", "_"], given_tones="0 1 0").validate().arrays("x")
    )
    assert arrays["GIVEN_PHONES"][0] == b"_ a _" and arrays["GIVEN_TONES"][0] == b"0 1 0"


@pytest.mark.triton
def test_served_pitch_is_adjust_voice_of_the_served_audio(triton_voice):
    """Through the ensemble (the join model), as through the reference; a stream refuses it."""
    from tts_client.client import TTSClient

    with TTSClient(triton_voice.grpc_url) as client:
        plain = client.synthesize("你好，世界。", seed=3)
        moved = client.synthesize("你好，世界。", seed=3, pitch_scale=1.25, intonation_scale=0.5)
        with pytest.raises(InvalidInputError, match="PITCH_SCALE move the F0"):
            list(client.stream("你好，世界。", seed=3, pitch_scale=1.25))
    expected = adjust_voice(plain.samples, plain.sample_rate, 1.25, 0.5)
    assert moved.samples.shape == expected.shape
    assert np.abs(moved.samples - expected).max() <= 1e-5
