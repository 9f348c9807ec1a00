"""BERT phone-feature graphs: onnxruntime against transformers' hidden_states[-3], per kind.

Tiny random-weight BERTs with the real architectures (configs from ../shared/fixtures/bert-configs,
4 layers instead of 24, hidden size kept at 1024) are built once per session; the graphs are
exported once per kind and run at several token lengths and batch sizes, so the dynamic axes
(and DeBERTa's length-dependent relative positions) are exercised away from the export example.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tests.fixtures import FIXTURES, require
from tts_export.bert import BertGraphInfo, export_bert
from tts_export.checks import check_graph, simplify

BERT_CONFIGS = FIXTURES / "bert-configs"
KINDS = {
    "ZH": "chinese-roberta-wwm-ext-large",
    "JP": "deberta-v2-large-japanese-char-wwm",
    "EN": "deberta-v3-large",
}
SHRINK = {"num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 256}
CASES = [(1, 5), (1, 130), (3, 37), (3, 130)]  # (batch, longest token length)
FP32_TOL = 1e-4


def _build_tiny(kind: str, out: Path) -> Path:
    """Random-weight model with the real architecture of `kind`, saved like a user's folder.

    Saved with its masked-LM head, as the real checkpoints are (`bert.`/`deberta.` prefixes plus
    `cls.`/`lm_predictions.` weights), so the export must strip the head itself.
    """
    from transformers import AutoConfig, AutoModelForMaskedLM

    raw = json.loads((BERT_CONFIGS / KINDS[kind] / "config.json").read_text())
    raw.update(SHRINK)
    if "attention_head_size" in raw:  # JP sets it explicitly (64 for 16 heads)
        raw["attention_head_size"] = raw["hidden_size"] // raw["num_attention_heads"]
    raw.pop("torch_dtype", None)
    # Token ids in these tests stay below 1000: a small embedding table keeps the export fast
    # (the vocabulary size changes no op in the graph).
    raw["vocab_size"] = 2000
    config = AutoConfig.for_model(raw.pop("model_type"), **raw)
    torch.manual_seed({"ZH": 0, "JP": 1, "EN": 2}[kind])
    model = AutoModelForMaskedLM.from_config(config).eval()
    model.save_pretrained(out / KINDS[kind])
    return out / KINDS[kind]


@pytest.fixture(scope="session")
def bert_dirs(tmp_path_factory) -> dict[str, Path]:
    require(BERT_CONFIGS)
    root = tmp_path_factory.mktemp("bert-models")
    return {kind: _build_tiny(kind, root) for kind in KINDS}


@pytest.fixture(scope="session")
def exported(bert_dirs, tmp_path_factory) -> dict[str, BertGraphInfo]:
    out = tmp_path_factory.mktemp("bert-onnx")
    return {k: export_bert(d, out / f"bert_{k.lower()}.onnx") for k, d in bert_dirs.items()}


def _load_reference(model_dir: Path):
    from transformers import AutoModel

    return AutoModel.from_pretrained(model_dir, local_files_only=True).eval()


def _batch(batch: int, longest: int, seed: int):
    """Right-padded ids, mask and a phone->token spread (repeats, valid tokens only)."""
    rng = np.random.default_rng(seed)
    lengths = [longest] + [int(rng.integers(2, longest + 1)) for _ in range(batch - 1)]
    mask = (np.arange(longest)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    ids = rng.integers(5, 1000, (batch, longest)) * mask
    phones = 2 * longest + 3
    # Each item's phones point at its own valid tokens (sorted, with repeats, like word2ph).
    p2t = np.stack([np.sort(rng.integers(0, n, phones)) for n in lengths]).astype(np.int64)
    return ids, mask, p2t, lengths


def _feed(info: BertGraphInfo, ids, mask, p2t) -> dict[str, np.ndarray]:
    feed = {"input_ids": ids, "attention_mask": mask, "phone_to_token": p2t}
    if info.has_token_type_ids:
        feed["token_type_ids"] = np.zeros_like(ids)
    return feed


def _reference(model, info: BertGraphInfo, ids, mask, p2t) -> np.ndarray:
    kwargs = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    if info.has_token_type_ids:
        kwargs["token_type_ids"] = torch.zeros_like(kwargs["input_ids"])
    with torch.no_grad():
        hidden = model(**kwargs, output_hidden_states=True).hidden_states[-3].numpy()
    return np.stack([hidden[b][p2t[b]].T for b in range(ids.shape[0])])


@pytest.mark.parametrize("kind", list(KINDS))
def test_bert_graph_matches_transformers_at_several_lengths(kind, bert_dirs, exported):
    info = exported[kind]
    model = _load_reference(bert_dirs[kind])
    session = ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"])
    for i, (batch, longest) in enumerate(CASES):
        ids, mask, p2t, lengths = _batch(batch, longest, seed=i)
        out = session.run(["bert_features"], _feed(info, ids, mask, p2t))[0]
        assert out.shape == (batch, 1024, p2t.shape[1]) and out.dtype == np.float32
        # Same padded batch through transformers: every phone (all point at valid tokens).
        ref = _reference(model, info, ids, mask, p2t)
        err = float(np.abs(out - ref).max())
        assert err <= FP32_TOL, f"{kind} B={batch} T={longest}: max |err| {err:.2e}"
        # Batched equals unbatched: each item alone, unpadded, through the same graph.
        for b, n in enumerate(lengths if batch > 1 else []):
            alone_feed = _feed(info, ids[b : b + 1, :n], mask[b : b + 1, :n], p2t[b : b + 1])
            alone = session.run(["bert_features"], alone_feed)[0]
            err = float(np.abs(out[b] - alone[0]).max())
            assert err <= FP32_TOL, f"{kind} item {b} of B={batch}: batched vs alone {err:.2e}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_bert_graph_runs_only_the_layers_up_to_hidden_states_minus_3(kind, bert_dirs, exported):
    info = exported[kind]
    model = _load_reference(bert_dirs[kind])
    n = model.config.num_hidden_layers
    assert (info.num_hidden_layers, info.layers_run) == (n, n - 2)
    report = check_graph(info.path)
    assert report.op_counts["Softmax"] == n - 2  # one attention softmax per layer in the graph

    # Weights in the graph = embeddings + first n-2 layers + encoder-level parts (DeBERTa's
    # relative embeddings/conv): no last two layers, no pooler (1M), no LM head.
    graph = onnx.load(str(info.path))
    in_graph = sum(
        int(np.prod(t.dims))
        for t in graph.graph.initializer
        if t.data_type == onnx.TensorProto.FLOAT
    )
    expected = sum(p.numel() for p in model.embeddings.parameters())
    expected += sum(p.numel() for layer in model.encoder.layer[: n - 2] for p in layer.parameters())
    expected += sum(
        p.numel() for k, p in model.encoder.named_parameters() if not k.startswith("layer.")
    )
    one_layer = sum(p.numel() for p in model.encoder.layer[0].parameters())
    # Small slack: the exporter merges identical initialisers (LayerNorm ones/zeros).
    assert abs(in_graph - expected) < 200_000 < one_layer, (in_graph, expected)
    names = " ".join(t.name for t in graph.graph.initializer)
    assert "pooler" not in names and "lm_head" not in names and "cls." not in names


@pytest.mark.parametrize("kind", list(KINDS))
def test_bert_graph_io_contract(kind, exported):
    info = exported[kind]
    assert info.source_model == KINDS[kind] and info.hidden_size == 1024
    assert info.has_token_type_ids == (kind == "ZH")  # DeBERTa configs have type_vocab_size 0
    graph = onnx.load(str(info.path), load_external_data=False)

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    inputs = {v.name: v for v in graph.graph.input}
    assert list(inputs) == info.inputs
    expected = ["input_ids", "attention_mask"] + (["token_type_ids"] if kind == "ZH" else [])
    assert info.inputs == expected + ["phone_to_token"]
    for name in expected:
        assert inputs[name].type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert dims(inputs[name]) == ["batch", "tokens"]
    assert dims(inputs["phone_to_token"]) == ["batch", "phones"]
    (output,) = graph.graph.output
    assert output.name == "bert_features"
    assert output.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims(output) == ["batch", 1024, "phones"]


def test_check_graph_passes_on_bert_graphs(exported):
    for info in exported.values():
        report = check_graph(info.path)
        assert report.inputs == info.inputs and report.outputs == ["bert_features"]
        assert report.domains == [] and report.opset == 17


def test_simplified_bert_graph_keeps_outputs(exported, tmp_path):
    info = exported["EN"]
    slim = tmp_path / "bert_en.slim.onnx"
    assert simplify(info.path, slim)
    report = check_graph(slim)
    assert report.num_nodes < check_graph(info.path).num_nodes
    ids, mask, p2t, _ = _batch(2, 40, seed=7)
    feed = _feed(info, ids, mask, p2t)
    a = ort.InferenceSession(str(info.path)).run(None, feed)[0]
    b = ort.InferenceSession(str(slim)).run(None, feed)[0]
    assert np.abs(a - b).max() <= 1e-5


def test_fp16_bert_graph_keeps_float32_io_and_tracks_fp32(bert_dirs, exported, tmp_path):
    info = export_bert(bert_dirs["EN"], tmp_path / "bert_en.fp16.onnx", fp16=True)
    assert info.fp16
    assert info.path.stat().st_size < 0.6 * exported["EN"].path.stat().st_size
    session = ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"])
    assert {i.type for i in session.get_inputs()} == {"tensor(int64)"}
    assert session.get_outputs()[0].type == "tensor(float)"
    ids, mask, p2t, _ = _batch(3, 37, seed=3)
    feed = _feed(info, ids, mask, p2t)
    half = session.run(None, feed)[0]
    full = ort.InferenceSession(str(exported["EN"].path)).run(None, feed)[0]
    snr = 10 * np.log10(np.sum(full**2) / np.sum((half - full) ** 2))
    assert np.isfinite(half).all() and snr > 40, f"fp16 SNR {snr:.1f} dB"


def test_export_bert_rejects_a_folder_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        export_bert(tmp_path, tmp_path / "x.onnx")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="not supported"):
        export_bert(tmp_path, tmp_path / "x.onnx")
