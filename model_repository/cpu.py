"""Which in-process path is fastest on this CPU while it holds quality: the CPU's instruction
set level (`cpu_isa`, honouring ONEDNN_MAX_CPU_ISA as oneDNN and OpenVINO do) and the choice
`--graph-runtime auto` makes from it (`auto_choice`, recorded with its reason). No Triton, no
torch."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


@dataclass
class AutoChoice:
    """What `auto` picked for this CPU and why (written beside the graphs as a record)."""

    runtime: str
    precision: dict[str, str]
    """Graph family (bert, decoder) -> precision; missing families run fp32."""
    isa: str
    reason: str


def auto_choice(
    isa: str | None = None,
    variants: dict | None = None,
    openvino: bool | None = None,
    min_int8_snr_db: float = 25.0,
) -> AutoChoice:
    """The fastest path that holds quality on this CPU (benchmarks/RESULTS.md, per ISA).

    Native bf16 (AMX or AVX512-BF16): OpenVINO bf16 for BERT and decoder (SNR 35-49 dB
    against fp32; flow + vocoder 2.1-2.8x faster than fp32 on AMX, the decoder 1.8x on Zen 4
    with AVX512-BF16).
    VNNI without bf16: the voice's int8 decoder on onnxruntime if `tts-export quantize`
    recorded it in voice.json `variants` at `min_int8_snr_db` or more (its quality gate;
    1.9x onnxruntime fp32). Otherwise OpenVINO fp32. The encoder is always fp32.
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
    if isa in ("amx", "avx512_bf16") and openvino:
        why = f"{isa}: native bf16, OpenVINO bf16 for BERT and decoder"
        return AutoChoice("openvino", {"bert": "bf16", "decoder": "bf16"}, isa, why)
    if isa in ("avx512_vnni", "avx_vnni") and int8_snr >= min_int8_snr_db:
        why = (
            f"{isa}: no native bf16; int8 dot products, and the voice's int8 decoder passed "
            f"its gate ({int8_snr:.1f} >= {min_int8_snr_db} dB): onnxruntime int8 decoder"
        )
        return AutoChoice("onnxruntime", {"decoder": "int8"}, isa, why)
    runtime = "openvino" if openvino else "onnxruntime"
    if isa in ("avx512_vnni", "avx_vnni"):
        gate = "no int8 decoder" if not int8 else f"int8 SNR {int8_snr:.1f} < {min_int8_snr_db} dB"
        why = f"{isa}: no native bf16 and {gate} (`tts-export quantize`): {runtime} fp32"
    else:
        why = f"{isa}: no native bf16 and no int8 dot products: {runtime} fp32"
    return AutoChoice(runtime, {}, isa, why)
