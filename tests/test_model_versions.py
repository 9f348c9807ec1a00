"""Bert-VITS2 2.0/2.1/2.2 and Style-Bert-VITS2 checkpoints against upstream's recorded outputs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import vits2
from tests.fixtures import (
    FIXTURES,
    case_inputs,
    pad_cases,
    padded_batch,
    recorded_kwargs,
    reference_cases,
    require,
)
from vits2 import styles
from vits2.checkpoint import CheckpointWarning
from vits2.config import ConfigError, VoiceConfig

# (fixture folder, checkpoint file): every checkpoint form each fixture ships
CHECKPOINTS = [
    ("bert-vits2-v2.0-tiny", "G_tiny.pth"),
    ("bert-vits2-v2.1-tiny", "G_tiny.pth"),
    ("bert-vits2-v2.2-tiny", "G_tiny.pth"),
    ("style-bert-vits2-tiny", "model.safetensors"),
    ("style-bert-vits2-tiny", "G_tiny.pth"),
    ("style-bert-vits2-jp-extra-tiny", "model.safetensors"),
    ("style-bert-vits2-jp-extra-tiny", "G_tiny.pth"),
]
FOLDERS = list(dict.fromkeys(folder for folder, _ in CHECKPOINTS))
_MODELS: dict = {}


def model_for(folder: str, name: str = "G_tiny.pth"):
    if (folder, name) not in _MODELS:
        _MODELS[folder, name] = vits2.load_model(require(FIXTURES / folder / name))
    return _MODELS[folder, name]


def cases(folder: str) -> list[dict[str, np.ndarray]]:
    return reference_cases(folder)


def release_inputs(case) -> dict[str, torch.Tensor]:
    """The case's emotion/style input as upstream gave it (emo_id cases carry no emo)."""
    if "emo_id" in case:
        return {"emo_id": torch.from_numpy(case["emo_id"])}
    return {k: torch.from_numpy(case[k])[None] for k in ("emo", "style_vec") if k in case}


def run_case(model, case, **kw):
    """Upstream's call for `case`; keyword arguments replace or add infer() arguments."""
    args = dict(recorded_kwargs(case), **release_inputs(case))
    args.update(kw)
    return model.infer(*case_inputs(case), **args)


@pytest.mark.parametrize("folder, name", CHECKPOINTS)
def test_every_case_matches_upstream(folder, name):
    model = model_for(folder, name)
    for i, case in enumerate(cases(folder)):
        res = run_case(model, case)
        np.testing.assert_array_equal(res.durations[0].numpy(), case["durations"], f"case {i}")
        if "emo_code_index" in case:
            np.testing.assert_array_equal(res.emo_codes[0].numpy(), case["emo_code_index"])
        upstream_emb = case.get("emo_emb", case.get("style_emb"))
        if upstream_emb is not None:
            assert np.abs(res.cond_emb[0].numpy() - upstream_emb).max() <= 1e-5
        for key in ("z_p", "z"):
            assert np.abs(getattr(res, key)[0].numpy() - case[key]).max() <= 1e-4, (i, key)
        audio = res.audio[0, : int(res.audio_lengths[0])].numpy()
        assert audio.shape == case["audio"].shape
        assert np.abs(audio - case["audio"]).max() <= 1e-4, f"case {i}"


@pytest.mark.parametrize("folder", FOLDERS)
def test_six_cases_in_one_padded_batch_match_singles(folder):
    model, cs = model_for(folder), cases(folder)
    args, kwargs = padded_batch(cs)
    extra = {}
    if "emo" in cs[0] or "emo" in cs[2]:
        dim = model.config.parts.emo_dim
        extra["emo"] = pad_cases(cs, "emo", (dim,), np.float32)
    if model.config.parts.emotion == "2.1":  # mixes clip embeddings and ids in one batch
        extra["emo_id"] = torch.tensor([int(c["emo_id"][0]) if "emo_id" in c else -1 for c in cs])
    if "style_vec" in cs[0]:
        extra["style_vec"] = pad_cases(cs, "style_vec", (256,), np.float32)
    res = model.infer(*args, **kwargs, **extra)
    for i, c in enumerate(cs):
        n = len(c["phones"])
        np.testing.assert_array_equal(res.durations[i, :n].numpy(), c["durations"])
        length = int(res.audio_lengths[i])
        assert length == len(c["audio"])
        assert np.abs(res.audio[i, :length].numpy() - c["audio"]).max() <= 1e-4
        assert float(res.audio[i, length:].abs().sum()) == 0.0


