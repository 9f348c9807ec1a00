"""`python -m tts_benchmarks.floor --voice DIR`: the first-audio floor per sentence length.

A streamed sentence's first audio cannot come before its frontend (BERT included), its
encoder, its noise, the flow over the whole sentence (the flow's attention sees every frame)
and the vocoder on the first window with its right context. This times those stages
in-process, on the graphs and the plan `auto` picks (`tts_runtime.inprocess.VoiceGraphs`), for
one-sentence texts of growing length, beside the whole vocoder pass, and reports:

  floor        frontend + encoder + noise + flow + first window
  one pass     frontend + encoder + noise + flow + the vocoder on the whole sentence
  floor / one pass, and the stages' shares of the floor

No Triton: what the server adds (BLS, queues, the network) comes on top; tts_benchmarks.
first_audio measures that. Median of --repeats after one warm-up per sentence. Writes
floor.json and floor.md with the CPU's flags and the load average.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import numpy as np
import typer

from tts_benchmarks.inprocess import auto_graphs
from tts_benchmarks.run import DEFAULT_OUT, Progress
from tts_benchmarks.stats import load_average, machine_facts, write_result
from tts_benchmarks.workload import TEXTS
from tts_runtime.windows import FIRST_WINDOW_SECONDS, WindowPlan

app = typer.Typer(add_completion=False, help=__doc__)

STAGES = ("frontend", "encoder", "noise", "flow", "first_window")
"""The floor's stages, in order (frontend includes its BERT calls)."""


def sentence_of(language: str, chars: int) -> str:
    """One sentence of about `chars` characters (ZH) or words (EN), cut from the benchmark's
    long text with its sentence marks removed (clause marks kept), ended by one mark."""
    source = TEXTS[f"{language.lower()}-long"].text
    if language == "ZH":
        body = re.sub(r"[。！？；]", "，", source).strip("，")
        return (body * (chars // len(body) + 1))[:chars].rstrip("，") + "。"
    words = re.sub(r"[.!?;]", ",", source).split()
    words = (words * (chars // len(words) + 1))[:chars]
    return " ".join(words).rstrip(",") + "."


def measure(graphs, text: str, language: str, plan: WindowPlan, repeats: int) -> dict:
    """Stage seconds (median of `repeats`) of one sentence, and its frames."""
    times: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def timer(stage: str):
        t0 = time.perf_counter()
        yield
        times.setdefault(stage, []).append(time.perf_counter() - t0)

    capture: dict = {}
    graphs.synthesize(text, language=language, seed=1, capture=capture)  # warm-up
    times.clear()
    feeds = capture["decoder"]
    frames = int(np.asarray(feeds["frame_lengths"]).reshape(-1)[0])
    first = min(frames, plan.first + plan.context.right)
    z = graphs.run("flow", feeds)["z"]

    def vocoder(width: int) -> None:
        z_in = np.ascontiguousarray(z[:, :, :width])
        graphs.run_vocoder({"z": z_in, "g": feeds["g"], "frame_lengths": np.array([width])})

    vocoder(first)  # warm-up of the first window's width (the whole one ran in synthesize)
    for _ in range(repeats):
        graphs.synthesize(text, language=language, seed=1, timer=timer)
        with timer("flow"):
            graphs.run("flow", feeds)
        for stage, width in (("first_window", first), ("whole_vocoder", frames)):
            with timer(stage):
                vocoder(width)
    med = {k: float(np.median(v)) for k, v in times.items()}
    floor = sum(med[s] for s in STAGES)
    one_pass = floor - med["first_window"] + med["whole_vocoder"]
    return {
        "text": text,
        "frames": frames,
        "audio_s": frames * plan.hop_length / graphs.sample_rate,
        "stages_s": {s: med[s] for s in (*STAGES, "whole_vocoder", "bert") if s in med},
        "floor_s": floor,
        "one_pass_s": one_pass,
        "floor_over_one_pass": floor / one_pass,
    }


def markdown(result: dict) -> str:
    lines = [
        "| language | chars/words | frames | audio s | frontend (BERT) ms | encoder ms | flow ms "
        "| first window ms | floor ms | whole vocoder ms | one pass ms | floor / one pass |",
        "|---" * 12 + "|",
    ]
    for r in result["rows"]:
        s = {k: 1e3 * v for k, v in r["stages_s"].items()}
        lines.append(
            f"| {r['language']} | {r['length']} | {r['frames']} | {r['audio_s']:.2f} | "
            f"{s['frontend']:.0f} ({s.get('bert', 0):.0f}) | {s['encoder']:.0f} | {s['flow']:.0f} "
            f"| {s['first_window']:.0f} | {1e3 * r['floor_s']:.0f} | {s['whole_vocoder']:.0f} | "
            f"{1e3 * r['one_pass_s']:.0f} | {r['floor_over_one_pass']:.2f} |"
        )
    return "\n".join(lines) + "\n"


@app.command()
def main(
    voice: Path = typer.Option(..., "--voice", help="a `tts-export onnx` folder (full-size)"),
    out: Path = typer.Option(DEFAULT_OUT, help="folder for floor.json / floor.md"),
    zh: str = typer.Option("8,16,32,64,96", help="Chinese sentence lengths (characters)"),
    en: str = typer.Option("6,12,24,48", help="English sentence lengths (words)"),
    repeats: int = typer.Option(3, min=1),
    threads: int = typer.Option(0, min=0, help="graph threads (0: the runtime's default)"),
) -> None:
    progress = Progress()
    out.mkdir(parents=True, exist_ok=True)
    graphs, meta, auto = auto_graphs(voice, threads, progress)
    config = json.loads((voice / "config.json").read_text(encoding="utf-8"))
    plan = WindowPlan.from_config(config, FIRST_WINDOW_SECONDS)
    result = {
        "machine": machine_facts({"graph": threads}),
        "voice": str(voice),
        "auto": auto,
        "first_window_frames": plan.first,
        "context_frames": [plan.context.left, plan.context.right],
        "load_average_start": load_average(),
        "rows": [],
    }
    wanted = [("ZH", int(n)) for n in zh.split(",") if n] + [
        ("EN", int(n)) for n in en.split(",") if n
    ]
    for language, length in wanted:
        if language not in meta.get("bert", {}):
            progress(f"{language}: the voice has no {language} BERT; skipped")
            continue
        row = measure(graphs, sentence_of(language, length), language, plan, repeats)
        result["rows"].append({"language": language, "length": length, **row})
        progress(
            f"{language} {length}: {row['frames']} frames, floor {1e3 * row['floor_s']:.0f} ms, "
            f"one pass {1e3 * row['one_pass_s']:.0f} ms ({row['floor_over_one_pass']:.2f})"
        )
    path = write_result(out, "floor", result, markdown(result))
    progress(f"wrote {path}\n{markdown(result)}")


if __name__ == "__main__":
    app()
