"""Which in-process path is fastest on this CPU while it holds quality: the CPU's instruction
set level (`cpu_isa`, honouring ONEDNN_MAX_CPU_ISA as oneDNN and OpenVINO do) and the choice
`--graph-runtime auto` makes from it (`auto_choice`, recorded with its reason). No Triton, no
torch."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ISA_LEVELS = ("sse4", "avx2", "avx_vnni", "avx512", "avx512_vnni", "avx512_bf16", "amx")
"""What decides the fastest path, weakest first: native bf16 (AMX, AVX512-BF16), int8 dot
products (VNNI), or fp32 only (AVX2)."""
_ISA_FLAGS = {  # level -> /proc/cpuinfo flag that proves it
    "amx": "amx_bf16",
    "avx512_bf16": "avx512_bf16",
    "avx512_vnni": "avx512_vnni",
    "avx512": "avx512f",
    "avx_vnni": "avx_vnni",
    "avx2": "avx2",
}
_ONEDNN_CAPS = {  # ONEDNN_MAX_CPU_ISA (oneDNN and OpenVINO's CPU plugin honour it) -> level
    "SSE41": "sse4",
    "AVX": "sse4",
    "AVX2": "avx2",
    "AVX2_VNNI": "avx_vnni",
    "AVX2_VNNI_2": "avx_vnni",
    "AVX512_CORE": "avx512",
    "AVX512_CORE_VNNI": "avx512_vnni",
    "AVX512_CORE_BF16": "avx512_bf16",
    "AVX512_CORE_FP16": "avx512_bf16",
    "AVX10_1_512": "avx512_bf16",
}


def cpu_isa(flags: str | None = None, max_isa: str | None = None) -> str:
    """The best of ISA_LEVELS this CPU offers (flags: /proc/cpuinfo text), capped like oneDNN
    by `max_isa` (default: the ONEDNN_MAX_CPU_ISA environment variable; AMX names: no cap)."""
    if flags is None:
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            flags = ""
    have = set(flags.split())
    best = next((lv for lv in reversed(ISA_LEVELS[1:]) if _ISA_FLAGS[lv] in have), "sse4")
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA", "") if max_isa is None else max_isa).upper()
    if cap and "AMX" not in cap and cap != "ALL":
        if cap not in _ONEDNN_CAPS:
            raise ValueError(
                f"ONEDNN_MAX_CPU_ISA={cap} is not a oneDNN ISA this project knows; use one of "
                f"{', '.join(_ONEDNN_CAPS)}, an AMX name or ALL"
            )
        best = min(best, _ONEDNN_CAPS[cap], key=ISA_LEVELS.index)
    return best


GRAPH_FAMILIES = ("bert", "encoder", "flow", "vocoder", "decoder", "emotion")
"""Kinds of graph a voice has (`bert_zh` is of family bert, `emotion_clap_text` of emotion)."""
SHAPE_GENERIC_FAMILIES = ("encoder", "flow", "emotion")
"""Families that run on onnxruntime in-process whatever the graph runtime: convolutions over a
length axis, which OpenVINO's CPU plugin compiles per input shape and keeps (full-size fp32,
measured: encoder +4.5 MiB, flow +11.6 MiB per new length), while onnxruntime's kernels are
shape-generic and were as fast or faster on them (docs/memory.md). They are always fp32."""


def family_of(kind: str) -> str:
    """The family of graph `kind` (bert_zh -> bert, emotion_wav2vec2 -> emotion)."""
    family = kind.split("_")[0]
    if family not in GRAPH_FAMILIES:
        raise ValueError(f"unknown graph kind {kind!r}; families: {', '.join(GRAPH_FAMILIES)}")
    return family


@dataclass
class AutoChoice:
    """What `auto` picked for this CPU and why (written beside the graphs as a record)."""

    runtime: str
    """The runtime of the graphs that take one (bert, vocoder, decoder) unless `runtimes`
    names another."""
    precision: dict[str, str]
    """Graph family (bert, decoder) -> precision; missing families run fp32. The decoder's
    precision is its vocoder half's (the flow is always fp32)."""
    isa: str
    reason: str
    runtimes: dict[str, str] = field(default_factory=dict)
    """Family -> runtime where it differs from `runtime`."""


