"""`python -m tts_benchmarks.durations --voice DIR`: does the plan `auto` picks change what is said?

A voice's durations (frames per phone) decide what is said and how long; a precision or runtime
that moves one is a different utterance, not a rounding error. For a corpus of one-sentence
texts (every sentence of the benchmark texts, each also shortened a few characters at a time,
so lengths and contexts vary), this runs the frontend with its BERT calls and the encoder twice:
on the plan `auto` picks on this CPU (`tts_runtime.cpu.auto_choice`), and on onnxruntime fp32
for every graph (the reference). Per sentence it compares the durations (they must be equal),
and the SNR of the BERT features and of the encoder's m_p against the reference. The decoder is
not run: it cannot change a duration. Writes durations.json / durations.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import typer

from tts_benchmarks.inprocess import auto_graphs
from tts_benchmarks.run import DEFAULT_OUT, Progress
from tts_benchmarks.stats import load_average, machine_facts, write_result
from tts_benchmarks.workload import TEXTS

app = typer.Typer(add_completion=False, help=__doc__)

_SENTENCE = re.compile(r"[^。！？!?.]+[。！？!?.]")


def corpus(language: str, count: int) -> list[str]:
    """Up to `count` distinct one-sentence texts in `language`: the benchmark texts' sentences,
    then each of them less its last 1, 2, 3, ... characters (words, in English) before its
    final mark, then less its first ones, at least 4 left, round-robin."""
    sep = " " if language == "EN" else ""
    sentences = [
        s.strip()
        for t in TEXTS.values()
        if t.language == language
        for s in _SENTENCE.findall(t.text)
        if len(s.strip()) > 4
    ]
    units = [(s[:-1].split() if sep else list(s[:-1]), s[-1]) for s in sentences]
    longest = max((len(u) for u, _ in units), default=0)
    out: dict[str, None] = {}  # ordered, distinct
    for head in (False, True):
        for cut in range(longest):
            for body, mark in units:
                if len(body) - cut >= 4 and len(out) < count:
                    kept = body[cut:] if head else body[: len(body) - cut]
                    out[sep.join(kept).strip(" ,，、") + mark] = None
    return list(out)


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    noise = float(np.sum((ref.astype(np.float64) - test) ** 2))
    return (
        float("inf")
        if noise == 0
        else 10 * np.log10(float(np.sum(ref.astype(np.float64) ** 2)) / noise)
    )


def encode(graphs, text: str, language: str) -> dict[str, np.ndarray]:
    """BERT features (the sentence's, joined) and the encoder's outputs for one sentence."""
    from vits2.serving.request import parse_request

    features: list[np.ndarray] = []

    def bert(lang, feeds):
        out = graphs.run(f"bert_{lang.lower()}", feeds)["bert_features"]
        features.append(np.asarray(out))
        return out

    req = parse_request(graphs.pipeline.voice, text, "", language, {}, 1)
    batch = graphs.pipeline.prepare(req, bert)
    feeds = graphs.pipeline.outputs(batch, req)
    out = graphs.run("encoder", feeds)
    flat = np.concatenate([f.reshape(-1) for f in features])
    return {"bert": flat, "m_p": np.asarray(out["m_p"]), "durations": np.asarray(out["durations"])}


def markdown(result: dict) -> str:
    lines = [
        "| language | sentences | durations equal | frames moved (worst) | BERT SNR dB min / median | m_p SNR dB min / median |",
        "|---|---|---|---|---|---|",
    ]
    for lang, s in result["summary"].items():
        lines.append(
            f"| {lang} | {s['sentences']} | {s['durations_equal']} | {s['worst_frames_moved']} | "
            f"{s['bert_snr_db_min']:.1f} / {s['bert_snr_db_median']:.1f} | "
            f"{s['m_p_snr_db_min']:.1f} / {s['m_p_snr_db_median']:.1f} |"
        )
    return "\n".join(lines) + "\n"


@app.command()
def main(
    voice: Path = typer.Option(..., "--voice", help="a `tts-export onnx` folder (full-size)"),
    out: Path = typer.Option(DEFAULT_OUT, help="folder for durations.json / .md"),
    per_language: int = typer.Option(100, min=1, help="sentences per language of the voice"),
    threads: int = typer.Option(0, min=0, help="graph threads (0: the runtime's default)"),
) -> None:
    from tts_runtime.inprocess import VoiceGraphs

    progress = Progress()
    out.mkdir(parents=True, exist_ok=True)
    picked, meta, auto = auto_graphs(voice, threads, progress)
    reference = VoiceGraphs(voice, "onnxruntime", {}, threads)
    result = {
        "machine": machine_facts({"graph": threads}),
        "voice": str(voice),
        "auto": auto,
        "reference": "onnxruntime fp32, every graph",
        "load_average_start": load_average(),
        "rows": [],
        "summary": {},
    }
    for language in [lang for lang in ("ZH", "JP", "EN") if lang in meta.get("bert", {})]:
        texts = corpus(language, per_language)
        rows = []
        for text in texts:
            a, b = encode(picked, text, language), encode(reference, text, language)
            moved = int(np.abs(a["durations"].astype(np.int64) - b["durations"]).sum())
            rows.append(
                {
                    "language": language,
                    "text": text,
                    "frames": int(b["durations"].sum()),
                    "frames_moved": moved,
                    "bert_snr_db": snr_db(b["bert"], a["bert"]),
                    "m_p_snr_db": snr_db(b["m_p"], a["m_p"]),
                }
            )
        result["rows"] += rows
        bert = [r["bert_snr_db"] for r in rows]
        m_p = [r["m_p_snr_db"] for r in rows]
        result["summary"][language] = {
            "sentences": len(rows),
            "durations_equal": sum(r["frames_moved"] == 0 for r in rows),
            "worst_frames_moved": max(r["frames_moved"] for r in rows),
            "bert_snr_db_min": min(bert),
            "bert_snr_db_median": float(np.median(bert)),
            "m_p_snr_db_min": min(m_p),
            "m_p_snr_db_median": float(np.median(m_p)),
        }
        progress(f"{language}: {result['summary'][language]}")
    path = write_result(out, "durations", result, markdown(result))
    progress(f"wrote {path}\n{markdown(result)}")


if __name__ == "__main__":
    app()
