"""Build TensorRT engines (Triton `tensorrt_plan`) from the exported ONNX graphs.

Uses the TensorRT Python API directly: ONNX parser -> explicit-batch network -> one optimisation
profile from the given (min, opt, max) shapes -> serialized plan. A timing cache can be loaded and
saved so that rebuilding on the same GPU/TensorRT skips most tactic timing. TensorRT and an
NVIDIA GPU are needed to build (the plan only runs on the same GPU model and TensorRT version):
without them `build_engine` raises `TensorRTUnavailable`; onnxruntime/OpenVINO serve the graphs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tts_contract.manifest import VOCODER_INPUTS
from tts_export.metadata import DECODER_INPUTS, ENCODER_INPUTS
from vits2.styles import STYLE_DIM

__all__ = [
    "GRAPH_INPUTS",
    "Profiles",
    "TensorRTUnavailable",
    "build_engine",
    "default_profiles",
    "split_decoder_profiles",
    "onnx_input_shapes",
    "tensorrt_available",
    "validate_profiles",
]

log = logging.getLogger(__name__)

Shape = tuple[int, ...]
Profiles = dict[str, tuple[Shape, Shape, Shape]]
"""Input name -> (min_shape, opt_shape, max_shape)."""

UNAVAILABLE_MESSAGE = (
    "TensorRT is not installed (pip install tensorrt) or no NVIDIA GPU is visible; "
    "build engines on a GPU machine or in the NGC container"
)

GRAPH_INPUTS: dict[str, tuple[str, ...]] = {
    # docs/graphs.md, contract version 1. token_type_ids exists only in BERT graphs whose model
    # has token types (chinese-roberta); build_engine skips profile names a graph lacks.
    "bert": ("input_ids", "attention_mask", "token_type_ids", "phone_to_token"),
    "encoder": tuple(ENCODER_INPUTS),
    "decoder": tuple(DECODER_INPUTS),
}
"""Graph kind -> input names, in graph order."""


class TensorRTUnavailable(RuntimeError):
    """TensorRT cannot build here (module missing or no usable NVIDIA GPU)."""

    def __init__(self, reason: str = ""):
        detail = f" ({reason})" if reason else ""
        super().__init__(UNAVAILABLE_MESSAGE + detail)
        self.reason = reason


def tensorrt_available() -> tuple[bool, str]:
    """(True, version) where engines can be built here, else (False, why not)."""
    try:
        import tensorrt as trt
    except ImportError:
        return False, "the `tensorrt` Python module is not installed (pip install tensorrt)"
    except Exception as exc:  # a broken install (missing libnvinfer) raises OSError and others
        return False, f"the `tensorrt` module failed to load: {exc}"
    try:
        # Creating a builder initialises CUDA; it fails (None or an exception) without a GPU.
        builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    except Exception as exc:
        return False, f"TensorRT {trt.__version__} cannot create a builder (no CUDA GPU?): {exc}"
    if builder is None:
        return False, f"TensorRT {trt.__version__} cannot create a builder: no CUDA GPU is visible"
    del builder
    return True, f"TensorRT {trt.__version__}"


def _span(max_value: int, name: str) -> tuple[int, int, int]:
    if max_value < 1:
        raise ValueError(f"{name} must be >= 1, got {max_value}")
    # opt: a typical request, a quarter of the longest allowed (kernels are tuned for opt).
    return 1, max(1, max_value // 4), max_value


def default_profiles(
    graph_kind: str,
    max_batch: int = 8,
    max_tokens: int = 256,
    max_phones: int = 512,
    max_frames: int = 4096,
    *,
    inter_channels: int = 192,
    gin_channels: int = 512,
    bert_dim: int = 1024,
    encoder_inputs: Sequence[str] | None = None,
    emo_dim: int = 0,
) -> Profiles:
    """Optimisation-profile shapes for every input of a `bert`, `encoder` or `decoder` graph.

    Dynamic axes go from 1 to the max; opt is half the max batch and a quarter of each max
    length (a typical sentence). Static sizes come from the voice: `inter_channels` (C of
    m_p/logs_p/noise_z, 192 in v2.3), `gin_channels` (512), `bert_dim` (1024). An encoder of
    another release takes `encoder_inputs` (voice.json ``encoder_inputs``: its BERT slots and
    conditioning, emo [B, emo_dim], emo_id [B], style_vec [B, 256]); default 2.3's.
    """
    if graph_kind not in GRAPH_INPUTS:
        raise ValueError(f"unknown graph kind {graph_kind!r}; allowed: {', '.join(GRAPH_INPUTS)}")
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    b = (1, max(1, max_batch // 2), max_batch)
    t = _span(max_tokens, "max_tokens")
    p = _span(max_phones, "max_phones")
    f = _span(max_frames, "max_frames")

    def shape(*axes) -> tuple[Shape, Shape, Shape]:
        # Each axis is an int (static) or a (min, opt, max) triple.
        dims = [(a, a, a) if isinstance(a, int) else a for a in axes]
        return tuple(tuple(d[k] for d in dims) for k in range(3))  # type: ignore[return-value]

    if graph_kind == "bert":
        profiles = {name: shape(b, t) for name in GRAPH_INPUTS["bert"][:3]}
        profiles["phone_to_token"] = shape(b, p)
    elif graph_kind == "encoder":
        profiles = {name: shape(b, p) for name in ("phones", "tones", "languages")}
        profiles["phone_lengths"] = shape(b)
        for name in ("bert_zh", "bert_ja", "bert_en"):
            profiles[name] = shape(b, bert_dim, p)
        for name in ("sid", "sdp_ratio", "noise_scale_w", "length_scale"):
            profiles[name] = shape(b)
        profiles["noise_sdp"] = shape(b, 2, p)
        profiles.update(emo=shape(b, max(emo_dim, 1)), emo_id=shape(b))
        profiles["style_vec"] = shape(b, STYLE_DIM)
    else:
        profiles = {
            "m_p": shape(b, inter_channels, p),
            "logs_p": shape(b, inter_channels, p),
            "g": shape(b, gin_channels, 1),
            "durations": shape(b, p),
            "frame_lengths": shape(b),
            "noise_scale": shape(b),
            "noise_z": shape(b, inter_channels, f),
        }
    names = GRAPH_INPUTS[graph_kind]
    if graph_kind == "encoder" and encoder_inputs is not None:  # another release's encoder
        unknown = [n for n in encoder_inputs if n not in profiles]
        if unknown:
            raise ValueError(f"no profile for encoder inputs {unknown}; known: {list(profiles)}")
        names = tuple(encoder_inputs)
    return {name: profiles[name] for name in names}


SPLIT_DECODER_INPUTS: dict[str, tuple[str, ...]] = {
    "flow": tuple(DECODER_INPUTS),
    "vocoder": tuple(VOCODER_INPUTS),
}
"""The decoder's two halves for sub-sentence streaming (docs/graphs.md, flow and vocoder)."""