def graph_runtimes(runtime: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Family -> in-process runtime: `runtime` for bert, vocoder and decoder (`overrides` per
    family win), onnxruntime for the shape-generic families."""
    plan = {f: runtime for f in GRAPH_FAMILIES if f not in SHAPE_GENERIC_FAMILIES}
    plan.update(overrides or {})
    plan.update({f: "onnxruntime" for f in SHAPE_GENERIC_FAMILIES})
    return plan


def auto_choice(
    isa: str | None = None,
    variants: dict | None = None,
    openvino: bool | None = None,
    min_int8_snr_db: float = 25.0,
) -> AutoChoice:
    """The fastest path that holds quality on this CPU (benchmarks/RESULTS.md, per ISA).

    Native bf16 (AMX or AVX512-BF16): OpenVINO bf16 for BERT and the vocoder (SNR 35-49 dB
    against fp32; flow + vocoder 2.1-2.8x faster than fp32 on AMX, the decoder 1.8x on Zen 4
    with AVX512-BF16), the vocoder through its bounded shape plan.
    VNNI without bf16: the voice's int8 decoder on onnxruntime if `tts-export quantize`
    recorded it in voice.json `variants` at `min_int8_snr_db` or more (its quality gate;
    1.9x onnxruntime fp32). Otherwise fp32: BERT on OpenVINO (2.0x onnxruntime on a
    full-size BERT, and no per-shape growth), the vocoder on OpenVINO where the CPU has
    AVX-512 (1.3x onnxruntime), on onnxruntime with AVX2 only (1.5x OpenVINO there).
    The encoder and flow run fp32 on onnxruntime everywhere (`SHAPE_GENERIC_FAMILIES`).
    Never bf16 without native bf16: OpenVINO then runs bf16 on reference kernels (10x slower
    than fp32 under ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI) or fails (empty output under AVX2),
    which is why the ISA honours that cap where reading /proc/cpuinfo alone would not.
    """
    isa = isa or cpu_isa()
    if openvino is None:
        try:
            import openvino as _  # noqa: F401

            openvino = True
        except ImportError:
            openvino = False
    int8 = ((variants or {}).get("decoder") or {}).get("int8") or {}
    int8_snr = float(int8.get("snr_db", float("-inf")))
    if not openvino:
        return AutoChoice("onnxruntime", {}, isa, f"{isa}: OpenVINO is not installed: fp32")
    if isa in ("amx", "avx512_bf16"):
        why = f"{isa}: native bf16, OpenVINO bf16 for BERT and the vocoder"
        return AutoChoice("openvino", {"bert": "bf16", "decoder": "bf16"}, isa, why)
    if isa in ("avx512_vnni", "avx_vnni") and int8_snr >= min_int8_snr_db:
        why = (
            f"{isa}: no native bf16; int8 dot products, and the voice's int8 decoder passed "
            f"its gate ({int8_snr:.1f} >= {min_int8_snr_db} dB): onnxruntime int8 decoder, "
            "OpenVINO fp32 BERT"
        )
        runtimes = {"decoder": "onnxruntime", "vocoder": "onnxruntime"}
        return AutoChoice("openvino", {"decoder": "int8"}, isa, why, runtimes)
    vocoder = "openvino" if isa.startswith("avx512") else "onnxruntime"
    gate = ""
    if isa in ("avx512_vnni", "avx_vnni"):
        gate = "no int8 decoder" if not int8 else f"int8 SNR {int8_snr:.1f} < {min_int8_snr_db} dB"
        gate = f" and {gate} (`tts-export quantize`)"
    why = f"{isa}: no native bf16{gate}: fp32, OpenVINO BERT, {vocoder} vocoder"
    runtimes = {"vocoder": vocoder, "decoder": vocoder}
    return AutoChoice("openvino", {}, isa, why, runtimes)
