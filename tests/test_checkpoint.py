"""Loading upstream checkpoints: weight-norm forms, training-only keys, clear errors."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

import vits2
from tests.fixtures import TINY, case_inputs, reference_cases, require
from vits2.checkpoint import CheckpointError
from vits2.config import ConfigError, VoiceConfig


def _fixture_checkpoint():
    return torch.load(require(TINY / "G_tiny.pth"), map_location="cpu", weights_only=True)


def _fixture_config() -> dict:
    return json.loads(require(TINY / "config.json").read_text())


def _audio(model, case):
    return model.infer(
        *case_inputs(case), sdp_ratio=0.3, noise_scale=0.667, noise_scale_w=0.8, seed=3
    ).audio


def test_parametrized_weight_norm_checkpoint_loads_and_matches(tmp_path):
    # torch's parametrized weight norm names its halves like this; check the assumption for real
    probe = nn.utils.parametrizations.weight_norm(nn.Conv1d(2, 2, 3))
    assert {"parametrizations.weight.original0", "parametrizations.weight.original1"} <= set(
        probe.state_dict()
    )
    ck = _fixture_checkpoint()
    renamed = {}
    for k, v in ck["model"].items():
        k = k.replace(".weight_g", ".parametrizations.weight.original0")
        k = k.replace(".weight_v", ".parametrizations.weight.original1")
        renamed[k] = v
    assert renamed.keys() != ck["model"].keys()
    ck["model"] = renamed
    torch.save(ck, tmp_path / "G_param.pth")
    (tmp_path / "config.json").write_text((TINY / "config.json").read_text())
    case = reference_cases()[1]
    a = _audio(vits2.load_model(TINY / "G_tiny.pth"), case)
    b = _audio(vits2.load_model(tmp_path / "G_param.pth"), case)
    assert torch.equal(a, b)


def test_missing_keys_are_listed(tmp_path):
    ck = _fixture_checkpoint()
    del ck["model"]["dp.proj.weight"]
    del ck["model"]["emb_g.weight"]
    torch.save(ck, tmp_path / "G.pth")
    with pytest.raises(CheckpointError, match=r"missing \(2\): dp.proj.weight, emb_g.weight"):
        vits2.load_model(tmp_path / "G.pth", TINY / "config.json")


def test_unexpected_keys_are_listed_but_training_only_ones_ignored(tmp_path):
    ck = _fixture_checkpoint()
    assert any(k.startswith("enc_q.") for k in ck["model"])  # training-only parts are present
    ck["model"]["dec.extra_layer.weight"] = torch.zeros(3)
    torch.save(ck, tmp_path / "G.pth")
    with pytest.raises(CheckpointError, match=r"unexpected \(1\): dec.extra_layer.weight"):
        vits2.load_model(tmp_path / "G.pth", TINY / "config.json")


def test_half_a_weight_norm_pair_is_an_error(tmp_path):
    ck = _fixture_checkpoint()
    del ck["model"]["dec.ups.0.weight_v"]
    torch.save(ck, tmp_path / "G.pth")
    with pytest.raises(CheckpointError, match="dec.ups.0.*weight_v"):
        vits2.load_model(tmp_path / "G.pth", TINY / "config.json")


def test_config_that_does_not_fit_the_weights_names_the_shapes(tmp_path):
    cfg = _fixture_config()
    cfg["model"]["filter_channels"] = 96
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"shapes do not match.*ffn_layers.0.conv_1.weight"):
        vits2.load_model(TINY / "G_tiny.pth", tmp_path / "config.json")


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "G.pth").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        vits2.load_model(tmp_path / "G.pth", TINY / "config.json")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        vits2.load_model(tmp_path / "nope.pth", TINY / "config.json")


def test_config_beside_checkpoint_is_required_when_none_given(tmp_path):
    torch.save(_fixture_checkpoint(), tmp_path / "G.pth")
    with pytest.raises(FileNotFoundError, match="config"):
        vits2.load_model(tmp_path / "G.pth")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.pop("version"), "'version' is missing"),
        (
            lambda c: c.update(version="1.1"),
            r"'version' is '1.1'; supported Bert-VITS2 versions: 2.0, 2.0.1, 2.0.2-fix, 2.1, 2.2, 2.3",
        ),
        (lambda c: c["data"].update(style2id={"Neutral": 3}, num_styles=2), "style2id"),
        (lambda c: c["model"].update(n_layers=2), "n_layers must be greater than 2"),
        (lambda c: c["model"].update(hidden_channels=33), "divisible by model.n_heads"),
        (lambda c: c["data"].update(hop_length=256), "product of model.upsample_rates"),
        (lambda c: c["model"].update(resblock="3"), "model.resblock"),
        (lambda c: c["model"].update(kernel_size="3"), "'model.kernel_size' must be an integer"),
        (lambda c: c["data"].update(spk2id={"a": 5}), r"data.spk2id\['a'\] is 5"),
        (lambda c: c["data"].update(n_speakers=0), "'data.n_speakers' must be positive"),
    ],
)
def test_bad_config_names_the_field(edit, message):
    cfg = copy.deepcopy(_fixture_config())
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        VoiceConfig.from_dict(cfg)


def test_defaults_missing_from_config_are_upstreams():
    cfg = VoiceConfig.from_dict(_fixture_config())
    m = cfg.model
    assert (
        m.use_sdp,
        m.n_flow_layer,
        m.n_layers_trans_flow,
        m.flow_share_parameter,
        m.use_transformer_flow,
        m.use_spk_conditioned_encoder,
    ) == (True, 4, 4, False, True, True)
    assert cfg.data.n_speakers == 3 and cfg.speakers == {"spk0": 0, "spk1": 1, "spk2": 2}
