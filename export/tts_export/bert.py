"""Export a Bert-VITS2 BERT (one per language) as an ONNX graph that yields phone-level features.

Bert-VITS2 v2.3 reads `hidden_states[-3]` of its BERTs (Chinese RoBERTa-wwm-ext-large, Japanese
DeBERTa-v2 large char-wwm, English DeBERTa-v3 large) and repeats each token's feature over the
phones of that token. The graph built here does exactly that and nothing more:

- only the first `num_hidden_layers - 2` encoder layers run (`hidden_states[-3]` is the output
  of that layer; the last two layers, the pooler and any LM head are not in the graph),
- the token features are gathered per phone through `phone_to_token` and transposed to the
  layout the acoustic encoder takes.

Graph I/O (see docs/graphs.md):
    in  input_ids       int64   [B, T]
    in  attention_mask  int64   [B, T]      1 on real tokens, 0 on padding
    in  token_type_ids  int64   [B, T]      only for models with token types (BERT, not DeBERTa)
    in  phone_to_token  int64   [B, P]      token index (0..T-1) whose feature each phone takes
    out bert_features   float32 [B, H, P]   H = hidden_size (1024 for all v2.3 BERTs)
"""

from __future__ import annotations

import gc
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .checks import save_onnx

__all__ = ["BertGraphInfo", "export_bert", "OUTPUT_NAME"]

log = logging.getLogger(__name__)

OUTPUT_NAME = "bert_features"
# Exported as an additive attention bias on padded keys. Large enough that exp() underflows to
# exactly 0 next to any real score, finite so an fp16 conversion cannot make inf - inf = NaN.
_MASK_BIAS = -10000.0


@dataclass
class BertGraphInfo:
    """What `export_bert` wrote."""

    path: Path
    """The ONNX file."""
    inputs: list[str]
    """Graph input names, in order."""
    has_token_type_ids: bool
    """Whether the graph takes `token_type_ids` (BERT yes, DeBERTa-v2/v3 with type_vocab_size 0 no)."""
    layers_run: int
    """Encoder layers in the graph: num_hidden_layers - 2, so the output is hidden_states[-3]."""
    hidden_size: int
    """Feature size H of `bert_features` [B, H, P]."""
    source_model: str
    """Folder name of the transformers model it came from (e.g. chinese-roberta-wwm-ext-large)."""
    model_type: str = ""
    """transformers `model_type` (bert, deberta-v2)."""
    num_hidden_layers: int = 0
    """Layers of the source model (the graph runs two fewer)."""
    fp16: bool = False
    """Weights and compute in fp16 (graph I/O stays float32)."""
    export_seconds: float = 0.0
    """Wall time of the export."""
    extra: dict[str, str] = field(default_factory=dict)
    """Free-form facts for the sidecar (e.g. opset)."""


class _PhoneFeatures(nn.Module):
    """Embeddings + first `layers_run` encoder layers + per-phone gather, for BERT and DeBERTa-v2."""

    def __init__(self, model: nn.Module, layers_run: int, with_token_types: bool):
        super().__init__()
        self.model_type = model.config.model_type
        self.with_token_types = with_token_types
        self.embeddings = model.embeddings
        encoder = model.encoder
        # Keep only the layers whose output leads to hidden_states[-3]; the rest are dropped
        # from the module tree so their weights never reach the graph.
        encoder.layer = nn.ModuleList(list(encoder.layer)[:layers_run])
        self.encoder = encoder
        self.layers_run = layers_run
        self.hidden_size = int(model.config.hidden_size)

    def _bert(self, input_ids, attention_mask, token_type_ids):
        hidden = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        # [B, 1, 1, T] additive bias on padded keys (what transformers' eager attention adds).
        bias = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * _MASK_BIAS
        for layer in self.encoder.layer:
            out = layer(hidden, bias)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def _deberta(self, input_ids, attention_mask, token_type_ids):
        hidden = self.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, mask=attention_mask
        )
        if self.layers_run == 0:
            return hidden
        # DebertaV2Encoder builds the [B,1,T,T] pair mask, the bucketed relative positions
        # (arange over the traced length, so they follow T at run time) and the conv after
        # layer 0 (JP model) itself; with the truncated layer list its last output is ours.
        return self.encoder(hidden, attention_mask, output_hidden_states=False).last_hidden_state

    def forward(self, input_ids, attention_mask, *rest):
        if self.with_token_types:
            token_type_ids, phone_to_token = rest
        else:
            token_type_ids, phone_to_token = None, rest[0]
        if self.model_type == "bert":
            hidden = self._bert(input_ids, attention_mask, token_type_ids)
        else:
            hidden = self._deberta(input_ids, attention_mask, token_type_ids)
        # [B, T, H] -> per phone [B, P, H] -> [B, H, P]; GatherElements, no data-dependent shape.
        # A Python int for H (not hidden.size(-1)) so the exported output shape says 1024.
        index = phone_to_token.unsqueeze(-1).expand(-1, -1, self.hidden_size)
        return torch.gather(hidden, 1, index).transpose(1, 2)


