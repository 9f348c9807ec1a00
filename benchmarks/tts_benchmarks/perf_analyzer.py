"""perf_analyzer `--input-data` files with real tensors, for the ensemble and every model.

perf_analyzer's random inputs are useless here (random ids make BERT and the durations - and
so the decoder's length - meaningless), so each file holds what the model sees for one fixed
text: the text itself for the ensemble, frontend and stream models, and the tensors the
frontend, encoder and noise steps produce for that text (computed in-process with the
exported graphs) for the others. Numeric tensors are base64 (little-endian, row-major) with
an explicit shape; models with dynamic batching get one entry per sentence (shape without the
batch axis), the others one entry with the whole request.

    python -m tts_benchmarks.perf_analyzer --voice VOICE_DIR --out DIR [--text zh-medium]

writes DIR/<model>.json and DIR/commands.sh (perf_analyzer commands for the NGC SDK
container, see benchmarks/README.md).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import typer

from tts_benchmarks.workload import SEED, TEXTS, Text

app = typer.Typer(add_completion=False, help=__doc__)


def _tensor(value: np.ndarray) -> dict:
    value = np.ascontiguousarray(value)
    if value.dtype.byteorder == ">":
        value = value.byteswap().view(value.dtype.newbyteorder("<"))
    return {
        "content": {"b64": base64.b64encode(value.tobytes()).decode("ascii")},
        "shape": list(value.shape),
    }


def _request_entry(text: Text, speaker: str, defaults: dict[str, float], seed: int) -> dict:
    """The public inputs (ensemble, frontend, stream), every optional one set explicitly."""
    scale = lambda v: {"content": [float(v)], "shape": [1]}  # noqa: E731
    return {
        "TEXT": {"content": [text.text], "shape": [1]},
        "SPEAKER": {"content": [speaker], "shape": [1]},
        "LANGUAGE": {"content": [text.language], "shape": [1]},
        "SDP_RATIO": scale(defaults.get("sdp_ratio", 0.2)),
        "NOISE_SCALE": scale(defaults.get("noise_scale", 0.6)),
        "NOISE_SCALE_W": scale(defaults.get("noise_scale_w", 0.8)),
        "LENGTH_SCALE": scale(defaults.get("length_scale", 1.0)),
        "SEED": {"content": [int(seed)], "shape": [1]},
    }


def _bert_entries(calls: list[dict[str, np.ndarray]]) -> list[dict]:
    """One entry per BERT row, tokens cut to the row's own length."""
    entries = []
    for feeds in calls:
        for i in range(feeds["input_ids"].shape[0]):
            t = int(feeds["attention_mask"][i].sum())
            entry = {}
            for name, value in feeds.items():
                row = value[i, :t] if name != "phone_to_token" else value[i]
                entry[name] = _tensor(row.astype(np.int64))
            entries.append(entry)
    return entries


def _item(value: np.ndarray) -> np.ndarray:
    """A per-item scalar as Triton's config declares it: dims [1]."""
    return np.asarray(value).reshape(1)


def model_inputs(capture: dict, text: Text, speaker: str, defaults: dict, seed: int) -> dict:
    """Model-name suffix ('' for the ensemble) -> input-data JSON object."""
    batch = capture["batch"]
    request = {"data": [_request_entry(text, speaker, defaults, seed)]}
    out = {"": request, "_frontend": request, "_stream": request}
    for key, calls in capture.items():
        if key.startswith("bert_") and isinstance(calls, list):
            out[f"_{key}"] = {"data": _bert_entries(calls)}
    enc, enc_out, dec = capture["encoder"], capture["encoder_out"], capture["decoder"]
    encoder, decoder = [], []
    for i, length in enumerate(int(x) for x in batch.phone_lengths):
        frames = int(enc_out["frame_lengths"][i])
        entry = {}
        for name, value in enc.items():
            if value.ndim == 1:
                entry[name] = _tensor(_item(value[i]))
            else:
                entry[name] = _tensor(value[i][..., :length])
        encoder.append(entry)
        decoder.append(
            {
                "m_p": _tensor(dec["m_p"][i, :, :length]),
                "logs_p": _tensor(dec["logs_p"][i, :, :length]),
                "g": _tensor(dec["g"][i]),
                "durations": _tensor(dec["durations"][i, :length]),
                "frame_lengths": _tensor(_item(dec["frame_lengths"][i])),
                "noise_scale": _tensor(_item(dec["noise_scale"][i])),
                "noise_z": _tensor(dec["noise_z"][i, :, :frames]),
            }
        )
    out["_encoder"] = {"data": encoder}
    out["_decoder"] = {"data": decoder}
    noise = capture["noise"]
    out["_noise"] = {
        "data": [
            {
                "frame_lengths": _tensor(noise["frame_lengths"].reshape(-1, 1).astype(np.int64)),
                "seeds": _tensor(noise["seeds"].reshape(-1, 1).astype(np.int64)),
            }
        ]
    }
    dec_out = capture["decoder_out"]
    out["_join"] = {
        "data": [
            {
                "audio": _tensor(dec_out["audio"].astype(np.float32)),
                "audio_lengths": _tensor(dec_out["audio_lengths"].reshape(-1, 1).astype(np.int64)),
                "pause_after": _tensor(batch.pause_after.reshape(-1, 1).astype(np.float32)),
            }
        ]
    }
    return out


