"""In-process graph execution for Python-backend Triton models (no Triton, no torch imports).

`GraphSession` runs one exported graph with onnxruntime or OpenVINO. `run_padded` turns a list
of requests of different lengths into one padded batch and back: the graphs take lengths, so
padding never changes a request's result, and every request gets outputs of its own size.
Axis names come from the graph's own dynamic dims (batch, tokens, phones, frames, samples).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_runtime.shapes import ShapePlan, batch_split

RUNTIMES = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
"""int8: a QDQ graph (`tts-export quantize`); its float parts run in fp32."""
OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
ORT_ALLOW_SPINNING = "0"
"""onnxruntime's intra-op threads wait for work without spinning. Triton runs a stub process
per model, each with its own session, and spinning threads of one take the cores another needs:
the tiny vocoder, 2 threads per session, 2-core AVX2 EPYC, runs/s in total spinning on -> off:
200 frames 21.4 -> 19.3 in 1 process, 19.0 -> 23.9 in 2, 15.1 -> 28.7 in 4; 800 frames
5.4 -> 5.7, 4.6 -> 5.8, 4.1 -> 6.2. The tiny voice on tritonserver (test_soak_400, 400 requests
at concurrency 16, back to back): 12.1 -> 21.0 requests/s, p50 1.20 -> 0.65 s."""


class InputError(ValueError):
    """A request whose tensors do not fit the graph (name, dtype or shape)."""


@dataclass
class GraphTensor:
    name: str
    dtype: np.dtype
    dims: list[int | str]  # ints for fixed axes, names for dynamic ones


_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(int64)": np.int64,
    "tensor(float16)": np.float16,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


class GraphSession:
    """One ONNX graph on onnxruntime or OpenVINO (CPU), with its I/O specs."""

    def __init__(
        self,
        path: str | Path,
        runtime: str = "onnxruntime",
        precision: str = "fp32",
        threads: int = 0,
    ):
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.path, self.runtime, self.precision = Path(path), runtime, precision
        threads = threads or min(os.cpu_count() or 1, 4)
        if runtime == "onnxruntime":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", ORT_ALLOW_SPINNING)
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._ort = ort.InferenceSession(
                str(self.path), opts, providers=["CPUExecutionProvider"]
            )
            self.inputs = [
                GraphTensor(i.name, np.dtype(_ORT_TYPES[i.type]), list(i.shape))
                for i in self._ort.get_inputs()
            ]
            self.outputs = [
                GraphTensor(o.name, np.dtype(_ORT_TYPES[o.type]), list(o.shape))
                for o in self._ort.get_outputs()
            ]
        else:
            import openvino as ov

            core = ov.Core()
            config = {
                "INFERENCE_NUM_THREADS": threads,
                "INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision],
            }
            model = core.read_model(str(self.path))
            self._ov = core.compile_model(model, "CPU", config)
            self.inputs = [_ov_spec(p) for p in model.inputs]
            self.outputs = [_ov_spec(p) for p in model.outputs]
            self._request = self._ov.create_infer_request()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.runtime == "onnxruntime":
            names = [o.name for o in self.outputs]
            return dict(zip(names, self._ort.run(names, feeds), strict=True))
        result = self._request.infer(feeds)
        return {o.name: np.asarray(result[self._ov.output(o.name)]) for o in self.outputs}


def _ov_spec(port) -> GraphTensor:
    dims = [d.get_length() if d.is_static else "?" for d in port.get_partial_shape()]
    return GraphTensor(port.get_any_name(), np.dtype(port.get_element_type().to_dtype()), dims)


def graph_axes(path: str | Path) -> dict[str, list[int | str]]:
    """Tensor name -> dims of the graph's inputs and outputs, dynamic axes by their names."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    axes = {}
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        axes[value.name] = [d.dim_param if d.dim_param else d.dim_value for d in dims]
    return axes


