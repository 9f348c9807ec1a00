"""`python -m tts_benchmarks.isa`: the `auto` path per CPU instruction set: its speed, its
quality, and whether it is the fastest path that passes the quality gate.

Run once per instruction-set cap, each in its own process (the cap is read at start):

    ONEDNN_MAX_CPU_ISA=AVX2 python -m tts_benchmarks.isa --voice DIR --label avx2

For the voice's decoder on real inputs (a held-out sentence through the voice's own frontend,
BERT and encoder), it times one pass of every path (fastest of --repeats after a warm-up,
--threads threads) and its SNR against onnxruntime fp32:

  onnxruntime fp32, onnxruntime int8 (the voice's `tts-export quantize` graph, if any)
  openvino fp32, openvino int8, openvino bf16 (bf16 only where the capped ISA has native bf16:
  elsewhere OpenVINO runs it on reference kernels or returns nothing, see RESULTS.md)

OpenVINO (oneDNN) honours ONEDNN_MAX_CPU_ISA; onnxruntime's own kernels dispatch on CPUID and
ignore it, so its rows are the native CPU's under every cap. Writes isa-<label>.json with
`cpu.auto_choice` under the cap (runtime, precision, reason) and the fastest gated path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import typer

from tts_benchmarks.run import DEFAULT_OUT, Progress
from tts_benchmarks.stats import machine_facts, write_result

app = typer.Typer(add_completion=False, help=__doc__)

NATIVE_BF16 = ("amx", "avx512_bf16")
"""`cpu.cpu_isa` levels where bf16 runs on native instructions."""


def _snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    if ref.shape != test.shape:
        return float("-inf")  # e.g. OpenVINO bf16 without native bf16 returns an empty tensor
    noise = float(np.sum((ref.astype(np.float64) - test) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref**2)) / noise)


def _fastest_s(fn, repeats: int) -> float:
    """Fastest of `repeats` calls after one warm-up: others' load only ever adds time."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def paths(voice_dir: Path, manifest, isa: str) -> list[tuple[str, str, Path]]:
    """(runtime, precision, graph) of every decoder path worth timing under this ISA."""
    decoder = voice_dir / manifest.graphs["decoder"]
    int8 = ((manifest.variants.get("decoder") or {}).get("int8") or {}).get("graph")
    out = [("onnxruntime", "fp32", decoder), ("openvino", "fp32", decoder)]
    if int8:
        out += [("onnxruntime", "int8", voice_dir / int8), ("openvino", "int8", voice_dir / int8)]
    if isa in NATIVE_BF16:
        out.append(("openvino", "bf16", decoder))
    return out


def measure(voice_dir: Path, repeats: int, threads: int, progress) -> dict:
    """Every path's decoder time and SNR under this process's cap, and `auto`'s choice."""
    from tts_export.metadata import VoiceManifest
    from tts_export.quantize import HELD_OUT, decoder_feeds
    from tts_runtime.cpu import auto_choice, cpu_isa
    from tts_runtime.inprocess import VoiceGraphs
    from tts_runtime.session import GraphSession

    manifest = VoiceManifest.load(voice_dir)
    isa = cpu_isa()
    language = "ZH" if "ZH" in manifest.languages else manifest.languages[0]
    graphs = VoiceGraphs(voice_dir, "onnxruntime", threads=threads)
    feeds = decoder_feeds(graphs, {language: [HELD_OUT[language]]})[0]
    del graphs
    rows, ref = [], None
    for runtime, precision, graph in paths(voice_dir, manifest, isa):
        session = GraphSession(graph, runtime, precision, threads)
        audio = session.run(feeds)["audio"]
        ref = audio if ref is None else ref  # onnxruntime fp32 comes first
        seconds = _fastest_s(lambda s=session: s.run(feeds), repeats)
        row = {
            "runtime": runtime,
            "precision": precision,
            "decoder_ms": round(1e3 * seconds, 1),
            "snr_vs_fp32_db": round(_snr_db(ref, audio), 2),
        }
        rows.append(row)
        ms, snr = row["decoder_ms"], row["snr_vs_fp32_db"]
        progress(f"  {isa}: {runtime} {precision}: {ms:.0f} ms, SNR {snr} dB")
        del session
    choice = auto_choice(isa=isa, variants=manifest.variants)
    return {
        "isa": isa,
        "frames": int(feeds["frame_lengths"].max()),
        "audio_s": float(feeds["frame_lengths"].max()) * manifest.hop_length / manifest.sample_rate,
        "rows": rows,
        "auto": {
            "runtime": choice.runtime,
            "precision": choice.precision,
            "reason": choice.reason,
        },
    }


def fastest_gated(rows: list[dict], min_snr_db: float, bf16_snr_db: float) -> dict:
    """The fastest row whose SNR passes its gate (int8: the voice's int8 gate; bf16: its own)."""
    gate = {"int8": min_snr_db, "bf16": bf16_snr_db, "fp32": float("-inf")}
    ok = [r for r in rows if r["snr_vs_fp32_db"] >= gate[r["precision"]]]
    return min(ok, key=lambda r: r["decoder_ms"])


@app.command()
def main(
    voice_dir: Path = typer.Option(..., "--voice", help="a `tts-export onnx` folder"),
    out: Path = typer.Option(DEFAULT_OUT, help="folder for isa-<label>.json"),
    label: str = typer.Option("", help="file label (default: the capped ISA)"),
    repeats: int = typer.Option(3, min=1),
    threads: int = typer.Option(2, min=1),
    min_snr_db: float = typer.Option(25.0, help="int8 gate (as `auto_choice`)"),
    bf16_snr_db: float = typer.Option(30.0, help="bf16 gate"),
) -> None:
    progress = Progress()
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": machine_facts({"graph": threads}),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        "voice": str(voice_dir),
    }
    result |= measure(voice_dir, repeats, threads, progress)
    best = fastest_gated(result["rows"], min_snr_db, bf16_snr_db)
    auto = result["auto"]
    picked = auto["precision"].get("decoder", "fp32")
    result["fastest_gated"] = best
    result["auto_is_fastest_gated"] = (best["runtime"], best["precision"]) == (
        auto["runtime"],
        picked,
    )
    path = write_result(out, f"isa-{label or result['isa']}", result)
    progress(
        f"wrote {path}: auto {auto['runtime']} decoder {picked}; fastest gated "
        f"{best['runtime']} {best['precision']} ({best['decoder_ms']:.0f} ms)"
    )


if __name__ == "__main__":
    app()
