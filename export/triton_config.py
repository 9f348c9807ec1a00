"""Triton model configs (config.pbtxt) as text: tensor specs, batching, instances, and the
ensemble's steps, derived from the request contract (`tts_client.contract`), the graph I/O
names (`tts_client.manifest`) and the declared request path (`vits2.serving.path`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tts_client.contract import OUTPUTS, REQUEST_INPUTS
from tts_client.contract import STREAM_OUTPUTS as CONTRACT_STREAM_OUTPUTS
from vits2.serving.path import REQUEST_PATH, STEPS, Step


@dataclass
class TensorSpec:
    """One tensor of a model config: name, Triton type, dims without the batch axis."""

    name: str
    dtype: str
    dims: list[int]
    optional: bool = False
    item_scalar: bool = False
    """[1] per batch item; graphs take it as [B] (reshape [] on native backends)."""


@dataclass
class RepositoryOptions:
    runtime: str = "python"
    graph_runtime: str = "onnxruntime"
    """For runtime python: run graphs with onnxruntime or openvino in-process; "auto" picks
    per CPU ISA (`cpu.auto_choice`) and records the choice in the ensemble's voice JSON."""
    precision: dict[str, str] = field(default_factory=dict)
    """Graph kind (bert, decoder) -> fp32/bf16/fp16 for the OpenVINO runtimes, or decoder int8
    (the `tts-export quantize` graph, any runtime but tensorrt); the encoder is always fp32."""
    max_batch: int = 16
    queue_delay_us: int = 2000
    preferred_batch: list[int] | None = None
    """Triton's preferred batch sizes (default: 4, 8, 16 up to max_batch)."""
    max_padding: float = 0.0
    """Runtime python: the decoder runs sentences of similar frame counts together, so that at
    most this share of a batch's work is padding (1: all in one batch). 0: only equal lengths
    share a batch; on CPU a batch costs the sum of its padded rows, so padding is pure waste
    (zh-medium's decoder: 1156 ms as one batch, 903 ms at 0)."""
    buckets: dict[str, int] = field(default_factory=dict)
    """Runtime python: the decoder pads these axes up to a multiple of the step, so OpenVINO
    sees a bounded set of shapes (e.g. SHAPE_BUCKETS). Off by default: 30 synthetic requests of
    new lengths ran 1.2x faster bucketed, but real sentences in one pass gained nothing and
    repeated texts pay the padding (benchmarks/RESULTS.md)."""
    instances: int = 1
    gpu: bool = False
    threads: int = 0
    name: str | None = None
    engines: Path | None = None
    """Folder of .plan files from `tts-export trt` (runtime tensorrt)."""
    first_window_seconds: float | None = None
    """V_stream: audio in a sentence's first vocoder window (None: the stream model's default,
    `tts_model_repository.windows.FIRST_WINDOW_SECONDS`). Smaller: earlier first audio."""
    window_frames: int | None = None
    """V_stream: frames in every later window (None: `windows.WINDOW_FRAMES`). Larger: less
    context recomputed per window, later audio per window."""


def bert_tensors(has_token_types: bool) -> tuple[list[TensorSpec], list[TensorSpec]]:
    ins = [
        TensorSpec("input_ids", "TYPE_INT64", [-1]),
        TensorSpec("attention_mask", "TYPE_INT64", [-1]),
    ]
    if has_token_types:
        ins.append(TensorSpec("token_type_ids", "TYPE_INT64", [-1]))
    ins.append(TensorSpec("phone_to_token", "TYPE_INT64", [-1]))
    return ins, [TensorSpec("bert_features", "TYPE_FP32", [1024, -1])]