def run_padded(
    session: GraphSession,
    requests: Sequence[dict[str, np.ndarray]],
    axes: dict[str, list[int | str]],
    scale: dict[str, tuple[str, int]] | None = None,
    ranges: dict[str, tuple[float, float | str]] | None = None,
    max_axes: dict[str, int] | None = None,
    row_lengths: dict[str, str] | None = None,
    max_padding: float = 0.0,
    plan: ShapePlan | None = None,
) -> list[dict[str, np.ndarray] | Exception]:
    """Run many requests as padded batches; each gets outputs cut to its own sizes.

    axes: tensor name -> dims, dynamic axes named ("batch" first). scale: an output axis name
    derived from an input axis, e.g. {"samples": ("frames", 512)}. ranges: input name ->
    (low, high) allowed values, high exclusive; high may name an axis (an index into it).
    max_axes: axis name -> largest size the graph supports (BERT: 512 tokens).
    Float inputs must be finite. A request whose inputs are wrong gets an InputError in its
    place; the others still run.

    Without row_lengths or plan all requests run as one batch. Otherwise requests are split
    into rows (batch entries). row_lengths (axis -> input holding each row's valid size on it,
    e.g. {"frames": "frame_lengths"}) cuts each row to its own size on that axis. Rows then
    run in batches: without a plan, rows of similar size together, so that at most
    `max_padding` of a batch's work is padding (`length_groups`); with a `plan`
    (`tts_runtime.shapes`), each row padded to the plan's sizes and batched in the
    plan's batch sizes, so the graph only ever sees the plan's shapes. Outputs past a row's own
    size must be zero (the graphs' contract), so a request's result is the same either way.
    """
    scale = scale or {}
    ranges = ranges or {}
    max_axes = max_axes or {}
    results: list[dict[str, np.ndarray] | Exception] = [None] * len(requests)  # type: ignore
    sizes: list[dict[str, int]] = []
    valid: list[int] = []
    for i, req in enumerate(requests):
        own: dict[str, int] = {}
        try:
            own = check_request(session, req, axes, ranges, max_axes)
            if plan is not None:
                _check_plan(plan, own)
            valid.append(i)
        except InputError as e:
            results[i] = e
        sizes.append(own)
    if not valid:
        return results
    if not row_lengths and plan is None:
        reqs = [requests[i] for i in valid]
        outs = _run_batch(session, reqs, [sizes[i] for i in valid], axes)
        for i, out in zip(valid, outs, strict=True):
            results[i] = _cut(out, sizes[i], axes, scale)
        return results
    rows, row_sizes, owner = [], [], []
    for i in valid:
        for r in range(sizes[i]["batch"]):
            row = _row(requests[i], r, axes, row_lengths)
            rows.append(row)
            row_sizes.append(
                _request_sizes(session, row, axes) if row_lengths else {**sizes[i], "batch": 1}
            )
            owner.append(i)
    if plan is None:
        (axis, _), *_ = row_lengths.items()
        groups = [
            (g, None) for g in length_groups([rs.get(axis, 1) for rs in row_sizes], max_padding)
        ]
    else:
        groups = plan_groups(row_sizes, plan)
    row_out: list[dict[str, np.ndarray]] = [{}] * len(rows)
    for group, target in groups:
        group_sizes = [row_sizes[k] for k in group]
        outs = _run_batch(session, [rows[k] for k in group], group_sizes, axes, target)
        for k, out in zip(group, outs, strict=True):
            row_out[k] = _cut(out, row_sizes[k], axes, scale)
    for i in valid:
        own = _scaled(sizes[i], scale)
        mine = [row_out[k] for k in range(len(rows)) if owner[k] == i]
        results[i] = {
            name: np.concatenate([_pad(r[name], axes[name], own) for r in mine], axis=0)
            for name in mine[0]
        }
    return results


LENGTH_INPUTS = {"frame_lengths": "frames", "phone_lengths": "phones"}
"""Inputs that hold each row's valid size on an axis (warm-up fills them with the full size)."""


