"""int8 decoder: static quantization of the exported decoder, calibrated on the voice's own
decoder inputs.

The decoder (flow + vocoder) is about 85% of a request's time, and almost all of it is the
vocoder's residual-block convolutions. Those are quantized (int8 weights per output channel,
uint8 activations, QDQ format: QuantizeLinear/DequantizeLinear pairs around float ops, which
onnxruntime, OpenVINO and TensorRT all run as int8 kernels). The flow, `conv_pre`, the
upsampling and `conv_post` stay float: quantizing them too cost 2-5 dB of SNR for no speed
measurable here.

Calibration inputs are real: built-in sentences in each of the voice's languages run through
the voice's own frontend, BERT and encoder graphs (`VoiceGraphs`, fp32). Held-out sentences
then give the SNR of the int8 decoder's audio against the fp32 decoder's, which is recorded in
voice.json and must reach `min_snr_db`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_export.metadata import VoiceManifest, write_metadata
from tts_export.verify import snr_db

Progress = Callable[[str], None]

INT8_GRAPH = "decoder_int8.onnx"

CALIBRATION = {
    "ZH": [
        "今天天气很好，我们一起去公园散步吧。",
        "这家餐厅的菜很好吃，价格也不贵，周末总是有很多人排队。",
        "请注意，列车即将进站。",
        "他一边听音乐，一边认真地写作业，直到深夜才休息。",
        "你好！",
        "科学家们经过多年的研究，终于找到了解决这个问题的方法。",
    ],
    "EN": [
        "The quick brown fox jumps over the lazy dog.",
        "Please remember to bring your umbrella, because it might rain this afternoon.",
        "Hello there!",
        "After years of careful research, the team finally published their results.",
    ],
    "JP": [
        "今日はとても良い天気ですね。",
        "駅の近くに新しいカフェができたので、明日友達と行く予定です。",
        "ありがとうございます。",
    ],
}
HELD_OUT = {
    "ZH": "我们明天早上八点在学校门口见面，不要迟到。",
    "EN": "Could you tell me how to get to the nearest train station?",
    "JP": "この本はとても面白いので、ぜひ読んでみてください。",
}


@dataclass
class QuantizeResult:
    graph: Path
    snr_db: float
    """Worst held-out SNR of int8 audio against fp32 audio (dB)."""
    calibration_sentences: int
    seconds: float


def quantizable_nodes(decoder: Path) -> list[str]:
    """The residual-block convolutions of the exported decoder (~95% of its FLOPs)."""
    import onnx

    graph = onnx.load(str(decoder), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "Conv" and "/resblocks." in n.name]


def quantize_graph(source: Path, out: Path, calibration: list[dict[str, np.ndarray]]) -> Path:
    """Static QDQ int8 of the decoder at `source`, calibrated (min/max) on `calibration`."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    nodes = quantizable_nodes(source)
    if not nodes:
        raise ValueError(f"{source} has no residual-block convolutions to quantize")
    feeds = iter(calibration)

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    quantize_static(
        str(source),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        nodes_to_quantize=nodes,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return out


def decoder_feeds(graphs, texts: dict[str, list[str]]) -> list[dict[str, np.ndarray]]:
    """Decoder inputs of each text (one request each) through the voice's own graphs."""
    speaker = next(iter(graphs.pipeline.voice.speakers))
    feeds = []
    for language, sentences in texts.items():
        for k, text in enumerate(sentences):
            capture: dict = {}
            graphs.synthesize(text, speaker, language, seed=k, capture=capture)
            feeds.append(capture["decoder"])
    return feeds


def quantize_decoder(
    voice_dir: str | Path,
    min_snr_db: float = 25.0,
    texts: dict[str, list[str]] | None = None,
    progress: Progress = print,
) -> QuantizeResult:
    """Write `decoder_int8.onnx` into the voice folder and register it in voice.json.

    Raises ValueError (and writes nothing to voice.json) when the held-out SNR is below
    `min_snr_db`.
    """
    from tts_runtime.inprocess import VoiceGraphs
    from tts_runtime.session import GraphSession

    t0 = time.perf_counter()
    voice_dir = Path(voice_dir)
    manifest = VoiceManifest.load(voice_dir)
    langs = [lang for lang in manifest.languages if lang in CALIBRATION]
    if not langs:
        raise ValueError(f"no calibration text for the voice's languages {manifest.languages}")
    texts = texts or {lang: CALIBRATION[lang] for lang in langs}
    progress(f"calibration: {sum(map(len, texts.values()))} sentences ({', '.join(texts)})")
    graphs = VoiceGraphs(voice_dir, "onnxruntime")
    calibration = decoder_feeds(graphs, texts)
    held_out = decoder_feeds(graphs, {lang: [HELD_OUT[lang]] for lang in langs})
    source = voice_dir / manifest.graphs["decoder"]
    out = voice_dir / INT8_GRAPH
    progress(f"quantizing {source.name} -> {out.name}")
    quantize_graph(source, out, calibration)
    fp32 = GraphSession(source, "onnxruntime", "fp32")
    int8 = GraphSession(out, "onnxruntime", "int8")
    snr = min(snr_db(fp32.run(f)["audio"], int8.run(f)["audio"]) for f in held_out)
    progress(f"held-out SNR of int8 against fp32 audio: {snr:.1f} dB (minimum {min_snr_db})")
    if snr < min_snr_db:
        out.unlink()
        raise ValueError(
            f"int8 decoder SNR {snr:.1f} dB is below the minimum {min_snr_db} dB; keep the "
            "float decoder (or lower --min-snr if that quality is acceptable)"
        )
    write_metadata(out, manifest.graph_metadata("decoder", precision="int8"))
    manifest.variants.setdefault("decoder", {})["int8"] = {
        "graph": out.name,
        "snr_db": round(snr, 2),
        "calibration_sentences": len(calibration),
    }
    manifest.save(voice_dir)
    return QuantizeResult(out, snr, len(calibration), time.perf_counter() - t0)
