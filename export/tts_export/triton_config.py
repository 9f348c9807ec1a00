"""Triton model configs (config.pbtxt) as text: tensor specs, batching, instances, and the
ensemble's steps, derived from the request contract (`tts_contract.request`), the graph I/O
names (`tts_contract.manifest`) and the declared request path (`vits2.serving.path`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tts_contract.manifest import ENCODER_INPUTS, VoiceManifest
from tts_contract.request import OUTPUTS, REQUEST_INPUTS
from tts_contract.request import STREAM_OUTPUTS as CONTRACT_STREAM_OUTPUTS
from vits2.serving.path import REQUEST_PATH, Step
from vits2.serving.pipeline import inside_folder
from vits2.styles import STYLE_DIM


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
    """For runtime python: run the BERT, vocoder and decoder graphs with onnxruntime or
    openvino in-process; "auto" picks per CPU ISA and graph (`cpu.auto_choice`) and records
    the choice in the ensemble's voice JSON. On OpenVINO a graph runs through its bounded
    shape plan (`tts_runtime.shapes.plan_for`)."""
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
    runtimes: dict[str, str] = field(default_factory=dict)
    """Runtime python: graph family (bert, vocoder, decoder) -> onnxruntime/openvino where it
    differs from ``graph_runtime`` (`--graph-runtime auto` fills it per CPU; the encoder,
    flow and emotion graphs always run on onnxruntime: `cpu.SHAPE_GENERIC_FAMILIES`)."""
    max_queue: int = 64
    """Requests each model lets wait; past it Triton answers 503 at once (`queue_policy`)."""
    queue_timeout_s: float = 60.0
    """Seconds a request may wait in one model's queue before Triton answers 503."""
    instances: int = 1
    stream_instances: int | None = None
    """V_stream's instances (None: ``instances``). One instance streams one request at a time:
    a second concurrent stream's first audio waits for the whole first stream. Each more
    instance is one more stub process (about 475 MiB with a full-size voice's frontend), not
    another copy of the graphs, which it calls over BLS."""
    stream_lookahead: bool = False
    """V_stream prepares sentence i + 1 in a worker thread while sentence i is sent. Pays where
    cores are idle while the vocoder runs; on 2 cores it made streams slower (they compete)."""
    gpu: bool = False
    threads: int = 0
    name: str | None = None
    engines: Path | None = None
    """Folder of .plan files from `tts-export trt` (runtime tensorrt)."""
    first_window_seconds: float | None = None
    """V_stream: audio in a sentence's first vocoder window (None: the stream model's default,
    `tts_runtime.windows.FIRST_WINDOW_SECONDS`). Smaller: earlier first audio."""
    link: bool = False
    """Hard-link the graph files from the voice folder instead of copying them (one copy on
    disk; copies where the file system cannot link). The repository then shares those files:
    overwriting one in the voice folder changes the served one too."""
    window_frames: int | None = None
    """V_stream: frames in the second window (None: `windows.WINDOW_FRAMES`). Larger: less
    context recomputed per window, later audio per window."""
    window_growth: float | None = None
    """V_stream: each later window keeps this many times the frames of the one before (None:
    `windows.WINDOW_GROWTH`; 1 where the vocoder runs at fixed widths, the native openvino and
    tensorrt runtimes)."""


def bert_tensors(has_token_types: bool) -> tuple[list[TensorSpec], list[TensorSpec]]:
    ins = [
        TensorSpec("input_ids", "TYPE_INT64", [-1]),
        TensorSpec("attention_mask", "TYPE_INT64", [-1]),
    ]
    if has_token_types:
        ins.append(TensorSpec("token_type_ids", "TYPE_INT64", [-1]))
    ins.append(TensorSpec("phone_to_token", "TYPE_INT64", [-1]))
    return ins, [TensorSpec("bert_features", "TYPE_FP32", [1024, -1])]


def encoder_input_specs(emo_dim: int = 0) -> dict[str, TensorSpec]:
    """Every encoder input any release has, per batch item (``emo_dim``: 1024 for 2.1, 512 for
    2.2; `vits2.config.ModelParts.emo_dim`)."""
    specs = [
        TensorSpec("phones", "TYPE_INT64", [-1]),
        TensorSpec("tones", "TYPE_INT64", [-1]),
        TensorSpec("languages", "TYPE_INT64", [-1]),
        TensorSpec("phone_lengths", "TYPE_INT64", [1], item_scalar=True),
        *(TensorSpec(n, "TYPE_FP32", [1024, -1]) for n in ("bert_zh", "bert_ja", "bert_en")),
        TensorSpec("sid", "TYPE_INT64", [1], item_scalar=True),
        *(
            TensorSpec(n, "TYPE_FP32", [1], item_scalar=True)
            for n in ("sdp_ratio", "noise_scale_w", "length_scale")
        ),
        TensorSpec("noise_sdp", "TYPE_FP32", [2, -1]),
        TensorSpec("emo", "TYPE_FP32", [emo_dim]),
        TensorSpec("emo_id", "TYPE_INT64", [1], item_scalar=True),
        TensorSpec("style_vec", "TYPE_FP32", [STYLE_DIM]),
    ]
    return {t.name: t for t in specs}