def warm_up(session: GraphSession, axes: dict[str, list[int | str]], plan: ShapePlan) -> float:
    """Run the graph once at every shape of `plan` (largest first), so that no request pays
    for preparing one, and the memory of every shape is taken at load; returns the seconds.
    Inputs are zeros, lengths full, attention masks ones; axes the plan leaves free take 8."""
    start = time.perf_counter()
    for batch, sizes in plan.shapes():
        feeds = {}
        for spec in session.inputs:
            dims = axes[spec.name]
            shape = [
                batch if d == "batch" else sizes.get(d, 8) if isinstance(d, str) else d
                for d in dims
            ]
            value = np.zeros(shape, spec.dtype)
            if spec.name in LENGTH_INPUTS:
                value[...] = sizes.get(LENGTH_INPUTS[spec.name], 8)
            elif spec.name == "attention_mask":
                value[...] = 1
            feeds[spec.name] = value
        session.run(feeds)
    return time.perf_counter() - start


def length_groups(lengths: Sequence[int], max_padding: float) -> list[list[int]]:
    """Indices of `lengths` in batches of similar length: sorted, and a batch grows while
    padding stays at most `max_padding` of its padded work (size * longest)."""
    order = sorted(range(len(lengths)), key=lambda k: lengths[k])
    groups: list[list[int]] = []
    total = 0
    for k in order:
        n = lengths[k]
        if groups and (len(groups[-1]) + 1) * n * (1 - max_padding) <= total + n:
            groups[-1].append(k)
            total += n
        else:
            groups.append([k])
            total = n
    return groups


def plan_groups(
    row_sizes: Sequence[dict[str, int]], plan: ShapePlan
) -> list[tuple[list[int], dict[str, int]]]:
    """Rows (by index) in batches of the plan's shapes: rows whose sizes round up to the same
    planned sizes share a batch, split into the plan's batch sizes (largest first). Each batch
    comes with the sizes to pad it to."""
    by_shape: dict[tuple, list[int]] = {}
    for k, rs in enumerate(row_sizes):
        key = tuple(sorted((a, plan.size(a, n)) for a, n in rs.items() if a != "batch"))
        by_shape.setdefault(key, []).append(k)
    groups = []
    for key, members in by_shape.items():
        start = 0
        for size in batch_split(len(members), plan.batches):
            groups.append((members[start : start + size], dict(key)))
            start += size
    return groups


def _check_plan(plan: ShapePlan, sizes: dict[str, int]) -> None:
    for axis, n in sizes.items():
        if axis in plan.sizes and n > plan.largest(axis):
            raise InputError(
                f"inputs have {axis}={n}; this graph's shape plan takes at most "
                f"{plan.largest(axis)} (shorter sentences, or a repository with a larger limit)"
            )


def _row(req, r: int, axes, row_lengths: dict[str, str] | None) -> dict[str, np.ndarray]:
    """Row r of a request, cut to its own size on the row_lengths axis (if any)."""
    (axis, length_input), *_ = (row_lengths or {"": ""}).items()
    n = max(1, int(req[length_input][r])) if row_lengths else 0
    row = {}
    for name, value in req.items():
        value = value[r : r + 1]
        for k, dim in enumerate(axes.get(name, [])):
            if row_lengths and k > 0 and dim == axis and value.shape[k] > n:
                value = np.take(value, np.arange(n), axis=k)
        row[name] = value
    return row


def _run_batch(session, reqs, sizes, axes, target=None) -> list[dict[str, np.ndarray]]:
    """Pad reqs into one batch (to `target`'s sizes where given, else to the largest), run
    it, and hand back each request's slice (not yet cut)."""
    names = {n for s in sizes for n in s if n != "batch"}
    padded = {n: max(s[n] for s in sizes) for n in names}
    padded.update(target or {})
    feeds = {}
    for spec in session.inputs:
        parts = [_pad(req[spec.name], axes[spec.name], padded) for req in reqs]
        feeds[spec.name] = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    out = session.run(feeds)
    slices, start = [], 0
    for s in sizes:
        slices.append(
            {spec.name: out[spec.name][start : start + s["batch"]] for spec in session.outputs}
        )
        start += s["batch"]
    return slices


