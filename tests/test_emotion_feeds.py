"""Emotion-model feeds (`vits2.serving.emotion`): clip loading as upstream's librosa.load,
the processors' features, and the errors bad prompts and clips get.

The goldens are librosa.load(file, sr=...) run in scratch virtual environments (not this
project's) on clips this module generates (`_clip`): librosa 0.11 (res_type "soxr_hq", what
this module reproduces) and 0.9.2 (upstream Bert-VITS2's pin: resampy "kaiser_best"). Each
entry: resampled length, sum, and the samples at 24 evenly spaced indices."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.fixtures import small_manifest
from tts_contract.manifest import VoiceManifest
from tts_contract.request import Limits, RequestError
from vits2.random_emotion import CLAP_NAME, WAV2VEC2_NAME, default_config_root
from vits2.serving.emotion import CLAP_FUSION_SEED, EmotionFeeds, load_clip, resample

MAX_SECONDS = Limits().max_reference_seconds

# fmt: off
SOXR_HQ_GOLDEN = {  # librosa 0.11.0
    "tones_48000": (62401, 0.0008119023773360823, [0.000667486107, 0.0289047081, -0.175146997, 0.0206006542, -0.148845226, 0.206824422, 0.0877753198, 0.0493332595, -0.0126083493, -0.236300334, 0.118232086, -0.195690989, 0.21625343, -0.123890772, 0.212400272, 0.00855723955, -0.035056293, -0.0812935233, -0.216375411, 0.133791596, 0.000168320257, 0.185795575, -0.0229488816, 0]),
    "tones_16000": (20800, 0.010973317839670926, [0.010980634, 0.0272638574, -0.166247576, 0.112558112, -0.157922953, 0.180441082, 0.0559607781, 0.0641954988, -7.13164918e-05, -0.271284461, 0.105501354, -0.171584666, 0.280643016, -0.0664029643, 0.163642362, -0.0406059176, -0.0379159525, -0.0484283715, -0.204617217, 0.0721199065, 0.0162798185, 0.207020521, 0.0583452843, -0.0941096246]),
    "noisy_48000": (62401, -5.159087980209733, [-0.0378508568, 0.0397112332, -0.184193283, 0.0316004232, -0.186432034, 0.187576801, 0.0840990692, 0.0797503293, -0.0136052743, -0.225650638, 0.13039574, -0.221532464, 0.265567601, -0.145214334, 0.216999441, -0.00959517248, -0.0849808231, -0.101521224, -0.207182556, 0.0982952416, -0.00810822565, 0.221038684, 0.0151003012, 0]),
    "noisy_16000": (20800, -1.708504070120398, [-0.00651155785, 0.0480275974, -0.115298837, 0.105735689, -0.142887682, 0.171555981, 0.0630043596, 0.0496153198, 0.0101160966, -0.281278044, 0.128084734, -0.176221818, 0.30930683, -0.0396329686, 0.146500587, -0.0514128469, -0.0252881106, -0.0705403537, -0.199775308, 0.109338462, 0.0109826922, 0.234336406, 0.0727806166, -0.0851421431]),
}
KAISER_BEST_GOLDEN = {  # librosa 0.9.2
    "tones_48000": (62401, 0.0008321531756081413, [0.000845356786, 0.0289045889, -0.175148338, 0.0206001773, -0.148844078, 0.206823543, 0.0877756923, 0.0493330546, -0.0126091707, -0.236300096, 0.118233226, -0.19569093, 0.216252506, -0.123889267, 0.212399989, 0.00855562184, -0.0350564495, -0.0812926441, -0.21637544, 0.133792892, 0.000167901424, 0.185794026, -0.0229487792, 0]),
    "tones_16000": (20800, 0.011428605807483283, [0.0115714129, 0.0272634737, -0.16625306, 0.112560533, -0.157927662, 0.180446535, 0.0559627712, 0.0641982406, -7.21963006e-05, -0.271295398, 0.105505213, -0.171589628, 0.280652732, -0.0664055422, 0.163649455, -0.0406063683, -0.0379168466, -0.0484302342, -0.204623908, 0.0721216723, 0.0162812155, 0.207028076, 0.0583487488, -0.0935082063]),
    "noisy_48000": (62401, -5.161503681029899, [-0.0400955863, 0.0379300378, -0.180545807, 0.0362056941, -0.183120757, 0.183598787, 0.0756812096, 0.0788649991, -0.00527087413, -0.231552154, 0.126775563, -0.224722743, 0.268936813, -0.149531066, 0.223184913, -0.0129634067, -0.0820658356, -0.103310414, -0.209814772, 0.0999190584, -0.0123469643, 0.221906856, 0.00756276678, 0]),
    "noisy_16000": (20800, -1.7078020358048889, [-0.00766028278, 0.0497686379, -0.114490949, 0.107970782, -0.144339085, 0.169031352, 0.0586095601, 0.0450575091, 0.0130715221, -0.273293078, 0.129343122, -0.171331167, 0.3074269, -0.0362019092, 0.14762418, -0.0486456864, -0.0317736305, -0.0772254094, -0.193565309, 0.113260865, 0.0133484313, 0.232638881, 0.0716249347, -0.0816136822]),
}
# fmt: on
INDEX_COUNT = 24


def _clip(noisy: bool, rate: int = 44100, seconds: float = 1.3, channels: int = 2) -> bytes:
    """The goldens' clip: tones (+ white noise), 16-bit PCM WAV."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 3100 * t)
    right = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1000 * t)
    if noisy:
        rng = np.random.default_rng(7)
        left = left + 0.05 * rng.standard_normal(n)
        right = right + 0.05 * rng.standard_normal(n)
    pcm = np.round(np.stack([left, right], 1)[:, :channels] * 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _voice(root: Path, release: str, kinds: tuple[str, ...]) -> tuple[Path, VoiceManifest]:
    """A voice folder whose voice.json lists emotion models with the shipped processor files
    (the graphs are not needed for feeds)."""
    root.mkdir(parents=True, exist_ok=True)
    models = {}
    for kind in kinds:
        name = WAV2VEC2_NAME if kind == "wav2vec2" else CLAP_NAME
        if not (root / "emotion" / name).exists():
            shutil.copytree(default_config_root() / name, root / "emotion" / name)
        models[kind] = {
            "graph": f"emotion/{kind}.onnx",
            "processor": f"emotion/{name}",
            "model_name": name,
        }
    manifest = small_manifest(release, emotion_models=models)
    manifest.save(root)
    return root, VoiceManifest.load(root)


@pytest.fixture(scope="module")
def feeds22(tmp_path_factory) -> EmotionFeeds:
    return EmotionFeeds(*_voice(tmp_path_factory.mktemp("v22"), "2.2", ("clap_text", "clap_audio")))


@pytest.fixture(scope="module")
def feeds21(tmp_path_factory) -> EmotionFeeds:
    return EmotionFeeds(*_voice(tmp_path_factory.mktemp("v21"), "2.1", ("wav2vec2",)))


@pytest.mark.parametrize("key", sorted(SOXR_HQ_GOLDEN))
def test_clip_loading_equals_librosa_soxr_hq(key):
    kind, target = key.split("_")
    y = load_clip(_clip(kind == "noisy"), int(target), MAX_SECONDS, resampler="soxr_hq")
    length, total, values = SOXR_HQ_GOLDEN[key]
    assert y.dtype == np.float32 and y.shape == (length,)
    idx = np.linspace(0, length - 1, INDEX_COUNT).astype(int)
    np.testing.assert_allclose(y[idx], values, rtol=0, atol=1e-7)
    assert abs(float(y.astype(np.float64).sum()) - total) < 1e-5


@pytest.mark.parametrize("target", [48000, 16000])
def test_clip_loading_near_upstream_pinned_librosa(target):
    """soxr_hq against upstream's librosa 0.9.2 (kaiser_best): same length, and on band-limited
    audio the same samples to 1e-3 (white noise differs more, in the band near Nyquist where the
    two filters' transition bands lie: ~28-33 dB SNR measured)."""
    y = load_clip(_clip(False), target, MAX_SECONDS, resampler="soxr_hq")
    length, _, values = KAISER_BEST_GOLDEN[f"tones_{target}"]
    assert y.shape == (length,)
    idx = np.linspace(0, length - 1, INDEX_COUNT).astype(int)
    np.testing.assert_allclose(y[idx], values, rtol=0, atol=1e-3)
    noisy = load_clip(_clip(True), target, MAX_SECONDS)
    assert load_clip(_wav(np.full(1600, 0.1, np.float32)), target, MAX_SECONDS).size
    assert noisy.shape == (KAISER_BEST_GOLDEN[f"noisy_{target}"][0],)


@pytest.mark.parametrize("key", sorted(KAISER_BEST_GOLDEN))
def test_kaiser_best_equals_upstream_pinned_librosa(key):
    """The default resampler gives upstream's own samples (librosa 0.9.2 + resampy)."""
    kind, target = key.split("_")
    y = load_clip(_clip(kind == "noisy"), int(target), MAX_SECONDS)
    length, total, values = KAISER_BEST_GOLDEN[key]
    assert y.dtype == np.float32 and y.shape == (length,)
    idx = np.linspace(0, length - 1, INDEX_COUNT).astype(int)
    np.testing.assert_allclose(y[idx], values, rtol=0, atol=1e-6)
    assert abs(float(y.astype(np.float64).sum()) - total) < 1e-3


def test_unknown_resampler_is_refused(tmp_path):
    with pytest.raises(ValueError, match="allowed: kaiser_best, soxr_hq"):
        resample(np.zeros(100, np.float32), 8000, 16000, "sinc")
    with pytest.raises(ValueError, match="allowed: kaiser_best, soxr_hq"):
        EmotionFeeds(*_voice(tmp_path, "2.1", ("wav2vec2",)), resampler="fft")


def test_resample_is_soxr_hq_fixed_to_librosa_length():
    import soxr

    x = np.random.default_rng(0).standard_normal(22050 + 7).astype(np.float32)
    for rate, target in ((22050, 48000), (44100, 16000), (8000, 16000), (16000, 16000)):
        want = x if rate == target else soxr.resample(x, rate, target, quality="HQ")
        got = resample(x, rate, target, "soxr_hq")
        size = int(np.ceil(len(x) * (target / rate)))
        assert got.shape == (size,)
        n = min(size, len(want))
        np.testing.assert_array_equal(got[:n], want[:n])
        assert not got[n:].any()


def test_mono_mix_is_channel_mean():
    stereo = load_clip(_clip(True, rate=16000), 16000, MAX_SECONDS)
    pcm, _ = sf.read(io.BytesIO(_clip(True, rate=16000)), dtype="float32")
    np.testing.assert_array_equal(stereo, pcm.mean(axis=1))
    mono = load_clip(_clip(True, rate=16000, channels=1), 16000, MAX_SECONDS)
    np.testing.assert_array_equal(mono, pcm[:, 0])


def test_text_feeds_equal_clap_processor(feeds22):
    from transformers import ClapProcessor

    processor = ClapProcessor.from_pretrained(str(default_config_root() / CLAP_NAME))
    for prompt in ("Happy", "a sad voice", "  Angry!! ", "悲伤"):
        got = feeds22.text(prompt)
        want = processor(text=prompt, return_tensors="np")
        assert got["input_ids"].dtype == np.int64 and got["attention_mask"].dtype == np.int64
        np.testing.assert_array_equal(got["input_ids"], want["input_ids"])
        np.testing.assert_array_equal(got["attention_mask"], want["attention_mask"])


@pytest.mark.parametrize("seconds", [0.4, 10.0, 12.7])
def test_clap_audio_feeds_equal_feature_extractor(feeds22, seconds):
    """Up to 10 s: repeat-padded, no randomness; longer: fusion chunks, drawn by transformers
    from the global NumPy RNG (seeded here as ours is)."""
    from transformers import ClapFeatureExtractor

    data = _clip(True, seconds=seconds)
    got = feeds22.audio("clap_audio", data, MAX_SECONDS)
    extractor = ClapFeatureExtractor.from_pretrained(str(default_config_root() / CLAP_NAME))
    np.random.seed(CLAP_FUSION_SEED)
    want = extractor(load_clip(data, 48000, MAX_SECONDS), sampling_rate=48000, return_tensors="np")
    assert got["input_features"].shape == want["input_features"].shape == (1, 4, 1001, 64)
    assert got["input_features"].dtype == np.float32
    # the long path resizes the whole-clip mel; torch and numpy round its weights differently
    # in the last bit or two (values are dB, up to ~100 in magnitude)
    np.testing.assert_allclose(got["input_features"], want["input_features"], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(got["is_longer"], want["is_longer"])
    again = feeds22.audio("clap_audio", data, MAX_SECONDS)
    np.testing.assert_array_equal(again["input_features"], got["input_features"])


def test_wav2vec2_feeds_equal_upstream_processor_call(feeds21):
    """Upstream: Wav2Vec2Processor(np.expand_dims(wav, 0).astype(float64), sampling_rate=16000)."""
    from transformers import Wav2Vec2FeatureExtractor

    data = _clip(True)
    got = feeds21.audio("wav2vec2", data, MAX_SECONDS)
    wav = load_clip(data, 16000, MAX_SECONDS)
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(str(default_config_root() / WAV2VEC2_NAME))
    want = extractor(np.expand_dims(wav, 0).astype(np.float64), sampling_rate=16000)
    values = np.asarray(want["input_values"][0], dtype=np.float32)[None]
    assert got["input_values"].dtype == np.float32
    np.testing.assert_array_equal(got["input_values"], values)
    np.testing.assert_array_equal(got["attention_mask"], np.ones(values.shape, np.int64))
    assert abs(float(values.mean())) < 1e-4 and abs(float(values.std()) - 1) < 1e-3


def _wav(samples: np.ndarray, rate: int = 16000, subtype: str = "FLOAT") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"this is not audio at all" * 10, "could not be decoded"),
        (_wav(np.zeros(0, np.float32)), "no samples"),
        (_wav(np.array([0.1, np.nan, 0.2] * 1000, np.float32)), "NaN"),
        (_wav(np.array([0.1, np.inf] * 1000, np.float32)), "NaN or infinite"),
        (_wav(np.zeros(8000 * 31, np.int16), 8000, "PCM_16"), "at most 30 s"),
        (_wav(np.full(1599, 0.1, np.float32)), "at least 0.1 s"),
    ],
)
def test_bad_clips_are_request_errors(feeds21, feeds22, data, words):
    for feeds, kind in ((feeds21, "wav2vec2"), (feeds22, "clap_audio")):
        with pytest.raises(RequestError, match="REFERENCE_AUDIO") as err:
            feeds.audio(kind, data, MAX_SECONDS)
        assert words in str(err.value)


def test_bad_prompts_are_request_errors(feeds22):
    for prompt in ("", "   \n"):
        with pytest.raises(RequestError, match="EMOTION is empty"):
            feeds22.text(prompt)
    with pytest.raises(RequestError, match="at most 512"):
        feeds22.text("sad " * 600)
    assert feeds22.text("sad " * 500)["input_ids"].shape[1] <= 512


def test_missing_emotion_graph_names_the_export(feeds21, feeds22):
    with pytest.raises(RequestError, match="tts-export emotion VOICE_DIR --clap DIR"):
        feeds21.text("Happy")
    with pytest.raises(RequestError, match="--emotion-model DIR"):
        feeds22.audio("wav2vec2", _clip(False), MAX_SECONDS)
    with pytest.raises(ValueError, match="allowed"):
        feeds22.audio("clap_text", _clip(False), MAX_SECONDS)


def test_feeds_module_imports_no_torch_or_onnxruntime():
    """It runs in Triton's Python backend: transformers' processors load lazily, on first use."""
    import subprocess
    import sys

    probe = (
        "import json, sys, vits2.serving.emotion; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not loaded & {"torch", "onnxruntime", "onnx", "transformers"}
