"""Checks every exported graph must pass, and an optional graph simplification.

`check_graph` runs the ONNX checker (full check, with shape inference) and scans every node,
including the bodies of If/Loop/Scan and of model-local functions, for ops that break the graph
contract (no random ops: noise is an input) or that TensorRT handles badly (data-dependent output
shapes, boolean-mask indexing, sequence types).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "FORBIDDEN_OPS",
    "GraphCheckError",
    "GraphReport",
    "check_graph",
    "simplify",
]

log = logging.getLogger(__name__)

FORBIDDEN_OPS: dict[str, str] = {
    # Random ops: the contract makes every draw an input (seeded per request), so batched and
    # repeated requests are reproducible; TensorRT also lacks RandomNormalLike and friends.
    "RandomNormal": "random op: noise must be a graph input drawn from the request seed",
    "RandomNormalLike": "random op: noise must be a graph input drawn from the request seed",
    "RandomUniform": "random op: noise must be a graph input drawn from the request seed",
    "RandomUniformLike": "random op: noise must be a graph input drawn from the request seed",
    "Multinomial": "random op (sampling): not reproducible, not supported by TensorRT",
    "Bernoulli": "random op (dropout-style sampling left in an inference graph)",
    # Boolean-mask indexing and data-dependent shapes: x[mask] exports to NonZero (+ GatherND /
    # ScatterND); the output size then depends on tensor values, which TensorRT can only run
    # through slow data-dependent-shape paths, if at all, and which defeats optimisation profiles.
    "NonZero": "data-dependent output shape (boolean-mask indexing x[mask])",
    "Compress": "boolean-mask selection: data-dependent output shape",
    "Unique": "data-dependent output shape",
    "NonMaxSuppression": "data-dependent output shape",
    # Indexed assignment x[mask] = v / x[idx] = v: exports to ScatterND, whose duplicate-index
    # semantics are undefined and which TensorRT runs as a slow plugin-like layer; the contract's
    # formulations use Where / one-hot products instead.
    "ScatterND": "indexed assignment (x[mask] = v); use Where or a one-hot product",
    # Sequence-typed values (Python lists inside the graph): TensorRT has no sequence type.
    "SequenceConstruct": "sequence type (a Python list traced into the graph)",
    "SequenceInsert": "sequence type (a Python list traced into the graph)",
    "SequenceAt": "sequence type (a Python list traced into the graph)",
    "SequenceEmpty": "sequence type (a Python list traced into the graph)",
    "SplitToSequence": "sequence type (a Python list traced into the graph)",
    "ConcatFromSequence": "sequence type (a Python list traced into the graph)",
}
"""Op type -> why it may not appear in an exported graph."""

_TWO_GB = 2**31


class GraphCheckError(ValueError):
    """An exported graph is invalid ONNX or holds ops the graph contract forbids."""


@dataclass
class GraphReport:
    """What `check_graph` found in a valid graph."""

    path: Path
    op_counts: dict[str, int]
    """Op type -> number of nodes, subgraphs and local functions included."""
    num_nodes: int
    inputs: list[str]
    outputs: list[str]
    opset: int
    """Default-domain opset version."""
    size_bytes: int
    """The .onnx file plus any external-data files next to it."""
    domains: list[str] = field(default_factory=list)
    """Non-default op domains used (e.g. com.microsoft); empty for plain ONNX."""


def _walk(graph, where: str = ""):
    """Yield (node, location) for every node of `graph` and of its nested subgraphs."""
    import onnx

    for node in graph.node:
        yield node, where
        for attr in node.attribute:
            inner = f"{where}{node.op_type}:{node.name or '?'}/{attr.name}/"
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk(attr.g, inner)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for k, sub in enumerate(attr.graphs):
                    yield from _walk(sub, f"{inner}{k}/")


def _file_size(path: Path, model) -> int:
    size = path.stat().st_size
    locations = set()
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                locations.add(entry.value)
    return size + sum((path.parent / loc).stat().st_size for loc in locations)


def check_graph(path: Path) -> GraphReport:
    """Validate `path` with the full ONNX checker and scan it for forbidden ops.

    Raises GraphCheckError naming every forbidden op with its node name (and the subgraph it sits
    in), or the checker's complaint. Returns op counts and the I/O names otherwise.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX graph at {path}")
    try:
        # The path (not a loaded proto) lets the checker handle >2 GB models with external data.
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise GraphCheckError(f"{path.name} is not a valid ONNX graph: {exc}") from exc

    model = onnx.load(str(path), load_external_data=False)
    counts: Counter[str] = Counter()
    domains: set[str] = set()
    bad: list[str] = []
    nodes = [(n, w) for n, w in _walk(model.graph)]
    for fn in model.functions:
        nodes += [(n, w) for n, w in _walk(fn, f"function {fn.domain}.{fn.name}/")]
    for node, where in nodes:
        counts[node.op_type] += 1
        if node.domain not in ("", "ai.onnx"):
            domains.add(node.domain)
        if node.op_type in FORBIDDEN_OPS and node.domain in ("", "ai.onnx"):
            bad.append(
                f"{node.op_type} (node {where}{node.name or '<unnamed>'}): {FORBIDDEN_OPS[node.op_type]}"
            )
    if bad:
        listing = "\n  ".join(bad)
        raise GraphCheckError(
            f"{path.name} holds {len(bad)} forbidden op(s):\n  {listing}\n"
            "Exported graphs take noise as inputs and avoid boolean-mask indexing so that they stay "
            "deterministic and TensorRT-buildable; rewrite the module that produced these nodes."
        )
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return GraphReport(
        path=path,
        op_counts=dict(sorted(counts.items())),
        num_nodes=sum(counts.values()),
        inputs=[i.name for i in model.graph.input],
        outputs=[o.name for o in model.graph.output],
        opset=opset,
        size_bytes=_file_size(path, model),
        domains=sorted(domains),
    )