def _scaled(sizes: dict[str, int], scale) -> dict[str, int]:
    own = dict(sizes)
    for name, (src, factor) in scale.items():
        if src in own:
            own[name] = own[src] * factor
    return own


def _cut(out: dict[str, np.ndarray], sizes, axes, scale) -> dict[str, np.ndarray]:
    own = _scaled(sizes, scale)
    res = {}
    for name, value in out.items():
        for k, dim in enumerate(axes[name]):
            if k > 0 and isinstance(dim, str) and dim in own:
                value = np.take(value, np.arange(own[dim]), axis=k)
        res[name] = np.ascontiguousarray(value)
    return res


def check_request(
    session: GraphSession,
    req: dict[str, np.ndarray],
    axes: dict[str, list[int | str]],
    ranges: dict[str, tuple[float, float | str]] | None = None,
    max_axes: dict[str, int] | None = None,
) -> dict[str, int]:
    """A request's axis sizes, or an InputError: names, dtypes and dims as the graph takes
    them, index inputs in their `ranges`, axes within `max_axes`, floats finite."""
    own = _request_sizes(session, req, axes)
    _check_ranges(req, ranges or {}, own)
    _check_values(session, req, own, max_axes or {})
    return own


def _check_values(session, req, sizes: dict[str, int], max_axes: dict[str, int]) -> None:
    for axis, most in max_axes.items():
        if sizes.get(axis, 0) > most:
            raise InputError(f"inputs have {axis}={sizes[axis]}; this graph takes at most {most}")
    for spec in session.inputs:
        if spec.dtype.kind == "f" and not np.isfinite(req[spec.name]).all():
            raise InputError(f"input '{spec.name}' holds NaN or inf")


def _check_ranges(req: dict[str, np.ndarray], ranges, sizes: dict[str, int]) -> None:
    for name, (low, high) in ranges.items():
        value = req.get(name)
        if value is None or value.size == 0:
            continue
        if isinstance(high, str):  # an axis size, optionally "+1" (a length may equal it)
            axis, _, plus = high.partition("+")
            hi = sizes[axis] + int(plus or 0)
        else:
            hi = high
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise InputError(f"input '{name}' holds NaN or inf")
        if value.min() < low or value.max() >= hi:
            raise InputError(
                f"input '{name}' values must be in [{low}, {hi}), got [{value.min()}, {value.max()}]"
            )


def _request_sizes(
    session: GraphSession, req: dict[str, np.ndarray], axes: dict[str, list[int | str]]
) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for spec in session.inputs:
        if spec.name not in req:
            raise InputError(f"input '{spec.name}' is missing")
        value = req[spec.name]
        if value.dtype != spec.dtype:
            raise InputError(f"input '{spec.name}' must be {spec.dtype}, got {value.dtype}")
        dims = axes[spec.name]
        if value.ndim != len(dims):
            raise InputError(
                f"input '{spec.name}' must have {len(dims)} dims "
                f"{_fmt(dims)}, got shape {list(value.shape)}"
            )
        for k, dim in enumerate(dims):
            if isinstance(dim, int):
                if value.shape[k] != dim:
                    raise InputError(
                        f"input '{spec.name}' axis {k} must be {dim}, got {value.shape[k]}"
                    )
            elif sizes.setdefault(dim, value.shape[k]) != value.shape[k]:
                raise InputError(
                    f"input '{spec.name}' has {dim}={value.shape[k]} but another "
                    f"input has {dim}={sizes[dim]}"
                )
    if sizes.get("batch", 0) < 1:
        raise InputError("empty batch")
    return sizes


def _pad(value: np.ndarray, dims: list[int | str], padded: dict[str, int]) -> np.ndarray:
    widths = [(0, 0)] * value.ndim
    need = False
    for k, dim in enumerate(dims):
        if k > 0 and isinstance(dim, str) and padded.get(dim, value.shape[k]) > value.shape[k]:
            widths[k] = (0, padded[dim] - value.shape[k])
            need = True
    return np.pad(value, widths) if need else value


def _fmt(dims) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"
