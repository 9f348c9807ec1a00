"""`tts-export repository`: a Triton model repository for one voice (or several, side by side).

Per voice V: the ensemble `V` (text -> audio, its steps from the declared request path
`vits2.serving.path`), Python models for the frontend, noise and join steps, graph models for
BERT/encoder/decoder (and the decoder's halves, flow and vocoder, when the voice has them) in
the chosen runtime, and the decoupled `V_stream` (windowed vocoder when it can). Config text comes
from `tts_export.triton_config` (docs/graphs.md, docs/triton.md).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import tts_model_repository
from tts_contract.manifest import model_name
from tts_export.metadata import VoiceManifest
from tts_export.triton_config import (
    PUBLIC_INPUTS,
    PUBLIC_OUTPUTS,
    STREAM_OUTPUTS,
    RepositoryOptions,
    TensorSpec,
    batching_block,
    bert_config,
    bert_tensors,
    decoder_tensors,
    encoder_tensors,
    ensemble_steps,
    flow_tensors,
    frontend_outputs,
    graph_tensors,
    index_ranges,
    instances_block,
    params_block,
    python_config,
    queue_policy,
    tensor_block,
    vocoder_tensors,
)
from tts_runtime.cpu import (
    SHAPE_GENERIC_FAMILIES,
    AutoChoice,
    auto_choice,
    family_of,
    graph_runtimes,
)
from tts_runtime.inprocess import graph_variant
from tts_runtime.session import OPENVINO_HINTS
from tts_runtime.shapes import plan_for
from tts_runtime.windows import (
    FIRST_WINDOW_SECONDS,
    WINDOW_FRAMES,
    WINDOW_GROWTH,
    Context,
    context_from_config,
    plan_windows,
)
from vits2.serving.path import ADJUST_OUTPUTS, STEPS, steps_for
from vits2.serving.pipeline import inside_folder, voice_parts

REPOSITORY_RUNTIMES = ("python", "onnxruntime", "openvino", "tensorrt")
"""What `tts-export repository --runtime` takes (runtime.RUNTIMES: what runs a graph in-process)."""
MODEL_SOURCES = Path(tts_model_repository.__file__).resolve().parent
"""The Triton Python models' sources (installed as the tts_model_repository package)."""


