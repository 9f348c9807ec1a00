"""`python -m tts_benchmarks.levers`: what each speed lever is worth on this machine.

Graph levers (in-process, one graph at a time, real inputs of two texts so that shapes vary
between calls as they do in serving):
  onnxruntime session options - intra-op threads, graph optimisation level, memory pattern,
  CPU memory arena; OpenVINO fp32 vs bf16 (with the SNR of bf16 against onnxruntime fp32).
  Decoder only: the graph with upstream's ConvTranspose upsampling instead of the polyphase
  Conv, and int8 (onnxruntime static quantization, QDQ, calibrated on zh-long) on both runtimes.
Padding: zh-long's sentences through the decoder as one padded batch, grouped by length (the
  server's default), and one at a time.
Buckets: every text's sentences, each decoded once (new lengths, as in real traffic), with
  exact shapes and with shapes padded to the decoder's buckets.
Server levers (a tritonserver per setting, zh-medium over gRPC):
  dynamic-batching queue delay and instance count; p50 at concurrency 1 and throughput at
  concurrency 8.

Writes levers.json and levers.md into --out.
"""

from __future__ import annotations

import gc
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import typer

from tts_benchmarks.run import DEFAULT_OUT, Progress
from tts_benchmarks.stats import load_average, machine_facts, summarize
from tts_benchmarks.workload import SEED, TEXTS, build_voice, voice_from_folder

app = typer.Typer(add_completion=False, help=__doc__)

GRAPHS = ("bert_zh", "decoder")


@dataclass
class Setting:
    label: str
    runtime: str = "onnxruntime"
    threads: int = 2
    opt_level: str = "all"
    mem_pattern: bool = True
    arena: bool = True
    precision: str = "fp32"
    options: dict = field(default_factory=dict)
    variant: str = ""
    """Decoder graph variant: "" (the exported one), "transposed" or "int8"."""


SETTINGS = [
    Setting("ort default (2 threads, opt all, mem pattern, arena)"),
    Setting("ort 1 thread", threads=1),
    Setting("ort opt basic", opt_level="basic"),
    Setting("ort opt extended", opt_level="extended"),
    Setting("ort no mem pattern", mem_pattern=False),
    Setting("ort no arena", arena=False),
    Setting("ort no mem pattern, no arena", mem_pattern=False, arena=False),
    Setting("openvino fp32", runtime="openvino"),
    Setting("openvino bf16", runtime="openvino", precision="bf16"),
]

DECODER_VARIANTS = [
    Setting(
        "openvino bf16, ConvTranspose upsampling",
        "openvino",
        precision="bf16",
        variant="transposed",
    ),
    Setting("ort int8 (QDQ: resblock convs)", variant="int8"),
    Setting("openvino int8 (QDQ: resblock convs)", "openvino", variant="int8"),
]


def variant_graph(voice, variant: str, calibration: list[dict], cache: Path) -> Path:
    """The decoder graph for a lever variant, built into `cache` once per voice."""
    path = Path(cache) / f"levers-{voice.name}-decoder-{variant}.onnx"
    if path.is_file():
        return path
    if variant == "transposed":
        import vits2
        from tts_export.acoustic import export_decoder

        export_decoder(vits2.load_model(voice.checkpoint, voice.config), path, polyphase=False)
    elif variant == "int8":
        from tts_export.quantize import quantize_graph

        feeds = [{k: v for k, v in f.items() if k != "phone_lengths"} for f in calibration]
        quantize_graph(Path(voice.voice_dir) / "decoder.onnx", path, feeds)
    else:
        raise ValueError(f"unknown decoder variant {variant!r}")
    return path


