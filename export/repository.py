"""`tts-export repository`: a Triton model repository for one voice (or several, side by side).

Per voice V: the ensemble `V` (text -> audio), Python models for the frontend, noise and join
steps, and graph models for BERT/encoder/decoder in the chosen runtime. Tensor names, dtypes
and dims are declared once, here, from the graph contract (docs/graphs.md, docs/triton.md).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import tts_model_repository
from tts_export.metadata import VoiceManifest
from tts_model_repository.inprocess import graph_variant
from tts_model_repository.runtime import OPENVINO_HINTS
from vits2.pipeline import inside_folder

RUNTIMES = ("python", "onnxruntime", "openvino", "tensorrt")
MODEL_SOURCES = Path(tts_model_repository.__file__).resolve().parent
"""The Triton Python models' sources (installed as the tts_model_repository package)."""


@dataclass
class T:
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
    """For runtime python: run graphs with onnxruntime or openvino in-process."""
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


def _bert_tensors(has_token_types: bool) -> tuple[list[T], list[T]]:
    ins = [T("input_ids", "TYPE_INT64", [-1]), T("attention_mask", "TYPE_INT64", [-1])]
    if has_token_types:
        ins.append(T("token_type_ids", "TYPE_INT64", [-1]))
    ins.append(T("phone_to_token", "TYPE_INT64", [-1]))
    return ins, [T("bert_features", "TYPE_FP32", [1024, -1])]


def _encoder_tensors(c: int, gin: int) -> tuple[list[T], list[T]]:
    ins = [
        T("phones", "TYPE_INT64", [-1]),
        T("tones", "TYPE_INT64", [-1]),
        T("languages", "TYPE_INT64", [-1]),
        T("phone_lengths", "TYPE_INT64", [1], item_scalar=True),
    ]
    ins += [T(n, "TYPE_FP32", [1024, -1]) for n in ("bert_zh", "bert_ja", "bert_en")]
    ins.append(T("sid", "TYPE_INT64", [1], item_scalar=True))
    ins += [
        T(n, "TYPE_FP32", [1], item_scalar=True)
        for n in ("sdp_ratio", "noise_scale_w", "length_scale")
    ]
    ins.append(T("noise_sdp", "TYPE_FP32", [2, -1]))
    outs = [
        T("m_p", "TYPE_FP32", [c, -1]),
        T("logs_p", "TYPE_FP32", [c, -1]),
        T("g", "TYPE_FP32", [gin, 1]),
        T("durations", "TYPE_INT64", [-1]),
        T("frame_lengths", "TYPE_INT64", [1], item_scalar=True),
    ]
    return ins, outs


def _decoder_tensors(c: int, gin: int) -> tuple[list[T], list[T]]:
    ins = [
        T("m_p", "TYPE_FP32", [c, -1]),
        T("logs_p", "TYPE_FP32", [c, -1]),
        T("g", "TYPE_FP32", [gin, 1]),
        T("durations", "TYPE_INT64", [-1]),
        T("frame_lengths", "TYPE_INT64", [1], item_scalar=True),
        T("noise_scale", "TYPE_FP32", [1], item_scalar=True),
        T("noise_z", "TYPE_FP32", [c, -1]),
    ]
    outs = [T("audio", "TYPE_FP32", [-1]), T("audio_lengths", "TYPE_INT64", [1], item_scalar=True)]
    return ins, outs


PUBLIC_INPUTS = [
    T("TEXT", "TYPE_STRING", [1], True),  # optional so that a missing TEXT gets a clear error
    T("SPEAKER", "TYPE_STRING", [1], True),
    T("LANGUAGE", "TYPE_STRING", [1], True),
    T("SDP_RATIO", "TYPE_FP32", [1], True),
    T("NOISE_SCALE", "TYPE_FP32", [1], True),
    T("NOISE_SCALE_W", "TYPE_FP32", [1], True),
    T("LENGTH_SCALE", "TYPE_FP32", [1], True),
    T("SEED", "TYPE_INT64", [1], True),
]
PUBLIC_OUTPUTS = [T("AUDIO", "TYPE_FP32", [-1]), T("SAMPLE_RATE", "TYPE_INT32", [1])]


