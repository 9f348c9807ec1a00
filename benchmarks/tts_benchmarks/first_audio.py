"""`python -m tts_benchmarks.first_audio`: first audio and whole-stream time through Triton's
decoupled `<voice>_stream`, windowed (after) against one chunk per sentence (before).

One tritonserver serves the voice's repository (`tts-export repository` defaults: graph runtime
`auto`) plus copies of the stream model that differ only in their parameters:

  <v>_stream              the default windows (first FIRST_WINDOW_SECONDS, then WINDOW_FRAMES
                          growing by WINDOW_GROWTH), without lookahead
  <v>_stream_sentence     without the decoder's halves: one chunk per sentence (before)
  <v>_stream_first<N>     first window of N frames (--firsts sweep)
  <v>_stream_later<N>x<G> second window N frames, each later one G times the one before
                          (--schedules: whole-stream time)
  <v>_stream_lookahead    the default windows, the next sentence prepared while this one is
                          sent (lookahead 1)

Phase 1 (first audio, concurrency 1): every text through the before, default and sweep models,
round-robin per repeat so that machine load hits them alike; each request is cancelled once its
first chunk is in. With --clause-chars N also every text through the default model with
CLAUSE_CHARS N (sentences longer than N characters cut at clause marks: prosody changes).
Phase 2 (whole stream): the ensemble (non-streamed), the per-sentence, default, lookahead
and --schedules stream models, to the last chunk, after one warm-up each: the time to the last
chunk, the chunks, and the stall (what a listener playing from the first chunk waits for later
chunks, `stats.Sample.stall_s`). Writes first_audio.json and first_audio.md into --out.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import typer

from tts_benchmarks import triton_load as tl
from tts_benchmarks.run import DEFAULT_OUT, Progress
from tts_benchmarks.stats import load_average, machine_facts, percentiles, write_result
from tts_benchmarks.workload import (
    DEFAULT_TEXTS,
    SEED,
    TEXTS,
    Requests,
    Voice,
    build_voice,
    voice_from_folder,
)

REPEATED = Requests(fresh=False)
"""First audio compares delivery methods on the same sentences (repeated, labelled so)."""

app = typer.Typer(add_completion=False, help=__doc__)


def _variant(repo: Path, v: str, tag: str, params: dict[str, str], halves: bool = True) -> str:
    """A copy of `<v>_stream` named `<v>_stream_<tag>` with other parameter values."""
    name = f"{v}_stream_{tag}"
    shutil.copytree(repo / f"{v}_stream", repo / name)
    path = repo / name / "config.pbtxt"
    config = path.read_text(encoding="utf-8").replace(f'name: "{v}_stream"', f'name: "{name}"', 1)
    for key, value in params.items():
        pattern = rf'(key: "{key}" value: {{ string_value: )"[^"]*"'
        config, n = re.subn(pattern, rf'\1"{value}"', config)
        if n != 1:
            raise ValueError(f"{v}_stream has no parameter {key}: is the voice windowed?")
    if not halves:  # the stream falls back to one chunk per sentence through the decoder
        config, n = re.subn(
            r', \\"flow\\": \\"[^"\\]*\\", \\"vocoder\\": \\"[^"\\]*\\"', "", config
        )
        if n != 1:
            raise ValueError(f"{v}_stream does not call flow and vocoder models")
    path.write_text(config, encoding="utf-8")
    return name


def write_variants(
    voice: Voice,
    repo: Path,
    graph_runtime: str,
    firsts: list[int],
    schedules: list[tuple[int, float]],
) -> dict[str, str]:
    """The repository with the stream variants; label -> model name."""
    from tts_export.repository import RepositoryOptions, write_repository
    from tts_runtime.windows import WINDOW_FRAMES, WINDOW_GROWTH

    if repo.exists():
        shutil.rmtree(repo)
    write_repository(voice.voice_dir, repo, RepositoryOptions(graph_runtime=graph_runtime))
    meta = json.loads((voice.voice_dir / "voice.json").read_text(encoding="utf-8"))
    v = voice.name
    models = {"before": _variant(repo, v, "sentence", {}, halves=False), "after": f"{v}_stream"}
    hop, rate = meta["hop_length"], meta["sample_rate"]
    for n in firsts:  # (n - 0.5) frames of audio: the model rounds up to exactly n frames
        seconds = f"{(n - 0.5) * hop / rate:.6f}"
        models[f"first{n}"] = _variant(repo, v, f"first{n}", {"first_window_seconds": seconds})
    for n, growth in schedules:
        tag = f"later{n}x{growth:g}"
        if (n, growth) == (WINDOW_FRAMES, WINDOW_GROWTH):
            models[tag] = f"{v}_stream"
        else:
            params = {"window_frames": str(n), "window_growth": str(growth)}
            models[tag] = _variant(repo, v, tag.replace(".", "_"), params)
    models["lookahead"] = _variant(repo, v, "lookahead", {"lookahead": "1"})
    return models


def _first_phase(url, voice, rate, models, texts, repeats, clause_chars, progress) -> dict:
    """label -> text -> first-audio seconds (one per repeat); with CLAUSE_CHARS under label
    "clause<N>"."""
    out: dict[str, dict[str, list[float]]] = {}
    labels = [k for k in models if not k.startswith("later") and k != "lookahead"]
    runs = [(label, models[label], t, None) for t in texts for label in labels]
    if clause_chars:
        cut = {"CLAUSE_CHARS": clause_chars}
        runs += [(f"clause{clause_chars}", models["after"], t, cut) for t in texts]
    for _label, model, text, extra in runs:  # warm-up: every model sees every text once
        tl.stream_once(url, model, voice, text, SEED, rate, 900, first_only=True, extra=extra)
    for r in range(repeats):
        for label, model, text, extra in runs:
            s = tl.stream_once(
                url, model, voice, text, SEED, rate, 900, first_only=True, extra=extra
            )
            if s.error or s.first_audio_s is None:
                raise RuntimeError(f"{model} failed on {text.name}: {s.error}")
            out.setdefault(label, {}).setdefault(text.name, []).append(s.first_audio_s)
        progress(f"first audio: repeat {r + 1}/{repeats} done (load {load_average()})")
    return out


def _whole_phase(url, voice, rate, models, texts, repeats, clause_chars, progress) -> dict:
    """label -> text -> {latency_s, audio_s, chunks} of whole requests (ensemble: no chunks;
    sentence: the stream model without windows, which separates the cost of streaming
    sentence by sentence from that of the windows)."""
    out: dict[str, dict[str, dict]] = {}
    streams = {"sentence": models["before"], "stream": models["after"]} | {
        k: m
        for k, m in models.items()
        if (k.startswith("later") or k == "lookahead") and m != models["after"]
    }
    extras = {label: None for label in streams}
    if clause_chars:  # the default stream model, sentences cut at clause marks (other audio)
        streams[f"clause{clause_chars}"] = models["after"]
        extras[f"clause{clause_chars}"] = {"CLAUSE_CHARS": clause_chars}
    for text in texts:
        rows = {"ensemble": []} | {k: [] for k in streams}
        tl.closed_loop("grpc", url, voice.name, voice, text, 1, 1, REPEATED, rate, 900)  # warm-up
        for label, model in streams.items():  # every window width of the text once
            tl.stream_once(url, model, voice, text, SEED, rate, 900, extra=extras[label])
        for _ in range(repeats):
            got, _ = tl.closed_loop("grpc", url, voice.name, voice, text, 1, 1, REPEATED, rate, 900)
            rows["ensemble"].append(got[0])
            for label, model in streams.items():
                sample = tl.stream_once(
                    url, model, voice, text, SEED, rate, 900, extra=extras[label]
                )
                rows[label].append(sample)
        for label, samples in rows.items():
            bad = [s.error for s in samples if s.error]
            if bad:
                raise RuntimeError(f"{label} failed on {text.name}: {bad[0]}")
            out.setdefault(label, {})[text.name] = {
                "latency_s": percentiles([s.latency_s for s in samples])["p50"],
                "audio_s": samples[0].audio_s,
                "chunks": samples[0].chunks,
                "stall_s": percentiles([s.stall_s for s in samples])["p50"],
            }
        progress(
            f"whole {text.name}: "
            + ", ".join(f"{k} {v[text.name]['latency_s']:.2f} s" for k, v in out.items())
        )
    return out


def markdown(result: dict) -> str:
    """The tables of first_audio.json."""
    first, whole = result["first_audio_s"], result["whole"]
    labels = list(first)
    lines = [
        "| text | " + " | ".join(f"{k} p50 / p90 ms" for k in labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for name in result["texts"]:
        cells = []
        for label in labels:
            p = percentiles(first[label][name])
            cells.append(f"{1e3 * p['p50']:.0f} / {1e3 * p['p90']:.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if not whole:
        return "\n".join(lines) + "\n"
    lines += ["", "| text | audio s | " + " | ".join(f"{k} s" for k in whole) + " |"]
    lines.append("|---" * (len(whole) + 2) + "|")
    ref = whole["ensemble"]
    for name in ref:
        cells = []
        for label, rows in whole.items():
            r = rows[name]
            cells.append(f"{r['latency_s']:.2f}")
            if label != "ensemble":
                over = r["latency_s"] / ref[name]["latency_s"] - 1
                cells[-1] += f" ({over:+.0%}, {r['chunks']} chunks, stall {r['stall_s']:.2f})"
        lines.append(f"| {name} | {ref[name]['audio_s']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _recorded_auto(ensemble_config: Path) -> dict | None:
    """What `--graph-runtime auto` chose and why, as the repository records it (voice JSON)."""
    text = ensemble_config.read_text(encoding="utf-8")
    found = re.search(r'key: "voice" value: \{ string_value: "((?:[^"\\]|\\.)*)" \}', text)
    return json.loads(found.group(1).replace('\\"', '"')).get("auto") if found else None


def _ints(values: str) -> list[int]:
    return [int(x) for x in values.split(",") if x.strip()]


def _schedules(values: str) -> list[tuple[int, float]]:
    """ "64x1,64x2" -> [(64, 1.0), (64, 2.0)]: second-window frames x growth."""
    out = []
    for item in (x.strip() for x in values.split(",") if x.strip()):
        frames, _, growth = item.partition("x")
        try:
            out.append((int(frames), float(growth or 1)))
        except ValueError:
            raise typer.BadParameter(
                f"--schedules takes FRAMESxGROWTH items such as 64x2, got {item!r}"
            ) from None
    return out


@app.command()
def main(
    out: Path = typer.Option(DEFAULT_OUT, help="folder for first_audio.json/.md"),
    cache: Path = typer.Option(None, help="built voices (default OUT/cache)"),
    voice_dir: Path = typer.Option(None, "--voice", help="a `tts-export onnx` folder to use"),
    tiny: bool = typer.Option(False, help="the tiny voice (smoke test), not full-size"),
    texts: str = typer.Option(",".join(DEFAULT_TEXTS), help="text sets, comma-separated"),
    whole_texts: str = typer.Option(
        ",".join(DEFAULT_TEXTS), help="text sets of phase 2 ('' : none)"
    ),
    repeats: int = typer.Option(3, min=1, help="first-audio runs per text and model"),
    whole_repeats: int = typer.Option(1, min=0, help="whole-stream runs per text and model"),
    firsts: str = typer.Option("8,32", help="first-window sizes (frames) besides the default"),
    schedules: str = typer.Option(
        "64x1,256x1", help="FRAMESxGROWTH later-window schedules for phase 2, beside the default"
    ),
    clause_chars: int = typer.Option(
        24, min=0, help="also with CLAUSE_CHARS: sentences over this cut at clause marks (0: no)"
    ),
    graph_runtime: str = typer.Option("auto", help="auto, onnxruntime or openvino"),
) -> None:
    progress = Progress()
    cache = cache or out / "cache"
    out.mkdir(parents=True, exist_ok=True)
    if voice_dir:
        voice = voice_from_folder(voice_dir)
    else:
        voice = build_voice(cache, "tiny" if tiny else "full", progress)
    picked = [TEXTS[n] for n in texts.split(",") if n]
    repo = cache / f"first-audio-repository-{voice.name}"
    models = write_variants(voice, repo, graph_runtime, _ints(firsts), _schedules(schedules))
    auto = _recorded_auto(repo / voice.name / "config.pbtxt")
    result = {
        "machine": machine_facts(),
        "voice": str(voice.voice_dir),
        "graph_runtime": graph_runtime,
        "auto": auto,
        "models": models,
        "texts": [t.name for t in picked],
        "clause_chars": clause_chars,
    }
    server = tl.start_server(repo, cache / "first-audio-tritonserver.log", progress, 1800)
    try:
        meta = json.loads((voice.voice_dir / "voice.json").read_text(encoding="utf-8"))
        rate, url = meta["sample_rate"], server.grpc_url
        result["first_audio_s"] = _first_phase(
            url, voice, rate, models, picked, repeats, clause_chars, progress
        )
        chosen = [TEXTS[n] for n in whole_texts.split(",") if n] if whole_repeats else []
        result["whole"] = _whole_phase(
            url, voice, rate, models, chosen, whole_repeats, clause_chars, progress
        )
    finally:
        server.stop()
    path = write_result(out, "first_audio", result, markdown(result))
    progress(f"wrote {path}\n{markdown(result)}")


if __name__ == "__main__":
    app()