def encoder_tensors(
    c: int, gin: int, inputs: list[str] | tuple[str, ...] = tuple(ENCODER_INPUTS), emo_dim: int = 0
) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The encoder graph's tensors for a voice whose encoder takes ``inputs`` (voice.json
    ``encoder_inputs``, in graph order)."""
    specs = encoder_input_specs(emo_dim)
    unknown = [n for n in inputs if n not in specs]
    if unknown:
        raise ValueError(f"unknown encoder inputs {unknown}; known: {', '.join(specs)}")
    return [specs[n] for n in inputs], prior_tensors(c, gin)


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


_ONNX_TYPES = {1: "TYPE_FP32", 6: "TYPE_INT32", 7: "TYPE_INT64", 9: "TYPE_BOOL", 10: "TYPE_FP16"}


def graph_tensors(path: str | Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """A batched ONNX graph's inputs and outputs as Triton tensors, read from the graph (the
    emotion graphs, whose I/O the emotion exporter owns): axis 0 is the batch, named axes -1."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph

    def specs(values) -> list[TensorSpec]:
        out = []
        for v in values:
            t = v.type.tensor_type
            if t.elem_type not in _ONNX_TYPES:
                raise ValueError(
                    f"{path}: {v.name} has ONNX type {t.elem_type}, not one Triton takes"
                )
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim][1:]
            out.append(
                TensorSpec(v.name, _ONNX_TYPES[t.elem_type], dims or [1], item_scalar=not dims)
            )
        return out

    return specs(graph.input), specs(graph.output)


def index_ranges(kind: str, manifest: VoiceManifest, voice_dir: Path) -> dict[str, list]:
    """Allowed values of each index input (high exclusive; "axis+1" = up to the axis size)."""
    if kind == "encoder":
        cfg = json.loads((voice_dir / "config.json").read_text(encoding="utf-8"))
        m, d = cfg.get("model", {}), cfg.get("data", {})
        n_speakers = d.get("n_speakers", max(manifest.speakers.values(), default=0) + 1)
        ranges = {
            "phones": [0, m.get("n_vocab", 112)],
            "tones": [0, m.get("num_tones", 12)],
            "languages": [0, m.get("num_languages", 3)],
            "sid": [0, n_speakers],
            "phone_lengths": [1, "phones+1"],
            "sdp_ratio": [0, 1.000001],
            "noise_scale_w": [0, 100],
            "length_scale": [0.001, 100],
            "emo_id": [-1, 10],  # 2.1; -1: the clip's embedding (emo) decides
        }
        return {k: v for k, v in ranges.items() if k in manifest.encoder_inputs}
    if kind.startswith("emotion_"):  # features and token ids checked by EmotionFeeds
        return {}
    if kind == "vocoder":  # 0 frames: a window past the item's end (docs/graphs.md)
        return {"frame_lengths": [0, "frames+1"]}
    if kind in ("decoder", "flow"):
        return {
            "durations": [0, 1 << 20],
            "frame_lengths": [1, "frames+1"],
            "noise_scale": [0, 100],
        }
    info = manifest.bert[kind.split("_")[1].upper()]
    bert_cfg = bert_config(kind, manifest, voice_dir)
    ranges = {
        "input_ids": [0, bert_cfg["vocab_size"]],
        "attention_mask": [0, 2],
        "phone_to_token": [0, "tokens"],
    }
    if info.has_token_type_ids:
        ranges["token_type_ids"] = [0, max(1, bert_cfg.get("type_vocab_size", 1))]
    return ranges


def bert_config(kind: str, manifest: VoiceManifest, voice_dir: Path) -> dict:
    """The config.json of BERT graph ``kind``'s model (its tokenizer folder keeps a copy)."""
    info = manifest.bert[kind.split("_")[1].upper()]
    path = inside_folder(voice_dir, info.tokenizer) / "config.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _triton_type(dtype: str) -> str:
    return "TYPE_STRING" if dtype == "BYTES" else f"TYPE_{dtype}"