class _Session:
    def __init__(self, path: Path, s: Setting) -> None:
        self.runtime = s.runtime
        if s.runtime == "onnxruntime":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = s.threads
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = {
                "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            }[s.opt_level]
            opts.enable_mem_pattern = s.mem_pattern
            opts.enable_cpu_mem_arena = s.arena
            self._ort = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            self.inputs = [i.name for i in self._ort.get_inputs()]
        else:
            import openvino as ov

            core = ov.Core()
            config = {
                "INFERENCE_NUM_THREADS": s.threads,
                "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[s.precision],
                **s.options,
            }
            self._ov = core.compile_model(core.read_model(str(path)), "CPU", config)
            self._req = self._ov.create_infer_request()
            self.inputs = [p.get_names() for p in self._ov.inputs]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if self.runtime == "openvino":  # a port may carry several names; use the graph's
            feeds = {_pick(names, feeds): feeds[_pick(names, feeds)] for names in self.inputs}
        else:
            feeds = {k: feeds[k] for k in self.inputs}
        if self.runtime == "onnxruntime":
            return self._ort.run(None, feeds)[0]
        result = self._req.infer(feeds)
        return np.asarray(result[self._ov.output(0)])


def _pick(names: set[str], feeds: dict) -> str:
    for name in names:
        if name in feeds:
            return name
    raise KeyError(f"no feed for graph input {sorted(names)}")


def _snr_db(ref: np.ndarray, x: np.ndarray) -> float:
    noise = float(np.sum((ref.astype(np.float64) - x) ** 2))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(signal / noise)


def capture_inputs(voice, texts: list[str]) -> dict[str, list[dict]]:
    """Graph -> real feeds, one per text, from an in-process onnxruntime run; "long" holds the
    decoder feeds of zh-long (several sentences of different lengths in one padded batch)."""
    from tts_benchmarks.inprocess import GraphSubject

    subject = GraphSubject(voice, "onnxruntime")
    feeds: dict[str, list[dict]] = {g: [] for g in GRAPHS}
    for name in texts:
        capture: dict = {}
        subject.synthesize(TEXTS[name], SEED, capture=capture)
        feeds["bert_zh"] += capture.get("bert_zh", [])
        feeds["decoder"].append(capture["decoder"])
    capture = {}
    subject.synthesize(TEXTS["zh-long"], SEED, capture=capture)
    feeds["long"] = [dict(capture["decoder"], phone_lengths=capture["batch"].phone_lengths)]
    del subject
    gc.collect()
    return feeds


INTERLEAVE_BYTES = 600 * 2**20
"""Graphs smaller than this get all settings loaded at once and timed round-robin, so a load
change on the machine hits every setting alike; bigger ones (BERTs) are timed one by one."""


def _time_calls(session: _Session, feeds: list[dict]) -> list[float]:
    times = []
    for f in feeds:  # alternate shapes, as a server sees them
        t = time.perf_counter()
        session.run(f)
        times.append(time.perf_counter() - t)
    return times


def _load(path: Path, setting: Setting, feeds: list[dict]):
    """(session, seconds to load, outputs of one warm-up call per feed)."""
    t0 = time.perf_counter()
    session = _Session(path, setting)
    load_s = time.perf_counter() - t0
    return session, load_s, [session.run(f) for f in feeds]


def graph_levers(voice, feeds: dict[str, list[dict]], repeats: int, progress, cache) -> list[dict]:
    rows = []
    for graph in GRAPHS:
        path = Path(voice.voice_dir) / f"{graph}.onnx"
        together = path.stat().st_size < INTERLEAVE_BYTES
        settings = list(SETTINGS) + (DECODER_VARIANTS if graph == "decoder" else [])
        paths = {
            st.label: variant_graph(voice, st.variant, feeds["long"], cache) if st.variant else path
            for st in settings
        }
        sessions: dict[str, _Session] = {}
        load_s: dict[str, float] = {}
        outputs: dict[str, list[np.ndarray]] = {}
        times: dict[str, list[float]] = {st.label: [] for st in settings}

        # Round-robin: load every setting, then time them in turns. Else one after another.
        for k, setting in enumerate(settings):
            label = setting.label
            sessions[label], load_s[label], outputs[label] = _load(
                paths[label], setting, feeds[graph]
            )
            if not together:
                for _ in range(repeats):
                    times[label] += _time_calls(sessions[label], feeds[graph])
                del sessions[label]
                gc.collect()
            elif k == len(settings) - 1:
                for _ in range(repeats):
                    for st in settings:
                        times[st.label] += _time_calls(sessions[st.label], feeds[graph])
        reference = outputs[settings[0].label]
        for setting in settings:
            snr = min(_snr_db(r, o) for r, o in zip(reference, outputs[setting.label], strict=True))
            t = times[setting.label]
            row = {
                "graph": graph,
                "setting": setting.label,
                "load_s": load_s[setting.label],
                "calls": len(t),
                "round_robin": together,
                "ms_p50": float(np.median(t) * 1000),
                "ms_mean": float(np.mean(t) * 1000),
                "snr_db_vs_ort_fp32": snr,
            }
            rows.append(row)
            progress(
                f"  {graph:<8} {setting.label:<52} {row['ms_mean']:8.1f} ms/call"
                f"  SNR {snr:6.1f} dB  load {row['load_s']:5.1f} s"
            )
        sessions.clear()
        outputs.clear()
        gc.collect()
    return rows


def padding_lever(voice, feeds: dict, runtime: str, precision: dict, repeats: int, progress):
    """zh-long's sentences through the decoder: one batch padded to the longest, grouped by
    frame count (`run_padded`'s default, as the server runs it), and one at a time."""
    from tts_model_repository.inprocess import decode_rows
    from tts_model_repository.runtime import GraphSession, graph_axes, length_groups

    batch = {k: v for k, v in feeds["long"][0].items() if k != "phone_lengths"}
    path = Path(voice.voice_dir) / "decoder.onnx"
    prec = precision.get("decoder", "fp32")
    session = GraphSession(path, runtime, prec, threads=2)
    axes = graph_axes(path)
    hop = json.loads((Path(voice.voice_dir) / "voice.json").read_text())["hop_length"]
    ways = {
        "one padded batch (max padding 1)": 1.0,
        "max padding 0.25": 0.25,
        "max padding 0.1": 0.1,
        "max padding 0 (default: one at a time unless equal)": 0.0,
    }
    frames = [int(x) for x in batch["frame_lengths"]]

    def call(max_padding):
        decode_rows(session, axes, hop, batch, max_padding)

    for max_padding in ways.values():
        call(max_padding)
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(repeats):
        for way, max_padding in ways.items():
            t = time.perf_counter()
            call(max_padding)
            times[way].append(time.perf_counter() - t)
    row = {
        "sentences": len(frames),
        "frames": frames,
        "padding_share": 1 - sum(frames) / (len(frames) * max(frames)),
        "groups": {
            mp: [[frames[k] for k in g] for g in length_groups(frames, mp)] for mp in ways.values()
        },
        "ms": {way: float(np.median(t) * 1000) for way, t in times.items()},
        "runtime": runtime,
        "precision": prec,
    }
    progress(
        f"  decoder zh-long {len(frames)} sentences ({row['padding_share']:.0%} padding in one "
        "batch): " + ", ".join(f"{way} {ms:.0f} ms" for way, ms in row["ms"].items())
    )
    return row


def bucket_lever(voice, runtime: str, precision: dict, progress) -> dict:
    """Every text's sentences through the decoder once (each a length not seen before, as in
    real traffic) on two fresh sessions: exact shapes vs shapes padded to the buckets."""
    from tts_benchmarks.inprocess import GraphSubject
    from tts_model_repository.inprocess import decode_rows
    from tts_model_repository.runtime import SHAPE_BUCKETS, GraphSession, graph_axes

    subject = GraphSubject(voice, "onnxruntime")
    requests = []
    for text in TEXTS.values():
        capture: dict = {}
        subject.synthesize(text, SEED, capture=capture)
        requests.append(capture["decoder"])
    del subject
    gc.collect()
    path = Path(voice.voice_dir) / "decoder.onnx"
    axes = graph_axes(path)
    hop = json.loads((Path(voice.voice_dir) / "voice.json").read_text())["hop_length"]
    prec = precision.get("decoder", "fp32")
    ways = {"exact shapes": {}, f"buckets {SHAPE_BUCKETS}": SHAPE_BUCKETS}
    sessions = {way: GraphSession(path, runtime, prec, threads=2) for way in ways}
    seconds = {way: 0.0 for way in ways}
    for k, req in enumerate(requests):
        for way, buckets in ways.items():
            t = time.perf_counter()
            decode_rows(sessions[way], axes, hop, req, buckets=buckets)
            if k > 0:  # the first request pays each session's one-off start-up
                seconds[way] += time.perf_counter() - t
    frames = [int(f) for req in requests[1:] for f in req["frame_lengths"]]
    row = {
        "sentences": len(frames),
        "distinct_frame_counts": len(set(frames)),
        "seconds": seconds,
        "runtime": runtime,
        "precision": prec,
    }
    progress(
        f"  decoder, {len(frames)} sentences of new lengths: "
        + ", ".join(f"{way} {sec:.2f} s" for way, sec in seconds.items())
    )
    return row


SERVER_SETTINGS = [
    {"label": "queue delay 0 us, 1 instance", "queue_delay_us": 0, "instances": 1},
    {"label": "queue delay 2000 us, 1 instance (default)", "queue_delay_us": 2000, "instances": 1},
    {"label": "queue delay 20000 us, 1 instance", "queue_delay_us": 20000, "instances": 1},
    {"label": "queue delay 2000 us, 2 instances", "queue_delay_us": 2000, "instances": 2},
    {
        "label": "queue delay 2000 us, 2 instances x 1 thread",
        "queue_delay_us": 2000,
        "instances": 2,
        "threads": 1,
    },
]


def server_levers(voice, runtime, precision, cache: Path, progress, rounds: int = 2) -> list[dict]:
    from tts_benchmarks import triton_load as tl
    from tts_export.repository import RepositoryOptions, model_name, write_repository

    text = TEXTS["zh-medium"]
    model = model_name(voice.name)
    sample_rate = json.loads((Path(voice.voice_dir) / "voice.json").read_text())["sample_rate"]
    rows = []
    for s in SERVER_SETTINGS:
        repo = cache / f"levers-repository-{voice.name}"
        if repo.exists():
            shutil.rmtree(repo)
        opts = RepositoryOptions(
            graph_runtime=runtime,
            precision=precision,
            queue_delay_us=s["queue_delay_us"],
            instances=s["instances"],
            threads=s.get("threads", 0),
            name=voice.name,
        )
        write_repository(voice.voice_dir, repo, opts)
        server = tl.start_server(repo, cache / "levers-tritonserver.log", progress)
        try:
            url = server.grpc_url
            tl.closed_loop("grpc", url, model, voice, text, 1, 2, SEED, sample_rate)  # warm-up
            one, wall1 = tl.closed_loop("grpc", url, model, voice, text, 1, 4, SEED, sample_rate)
            before = tl.server_statistics(url)
            eight, wall8 = tl.closed_loop(
                "grpc", url, model, voice, text, 8, 8 * rounds, SEED, sample_rate
            )
            delta = tl.statistics_delta(before, tl.server_statistics(url))
        finally:
            server.stop()
        a, b = summarize(one, wall1), summarize(eight, wall8)
        row = {
            **s,
            "c1_p50_ms": a["latency_s"]["p50"] * 1000,
            "c1_throughput": a.get("throughput_audio_s_per_s"),
            "c8_p50_ms": b["latency_s"]["p50"] * 1000,
            "c8_throughput": b.get("throughput_audio_s_per_s"),
            "errors": a["errors"] + b["errors"],
            "c8_server_stats": delta,
        }
        row["scaling"] = (
            row["c8_throughput"] / row["c1_throughput"] if row["c1_throughput"] else None
        )
        rows.append(row)
        progress(
            f"  server {s['label']:<44} c1 p50 {row['c1_p50_ms']:7.0f} ms  c8 throughput "
            f"{row['c8_throughput']:.2f} audio s/s ({row['scaling']:.2f}x c1)"
        )
    return rows


def markdown(results: dict) -> str:
    lines = [
        "# Speed levers",
        "",
        f"Machine: {results['machine']['cpu_model']}, {results['machine']['logical_cpus']} CPUs; "
        f"load average start/end {results['machine']['load_average_at_start']} / "
        f"{results.get('load_average_at_end')}. Voice `{results['voice']}`.",
        "",
    ]
    if results.get("graphs"):
        lines += [
            "## Graph levers (in-process, mean ms per call over two text lengths; lower is better)",
            "",
            "| graph | setting | ms/call | SNR vs ort fp32 (dB) | load s |",
            "|---|---|---|---|---|",
        ]
        for r in results["graphs"]:
            lines.append(
                f"| {r['graph']} | {r['setting']} | {r['ms_mean']:.1f} "
                f"| {r['snr_db_vs_ort_fp32']:.1f} | {r['load_s']:.1f} |"
            )
    if results.get("padding"):
        r = results["padding"]
        lines += [
            "",
            f"## Sentence batching (decoder, zh-long, {r['runtime']} {r['precision']})",
            "",
            f"{r['sentences']} sentences of {r['frames']} frames ({r['padding_share']:.0%} of "
            "one padded batch is padding); batches by max padding: "
            + ", ".join(f"{mp}: {groups}" for mp, groups in r["groups"].items()),
            "",
            "| way | ms |",
            "|---|---|",
            *[f"| {way} | {ms:.0f} |" for way, ms in r["ms"].items()],
        ]
    if results.get("buckets"):
        r = results["buckets"]
        lines += [
            "",
            f"## Shape buckets (decoder, {r['runtime']} {r['precision']})",
            "",
            f"{r['sentences']} sentences of every text, {r['distinct_frame_counts']} distinct "
            "frame counts, each decoded once on a fresh session:",
            "",
            "| way | seconds |",
            "|---|---|",
            *[f"| {way} | {sec:.2f} |" for way, sec in r["seconds"].items()],
        ]
    if results.get("server"):
        lines += [
            "",
            "## Server levers (Triton ensemble, zh-medium over gRPC)",
            "",
            "| setting | c=1 p50 ms | c=1 audio s/s | c=8 p50 ms | c=8 audio s/s | c8 / c1 |",
            "|---|---|---|---|---|---|",
        ]
        for r in results["server"]:
            lines.append(
                f"| {r['label']} | {r['c1_p50_ms']:.0f} | {r['c1_throughput']:.2f} "
                f"| {r['c8_p50_ms']:.0f} | {r['c8_throughput']:.2f} | {r['scaling']:.2f} |"
            )
    return "\n".join(lines) + "\n"


@app.command()
def main(
    quick: bool = typer.Option(False, "--quick", help="tiny voice, 1 repeat"),
    out: Path = typer.Option(DEFAULT_OUT, "--out"),
    cache: Path | None = typer.Option(None, "--cache", help="default: OUT/cache"),
    voice_dir: Path | None = typer.Option(None, "--voice", help="a `tts-export onnx` folder"),
    repeats: int = typer.Option(3, "--repeats", min=1),
    graphs: bool = typer.Option(True, "--graphs/--no-graphs"),
    server: bool = typer.Option(True, "--server/--no-server"),
    graph_runtime: str = typer.Option("auto", "--graph-runtime"),
) -> None:
    """Measure each lever and write levers.json / levers.md into --out."""
    from tts_export.repository import default_graph_runtime

    progress = Progress()
    out.mkdir(parents=True, exist_ok=True)
    cache = cache or out / "cache"
    voice = (
        voice_from_folder(voice_dir)
        if voice_dir
        else build_voice(cache, "tiny" if quick else "full", progress)
    )
    runtime, precision = default_graph_runtime() if graph_runtime == "auto" else (graph_runtime, {})
    results: dict = {"machine": machine_facts(), "voice": voice.name}
    if graphs:
        progress("graph levers: capturing real inputs (zh-short, zh-medium)")
        feeds = capture_inputs(voice, ["zh-short", "zh-medium"])
        results["graphs"] = graph_levers(voice, feeds, 1 if quick else repeats, progress, cache)
        results["padding"] = padding_lever(
            voice, feeds, runtime, precision, 1 if quick else repeats, progress
        )
        results["buckets"] = bucket_lever(voice, runtime, precision, progress)
    if server:
        progress(f"server levers ({runtime} {precision or 'fp32'})")
        results["server"] = server_levers(voice, runtime, precision, cache, progress)
        results["server_runtime"] = {"graph_runtime": runtime, "precision": precision}
    results["load_average_at_end"] = load_average()
    (out / "levers.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "levers.md").write_text(markdown(results), encoding="utf-8")
    progress(f"levers written to {out / 'levers.md'}")


if __name__ == "__main__":
    app()