def _config(folder: str) -> dict:
    return json.loads(require(FIXTURES / folder / "config.json").read_text())


@pytest.mark.parametrize("version", ["2.0", "2.0.1", "2.0.2-fix"])
def test_all_2_0_version_strings_load_the_2_0_generator(tmp_path, version):
    cfg = _config("bert-vits2-v2.0-tiny")
    cfg["version"] = version
    model = vits2.load_model(
        FIXTURES / "bert-vits2-v2.0-tiny" / "G_tiny.pth", VoiceConfig.from_dict(cfg)
    )
    assert model.config.parts.release == "2.0" and model.config.parts.other_bert_fill == "zeros"
    case = cases("bert-vits2-v2.0-tiny")[0]
    audio = run_case(model, case).audio[0].numpy()
    assert np.abs(audio[: len(case["audio"])] - case["audio"]).max() <= 1e-4


def test_2_1_checkpoint_without_codebook_warns_and_is_deterministic(tmp_path):
    folder = FIXTURES / "bert-vits2-v2.1-tiny"
    ck = torch.load(require(folder / "G_tiny.pth"), map_location="cpu", weights_only=True)
    ck["model"] = {k: v for k, v in ck["model"].items() if "emo_quantizer" not in k}
    torch.save(ck, tmp_path / "G_release.pth")
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    with pytest.warns(CheckpointWarning, match="no emotion codebook.*emo_q_proj.bias"):
        model = vits2.load_model(tmp_path / "G_release.pth")
    assert model.emotion_ignored
    case = cases("bert-vits2-v2.1-tiny")[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointWarning)
        again = vits2.load_model(tmp_path / "G_release.pth")
    by_clip = run_case(model, case, noise_z=None, seed=5)
    by_id = run_case(again, case, emo=None, emo_id=torch.tensor([7]), noise_z=None, seed=5)
    bias = model.enc_p.conditioning.emo_q_proj.bias
    assert torch.equal(by_clip.cond_emb[0], bias) and torch.equal(by_id.cond_emb[0], bias)
    assert torch.equal(by_clip.audio, by_id.audio)


def test_missing_release_inputs_get_the_documented_neutral_defaults():
    case = cases("bert-vits2-v2.1-tiny")[0]
    m21 = model_for("bert-vits2-v2.1-tiny")
    default = run_case(m21, case, emo=None)
    assert torch.equal(default.audio, run_case(m21, case, emo=None, emo_id=torch.tensor([0])).audio)

    m22 = model_for("bert-vits2-v2.2-tiny")
    case = cases("bert-vits2-v2.2-tiny")[0]
    assert torch.equal(
        run_case(m22, case, emo=None).audio, run_case(m22, case, emo=torch.zeros(1, 512)).audio
    )

    for folder in ("style-bert-vits2-tiny", "style-bert-vits2-jp-extra-tiny"):
        model, case = model_for(folder), cases(folder)[1]
        vectors = styles.load_style_vectors(FIXTURES / folder / "style_vectors.npy")
        neutral = torch.from_numpy(styles.style_vector(vectors, 0))[None]
        weight0 = torch.from_numpy(styles.style_vector(vectors, 2, weight=0.0))[None]
        a = run_case(model, case, style_vec=None).audio
        assert torch.equal(a, run_case(model, case, style_vec=neutral).audio)
        assert torch.equal(a, run_case(model, case, style_vec=weight0).audio)


@pytest.mark.parametrize("folder", ["style-bert-vits2-tiny", "style-bert-vits2-jp-extra-tiny"])
def test_style_vec_from_style_vectors_npy_is_upstreams_exactly(folder):
    cfg = _config(folder)
    vectors = styles.load_style_vectors(FIXTURES / folder / "style_vectors.npy", 3)
    for case in cases(folder):
        sid = styles.style_id(cfg["data"]["style2id"], int(case["style_id"][0]))
        vec = styles.style_vector(vectors, sid, float(case["style_weight"][0]))
        assert vec.dtype == np.float32 and np.array_equal(vec, case["style_vec"])
    assert styles.style_id(cfg["data"]["style2id"], "Sad") == 2
    with pytest.raises(styles.StyleError, match="unknown style 'Angry'; this voice has: Neutral"):
        styles.style_id(cfg["data"]["style2id"], "Angry")