PUBLIC_INPUTS = [TensorSpec(i.name, _triton_type(i.dtype), [1], True) for i in REQUEST_INPUTS]
"""The request inputs (tts_contract.request), all optional: a missing one takes its default (a
missing TEXT gets a clear error from the frontend instead of Triton's)."""
_OUTPUT_TYPES = {
    "AUDIO": ("TYPE_FP32", [-1]),
    "SAMPLE_RATE": ("TYPE_INT32", [1]),
    "PAUSE_AFTER": ("TYPE_FP32", [1]),
    "TIMESTAMPS": ("TYPE_STRING", [1]),
}
PUBLIC_OUTPUTS = [TensorSpec(n, *_OUTPUT_TYPES[n]) for n in OUTPUTS]
STREAM_OUTPUTS = [TensorSpec(n, *_OUTPUT_TYPES[n]) for n in CONTRACT_STREAM_OUTPUTS]

_INT64_VALUES = {"phones", "tones", "languages", "phone_lengths", "sid", "seeds", "emo_id"}
_BYTES_VALUES = {"alignment"}


def frontend_outputs(path: tuple[Step, ...] = REQUEST_PATH, emo_dim: int = 0) -> list[TensorSpec]:
    """The frontend step's outputs (the first step of the voice's ``path``,
    `vits2.serving.path.steps_for`) as Triton tensors of a non-batching model: [S, ...] per
    request."""
    frontend = path[0]
    per_sentence = set(frontend.per_sentence)
    dims = {"bert_zh": [-1, 1024, -1], "bert_ja": [-1, 1024, -1], "bert_en": [-1, 1024, -1]}
    dims.update(noise_sdp=[-1, 2, -1], emo=[-1, emo_dim], style_vec=[-1, STYLE_DIM])
    out = []
    for name in frontend.outputs:
        dtype = "TYPE_INT64" if name in _INT64_VALUES else "TYPE_FP32"
        dtype = "TYPE_STRING" if name in _BYTES_VALUES else dtype
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
        f"max_queue_delay_microseconds: {opts.queue_delay_us} {queue_policy(opts)} }}\n"
    )


def queue_policy(opts: RepositoryOptions) -> str:
    """Every model's queue bound: past `max_queue` waiting requests, or after
    `queue_timeout_s` in the queue, Triton refuses a request at once with UNAVAILABLE (HTTP
    503), which the clients and the gateway treat as "busy, retry later", instead of queueing
    without bound."""
    if opts.max_queue < 1 or not 0 < opts.queue_timeout_s <= 3600:
        raise ValueError(
            f"the queue takes max_queue >= 1 and a timeout in (0, 3600] s, got "
            f"{opts.max_queue} and {opts.queue_timeout_s}"
        )
    micros = int(opts.queue_timeout_s * 1e6)
    return (
        f"default_queue_policy {{ max_queue_size: {opts.max_queue} timeout_action: REJECT "
        f"default_timeout_microseconds: {micros} allow_timeout_override: true }}"
    )


def python_config(
    name: str,
    ins: list[TensorSpec],
    outs: list[TensorSpec],
    params: dict[str, str],
    count: int = 1,
    decoupled: bool = False,
    policy: str = "",
) -> str:
    """A non-batching Python model's config; `policy`: its `queue_policy` (a dynamic batcher
    with nothing to batch holds it)."""
    text = (
        f'name: "{name}"\nbackend: "python"\nmax_batch_size: 0\n'
        + tensor_block("input", ins, reshape=False)
        + tensor_block("output", outs, False)
        + params_block(params)
        + f"instance_group [ {{ count: {count} kind: KIND_CPU }} ]\n"
    )
    if policy:
        text += f"dynamic_batching {{ {policy} }}\n"
    if decoupled:
        text += "model_transaction_policy { decoupled: true }\n"
    return text


def ensemble_steps(voice: str, path: tuple[Step, ...] = REQUEST_PATH) -> str:
    """The ensemble's steps, one per step of the voice's request path (`vits2.serving.path.
    steps_for`): model ``<voice>_<step>``, each tensor mapped by its own name."""

    def one(step: Step) -> str:
        ins = "".join(f'      input_map {{ key: "{n}" value: "{n}" }}\n' for n in step.inputs)
        outs = "".join(f'      output_map {{ key: "{n}" value: "{n}" }}\n' for n in step.outputs)
        return f'    {{\n      model_name: "{voice}_{step.name}"\n      model_version: -1\n{ins}{outs}    }}'

    return "ensemble_scheduling {\n  step [\n" + ",\n".join(one(s) for s in path) + "\n  ]\n}\n"