def commands(voice: str, files: dict[str, Path], url: str = "localhost:8001") -> list[str]:
    """perf_analyzer command lines (gRPC) for every model whose input file was written."""
    lines = []
    for model, path in files.items():
        if model.endswith("_stream"):
            lines.append(
                f"perf_analyzer -m {model} -u {url} -i grpc --streaming "
                f"--input-data {path.name} --concurrency-range 1:4 "
                "--measurement-mode count_windows --measurement-request-count 20"
            )
            continue
        lines.append(
            f"perf_analyzer -m {model} -u {url} -i grpc --input-data {path.name} "
            "--concurrency-range 1:8 --measurement-mode count_windows "
            f"--measurement-request-count 20 --percentile 50 -f {model}.csv"
        )
    return lines


def write_input_data(
    subject, out_dir: Path, text: Text, seed: int = SEED, url: str = "localhost:8001"
) -> dict[str, Path]:
    """Run `text` through a GraphSubject once and write one input-data file per model."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    capture: dict = {}
    subject.synthesize(text, seed, capture=capture)
    meta = json.loads((Path(subject.voice.voice_dir) / "voice.json").read_text(encoding="utf-8"))
    defaults = meta.get("speaker_defaults", {}).get(subject.voice.speaker, {})
    voice = subject.voice.name
    files = {}
    for suffix, data in model_inputs(capture, text, subject.voice.speaker, defaults, seed).items():
        path = out_dir / f"{voice}{suffix}.json"
        path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
        files[f"{voice}{suffix}"] = path
    script = [
        "#!/bin/sh",
        f"# perf_analyzer inputs for voice {voice}, text {text.name!r}, seed {seed}.",
        "# Run inside nvcr.io/nvidia/tritonserver:<yy.mm>-py3-sdk from this folder.",
        "set -e",
        *commands(voice, files, url),
    ]
    (out_dir / "commands.sh").write_text("\n".join(script) + "\n", encoding="utf-8")
    return files


@app.command()
def main(
    voice: Path = typer.Option(..., "--voice", help="voice folder from `tts-export onnx`"),
    out: Path = typer.Option(..., "--out", help="folder for <model>.json and commands.sh"),
    text: str = typer.Option("zh-medium", "--text", help=f"text set: {', '.join(TEXTS)}"),
    runtime: str = typer.Option("onnxruntime", "--graph-runtime", help="onnxruntime or openvino"),
    url: str = typer.Option("localhost:8001", "--url", help="gRPC address in commands.sh"),
) -> None:
    """Write perf_analyzer --input-data files for every model of a voice."""
    from tts_benchmarks.inprocess import GraphSubject
    from tts_benchmarks.workload import voice_from_folder

    if text not in TEXTS:
        raise typer.BadParameter(f"unknown text set {text!r}; known: {', '.join(TEXTS)}")
    subject = GraphSubject(voice_from_folder(voice), runtime)
    files = write_input_data(subject, out, TEXTS[text], url=url)
    print(f"wrote {len(files)} input-data files and commands.sh to {out}")


if __name__ == "__main__":
    app()
