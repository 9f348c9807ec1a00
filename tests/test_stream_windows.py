"""The decoupled stream model decodes sentences in vocoder windows (flow over BLS once per
sentence, the vocoder over BLS per window) on a real tritonserver: joined windows equal the
ensemble's audio, the first window is short, and a sentence's pause rides on its last window.

Variants of the stream model with other window sizes are loaded beside the session's one
(same step models, other `first_window_seconds` / `window_frames` / `window_growth`
parameters)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from tests.triton_fixtures import infer_http, stream_results, wait_unloaded
from tts_runtime.windows import (
    FIRST_WINDOW_SECONDS,
    WINDOW_FRAMES,
    first_window_frames,
    later_window,
)

pytestmark = pytest.mark.triton

HOP, RATE = 512, 44100
MULTI = "你好，世界。今天天气真不错，我们一起去公园散步吧！\n明天见？谢谢你。"


def _stream(url: str, model: str, text: str, seed: int) -> list[tuple[np.ndarray, float]]:
    """(AUDIO, PAUSE_AFTER) of every response of one decoupled request."""
    results = stream_results(url, model, {"TEXT": text, "SEED": seed})
    assert all(r.as_numpy("SAMPLE_RATE")[0] == RATE for r in results)
    return [(r.as_numpy("AUDIO"), float(r.as_numpy("PAUSE_AFTER")[0])) for r in results]


def _sentence_pieces(chunks: list[tuple[np.ndarray, float]], sentences: int) -> list[list[int]]:
    """Chunk lengths grouped by sentence: a sentence ends where PAUSE_AFTER > 0, the last
    sentence at the last chunk."""
    groups, current = [], []
    for audio, pause in chunks:
        current.append(len(audio) - int(round(pause * RATE)))
        if pause > 0:
            groups.append(current)
            current = []
    groups.append(current)
    assert len(groups) == sentences, groups
    return groups


@pytest.fixture(scope="module")
def stream_variant(triton_voice):
    """Loads `<voice>_stream_<tag>`: a copy of the stream model with other window sizes."""
    import tritonclient.http as http

    voice, repo = triton_voice.voice, triton_voice.repository
    loaded = []
    client = http.InferenceServerClient(triton_voice.http_url)

    def make(tag: str, first_window_seconds: float, window_frames: int, fixed: bool,
             growth: float, lookahead: int = 0) -> str:  # fmt: skip
        name = f"{voice}_stream_{tag}"
        shutil.copytree(repo / f"{voice}_stream", repo / name, dirs_exist_ok=True)
        config = (repo / name / "config.pbtxt").read_text(encoding="utf-8")
        config = config.replace(f'name: "{voice}_stream"', f'name: "{name}"', 1)
        for key, value in (
            ("first_window_seconds", first_window_seconds),
            ("window_frames", window_frames),
            ("fixed_shapes", int(fixed)),
            ("window_growth", growth),
            ("lookahead", lookahead),
        ):
            config, n = re.subn(
                rf'(key: "{key}" value: {{ string_value: )"[^"]*"', rf'\1"{value}"', config
            )
            assert n == 1, f"{key} is not in the stream model's config"
        (repo / name / "config.pbtxt").write_text(config, encoding="utf-8")
        client.load_model(name)
        loaded.append(name)
        return name

    try:
        yield make
    finally:
        for name in loaded:
            client.unload_model(name)
        client.close()
        wait_unloaded(triton_voice.http_url, loaded)


def test_windowed_stream_joins_to_the_ensemble_audio(triton_voice):
    whole = infer_http(triton_voice.http_url, triton_voice.voice, MULTI, SEED=13)
    whole = whole.as_numpy("AUDIO")
    chunks = _stream(triton_voice.grpc_url, f"{triton_voice.voice}_stream", MULTI, 13)
    groups = _sentence_pieces(chunks, sentences=4)
    first = first_window_frames(RATE, HOP, FIRST_WINDOW_SECONDS)
    assert len(chunks) > 4, "no sentence was split into windows"
    for lengths in groups:  # windows: the first short, all whole frames
        assert all(n % HOP == 0 and n > 0 for n in lengths)
        assert lengths[0] <= first * HOP
    assert [p for _, p in chunks if p > 0] == pytest.approx([0.2, 1.0, 0.2])  # FP32 seconds
    assert chunks[-1][1] == 0.0
    for audio, pause in chunks:  # the pause is silence at the end of the sentence's last window
        if pause > 0:
            assert np.all(audio[-int(round(pause * RATE)) :] == 0)
    joined = np.concatenate([a for a, _ in chunks])
    assert joined.shape == whole.shape
    assert np.abs(joined - whole).max() <= 1e-4


def test_first_chunk_is_shorter_than_its_sentence(triton_voice):
    text = "今天天气真不错，我们一起去公园散步吧，然后去吃饭。"
    chunks = _stream(triton_voice.grpc_url, f"{triton_voice.voice}_stream", text, 3)
    whole = infer_http(triton_voice.http_url, triton_voice.voice, text, SEED=3).as_numpy("AUDIO")
    first = first_window_frames(RATE, HOP, FIRST_WINDOW_SECONDS)
    assert len(whole) > first * HOP, "the sentence must be longer than the first window"
    assert len(chunks) >= 2 and len(chunks[0][0]) == first * HOP
    assert np.abs(np.concatenate([a for a, _ in chunks]) - whole).max() <= 1e-4


@pytest.mark.parametrize(
    ("tag", "seconds", "frames", "fixed", "growth"),
    [
        ("small", 0.05, 7, False, 1.0),  # window sizes that do not divide the frame counts
        ("growing", 0.05, 3, False, 1.5),  # later windows 3, 4, 6, 10, 15, ... frames
        ("large", 20.0, 5000, False, 2.0),  # every sentence shorter than one window
        ("fixed", 0.05, 7, True, 1.0),  # windows padded to two widths (OpenVINO/TensorRT)
    ],
)
def test_window_sizes_from_the_config_join_to_the_ensemble(
    triton_voice, stream_variant, tag, seconds, frames, fixed, growth
):
    model = stream_variant(tag, seconds, frames, fixed, growth)
    whole = infer_http(triton_voice.http_url, triton_voice.voice, MULTI, SEED=17)
    whole = whole.as_numpy("AUDIO")
    chunks = _stream(triton_voice.grpc_url, model, MULTI, 17)
    groups = _sentence_pieces(chunks, sentences=4)
    first = first_window_frames(RATE, HOP, seconds)
    for lengths in groups:
        if tag == "large":  # every sentence is shorter than one window: one chunk each
            assert len(lengths) == 1
        else:  # the padding of fixed shapes is cut off: the same chunks
            assert lengths[0] == first * HOP and len(lengths) > 1
            later = [later_window(frames, growth, k) * HOP for k in range(len(lengths) - 1)]
            assert lengths[1:-1] == later[:-1]
            assert 0 < lengths[-1] <= later[-1]
    joined = np.concatenate([a for a, _ in chunks])
    assert joined.shape == whole.shape
    assert np.abs(joined - whole).max() <= 1e-4


def test_lookahead_sends_the_same_chunks_as_sentence_by_sentence(triton_voice, stream_variant):
    """With lookahead (opt-in) a worker thread prepares sentence i + 1 over BLS while sentence
    i's windows are sent; without it (the default) the stream prepares each sentence when it
    comes to it. The chunks are the same, bit for bit."""
    ahead_model = stream_variant(
        "ahead", FIRST_WINDOW_SECONDS, WINDOW_FRAMES, False, 2.0, lookahead=1
    )
    for text, seed in ((MULTI, 19), ("短句。" * 12, 5)):
        alone = _stream(triton_voice.grpc_url, f"{triton_voice.voice}_stream", text, seed)
        ahead = _stream(triton_voice.grpc_url, ahead_model, text, seed)
        assert [len(a) for a, _ in ahead] == [len(a) for a, _ in alone]
        assert [p for _, p in ahead] == [p for _, p in alone]
        for (a, _), (b, _) in zip(ahead, alone, strict=True):
            assert np.array_equal(a, b)


def test_clause_chars_cut_long_sentences_in_the_ensemble_and_the_stream(triton_voice):
    """CLAUSE_CHARS (opt-in) cuts a sentence longer than N characters at its clause marks, each
    piece an utterance of its own (seed SEED + its index, no pause after it): the ensemble and
    the stream cut alike, and the client's planner counts the pieces as the server does."""
    from tts_client.planner import plan_chunks
    from tts_contract.timestamps import parse

    text = "今天天气真不错，我们一起去公园散步吧，然后去吃饭。明天见。"
    url, voice = triton_voice.http_url, triton_voice.voice
    results = {
        n: infer_http(url, voice, text, SEED=23, WITH_TIMESTAMPS=1, CLAUSE_CHARS=n) for n in (0, 8)
    }
    stamps = {n: parse(r.as_numpy("TIMESTAMPS")[0])["sentences"] for n, r in results.items()}
    assert (
        len(stamps[0]) == 2 and len(stamps[8]) == 4
    )  # 今天天气真不错， | 我们...吧， | 然后去吃饭。
    assert len(plan_chunks(text, None, per_sentence=True, clause_chars=8)) == 4
    first = {n: s[0]["end"] - s[0]["start"] for n, s in stamps.items()}
    assert first[8] < first[0] / 2  # the first utterance is the first clause
    whole = results[8].as_numpy("AUDIO")
    chunks = stream_results(
        triton_voice.grpc_url, f"{voice}_stream", {"TEXT": text, "SEED": 23, "CLAUSE_CHARS": 8}
    )
    pauses = [float(r.as_numpy("PAUSE_AFTER")[0]) for r in chunks]
    assert [p for p in pauses if p > 0] == pytest.approx([0.2])  # after 然后去吃饭。 only
    joined = np.concatenate([r.as_numpy("AUDIO") for r in chunks])
    assert joined.shape == whole.shape and np.abs(joined - whole).max() <= 1e-4


