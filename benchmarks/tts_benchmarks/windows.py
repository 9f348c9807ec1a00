"""`python -m tts_benchmarks.windows`: first audio with a windowed vocoder against one pass.

A full-size random v2.3 voice (upstream default config) is exported as flow + vocoder graphs
(cached in --out/windows-graphs). For each sentence length (frames) and each setting
(runtime/precision of the vocoder; the flow is always fp32 on the same runtime) it times:
  flow        the reverse flow on the whole sentence (first audio always waits for it)
  one pass    flow + the vocoder on the whole sentence (today's per-sentence decode)
  first audio flow + the first window (its frames plus the right context), per window size
  windowed    flow + every window (first window of that size, later ones of --later frames, growing by --growth)
and checks that the joined windows equal the one-pass audio of the same setting (max abs
error; SNR for bf16) and, for bf16, its SNR against fp32 one pass.

Restrict the CPU's instruction set for oneDNN/OpenVINO with ONEDNN_MAX_CPU_ISA (e.g. AVX2);
onnxruntime's own kernels ignore it. Writes windows[-<label>].json with the CPU flags.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import typer

from tts_benchmarks.run import DEFAULT_OUT, Progress
from tts_benchmarks.stats import load_average, machine_facts, write_result
from tts_runtime.cpu import cpu_isa
from tts_runtime.session import GraphSession
from tts_runtime.windows import (
    FIRST_WINDOW_SECONDS,
    WINDOW_FRAMES,
    WINDOW_GROWTH,
    WindowPlan,
    context_from_config,
    first_window_frames,
    session_vocoder,
)

app = typer.Typer(add_completion=False, help=__doc__)
GRAPHS_VERSION = 1  # bump when the exported graphs change


def export_graphs(cache: Path, tiny: bool, progress: Progress) -> tuple[dict[str, Path], dict]:
    """flow.onnx and vocoder.onnx of a random voice in `cache` (exported once), and its config."""
    from vits2.random_voice import FULL_SIZE_V23, make_random_model, tiny_config

    config = tiny_config() if tiny else FULL_SIZE_V23
    root = cache / f"windows-graphs-{'tiny' if tiny else 'full'}"
    paths = {"flow": root / "flow.onnx", "vocoder": root / "vocoder.onnx"}
    marker = root / "done.json"
    if marker.is_file() and json.loads(marker.read_text()).get("version") == GRAPHS_VERSION:
        return paths, config
    from tts_export import acoustic

    progress(f"exporting flow and vocoder of a random {'tiny' if tiny else 'full-size'} voice")
    model = make_random_model(config, seed=0)
    acoustic.export_flow(model, paths["flow"])
    acoustic.export_vocoder(model, paths["vocoder"])
    marker.write_text(json.dumps({"version": GRAPHS_VERSION}) + "\n")
    return paths, config


def flow_inputs(config: dict, frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Decoder-style inputs of one sentence with exactly `frames` frames (2 per phone)."""
    m = config["model"]
    rng = np.random.default_rng(seed)
    phones = max(1, frames // 2)
    durations = np.full((1, phones), 2, dtype=np.int64)
    durations[0, -1] += frames - durations.sum()
    c = m["inter_channels"]
    return {
        "m_p": rng.standard_normal((1, c, phones)).astype(np.float32),
        "logs_p": (0.1 * rng.standard_normal((1, c, phones))).astype(np.float32),
        "g": rng.standard_normal((1, m["gin_channels"], 1)).astype(np.float32),
        "durations": durations,
        "frame_lengths": np.array([frames], dtype=np.int64),
        "noise_scale": np.array([0.667], dtype=np.float32),
        "noise_z": rng.standard_normal((1, c, frames)).astype(np.float32),
    }


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""wall: elapsed seconds. cpu: CPU seconds of this process (all its threads): on a shared,
oversubscribed machine the compute a call needs, where wall time mostly measures the others
(use it with --threads 1, so that no idle worker spins)."""


def _best_s(fn, repeats: int, clock=time.perf_counter) -> float:
    """Fastest of `repeats` timed calls after a warm-up call (OpenVINO prepares kernels per new
    input shape). The fastest, not the median: on a shared machine other processes only ever
    add time, so the fastest call is the closest to the graph's own cost."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def _snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    noise = float(np.sum((ref - test) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref**2)) / noise)


@dataclass
class Sweep:
    frames: list[int]
    """Sentence lengths in frames."""
    firsts: list[int]
    """First-window sizes timed for first audio."""
    laters: list[int]
    """Later-window sizes timed for the whole windowed decode (first window: 0.2 s)."""
    growths: list[float]
    """Growth factors of the later windows (`WindowPlan.growth`), each with every later size."""
    repeats: int
    fixed_shapes: bool
    clock: str = "wall"


def measure_setting(
    paths, config, ctx, runtime, precision, sweep, threads, fp32_ref, flow_precision="fp32"
) -> dict:
    flow = GraphSession(paths["flow"], runtime, flow_precision, threads)
    vocoder = session_vocoder(GraphSession(paths["vocoder"], runtime, precision, threads))
    rows = []
    for n in sweep.frames:
        row, one_pass = measure_sentence(flow, vocoder, config, ctx, n, sweep)
        if precision == flow_precision == "fp32":
            fp32_ref.setdefault(n, one_pass)
        elif n in fp32_ref and one_pass.shape != fp32_ref[n].shape:
            # seen: OpenVINO bf16 under ONEDNN_MAX_CPU_ISA=AVX2 on an AMX CPU returns [0, 0]
            row["error"] = (
                f"audio shape {list(one_pass.shape)}, fp32 gave {list(fp32_ref[n].shape)}"
            )
        elif n in fp32_ref:
            row["one_pass_snr_vs_fp32_db"] = _snr_db(fp32_ref[n], one_pass)
        rows.append(row)
    return {
        "runtime": runtime,
        "precision": precision,
        "flow_precision": flow_precision,
        "rows": rows,
    }


def measure_sentence(flow, vocoder, config, ctx, n, sweep: Sweep):
    """Timings of one sentence of n frames: (row, its one-pass audio)."""
    hop, rate = int(np.prod(config["model"]["upsample_rates"])), config["data"]["sampling_rate"]
    feeds = flow_inputs(config, n)
    z = flow.run(feeds)["z"]
    g, lengths = feeds["g"], feeds["frame_lengths"]
    flow_s = _best_s(partial(flow.run, feeds), sweep.repeats, CLOCKS[sweep.clock])
    one_pass = vocoder(z, g, lengths)
    vocoder_s = _best_s(partial(vocoder, z, g, lengths), sweep.repeats, CLOCKS[sweep.clock])
    row = {
        "frames": n,
        "audio_s": n * hop / rate,
        "flow_ms": 1e3 * flow_s,
        "one_pass_ms": 1e3 * (flow_s + vocoder_s),
        "first_audio_ms": {},
        "windowed": [],
    }
    for w in sweep.firsts:  # first audio = flow + the first window with its right context
        width = w + ctx.right if sweep.fixed_shapes else min(n, w + ctx.right)
        zw = np.pad(z[:, :, : min(n, width)], ((0, 0), (0, 0), (0, max(0, width - n))))
        first_s = _best_s(
            partial(vocoder, zw, g, np.minimum(lengths, width)), sweep.repeats, CLOCKS[sweep.clock]
        )
        row["first_audio_ms"][w] = 1e3 * (flow_s + first_s)
    first = first_window_frames(rate, hop, FIRST_WINDOW_SECONDS)
    for later, growth in itertools.product(sweep.laters, sweep.growths):
        if sweep.fixed_shapes and growth != 1:
            continue
        plan = WindowPlan(hop, ctx, first, later, sweep.fixed_shapes, growth)
        args = (plan, vocoder, z, g, lengths)
        all_s = _best_s(partial(_joined, *args), sweep.repeats, CLOCKS[sweep.clock])
        joined = _joined(*args)
        row["windowed"].append(
            {
                "first": first,
                "later": later,
                "growth": growth,
                "windows": len(plan.windows(n)),
                "total_ms": 1e3 * (flow_s + all_s),
                "max_abs_error_vs_one_pass": float(np.abs(joined - one_pass).max()),
                "snr_vs_one_pass_db": _snr_db(one_pass, joined),
            }
        )
    return row, one_pass


def _joined(plan: WindowPlan, vocoder, z, g, lengths) -> np.ndarray:
    return np.concatenate(list(plan.decode(vocoder, z, g, lengths)), axis=1)


def _settings(wanted: list[str]) -> list[tuple[str, str, str]]:
    """runtime:vocoder precision[:flow precision] items (the flow defaults to fp32)."""
    if wanted:
        return [tuple((s.split(":") + ["fp32"])[:3]) for s in wanted]  # type: ignore[misc]
    out = [("onnxruntime", "fp32", "fp32"), ("openvino", "fp32", "fp32")]
    flags = machine_facts().get("cpu_flags", [])
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        out.append(("openvino", "bf16", "fp32"))
    return out


@app.command()
def main(
    out: Path = typer.Option(DEFAULT_OUT, help="folder for windows[-label].json and the graphs"),
    frames: list[int] = typer.Option([100, 300], help="sentence lengths in frames"),
    window: list[int] = typer.Option([8, 16, 32, 64], help="first-window sizes timed"),
    later: list[int] = typer.Option(
        [WINDOW_FRAMES], help="later-window sizes for the whole windowed decode (0: none)"
    ),
    growth: list[float] = typer.Option(
        [WINDOW_GROWTH], help="growth of the later windows (1: all the same size)"
    ),
    setting: list[str] = typer.Option(
        [],
        help="runtime:vocoder precision[:flow precision], e.g. openvino:bf16 (default: all "
        "this CPU runs natively, flow fp32)",
    ),
    repeats: int = typer.Option(3, min=1),
    threads: int = typer.Option(2, min=1),
    clock: str = typer.Option("wall", help="wall or cpu (CPU seconds; see CLOCKS)"),
    fixed_shapes: bool = typer.Option(
        False, help="pad windows to two widths (WindowPlan.fixed_shapes)"
    ),
    label: str = typer.Option("", help="suffix of the result file, e.g. avx2"),
    tiny: bool = typer.Option(False, help="a tiny voice (smoke test), not full-size"),
) -> None:
    if clock not in CLOCKS:
        raise typer.BadParameter(f"--clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    progress = Progress()
    out.mkdir(parents=True, exist_ok=True)
    paths, config = export_graphs(out, tiny, progress)
    ctx = context_from_config(config)
    laters = [n for n in later if n > 0]
    sweep = Sweep(frames, window, laters, growth, repeats, fixed_shapes, clock)
    result = {
        "machine": machine_facts({"graph": threads}),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        "cpu_isa": cpu_isa(),
        "voice": "tiny" if tiny else "full-size v2.3 (random weights)",
        "context_frames": [ctx.left, ctx.right],
        "fixed_shapes": fixed_shapes,
        "clock": clock,
        "load_average_start": load_average(),
        "settings": [],
    }
    fp32_ref: dict[int, np.ndarray] = {}
    for runtime, precision, flow_precision in _settings(setting):
        progress(f"{runtime} vocoder {precision}, flow {flow_precision}")
        done = measure_setting(
            paths, config, ctx, runtime, precision, sweep, threads, fp32_ref, flow_precision
        )
        result["settings"].append(done)
        for row in done["rows"]:
            firsts = ", ".join(f"{w}: {ms:.0f}" for w, ms in row["first_audio_ms"].items())
            totals = ", ".join(
                f"{r['later']}x{r['growth']:g}: {r['total_ms']:.0f} ({r['windows']})"
                for r in row["windowed"]
            )
            progress(
                f"  {row['frames']} frames: one pass {row['one_pass_ms']:.0f} ms (flow "
                f"{row['flow_ms']:.0f}); first audio by first window [{firsts}] ms; windowed "
                f"total by later window [{totals}] ms"
            )
    progress(f"wrote {write_result(out, 'windows' + ('-' + label if label else ''), result)}")


if __name__ == "__main__":
    app()