def _graph_config(
    name: str,
    kind: str,
    ins: list[TensorSpec],
    outs: list[TensorSpec],
    opts: RepositoryOptions,
    manifest: VoiceManifest,
    voice_dir: Path,
) -> tuple[str, str]:
    """config.pbtxt text and the file the version folder needs (model.onnx / model.plan)."""
    head = f'name: "{name}"\nmax_batch_size: {opts.max_batch}\n'
    family = family_of(kind)
    # the vocoder runs at the decoder's precision; the shape-generic graphs always in fp32
    precision = (
        "fp32"
        if family in SHAPE_GENERIC_FAMILIES
        else opts.precision.get("decoder" if family == "vocoder" else family, "fp32")
    )
    if opts.runtime == "python":
        runtime = graph_runtimes(opts.graph_runtime, opts.runtimes)[family]
        if family == "decoder" and runtime == "openvino":
            raise ValueError(
                "the one-pass decoder does not run on OpenVINO in-process: OpenVINO prepares "
                "kernels for every new sentence length and keeps them (unbounded memory). Use "
                "--graph-runtime onnxruntime for it, or re-export the voice with `tts-export "
                "onnx` so that it has the decoder's halves (flow, vocoder)"
            )
        params = {
            "graph": "model.onnx",
            "runtime": runtime,
            "precision": precision,
            "threads": str(opts.threads),
        }
        if family in ("decoder", "flow", "vocoder"):  # frame axes: rows by frame counts
            params["hop_length"] = str(manifest.hop_length)
            if not 0 <= opts.max_padding <= 1:
                raise ValueError(f"max padding must be in [0, 1], got {opts.max_padding}")
            params["row_lengths"] = json.dumps({"frames": "frame_lengths"})
            params["max_padding"] = str(opts.max_padding)
        max_tokens = (
            bert_config(kind, manifest, voice_dir).get("max_position_embeddings", 512)
            if family == "bert"
            else 512
        )
        plan = plan_for(family, runtime, precision, max_tokens)
        if plan is not None:
            params["shape_plan"] = json.dumps(plan.to_dict())
        if plan is not None and family == "vocoder":
            config = json.loads((voice_dir / "config.json").read_text(encoding="utf-8"))
            context = context_from_config(config)
            params["window_context"] = json.dumps([context.left, context.right])
        params["ranges"] = json.dumps(index_ranges(kind, manifest, voice_dir))
        if family == "bert":
            params["max_axes"] = json.dumps({"tokens": max_tokens})
        body = (
            'backend: "python"\n'
            + tensor_block("input", ins, reshape=False)
            + tensor_block("output", outs, reshape=False)
            + params_block(params)
        )
        return head + body + batching_block(opts) + instances_block(opts), "model.onnx"
    if opts.runtime == "onnxruntime":
        body = 'platform: "onnxruntime_onnx"\n'
        file = "model.onnx"
    elif opts.runtime == "openvino":
        body = 'backend: "openvino"\ndefault_model_filename: "model.onnx"\n' + params_block(
            {"INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision]}
        )
        file = "model.onnx"
    else:
        body = 'platform: "tensorrt_plan"\n'
        file = "model.plan"
    body += tensor_block("input", ins, reshape=True) + tensor_block("output", outs, reshape=True)
    return head + body + batching_block(opts) + instances_block(opts), file


def write_repository(
    voice_dir: str | Path, out_dir: str | Path, options: RepositoryOptions | None = None
) -> list[str]:
    """Write (or overwrite) voice V's models into out_dir; returns the model names."""
    opts = options or RepositoryOptions()
    if opts.runtime not in REPOSITORY_RUNTIMES:
        raise ValueError(
            f"runtime must be one of {', '.join(REPOSITORY_RUNTIMES)}, got {opts.runtime!r}"
        )
    if opts.runtime == "tensorrt" and not opts.engines:
        raise ValueError("runtime tensorrt needs --engines DIR (from `tts-export trt`)")
    _check_precision(opts)
    voice_dir, out_dir = Path(voice_dir), Path(out_dir)
    manifest = VoiceManifest.load(voice_dir)
    opts, auto = resolved_options(voice_dir, opts)
    v = model_name(opts.name or manifest.name)
    graph_models = _write_graph_models(v, voice_dir, manifest, out_dir, opts)
    step_models = _write_python_models(v, voice_dir, manifest, out_dir, opts)
    bert_first = sorted(graph_models + step_models, key=lambda n: "_bert_" not in n)
    models = [*bert_first, v, f"{v}_stream"]
    voice_meta = {
        "name": v,
        "sample_rate": manifest.sample_rate,
        "speakers": manifest.speakers,
        "languages": manifest.languages,
        "speaker_defaults": {s: manifest.defaults_for(s) for s in manifest.speakers},
        "limits": asdict(manifest.request_limits),
        "models": models,
        "stream_model": f"{v}_stream",
        "runtime": opts.runtime,
        "release": manifest.release,
        "conditioning_inputs": list(manifest.conditioning_inputs),
        "styles": manifest.styles,
        # what `--graph-runtime auto` chose on the machine that wrote the repository, and why
        "auto": asdict(auto) if auto else None,
    }
    ensemble = (
        f'name: "{v}"\nplatform: "ensemble"\nmax_batch_size: 0\n'
        + tensor_block("input", PUBLIC_INPUTS, False)
        + tensor_block("output", PUBLIC_OUTPUTS, False)
        + params_block({"voice": json.dumps(voice_meta, ensure_ascii=False)})
        + ensemble_steps(v, steps_for(manifest))
    )
    _write_model(out_dir / v, ensemble, {}, None)
    return models


def _write_graph_models(
    v: str, voice_dir: Path, manifest: VoiceManifest, out_dir: Path, opts: RepositoryOptions
) -> list[str]:
    """BERT, encoder, decoder (and flow + vocoder, see `has_decoder_halves`): one model per
    graph in the chosen runtime."""
    c, gin = manifest.inter_channels, manifest.gin_channels
    encoder = encoder_tensors(c, gin, manifest.encoder_inputs, voice_parts(manifest).emo_dim)
    graphs = {"encoder": encoder, "decoder": decoder_tensors(c, gin)}
    if has_decoder_halves(manifest, opts):
        graphs.update(flow=flow_tensors(c, gin), vocoder=vocoder_tensors(c, gin))
    for lang, info in manifest.bert.items():
        graphs[f"bert_{lang.lower()}"] = bert_tensors(info.has_token_type_ids)
    for kind, tensors in emotion_graphs(voice_dir, manifest).items():
        graphs[f"emotion_{kind}"] = tensors
    names = []
    if opts.runtime == "python" and "flow" in graphs and opts.precision.get("decoder") != "int8":
        # the decoder step through the halves' models: one copy of each graph, shared with
        # the stream model, and the vocoder's bounded shapes for the ensemble too
        ins, outs = graphs.pop("decoder")
        models = json.dumps({k: f"{v}_{k}" for k in ("flow", "vocoder")})
        params = {"models": models, "hop_length": str(manifest.hop_length)}
        config = (
            f'name: "{v}_decoder"\nbackend: "python"\nmax_batch_size: {opts.max_batch}\n'
            + tensor_block("input", ins, reshape=False)
            + tensor_block("output", outs, reshape=False)
            + params_block(params)
            + batching_block(opts)
            + instances_block(opts)
        )
        _write_model(out_dir / f"{v}_decoder", config, {}, MODEL_SOURCES / "decoder" / "model.py")
        names.append(f"{v}_decoder")
    for kind, (ins, outs) in graphs.items():
        name = f"{v}_{kind}"
        # `tts-export trt` builds no emotion engines: those graphs run on Triton's onnxruntime
        emotion_trt = kind.startswith("emotion_") and opts.runtime == "tensorrt"
        kind_opts = replace(opts, runtime="onnxruntime") if emotion_trt else opts
        config, file = _graph_config(name, kind, ins, outs, kind_opts, manifest, voice_dir)
        if file == "model.plan":
            src = opts.engines / f"{kind}.plan"
        elif kind == "decoder" and opts.precision.get("decoder") == "int8":
            src = inside_folder(voice_dir, graph_variant(manifest.variants, kind, "int8"))
        elif kind.startswith("emotion_"):
            src = inside_folder(voice_dir, manifest.emotion_models[kind[8:]]["graph"])
        else:
            src = inside_folder(voice_dir, manifest.graphs[kind])
        if not src.is_file():
            raise FileNotFoundError(f"{src} not found for model {name}")
        model_py = MODEL_SOURCES / "graph" / "model.py" if opts.runtime == "python" else None
        _write_model(out_dir / name, config, {file: src}, model_py, link=opts.link)
        names.append(name)
    return names


def emotion_graphs(
    voice_dir: Path, manifest: VoiceManifest
) -> dict[str, tuple[list[TensorSpec], list[TensorSpec]]]:
    """The voice's emotion graphs (voice.json ``emotion_models``), by kind, with their
    tensors as the graphs declare them."""
    return {
        kind: graph_tensors(inside_folder(voice_dir, info["graph"]))
        for kind, info in manifest.emotion_models.items()
    }


def has_decoder_halves(manifest: VoiceManifest, opts: RepositoryOptions) -> bool:
    """Whether V_flow and V_vocoder are written, so that V_stream decodes in windows.

    Needs both graphs in the voice (exports before them have the decoder only) and, for
    TensorRT, both engines. Not with decoder=int8: there is no int8 vocoder, and the stream's
    audio must equal the ensemble's; V_stream then decodes whole sentences through V_decoder.
    """
    if not {"flow", "vocoder"} <= set(manifest.graphs) or opts.precision.get("decoder") == "int8":
        return False
    if opts.runtime == "tensorrt":
        return all((opts.engines / f"{k}.plan").is_file() for k in ("flow", "vocoder"))
    return True


def _stream_params(
    v: str, manifest: VoiceManifest, opts: RepositoryOptions, bert_models: str
) -> dict[str, str]:
    """V_stream's parameters: the step models it calls over BLS and its window sizes."""
    steps = ["encoder", "noise", "decoder"]
    params = {"bert_models": bert_models}
    params["max_stream_chars"] = str(manifest.request_limits.max_stream_chars)
    # prepare sentence i + 1 while sentence i is sent (opt-in: it competes for the cores)
    params["lookahead"] = "1" if opts.stream_lookahead else "0"
    if has_decoder_halves(manifest, opts):
        steps += ["flow", "vocoder"]
        first, size = opts.first_window_seconds, opts.window_frames
        first = FIRST_WINDOW_SECONDS if first is None else first
        size = WINDOW_FRAMES if size is None else size
        if not (first > 0 and first <= 10) or size < 1:
            raise ValueError(
                f"stream windows: the first window takes (0, 10] seconds and later windows >= 1 "
                f"frame, got {first} s and {size} frames"
            )
        # Triton's OpenVINO/TensorRT backends see every window's width as it is (the python
        # runtime cuts rows to their lengths): two widths only, padding masked by the lengths
        fixed = opts.runtime in ("openvino", "tensorrt")
        growth = opts.window_growth
        if fixed and growth not in (None, 1):
            raise ValueError(
                f"stream windows: runtime {opts.runtime} runs the vocoder at two input widths, so "
                f"later windows cannot grow: leave --window-growth out (or 1), got {growth}"
            )
        growth = (1.0 if fixed else WINDOW_GROWTH) if growth is None else growth
        plan_windows(1, Context(0, 0), 1, size, growth)  # the growth's rule, named
        params["first_window_seconds"], params["window_frames"] = str(first), str(size)
        params["window_growth"] = str(float(growth))
        params["fixed_shapes"] = "1" if fixed else "0"
    params["models"] = json.dumps({k: f"{v}_{k}" for k in steps})
    return params


def _write_python_models(
    v: str, voice_dir: Path, manifest: VoiceManifest, out_dir: Path, opts: RepositoryOptions
) -> list[str]:
    """The frontend, noise and join steps, and the decoupled stream model."""
    c = manifest.inter_channels
    limits = manifest.request_limits
    bert_models = json.dumps({lang: f"{v}_bert_{lang.lower()}" for lang in manifest.bert})
    emotion_models = json.dumps({k: f"{v}_emotion_{k}" for k in manifest.emotion_models})
    instances = max(1, opts.instances)
    policy = queue_policy(opts)
    configs = {
        "frontend": python_config(
            f"{v}_frontend",
            PUBLIC_INPUTS,
            frontend_outputs(steps_for(manifest), voice_parts(manifest).emo_dim),
            {"bert_models": bert_models, "emotion_models": emotion_models},
            count=instances,
            policy=policy,
        ),
        "noise": python_config(
            f"{v}_noise",
            [TensorSpec(n, "TYPE_INT64", [-1, 1]) for n in STEPS["noise"].inputs],
            [TensorSpec("noise_z", "TYPE_FP32", [-1, c, -1])],
            {"inter_channels": str(c), "max_frames": str(limits.max_frames)},
            policy=policy,
        ),
        "join": python_config(
            f"{v}_join",
            [
                TensorSpec("audio", "TYPE_FP32", [-1, -1]),
                TensorSpec("audio_lengths", "TYPE_INT64", [-1, 1]),
                TensorSpec("pause_after", "TYPE_FP32", [-1, 1]),
                *(TensorSpec(n, "TYPE_FP32", [-1, 1], True) for n in ADJUST_OUTPUTS),
                # TIMESTAMPS from these (optional: a direct request may leave them out)
                TensorSpec("durations", "TYPE_INT64", [-1, -1], True),
                TensorSpec("alignment", "TYPE_STRING", [-1, 1], True),
            ],
            PUBLIC_OUTPUTS,
            {"sample_rate": str(manifest.sample_rate)},
            policy=policy,
        ),
        "stream": python_config(
            f"{v}_stream",
            PUBLIC_INPUTS,
            STREAM_OUTPUTS,
            {**_stream_params(v, manifest, opts, bert_models), "emotion_models": emotion_models},
            count=max(1, opts.stream_instances or instances),
            decoupled=True,
            policy=policy,
        ),
    }
    for step, config in configs.items():
        _write_model(out_dir / f"{v}_{step}", config, {}, MODEL_SOURCES / step / "model.py")
    for step in ("frontend", "stream"):  # they read the voice's manifest and tokenizers
        _copy_voice_assets(voice_dir, manifest, out_dir / f"{v}_{step}" / "1" / "voice")
    if has_decoder_halves(manifest, opts):  # V_stream derives the vocoder's context from it
        shutil.copy2(voice_dir / "config.json", out_dir / f"{v}_stream" / "1" / "voice")
    return [f"{v}_{step}" for step in ("frontend", "noise", "join")]


def _write_model(
    folder: Path, config: str, files: dict[str, Path], model_py: Path | None, link: bool = False
) -> None:
    """One Triton model folder: config.pbtxt, version 1 with ``files`` (hard links to them
    with ``link``, where the file system allows; else copies) and model.py."""
    if folder.exists():
        shutil.rmtree(folder)
    version = folder / "1"
    version.mkdir(parents=True)
    (folder / "config.pbtxt").write_text(config, encoding="utf-8")
    for name, src in files.items():
        if link:
            try:  # Triton reads a hard link as the plain file it is
                os.link(src, version / name)
                continue
            except OSError:  # another file system, or links not allowed: copy
                pass
        shutil.copy2(src, version / name)
    if model_py is not None:
        shutil.copy2(model_py, version / "model.py")


def _copy_voice_assets(voice_dir: Path, manifest: VoiceManifest, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(voice_dir / "voice.json", dest / "voice.json")
    if "style_vectors" in manifest.graphs:
        shutil.copy2(inside_folder(voice_dir, manifest.graphs["style_vectors"]), dest)
    folders = [info.tokenizer for info in manifest.bert.values()]
    folders += [info["processor"] for info in manifest.emotion_models.values()]
    for folder in folders:  # tokenizers, and the emotion graphs' processors (EmotionFeeds)
        shutil.copytree(inside_folder(voice_dir, folder), dest / folder, dirs_exist_ok=True)
    if manifest.user_dict:  # the voice's OpenJTalk user dictionary (compiled + its CSV)
        for name in (manifest.user_dict, str(Path(manifest.user_dict).with_suffix(".csv"))):
            if inside_folder(voice_dir, name).is_file():
                shutil.copy2(inside_folder(voice_dir, name), dest / name)


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


def resolve_auto(
    opts: RepositoryOptions, variants: dict, halves: bool = True
) -> tuple[RepositoryOptions, AutoChoice | None]:
    """`opts` with graph runtime "auto" replaced by this CPU's choice (`cpu.auto_choice`,
    with the voice's gated `variants`); precisions given explicitly win over the choice's."""
    if opts.graph_runtime != "auto":
        return opts, None
    auto = auto_choice(variants=variants)
    precision = {**auto.precision, **opts.precision}
    runtimes = {**auto.runtimes, **opts.runtimes}
    if not halves and precision.get("decoder") != "int8":
        # an export without the decoder's halves runs the one-pass decoder: on onnxruntime,
        # in fp32 (OpenVINO would prepare it per sentence length, without bound)
        runtimes["decoder"] = "onnxruntime"
        precision.pop("decoder", None)
    resolved = replace(opts, graph_runtime=auto.runtime, precision=precision, runtimes=runtimes)
    _check_precision(resolved)
    return resolved, auto


def resolved_options(
    voice_dir: str | Path, opts: RepositoryOptions
) -> tuple[RepositoryOptions, AutoChoice | None]:
    """What `write_repository` writes the voice in ``voice_dir`` with: `resolve_auto` of
    ``opts`` for its variants and whether it has the decoder's halves."""
    manifest = VoiceManifest.load(voice_dir)
    return resolve_auto(opts, manifest.variants, {"flow", "vocoder"} <= set(manifest.graphs))


def describe_plan(opts: RepositoryOptions) -> str:
    """Which runtime and precision each graph family runs with (python runtime), in one line:
    "bert openvino fp32, vocoder onnxruntime fp32, ..."."""
    runtimes = graph_runtimes(opts.graph_runtime, opts.runtimes)
    parts = []
    for family in ("bert", "encoder", "flow", "vocoder"):
        key = "decoder" if family == "vocoder" else family
        precision = "fp32" if family in SHAPE_GENERIC_FAMILIES else opts.precision.get(key, "fp32")
        parts.append(f"{family} {runtimes[family]} {precision}")
    if opts.precision.get("decoder") == "int8":
        parts.append(f"decoder {runtimes['decoder']} int8 (one pass)")
    return ", ".join(parts)


def default_graph_runtime(
    variants: dict | None = None,
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The fastest in-process setting that holds quality on this CPU: `cpu.auto_choice`
    (per ISA, honouring ONEDNN_MAX_CPU_ISA; the voice's gated int8 decoder where `variants`
    has one and the CPU has VNNI but no bf16): (runtime, precision per family, runtime per
    family where it differs). The encoder and flow stay fp32 on onnxruntime."""
    choice = auto_choice(variants=variants)
    return choice.runtime, dict(choice.precision), dict(choice.runtimes)