def _io_signature(model) -> list[tuple[str, str, int, tuple]]:
    """(kind, name, elem_type, dims) of every graph input/output; dims as ints or axis names."""
    sig = []
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for v in values:
            t = v.type.tensor_type
            dims = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in t.shape.dim
            )
            sig.append((kind, v.name, t.elem_type, dims))
    return sig


def _io_changes(before: list, after: list) -> list[str]:
    """Differences that matter: names, dtypes, ranks, fixed sizes and the declared dynamic axes.

    A symbolic size the exporter invented (e.g. `Transposebert_features_dim_1`) may become a
    number, since shape inference only learnt what it is; a declared axis (an input's dim_param,
    such as `batch`) must stay symbolic.
    """
    if [s[:3] for s in before] != [s[:3] for s in after]:
        return [f"names/dtypes {[s[:3] for s in before]} -> {[s[:3] for s in after]}"]
    declared = {
        d for kind, _, _, dims in before if kind == "input" for d in dims if isinstance(d, str)
    }
    problems = []
    for (_, name, _, old), (_, _, _, new) in zip(before, after, strict=True):
        if len(old) != len(new):
            problems.append(f"{name}: rank {len(old)} -> {len(new)}")
            continue
        for axis, (o, n) in enumerate(zip(old, new, strict=True)):
            if (isinstance(o, int) or o in declared) and o != n:
                problems.append(f"{name} axis {axis}: {o} -> {n}")
    return problems


def simplify(path: Path, out_path: Path | None = None) -> bool:
    """Simplify the graph with onnxslim (constant folding, dead-node removal, fusions).

    Writes `out_path` (default: `path` in place) and returns True; returns False, leaving files as
    they were, when onnxslim is not installed or its result would change the graph I/O (names,
    dtypes, dynamic axes). The caller re-checks numerical parity afterwards.
    """
    import onnx

    path = Path(path)
    out_path = Path(out_path) if out_path is not None else path
    try:
        import onnxslim
    except ImportError:
        warnings.warn(
            "onnxslim is not installed (pip install onnxslim); graph left unsimplified",
            stacklevel=2,
        )
        return False
    before = onnx.load(str(path), load_external_data=False)
    try:
        slim = onnxslim.slim(str(path))
    except Exception as exc:  # onnxslim raises many types; a failed slim must not stop export
        warnings.warn(
            f"onnxslim failed on {path.name}: {exc}; graph left unsimplified", stacklevel=2
        )
        return False
    if slim is None:
        warnings.warn(
            f"onnxslim returned nothing for {path.name}; graph left unsimplified", stacklevel=2
        )
        return False
    changed = _io_changes(_io_signature(before), _io_signature(slim))
    if changed:
        warnings.warn(
            f"onnxslim changed the I/O of {path.name} ({'; '.join(changed)}); "
            "graph left unsimplified",
            stacklevel=2,
        )
        return False
    # Keep metadata_props (sample rate, contract...) in case the slim dropped them.
    existing = {p.key for p in slim.metadata_props}
    for prop in before.metadata_props:
        if prop.key not in existing:
            slim.metadata_props.add(key=prop.key, value=prop.value)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_onnx(slim, out_path)
    log.info(
        "simplified %s: %d -> %d nodes",
        path.name,
        len(before.graph.node),
        len(slim.graph.node),
    )
    return True


def save_onnx(model, path: Path) -> None:
    """Writes an ONNX ModelProto; one of 2 GB or more (protobuf's limit) keeps its tensors in
    one file `<name>.data` beside it."""
    import onnx

    large = model.ByteSize() >= _TWO_GB
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=large,
        all_tensors_to_one_file=True,
        location=path.name + ".data" if large else None,
    )