def test_inputs_a_voice_does_not_have_are_refused():
    case = cases("bert-vits2-v2.0-tiny")[0]
    with pytest.raises(
        ValueError, match=r"2.0 voice does not take emo \(its conditioning inputs: none"
    ):
        run_case(model_for("bert-vits2-v2.0-tiny"), case, emo=torch.zeros(1, 1024))
    case = cases("style-bert-vits2-tiny")[0]
    with pytest.raises(ValueError, match="does not take emo_id.*style_vec"):
        run_case(model_for("style-bert-vits2-tiny"), case, emo_id=torch.tensor([1]))
    case = cases("bert-vits2-v2.1-tiny")[2]
    with pytest.raises(ValueError, match=r"emo_id must be in \[0, 9\]"):
        run_case(model_for("bert-vits2-v2.1-tiny"), case, emo_id=torch.tensor([10]))


def test_style_model_is_told_by_its_weights_when_the_config_lacks_style2id(tmp_path):
    folder = FIXTURES / "style-bert-vits2-tiny"
    cfg = _config("style-bert-vits2-tiny")
    del cfg["data"]["style2id"], cfg["data"]["num_styles"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    model = vits2.load_model(
        require(folder / "model.safetensors"),
        tmp_path / "config.json",
        style_vectors=folder / "style_vectors.npy",
    )
    assert model.config.parts.release == "sbv2" and model.config.model.n_layers_trans_flow == 4
    case = cases("style-bert-vits2-tiny")[2]
    audio = run_case(model, case).audio[0, : len(case["audio"])].numpy()
    assert np.abs(audio - case["audio"]).max() <= 1e-4


def test_style_bert_vits2_flow_depth_is_the_constructor_default_whatever_the_config_says():
    cfg = _config("style-bert-vits2-jp-extra-tiny")
    cfg["model"]["n_layers_trans_flow"] = 4  # upstream's loader never reads this key
    parsed = VoiceConfig.from_dict(cfg)
    assert parsed.parts.release == "sbv2-jp-extra" and parsed.model.n_layers_trans_flow == 6
    assert parsed.parts.bert_inputs == ("bert_ja",) and parsed.parts.extra_inputs == ("style_vec",)
    with pytest.raises(ConfigError, match="style ids must be integers"):
        VoiceConfig.from_dict({**cfg, "data": {**cfg["data"], "style2id": {"Neutral": 7}}})


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2", "sbv2", "sbv2-jp-extra"])
def test_random_voices_of_each_release_save_load_and_vary_with_emotion(tmp_path, version):
    from vits2.random_voice import VERSIONS, full_config, make_random_voice, tiny_config

    assert VoiceConfig.from_dict(full_config(version)).model.hidden_channels == 192
    style = version.startswith("sbv2")
    path = make_random_voice(tmp_path, tiny_config(version), seed=1, safetensors=style)
    loaded = [vits2.load_model(path)]
    if style:
        assert (tmp_path / "style_vectors.npy").is_file()
        loaded.append(vits2.load_model(tmp_path / "model.safetensors"))
    parts = loaded[0].config.parts
    assert version in VERSIONS and parts.release == version
    g = torch.Generator().manual_seed(0)
    p, b = 11, 4
    ids = torch.randint(1, 100, (b, p), generator=g)
    berts = [torch.randn(b, 1024, p, generator=g) for _ in range(3)]
    args = (
        ids,
        torch.zeros_like(ids),
        torch.ones_like(ids),
        *berts,
        torch.zeros(b, dtype=torch.long),
    )
    kw = {}
    if parts.emo_dim:
        emo = torch.randn(b, parts.emo_dim, generator=g)
        kw["emo"] = emo / emo.norm(dim=1, keepdim=True)
    outs = [m.infer(*args, seed=3, return_intermediates=True, **kw) for m in loaded]
    assert all(torch.equal(outs[0].audio, o.audio) for o in outs)
    if parts.emo_dim:  # a spread codebook: four random clips do not all pick one code
        assert len({tuple(c.tolist()) for c in outs[0].emo_codes}) > 1


def test_version_and_style_helpers_import_without_torch():
    import subprocess
    import sys

    code = (
        "import sys, vits2.config, vits2.styles; "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "print(vits2.config.model_parts('2.7.0-JP-Extra', True).extra_inputs)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "('style_vec',)"


def test_checkpoint_of_another_release_names_the_release_its_keys_belong_to():
    from vits2.checkpoint import CheckpointError

    cfg = _config("bert-vits2-v2.2-tiny")
    cfg["version"] = "2.3"
    with pytest.raises(
        CheckpointError, match=r'in_feature_net.0.weight belongs to "version": "2.2"'
    ):
        vits2.load_model(
            require(FIXTURES / "bert-vits2-v2.2-tiny" / "G_tiny.pth"), VoiceConfig.from_dict(cfg)
        )