def split_decoder_profiles(
    graph_kind: str,
    max_batch: int = 8,
    max_phones: int = 512,
    max_frames: int = 4096,
    *,
    window_frames: int | None = None,
    inter_channels: int = 192,
    gin_channels: int = 512,
) -> Profiles:
    """Profiles for the `flow` (the decoder's inputs) or `vocoder` (z, g, frame_lengths) graph.

    window_frames: the vocoder's usual input when it decodes in windows (a later window plus
    its context on both sides, e.g. 64 + 2 * 13); kernels are tuned for it. Without it the
    vocoder is tuned for whole sentences like the decoder (a quarter of max_frames).
    """
    if graph_kind not in SPLIT_DECODER_INPUTS:
        allowed = ", ".join(SPLIT_DECODER_INPUTS)
        raise ValueError(f"unknown graph kind {graph_kind!r}; allowed: {allowed}")
    dims = dict(inter_channels=inter_channels, gin_channels=gin_channels)
    dec = default_profiles("decoder", max_batch, 256, max_phones, max_frames, **dims)
    if graph_kind == "flow":
        return dec
    if window_frames is not None and not 1 <= window_frames <= max_frames:
        raise ValueError(
            f"window_frames must be in [1, max_frames={max_frames}], got {window_frames}"
        )
    (lo, opt, hi) = dec["noise_z"]
    opt = opt if window_frames is None else (opt[0], opt[1], window_frames)
    return {"z": (lo, opt, hi), "g": dec["g"], "frame_lengths": dec["frame_lengths"]}


