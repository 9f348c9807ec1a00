"""Graph levers of `python -m tts_benchmarks.levers`: onnxruntime session options and OpenVINO
precisions per graph (bert_zh, decoder), plus the decoder variants (ConvTranspose upsampling,
int8), timed in-process on real inputs with the SNR of each against onnxruntime fp32."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tts_benchmarks.workload import SEED, TEXTS

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