def _load_model(model_dir: Path) -> nn.Module:
    from transformers import AutoConfig, AutoModel

    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir} is not a transformers model folder (no config.json); point at the local "
            "folder of the BERT the voice was trained with, e.g. chinese-roberta-wwm-ext-large"
        )
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    if config.model_type not in ("bert", "deberta-v2"):
        raise ValueError(
            f"{model_dir.name}: model_type {config.model_type!r} is not supported; "
            "Bert-VITS2 uses 'bert' (chinese-roberta-wwm-ext-large) or 'deberta-v2' "
            "(deberta-v2-large-japanese-char-wwm, deberta-v3-large)"
        )
    # Eager attention: the plain matmul/softmax pattern exports cleanly and is what onnxruntime
    # and TensorRT fuse; SDPA/flash paths carry mask-shortcut logic that tracing would freeze.
    kwargs = {"attn_implementation": "eager"} if config.model_type == "bert" else {}
    model = AutoModel.from_pretrained(model_dir, local_files_only=True, **kwargs)
    # Real folders may store fp16 weights (the JP model does); the graph is built in fp32 and
    # converted afterwards when fp16 is asked for. `.float()` works on every transformers version.
    model.float().eval()
    return model


def _uses_token_types(model: nn.Module) -> bool:
    emb = model.embeddings
    return int(getattr(model.config, "type_vocab_size", 0) or 0) > 0 and (
        getattr(emb, "token_type_embeddings", None) is not None
    )


def _example_inputs(config, with_token_types: bool) -> tuple[torch.Tensor, ...]:
    # Batch 2, unequal lengths and T != P, so no axis is traced as a constant 1 or aliased to
    # another axis; ids stay inside every vocabulary.
    batch, tokens, phones = 2, 11, 17
    gen = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, min(config.vocab_size, 1000), (batch, tokens), generator=gen)
    attention_mask = torch.ones(batch, tokens, dtype=torch.long)
    attention_mask[1, 8:] = 0
    phone_to_token = torch.randint(0, tokens, (batch, phones), generator=gen)
    if with_token_types:
        token_type_ids = torch.zeros(batch, tokens, dtype=torch.long)
        return input_ids, attention_mask, token_type_ids, phone_to_token
    return input_ids, attention_mask, phone_to_token


def _convert_fp16(path: Path) -> None:
    """Rewrite `path` with weights/compute in fp16, float32 graph inputs/outputs kept."""
    import onnx

    try:
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
        from onnxruntime.transformers.onnx_model import OnnxModel
    except ImportError as exc:  # pragma: no cover - onnxruntime ships this module
        raise NotImplementedError(
            "fp16 BERT export needs onnxruntime.transformers.float16 (part of onnxruntime); "
            "export fp32 instead, or build a TensorRT engine with fp16=True from the fp32 graph"
        ) from exc
    # Normalisation and softmax reduce over 1024 values / whole rows: keep them in fp32 so
    # fp16 stays a weight/matmul saving without the variance and max-subtraction losing bits.
    block = [*DEFAULT_OP_BLOCK_LIST, "LayerNormalization", "Softmax", "ReduceMean", "Pow", "Sqrt"]
    # The converter appends its Cast nodes at the end of the node list; ONNX wants topological order.
    wrapped = OnnxModel(
        convert_float_to_float16(onnx.load(str(path)), keep_io_types=True, op_block_list=block)
    )
    wrapped.topological_sort()
    save_onnx(wrapped.model, path)


