"""ONNX encoder + decoder of 2.0/2.1/2.2 and Style-Bert-VITS2 voices against upstream's fixtures."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures import run_decoder
from tests.test_model_versions import FOLDERS, cases, model_for
from tts_export import acoustic
from tts_export.verify import session

# what each release's encoder graph takes beyond the shared inputs
EXPECTED_EXTRA = {
    "bert-vits2-v2.0-tiny": ["bert_zh", "bert_ja", "bert_en"],
    "bert-vits2-v2.1-tiny": ["bert_zh", "bert_ja", "bert_en", "emo", "emo_id"],
    "bert-vits2-v2.2-tiny": ["bert_zh", "bert_ja", "bert_en", "emo"],
    "style-bert-vits2-tiny": ["bert_zh", "bert_ja", "bert_en", "style_vec"],
    "style-bert-vits2-jp-extra-tiny": ["bert_ja", "style_vec"],
}
SHARED = ["phones", "tones", "languages", "phone_lengths", "sid", "sdp_ratio", "noise_scale_w"]


def _pad(cs, name, shape, dtype, fill=0):
    out = np.full((len(cs), *shape), fill, dtype=dtype)
    for i, c in enumerate(cs):
        if name in c:
            out[(i, *[slice(0, s) for s in c[name].shape])] = c[name]
    return out


def _feeds(model, cs):
    """Encoder feeds for cases padded into one batch, upstream's emotion/style inputs included."""
    p = max(len(c["phones"]) for c in cs)
    scales = np.stack([c["scales"] for c in cs])
    every = dict(
        phones=_pad(cs, "phones", (p,), np.int64),
        tones=_pad(cs, "tones", (p,), np.int64),
        languages=_pad(cs, "language", (p,), np.int64),
        phone_lengths=np.array([len(c["phones"]) for c in cs]),
        sid=np.concatenate([c["sid"] for c in cs]),
        sdp_ratio=scales[:, 0].copy(),
        noise_scale_w=scales[:, 2].copy(),
        length_scale=scales[:, 3].copy(),
        noise_sdp=_pad(cs, "noise_sdp", (2, p), np.float32),
        emo_id=np.array([int(c["emo_id"][0]) if "emo_id" in c else -1 for c in cs]),
        style_vec=_pad(cs, "style_vec", (256,), np.float32),
        emo=_pad(cs, "emo", (model.config.parts.emo_dim,), np.float32),
    )
    for name in ("bert_zh", "bert_ja", "bert_en"):
        every[name] = _pad(cs, name, (1024, p), np.float32)
    return {n: every[n] for n in acoustic.encoder_input_names(model.config)}


@pytest.mark.parametrize("folder", FOLDERS)
def test_onnx_encoder_and_decoder_match_upstream_singly_and_batched(folder, tmp_path):
    model = model_for(folder)
    acoustic.export_encoder(model, tmp_path / "encoder.onnx")
    acoustic.export_decoder(model, tmp_path / "decoder.onnx")
    enc, dec = session(tmp_path / "encoder.onnx"), session(tmp_path / "decoder.onnx")
    names = [i.name for i in enc.get_inputs()]
    assert sorted(names) == sorted([*SHARED, "length_scale", "noise_sdp", *EXPECTED_EXTRA[folder]])
    cs = cases(folder)
    for batch in [[c] for c in cs] + [cs]:
        m_p, logs_p, g, durations, frame_lengths = enc.run(
            acoustic.ENCODER_OUTPUTS, _feeds(model, batch)
        )
        frames = int(frame_lengths.max())
        noise_z = _pad(batch, "noise_z", (m_p.shape[1], frames), np.float32)
        noise_scale = np.array([c["scales"][1] for c in batch], dtype=np.float32)
        audio, lengths = run_decoder(
            dec, (m_p, logs_p, g, durations, frame_lengths), noise_scale, noise_z
        )
        for i, c in enumerate(batch):
            n = len(c["phones"])
            np.testing.assert_array_equal(durations[i, :n], c["durations"])
            assert lengths[i] == len(c["audio"])
            assert np.abs(audio[i, : lengths[i]] - c["audio"]).max() <= 1e-4