def encoder_tensors(c: int, gin: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    ins = [
        TensorSpec("phones", "TYPE_INT64", [-1]),
        TensorSpec("tones", "TYPE_INT64", [-1]),
        TensorSpec("languages", "TYPE_INT64", [-1]),
        TensorSpec("phone_lengths", "TYPE_INT64", [1], item_scalar=True),
    ]
    ins += [TensorSpec(n, "TYPE_FP32", [1024, -1]) for n in ("bert_zh", "bert_ja", "bert_en")]
    ins.append(TensorSpec("sid", "TYPE_INT64", [1], item_scalar=True))
    ins += [
        TensorSpec(n, "TYPE_FP32", [1], item_scalar=True)
        for n in ("sdp_ratio", "noise_scale_w", "length_scale")
    ]
    ins.append(TensorSpec("noise_sdp", "TYPE_FP32", [2, -1]))
    return ins, prior_tensors(c, gin)


def prior_tensors(c: int, gin: int) -> list[TensorSpec]:
    """What the encoder hands the decoder (and the flow): prior stats per phone, speaker
    conditioning, integer durations and frame counts."""
    return [
        TensorSpec("m_p", "TYPE_FP32", [c, -1]),
        TensorSpec("logs_p", "TYPE_FP32", [c, -1]),
        TensorSpec("g", "TYPE_FP32", [gin, 1]),
        TensorSpec("durations", "TYPE_INT64", [-1]),
        TensorSpec("frame_lengths", "TYPE_INT64", [1], item_scalar=True),
    ]


def decoder_tensors(c: int, gin: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    ins = [
        *prior_tensors(c, gin),
        TensorSpec("noise_scale", "TYPE_FP32", [1], item_scalar=True),
        TensorSpec("noise_z", "TYPE_FP32", [c, -1]),
    ]
    outs = [
        TensorSpec("audio", "TYPE_FP32", [-1]),
        TensorSpec("audio_lengths", "TYPE_INT64", [1], item_scalar=True),
    ]
    return ins, outs


def flow_tensors(c: int, gin: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The decoder's first half: the decoder's inputs -> z [C, F] (docs/graphs.md)."""
    ins, _ = decoder_tensors(c, gin)
    return ins, [TensorSpec("z", "TYPE_FP32", [c, -1])]


def vocoder_tensors(c: int, gin: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The decoder's second half: z [C, W], g, frame_lengths -> the decoder's outputs."""
    ins = [
        TensorSpec("z", "TYPE_FP32", [c, -1]),
        TensorSpec("g", "TYPE_FP32", [gin, 1]),
        TensorSpec("frame_lengths", "TYPE_INT64", [1], item_scalar=True),
    ]
    _, outs = decoder_tensors(c, gin)
    return ins, outs


def _triton_type(dtype: str) -> str:
    return "TYPE_STRING" if dtype == "BYTES" else f"TYPE_{dtype}"


PUBLIC_INPUTS = [TensorSpec(i.name, _triton_type(i.dtype), [1], True) for i in REQUEST_INPUTS]
"""The request inputs (tts_client.contract), all optional: a missing one takes its default (a
missing TEXT gets a clear error from the frontend instead of Triton's)."""
_OUTPUT_TYPES = {
    "AUDIO": ("TYPE_FP32", [-1]),
    "SAMPLE_RATE": ("TYPE_INT32", [1]),
    "PAUSE_AFTER": ("TYPE_FP32", [1]),
}
PUBLIC_OUTPUTS = [TensorSpec(n, *_OUTPUT_TYPES[n]) for n in OUTPUTS]
STREAM_OUTPUTS = [TensorSpec(n, *_OUTPUT_TYPES[n]) for n in CONTRACT_STREAM_OUTPUTS]

_INT64_VALUES = {"phones", "tones", "languages", "phone_lengths", "sid", "seeds"}


def frontend_outputs() -> list[TensorSpec]:
    """The frontend step's outputs (vits2.serving.path.FRONTEND_OUTPUTS) as Triton tensors of
    a non-batching model: [S, ...] per request."""
    per_sentence = set(STEPS["frontend"].per_sentence)
    dims = {"bert_zh": [-1, 1024, -1], "bert_ja": [-1, 1024, -1], "bert_en": [-1, 1024, -1]}
    dims["noise_sdp"] = [-1, 2, -1]
    out = []
    for name in STEPS["frontend"].outputs:
        dtype = "TYPE_INT64" if name in _INT64_VALUES else "TYPE_FP32"
        shape = [-1, 1] if name in per_sentence else dims.get(name, [-1, -1])
        out.append(TensorSpec(name, dtype, shape))
    return out


def tensor_block(kind: str, tensors: list[TensorSpec], reshape: bool) -> str:
    parts = []
    for t in tensors:
        lines = [f'  {{\n    name: "{t.name}"\n    data_type: {t.dtype}\n    dims: {t.dims}']
        if t.item_scalar and reshape:
            lines.append("    reshape: { shape: [ ] }")
        if t.optional:
            lines.append("    optional: true")
        parts.append("\n".join(lines) + "\n  }")
    return f"{kind} [\n" + ",\n".join(parts) + "\n]\n"


def params_block(params: dict[str, str]) -> str:
    return "".join(
        f'parameters: {{ key: "{k}" value: {{ string_value: {json.dumps(str(v))} }} }}\n'
        for k, v in params.items()
    )


def instances_block(opts: RepositoryOptions, count: int | None = None) -> str:
    kind = "KIND_GPU" if opts.gpu else "KIND_CPU"
    return f"instance_group [ {{ count: {count or opts.instances} kind: {kind} }} ]\n"


def batching_block(opts: RepositoryOptions) -> str:
    preferred = opts.preferred_batch or (
        [b for b in (4, 8, 16) if b <= opts.max_batch] or [opts.max_batch]
    )
    if any(b < 1 or b > opts.max_batch for b in preferred):
        raise ValueError(
            f"preferred batch sizes must be between 1 and max batch {opts.max_batch}, "
            f"got {preferred}"
        )
    return (
        f"dynamic_batching {{ preferred_batch_size: {preferred} "
        f"max_queue_delay_microseconds: {opts.queue_delay_us} }}\n"
    )


def python_config(
    name: str,
    ins: list[TensorSpec],
    outs: list[TensorSpec],
    params: dict[str, str],
    count: int = 1,
    decoupled: bool = False,
) -> str:
    text = (
        f'name: "{name}"\nbackend: "python"\nmax_batch_size: 0\n'
        + tensor_block("input", ins, reshape=False)
        + tensor_block("output", outs, False)
        + params_block(params)
        + f"instance_group [ {{ count: {count} kind: KIND_CPU }} ]\n"
    )
    if decoupled:
        text += "model_transaction_policy { decoupled: true }\n"
    return text


def ensemble_steps(voice: str) -> str:
    """The ensemble's steps, one per step of the declared request path (vits2.serving.path):
    model ``<voice>_<step>``, each tensor mapped by its own name."""

    def one(step: Step) -> str:
        ins = "".join(f'      input_map {{ key: "{n}" value: "{n}" }}\n' for n in step.inputs)
        outs = "".join(f'      output_map {{ key: "{n}" value: "{n}" }}\n' for n in step.outputs)
        return f'    {{\n      model_name: "{voice}_{step.name}"\n      model_version: -1\n{ins}{outs}    }}'

    return (
        "ensemble_scheduling {\n  step [\n"
        + ",\n".join(one(s) for s in REQUEST_PATH)
        + "\n  ]\n}\n"
    )