def _params(config_path) -> dict[str, str]:
    text = config_path.read_text(encoding="utf-8")
    return dict(re.findall(r'key: "([^"]+)" value: \{ string_value: "((?:[^"\\]|\\.)*)" \}', text))


def test_repository_writes_the_halves_and_the_window_options(tmp_path, tiny_voice_dir):
    import json

    from tts_export.metadata import VoiceManifest
    from tts_export.repository import RepositoryOptions, has_decoder_halves, write_repository

    voice_dir, _ = tiny_voice_dir
    opts = RepositoryOptions(first_window_seconds=0.1, window_frames=32)
    models = write_repository(voice_dir, tmp_path / "a", opts)
    assert {"tiny_flow", "tiny_vocoder"} <= set(models)
    stream = _params(tmp_path / "a" / "tiny_stream" / "config.pbtxt")
    assert stream["first_window_seconds"] == "0.1" and stream["window_frames"] == "32"
    assert stream["fixed_shapes"] == "0"  # the python runtime cuts rows to their lengths
    assert stream["window_growth"] == "2.0"  # later windows grow (WINDOW_GROWTH)
    assert stream["lookahead"] == "0"  # opt-in (--stream-lookahead)
    write_repository(voice_dir, tmp_path / "g", RepositoryOptions(stream_lookahead=True))
    assert _params(tmp_path / "g" / "tiny_stream" / "config.pbtxt")["lookahead"] == "1"
    steps = json.loads(stream["models"].replace('\\"', '"'))
    assert steps["flow"] == "tiny_flow" and steps["vocoder"] == "tiny_vocoder"
    assert (tmp_path / "a" / "tiny_stream" / "1" / "voice" / "config.json").is_file()
    # int8 decoder: no int8 vocoder, so the stream keeps whole sentences through the decoder
    manifest = VoiceManifest.load(voice_dir)
    assert has_decoder_halves(manifest, RepositoryOptions())
    assert not has_decoder_halves(manifest, RepositoryOptions(precision={"decoder": "int8"}))
    for bad in (RepositoryOptions(first_window_seconds=0), RepositoryOptions(window_frames=0)):
        with pytest.raises(ValueError, match="stream windows"):
            write_repository(voice_dir, tmp_path / "c", bad)
    with pytest.raises(ValueError, match=r"window growth must be in \[1, 64\], got nan"):
        write_repository(voice_dir, tmp_path / "d", RepositoryOptions(window_growth=float("nan")))
    # the native openvino backend runs the vocoder at two fixed widths: no growth
    write_repository(voice_dir, tmp_path / "e", RepositoryOptions(runtime="openvino"))
    stream = _params(tmp_path / "e" / "tiny_stream" / "config.pbtxt")
    assert (stream["fixed_shapes"], stream["window_growth"]) == ("1", "1.0")
    with pytest.raises(ValueError, match="later windows cannot grow"):
        opts = RepositoryOptions(runtime="openvino", window_growth=2.0)
        write_repository(voice_dir, tmp_path / "f", opts)