def _frontend_outputs(c: int) -> list[T]:
    ids = [T(n, "TYPE_INT64", [-1, -1]) for n in ("phones", "tones", "languages")]
    bert = [T(n, "TYPE_FP32", [-1, 1024, -1]) for n in ("bert_zh", "bert_ja", "bert_en")]
    per_item = [
        T("phone_lengths", "TYPE_INT64", [-1, 1]),
        T("sid", "TYPE_INT64", [-1, 1]),
        T("seeds", "TYPE_INT64", [-1, 1]),
    ]
    per_item += [
        T(n, "TYPE_FP32", [-1, 1])
        for n in ("sdp_ratio", "noise_scale_w", "length_scale", "noise_scale", "pause_after")
    ]
    return ids + bert + per_item + [T("noise_sdp", "TYPE_FP32", [-1, 2, -1])]


def model_name(voice: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", voice).strip("_")
    if not name:
        raise ValueError(f"voice name {voice!r} has no usable characters for a Triton model name")
    return name


def _tensor_block(kind: str, tensors: list[T], reshape: bool) -> str:
    parts = []
    for t in tensors:
        lines = [f'  {{\n    name: "{t.name}"\n    data_type: {t.dtype}\n    dims: {t.dims}']
        if t.item_scalar and reshape:
            lines.append("    reshape: { shape: [ ] }")
        if t.optional:
            lines.append("    optional: true")
        parts.append("\n".join(lines) + "\n  }")
    return f"{kind} [\n" + ",\n".join(parts) + "\n]\n"


def _params(params: dict[str, str]) -> str:
    return "".join(
        f'parameters: {{ key: "{k}" value: {{ string_value: {json.dumps(str(v))} }} }}\n'
        for k, v in params.items()
    )


def _instances(opts: RepositoryOptions, count: int | None = None) -> str:
    kind = "KIND_GPU" if opts.gpu else "KIND_CPU"
    return f"instance_group [ {{ count: {count or opts.instances} kind: {kind} }} ]\n"


def _batching(opts: RepositoryOptions) -> str:
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


def _ranges(kind: str, manifest: VoiceManifest, voice_dir: Path) -> dict[str, list]:
    """Allowed values of each index input (high exclusive; "axis+1" = up to the axis size)."""
    if kind == "encoder":
        cfg = json.loads((voice_dir / "config.json").read_text(encoding="utf-8"))
        m, d = cfg.get("model", {}), cfg.get("data", {})
        n_speakers = d.get("n_speakers", max(manifest.speakers.values(), default=0) + 1)
        return {
            "phones": [0, m.get("n_vocab", 112)],
            "tones": [0, m.get("num_tones", 12)],
            "languages": [0, m.get("num_languages", 3)],
            "sid": [0, n_speakers],
            "phone_lengths": [1, "phones+1"],
            "sdp_ratio": [0, 1.000001],
            "noise_scale_w": [0, 100],
            "length_scale": [0.001, 100],
        }
    if kind == "decoder":
        return {
            "durations": [0, 1 << 20],
            "frame_lengths": [1, "frames+1"],
            "noise_scale": [0, 100],
        }
    info = manifest.bert[kind.split("_")[1].upper()]
    bert_cfg = _bert_config(kind, manifest, voice_dir)
    ranges = {
        "input_ids": [0, bert_cfg["vocab_size"]],
        "attention_mask": [0, 2],
        "phone_to_token": [0, "tokens"],
    }
    if info.has_token_type_ids:
        ranges["token_type_ids"] = [0, max(1, bert_cfg.get("type_vocab_size", 1))]
    return ranges


def _bert_config(kind: str, manifest: VoiceManifest, voice_dir: Path) -> dict:
    info = manifest.bert[kind.split("_")[1].upper()]
    path = inside_folder(voice_dir, info.tokenizer) / "config.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _graph_config(
    name: str,
    kind: str,
    ins: list[T],
    outs: list[T],
    opts: RepositoryOptions,
    manifest: VoiceManifest,
    voice_dir: Path,
) -> tuple[str, str]:
    """config.pbtxt text and the file the version folder needs (model.onnx / model.plan)."""
    head = f'name: "{name}"\nmax_batch_size: {opts.max_batch}\n'
    family = kind.split("_")[0]
    precision = "fp32" if family == "encoder" else opts.precision.get(family, "fp32")
    if opts.runtime == "python":
        params = {
            "graph": "model.onnx",
            "runtime": opts.graph_runtime,
            "precision": precision,
            "threads": str(opts.threads),
        }
        if family == "decoder":
            params["hop_length"] = str(manifest.hop_length)
            if not 0 <= opts.max_padding <= 1:
                raise ValueError(f"max padding must be in [0, 1], got {opts.max_padding}")
            params["row_lengths"] = json.dumps({"frames": "frame_lengths"})
            params["max_padding"] = str(opts.max_padding)
            if any(
                axis not in ("frames", "phones") or step < 1 for axis, step in opts.buckets.items()
            ):
                raise ValueError(
                    f"buckets take frames=N / phones=N with N >= 1, got {opts.buckets}"
                )
            params["buckets"] = json.dumps(opts.buckets)
        params["ranges"] = json.dumps(_ranges(kind, manifest, voice_dir))
        if family == "bert":
            params["max_axes"] = json.dumps(
                {
                    "tokens": _bert_config(kind, manifest, voice_dir).get(
                        "max_position_embeddings", 512
                    )
                }
            )
        body = (
            'backend: "python"\n'
            + _tensor_block("input", ins, reshape=False)
            + _tensor_block("output", outs, reshape=False)
            + _params(params)
        )
        return head + body + _batching(opts) + _instances(opts), "model.onnx"
    if opts.runtime == "onnxruntime":
        body = 'platform: "onnxruntime_onnx"\n'
        file = "model.onnx"
    elif opts.runtime == "openvino":
        body = 'backend: "openvino"\ndefault_model_filename: "model.onnx"\n' + _params(
            {"INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision]}
        )
        file = "model.onnx"
    else:
        body = 'platform: "tensorrt_plan"\n'
        file = "model.plan"
    body += _tensor_block("input", ins, reshape=True) + _tensor_block("output", outs, reshape=True)
    return head + body + _batching(opts) + _instances(opts), file


def _python_config(
    name: str,
    ins: list[T],
    outs: list[T],
    params: dict[str, str],
    count: int = 1,
    decoupled: bool = False,
) -> str:
    text = (
        f'name: "{name}"\nbackend: "python"\nmax_batch_size: 0\n'
        + _tensor_block("input", ins, reshape=False)
        + _tensor_block("output", outs, False)
        + _params(params)
        + f"instance_group [ {{ count: {count} kind: KIND_CPU }} ]\n"
    )
    if decoupled:
        text += "model_transaction_policy { decoupled: true }\n"
    return text


def _step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    imap = "".join(f'      input_map {{ key: "{k}" value: "{v}" }}\n' for k, v in inputs.items())
    omap = "".join(f'      output_map {{ key: "{k}" value: "{v}" }}\n' for k, v in outputs.items())
    return f'    {{\n      model_name: "{model}"\n      model_version: -1\n{imap}{omap}    }}'


def write_repository(
    voice_dir: str | Path, out_dir: str | Path, options: RepositoryOptions | None = None
) -> list[str]:
    """Write (or overwrite) voice V's models into out_dir; returns the model names."""
    opts = options or RepositoryOptions()
    if opts.runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {opts.runtime!r}")
    voice_dir, out_dir = Path(voice_dir), Path(out_dir)
    manifest = VoiceManifest.load(voice_dir)
    v = model_name(opts.name or manifest.name)
    c, gin = manifest.inter_channels, manifest.gin_channels
    graphs: dict[str, tuple[list[T], list[T]]] = {
        "encoder": _encoder_tensors(c, gin),
        "decoder": _decoder_tensors(c, gin),
    }
    for lang, info in manifest.bert.items():
        graphs[f"bert_{lang.lower()}"] = _bert_tensors(info.has_token_type_ids)
    if opts.runtime == "tensorrt" and not opts.engines:
        raise ValueError("runtime tensorrt needs --engines DIR (from `tts-export trt`)")
    _check_precision(opts)
    names = []
    for kind, (ins, outs) in graphs.items():
        name = f"{v}_{kind}"
        config, file = _graph_config(name, kind, ins, outs, opts, manifest, voice_dir)
        if file == "model.plan":
            src = opts.engines / f"{kind}.plan"
        elif kind == "decoder" and opts.precision.get("decoder") == "int8":
            src = inside_folder(voice_dir, graph_variant(manifest.variants, kind, "int8"))
        else:
            src = inside_folder(voice_dir, manifest.graphs[kind])
        if not src.is_file():
            raise FileNotFoundError(f"{src} not found for model {name}")
        _write_model(
            out_dir / name,
            config,
            {file: src},
            MODEL_SOURCES / "graph" / "model.py" if opts.runtime == "python" else None,
        )
        names.append(name)

    bert_models = {lang: f"{v}_bert_{lang.lower()}" for lang in manifest.bert}
    limits = dict(manifest.limits)
    frontend = _python_config(
        f"{v}_frontend",
        PUBLIC_INPUTS,
        _frontend_outputs(c),
        {"bert_models": json.dumps(bert_models)},
        count=max(1, opts.instances),
    )
    _write_model(out_dir / f"{v}_frontend", frontend, {}, MODEL_SOURCES / "frontend" / "model.py")
    _copy_voice_assets(voice_dir, manifest, out_dir / f"{v}_frontend" / "1" / "voice")
    noise = _python_config(
        f"{v}_noise",
        [T("frame_lengths", "TYPE_INT64", [-1, 1]), T("seeds", "TYPE_INT64", [-1, 1])],
        [T("noise_z", "TYPE_FP32", [-1, c, -1])],
        {"inter_channels": str(c), "max_frames": str(limits.get("max_frames", 8192))},
    )
    _write_model(out_dir / f"{v}_noise", noise, {}, MODEL_SOURCES / "noise" / "model.py")
    join = _python_config(
        f"{v}_join",
        [
            T("audio", "TYPE_FP32", [-1, -1]),
            T("audio_lengths", "TYPE_INT64", [-1, 1]),
            T("pause_after", "TYPE_FP32", [-1, 1]),
        ],
        PUBLIC_OUTPUTS,
        {"sample_rate": str(manifest.sample_rate)},
    )
    _write_model(out_dir / f"{v}_join", join, {}, MODEL_SOURCES / "join" / "model.py")
    names += [f"{v}_frontend", f"{v}_noise", f"{v}_join"]
    steps_by_kind = {k: f"{v}_{k}" for k in ("encoder", "noise", "decoder")}
    stream = _python_config(
        f"{v}_stream",
        PUBLIC_INPUTS,
        PUBLIC_OUTPUTS,
        {
            "models": json.dumps(steps_by_kind),
            "bert_models": json.dumps(bert_models),
            "max_stream_chars": str(limits.get("max_stream_chars", 100000)),
        },
        count=max(1, opts.instances),
        decoupled=True,
    )
    _write_model(out_dir / f"{v}_stream", stream, {}, MODEL_SOURCES / "stream" / "model.py")
    _copy_voice_assets(voice_dir, manifest, out_dir / f"{v}_stream" / "1" / "voice")

    enc_in = [t.name for t in graphs["encoder"][0]]
    dec_in = [t.name for t in graphs["decoder"][0]]
    steps = [
        _step(
            f"{v}_frontend",
            {t.name: t.name for t in PUBLIC_INPUTS},
            {t.name: f"f_{t.name}" for t in _frontend_outputs(c)},
        ),
        _step(
            f"{v}_encoder",
            {n: f"f_{n}" for n in enc_in},
            {t.name: f"e_{t.name}" for t in graphs["encoder"][1]},
        ),
        _step(
            f"{v}_noise",
            {"frame_lengths": "e_frame_lengths", "seeds": "f_seeds"},
            {"noise_z": "n_noise_z"},
        ),
        _step(
            f"{v}_decoder",
            {
                n: (
                    "f_noise_scale"
                    if n == "noise_scale"
                    else "n_noise_z"
                    if n == "noise_z"
                    else f"e_{n}"
                )
                for n in dec_in
            },
            {"audio": "d_audio", "audio_lengths": "d_audio_lengths"},
        ),
        _step(
            f"{v}_join",
            {
                "audio": "d_audio",
                "audio_lengths": "d_audio_lengths",
                "pause_after": "f_pause_after",
            },
            {"AUDIO": "AUDIO", "SAMPLE_RATE": "SAMPLE_RATE"},
        ),
    ]
    all_models = [n for n in names if "_bert_" in n] + [n for n in names if "_bert_" not in n]
    voice_meta = {
        "name": v,
        "sample_rate": manifest.sample_rate,
        "speakers": manifest.speakers,
        "languages": manifest.languages,
        "speaker_defaults": {s: manifest.defaults_for(s) for s in manifest.speakers},
        "limits": _limits(limits),
        "models": all_models + [v, f"{v}_stream"],
        "stream_model": f"{v}_stream",
        "runtime": opts.runtime,
    }
    ensemble = (
        f'name: "{v}"\nplatform: "ensemble"\nmax_batch_size: 0\n'
        + _tensor_block("input", PUBLIC_INPUTS, False)
        + _tensor_block("output", PUBLIC_OUTPUTS, False)
        + _params({"voice": json.dumps(voice_meta, ensure_ascii=False)})
        + "ensemble_scheduling {\n  step [\n"
        + ",\n".join(steps)
        + "\n  ]\n}\n"
    )
    _write_model(out_dir / v, ensemble, {}, None)
    return all_models + [v, f"{v}_stream"]


def _limits(limits: dict) -> dict:
    from dataclasses import asdict

    from vits2.pipeline import Limits

    return asdict(Limits.from_dict(limits))


def _write_model(folder: Path, config: str, files: dict[str, Path], model_py: Path | None):
    if folder.exists():
        shutil.rmtree(folder)
    version = folder / "1"
    version.mkdir(parents=True)
    (folder / "config.pbtxt").write_text(config, encoding="utf-8")
    for name, src in files.items():
        shutil.copy2(src, version / name)
    if model_py is not None:
        shutil.copy2(model_py, version / "model.py")


def _copy_voice_assets(voice_dir: Path, manifest: VoiceManifest, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(voice_dir / "voice.json", dest / "voice.json")
    for info in manifest.bert.values():
        shutil.copytree(
            inside_folder(voice_dir, info.tokenizer), dest / info.tokenizer, dirs_exist_ok=True
        )


GRAPH_PRECISIONS = {
    "bert": ("fp32", "bf16", "fp16"),
    "decoder": ("fp32", "bf16", "fp16", "int8"),
}
"""Precisions a repository accepts per graph family (the encoder is always fp32)."""


def parse_precision(items: list[str]) -> dict[str, str]:
    """["decoder=int8", "bert=bf16"] -> {"decoder": "int8", ...}, checked like the options."""
    out = {}
    for item in items:
        family, _, value = item.partition("=")
        out[family.strip()] = value.strip()
    _check_precision(RepositoryOptions(precision=out))
    return out


def _check_precision(opts: RepositoryOptions) -> None:
    for family, value in opts.precision.items():
        if family not in GRAPH_PRECISIONS or value not in GRAPH_PRECISIONS[family]:
            raise ValueError(
                f"precision {family}={value!r} is not supported: bert takes fp32|bf16|fp16, "
                "decoder fp32|bf16|fp16|int8 (the encoder is always fp32)"
            )
    if opts.runtime == "tensorrt" and opts.precision.get("decoder") == "int8":
        raise ValueError(
            "decoder=int8 is for the python, onnxruntime and openvino runtimes; TensorRT engines "
            "take their precision from `tts-export trt`"
        )


def default_graph_runtime() -> tuple[str, dict[str, str]]:
    """The fastest in-process setting that holds parity on this CPU.

    OpenVINO when installed; bf16 for BERT and decoder where the CPU computes bf16 natively
    (AMX or AVX512-BF16: SNR 35-49 dB against fp32 on the full-size random decoder), fp32
    otherwise. The encoder stays fp32 so durations never change.
    """
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "onnxruntime", {}
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    if "amx_bf16" in flags or "avx512_bf16" in flags:
        return "openvino", {"bert": "bf16", "decoder": "bf16"}
    return "openvino", {}