def onnx_input_shapes(onnx_path: Path) -> dict[str, Shape]:
    """Graph input name -> shape, -1 for dynamic axes (read without loading the weights)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    shapes = {}
    for value in model.graph.input:
        if value.name in initializers:  # old exports list weights as inputs
            continue
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
    return shapes


def validate_profiles(graph_inputs: Mapping[str, Shape], profiles: Mapping) -> Profiles:
    """Check `profiles` against the graph's input shapes; return the entries the graph uses.

    Every input with a dynamic axis needs a profile; ranks must match; static axes must equal the
    graph's size; min <= opt <= max on every axis. Names the graph lacks are dropped (logged).
    """
    problems = []
    used: Profiles = {}
    for name in profiles:
        if name not in graph_inputs:
            log.info("profile for %r skipped: the graph has no such input", name)
    for name, dims in graph_inputs.items():
        if name not in profiles:
            if any(d < 0 for d in dims):
                problems.append(f"{name}: dynamic shape {list(dims)} but no profile given")
            continue
        entry = profiles[name]
        if len(entry) != 3:
            problems.append(f"{name}: expected (min, opt, max) shapes, got {entry!r}")
            continue
        lo, opt, hi = (tuple(int(x) for x in s) for s in entry)
        if not len(lo) == len(opt) == len(hi) == len(dims):
            problems.append(f"{name}: graph rank {len(dims)} {list(dims)}, profile {lo}/{opt}/{hi}")
            continue
        for axis, d in enumerate(dims):
            if not 1 <= lo[axis] <= opt[axis] <= hi[axis]:
                problems.append(
                    f"{name} axis {axis}: need 1 <= min <= opt <= max, got {lo}/{opt}/{hi}"
                )
            elif d >= 0 and not lo[axis] == opt[axis] == hi[axis] == d:
                problems.append(
                    f"{name} axis {axis}: the graph has fixed size {d}, profile says {lo}/{opt}/{hi} "
                    "(pass the voice's inter_channels/gin_channels to default_profiles)"
                )
        used[name] = (lo, opt, hi)
    if problems:
        raise ValueError("optimisation profile does not fit the graph:\n  " + "\n  ".join(problems))
    return used


def _parser_errors(parser) -> list[str]:
    errors = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        parts = [err.desc()]
        node_name = getattr(err, "node_name", None)
        op = getattr(err, "node_operator", None)
        if callable(node_name) and node_name():
            parts.append(f"node {node_name()}")
        elif err.node() >= 0:
            parts.append(f"node #{err.node()}")
        if callable(op) and op():
            parts.append(f"op {op()}")
        errors.append(" | ".join(parts))
    return errors


def _progress_monitor(trt, say: Callable[[str], None]):
    """A builder progress monitor (TensorRT >= 10) that reports top-level phases."""
    if not hasattr(trt, "IProgressMonitor"):
        return None

    class _Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self._start: dict[str, float] = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            self._start[phase_name] = time.perf_counter()
            if parent_phase is None:
                say(f"  {phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name, step):
            return True  # never cancel

        def phase_finish(self, phase_name):
            start = self._start.pop(phase_name, None)
            if start is not None and time.perf_counter() - start > 5.0:
                say(f"  {phase_name} done in {time.perf_counter() - start:.0f} s")

    return _Monitor()


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    profiles: Mapping[str, tuple[Shape, Shape, Shape]],
    fp16: bool = False,
    workspace_gb: float = 4.0,
    timing_cache: Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Build a serialized TensorRT engine from `onnx_path` into `engine_path`.

    `profiles`: input name -> (min, opt, max) shape, e.g. from `default_profiles`. fp16 lets
    TensorRT pick fp16 kernels (I/O stays as in the graph). `timing_cache` is read if it exists
    and written back after the build. Raises TensorRTUnavailable without TensorRT or a GPU,
    ValueError for a profile that does not fit, RuntimeError with the parser's errors.
    """
    say = progress or log.info
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"no ONNX graph at {onnx_path}")
    if workspace_gb <= 0:
        raise ValueError(f"workspace_gb must be > 0, got {workspace_gb}")
    # Cheap checks before touching the GPU: the profile must fit the graph's declared inputs.
    validate_profiles(onnx_input_shapes(onnx_path), profiles)
    ok, reason = tensorrt_available()
    if not ok:
        raise TensorRTUnavailable(reason)
    import tensorrt as trt

    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse_network(trt, builder, logger, onnx_path, say)  # keep it alive
    net_inputs = {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        net_inputs[tensor.name] = tuple(int(d) for d in tensor.shape)
    used = validate_profiles(net_inputs, profiles)
    config = _builder_config(trt, builder, used, fp16, workspace_gb, timing_cache, say)
    say(
        f"building {engine_path.name} ({'fp16' if fp16 else 'fp32'}, {workspace_gb:g} GB workspace)"
    )
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(
            f"TensorRT failed to build an engine from {onnx_path.name}; its log above names the "
            "layer (try a larger workspace_gb or fp16=False)"
        )
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(plan))
    if timing_cache is not None:
        Path(timing_cache).parent.mkdir(parents=True, exist_ok=True)
        Path(timing_cache).write_bytes(bytes(config.get_timing_cache().serialize()))
    say(
        f"wrote {engine_path} ({engine_path.stat().st_size / 1e6:.1f} MB) "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return engine_path


def _parse_network(trt, builder, logger, onnx_path: Path, say: Callable[[str], None]):
    """The graph as a TensorRT network (and the parser, which must outlive it)."""
    major = int(trt.__version__.split(".")[0])
    flags = 0
    if major < 10:  # explicit batch is the only mode from TensorRT 10 on
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    say(f"parsing {onnx_path.name} (TensorRT {trt.__version__})")
    # parse_from_file resolves external-data files next to the graph.
    if not parser.parse_from_file(str(onnx_path)):
        errors = _parser_errors(parser)
        raise RuntimeError(
            f"TensorRT could not parse {onnx_path.name} ({len(errors)} error(s)):\n  "
            + "\n  ".join(errors)
        )
    return network, parser


def _builder_config(trt, builder, used, fp16, workspace_gb, timing_cache, say):
    """Workspace, fp16, the optimization profile, the timing cache and progress reporting."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if fp16:
        flag = getattr(trt.BuilderFlag, "FP16", None)
        if flag is None:  # TensorRT releases that only build strongly typed networks
            raise RuntimeError(
                f"TensorRT {trt.__version__} has no FP16 builder flag; build fp32 from this graph "
                "or export an fp16 ONNX graph (export_bert(..., fp16=True)) and build that"
            )
        if not getattr(builder, "platform_has_fast_fp16", True):
            say("warning: this GPU has no fast fp16; building anyway")
        config.set_flag(flag)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in used.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    cache_bytes = b""
    if timing_cache is not None and Path(timing_cache).is_file():
        cache_bytes = Path(timing_cache).read_bytes()
        say(f"timing cache {timing_cache} ({len(cache_bytes) / 1e3:.0f} kB) loaded")
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, False)
    monitor = _progress_monitor(trt, say)
    if monitor is not None:
        config.progress_monitor = monitor
    return config
