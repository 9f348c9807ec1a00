"""A bounded set of input shapes per graph, for runtimes that compile kernels per shape.

OpenVINO's CPU plugin prepares (JIT-compiles) kernels for every new input shape and keeps
them: the full-size vocoder grew by ~42 MiB per new frame count in fp32 (~190 MiB in bf16),
and real traffic brings a new sentence length on almost every request, so a server running
exact shapes grows until the kernel kills it (docs/memory.md). onnxruntime's CPU kernels are
shape-generic; it needs no plan.

A `ShapePlan` rounds every dynamic length axis of a graph up to one of a few sizes (a
geometric `ladder`) and runs batches only in a few sizes, so the graph sees a finite set of
shapes, all prepared at load (`warm`). The graphs take lengths and mask what lies past them,
so padding never changes a result; the cost is the padded positions' compute, bounded by the
ladder's ratio. Numpy only: the Triton graph model imports this.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

PER_OCTAVE = 4
"""Default ladder density: sizes 2**(1/4) = 1.19x apart, so padding adds at most 19% (about
9% on average) to a padded axis' work."""
BATCHES = (1, 2, 4)
"""Default batch sizes: a batch of 7 rows runs as 4 + 2 + 1 (no padded rows). On CPU a batch
costs about the sum of its rows, so larger batches buy little and cost warm-up shapes."""


class ShapeError(ValueError):
    """An axis size past the plan's largest (the graph's limit)."""


def ladder(low: int, high: int, per_octave: int = PER_OCTAVE, multiple: int = 8) -> tuple[int, ...]:
    """Sizes from `low` to `high` (both included), each about 2**(1/per_octave) times the one
    before, rounded up to a multiple of `multiple` (all sizes but `high`)."""
    if not 1 <= low <= high or per_octave < 1 or multiple < 1:
        raise ValueError(
            f"a ladder needs 1 <= low <= high, per_octave >= 1 and multiple >= 1, got "
            f"low={low}, high={high}, per_octave={per_octave}, multiple={multiple}"
        )
    sizes = set()
    for k in itertools.count():
        size = math.ceil(low * 2 ** (k / per_octave) / multiple) * multiple
        if size >= high:
            break
        sizes.add(size)
    return tuple(sorted(sizes | {high}))


def batch_split(rows: int, batches: Sequence[int]) -> list[int]:
    """`rows` as a sum of allowed batch sizes, largest first (7 with (1, 2, 4): [4, 2, 1])."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    out, left = [], rows
    for size in sorted(batches, reverse=True):
        while left >= size:
            out.append(size)
            left -= size
    if left:
        raise ValueError(f"batch sizes {list(batches)} cannot make {rows} rows (add 1)")
    return out


@dataclass(frozen=True)
class ShapePlan:
    """The shapes one graph runs with: per dynamic length axis its allowed sizes, and the
    allowed batch sizes. Axis names are the graphs' own (tokens, phones, frames)."""

    sizes: Mapping[str, tuple[int, ...]]
    """Axis -> allowed sizes, ascending; an axis not named here runs at its exact size."""
    batches: tuple[int, ...] = BATCHES
    """Allowed batch sizes (1 must be one of them)."""

    def __post_init__(self) -> None:
        if 1 not in self.batches or any(b < 1 for b in self.batches):
            raise ValueError(f"batch sizes must be >= 1 and include 1, got {list(self.batches)}")
        for axis, sizes in self.sizes.items():
            if not sizes or list(sizes) != sorted(set(sizes)) or sizes[0] < 1:
                raise ValueError(f"sizes of axis {axis!r} must ascend from >= 1, got {sizes}")

    def size(self, axis: str, n: int) -> int:
        """The smallest allowed size of `axis` holding `n` (n itself for an unplanned axis)."""
        sizes = self.sizes.get(axis)
        if sizes is None:
            return n
        k = bisect.bisect_left(sizes, n)
        if k == len(sizes):
            raise ShapeError(f"{axis}={n} is past this graph's largest {axis} ({sizes[-1]})")
        return sizes[k]

    def largest(self, axis: str) -> int:
        return self.sizes[axis][-1]

    def count(self) -> int:
        """How many shapes the plan allows (what warm-up prepares)."""
        return len(self.batches) * math.prod(len(s) for s in self.sizes.values())

    def shapes(self) -> Iterator[tuple[int, dict[str, int]]]:
        """Every (batch, {axis: size}) the plan allows, largest first (warm-up order: the
        runtime's buffers reach their largest size at once)."""
        axes = list(self.sizes)
        combos = itertools.product(*(reversed(self.sizes[a]) for a in axes))
        for sizes in combos:
            for batch in sorted(self.batches, reverse=True):
                yield batch, dict(zip(axes, sizes, strict=True))

    def to_dict(self) -> dict:
        return {"sizes": {k: list(v) for k, v in self.sizes.items()}, "batches": list(self.batches)}

    @classmethod
    def from_dict(cls, d: Mapping) -> ShapePlan:
        sizes = {str(k): tuple(int(x) for x in v) for k, v in dict(d.get("sizes", {})).items()}
        return cls(sizes, tuple(int(b) for b in d.get("batches", BATCHES)))


VOCODER_WINDOW = 256
"""Largest vocoder input (frames) on a planned runtime; longer sentences are decoded in exact
windows of this width (`windows.run_vocoder_rows`), whose context costs 26 of every 256 frames
on the full-size voice. Smaller: fewer prepared shapes, more context recomputed."""
VOCODER_SIZES = ladder(32, VOCODER_WINDOW, per_octave=3)
"""The planned vocoder's frame sizes (10: 32 ... 256, 1.26x apart: padding adds at most 26%,
about 12% on average, to a short sentence's vocoder work)."""


def plan_for(family: str, runtime: str, precision: str, max_tokens: int = 512) -> ShapePlan | None:
    """The shape plan of a graph of `family` on `runtime` at `precision`, or None where exact
    shapes are safe.

    onnxruntime: None (shape-generic kernels; no growth measured). OpenVINO:
    - vocoder: `VOCODER_SIZES`, batch 1, longer sentences in windows (it grew 42 MiB per new
      length in fp32, full size);
    - BERT in fp32: None (full-size ZH BERT: no growth and no first-call cost over new
      lengths, measured); in bf16/fp16 (unmeasured on an AVX2-only machine): tokens on a
      ladder up to `max_tokens`, batches 1, 2, 4, as a bound;
    - encoder, flow, emotion, the one-pass decoder: never run on OpenVINO in-process
      (`cpu.SHAPE_GENERIC_FAMILIES`; the repository writer refuses the one-pass decoder there).
    """
    if runtime != "openvino":
        return None
    if family == "vocoder":
        return ShapePlan({"frames": VOCODER_SIZES}, (1,))
    if family == "bert" and precision != "fp32":
        return ShapePlan({"tokens": ladder(8, max_tokens)}, BATCHES)
    return None