def _graph_io(with_token_types: bool) -> tuple[list[str], dict[str, dict[int, str]]]:
    """Graph input names in order, and the dynamic axes of every input and the output."""
    inputs = ["input_ids", "attention_mask"]
    if with_token_types:
        inputs.append("token_type_ids")
    inputs.append("phone_to_token")
    token_axes = {0: "batch", 1: "tokens"}
    dynamic_axes = {name: dict(token_axes) for name in inputs[:-1]}
    dynamic_axes["phone_to_token"] = {0: "batch", 1: "phones"}
    dynamic_axes[OUTPUT_NAME] = {0: "batch", 2: "phones"}
    return inputs, dynamic_axes


def _trace_to_onnx(
    wrapper: nn.Module,
    example: tuple[torch.Tensor, ...],
    out_path: Path,
    inputs: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
) -> None:
    """Write `wrapper` traced on `example` to `out_path` with the TorchScript exporter."""
    with torch.no_grad(), warnings.catch_warnings():
        # DeBERTa's tracer warnings are about values that are constant for a model (head size,
        # query length == key length in self-attention); the parity tests at lengths other than
        # the example's guard that. The legacy-exporter deprecation notice is expected.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings(
            "ignore", message="The feature will be removed", category=DeprecationWarning
        )
        warnings.filterwarnings("ignore", message="To copy construct from a tensor")
        # TorchScript exporter: tracing keeps DeBERTa's length-dependent relative-position code
        # symbolic (aten::size -> Shape/Range), which the parity tests check at other lengths.
        torch.onnx.export(
            wrapper,
            example,
            str(out_path),
            input_names=inputs,
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def export_bert(
    model_dir: Path, out_path: Path, opset: int = 17, fp16: bool = False
) -> BertGraphInfo:
    """Export the local transformers BERT in `model_dir` as the phone-feature graph `out_path`.

    The graph computes `hidden_states[-3]` (first num_hidden_layers-2 layers only), gathers it per
    phone through `phone_to_token` and returns `bert_features` [B, hidden_size, P] float32, with
    batch, token and phone axes dynamic. fp16=True stores weights and runs matmuls in fp16 but keeps
    float32 inputs/outputs. Raises GraphCheckError if the graph holds an op TensorRT cannot take.
    """
    from .checks import check_graph

    start = time.perf_counter()
    model_dir, out_path = Path(model_dir), Path(out_path)
    if opset < 14:
        raise ValueError(f"opset {opset} is too old for this export; use 14..20 (default 17)")
    model = _load_model(model_dir)
    config = model.config
    n_layers = int(config.num_hidden_layers)
    if n_layers < 2:
        raise ValueError(
            f"{model_dir.name} has {n_layers} encoder layer(s); hidden_states[-3] needs at least 2"
        )
    layers_run = n_layers - 2
    with_types = _uses_token_types(model)
    wrapper = _PhoneFeatures(model, layers_run, with_types).eval()
    inputs, dynamic_axes = _graph_io(with_types)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    log.info(
        "exporting %s (%s, %d of %d layers, token types: %s) -> %s",
        model_dir.name,
        config.model_type,
        layers_run,
        n_layers,
        with_types,
        out_path,
    )
    example = _example_inputs(config, with_types)
    _trace_to_onnx(wrapper, example, out_path, inputs, dynamic_axes, opset)
    del wrapper, model  # the graph is on disk; free ~1.3 GB before the checks re-read it
    gc.collect()
    if fp16:
        log.info("converting %s to fp16 (float32 I/O kept)", out_path.name)
        _convert_fp16(out_path)
    report = check_graph(out_path)
    seconds = time.perf_counter() - start
    log.info(
        "wrote %s: %d nodes, %.1f MB, %.1f s",
        out_path.name,
        report.num_nodes,
        report.size_bytes / 1e6,
        seconds,
    )
    return BertGraphInfo(
        path=out_path,
        inputs=inputs,
        has_token_type_ids=with_types,
        layers_run=layers_run,
        hidden_size=int(config.hidden_size),
        source_model=model_dir.name,
        model_type=str(config.model_type),
        num_hidden_layers=n_layers,
        fp16=fp16,
        export_seconds=seconds,
        extra={"opset": str(opset)},
    )
