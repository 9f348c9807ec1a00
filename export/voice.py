"""Export a whole voice: encoder, decoder (and its flow/vocoder halves), one BERT per language,
tokenizers, sidecar."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import vits2
from tts_export import acoustic
from tts_export.metadata import BertInfo, VoiceManifest, write_metadata
from vits2.synthesize import voice_manifest
from vits2.text.profiles import get_profile
from vits2.text.symbols import LANGUAGES

Progress = Callable[[str], None]


@dataclass
class ExportOptions:
    opset: int = 17
    fp16: bool = False
    """Decoder and BERT graphs in fp16 (I/O stays float32); the encoder always stays fp32."""
    simplify: bool = False
    """Run onnxslim on each graph. Off by default: it did not speed up onnxruntime here (full
    BERT: same latency) and can move fp16 outputs by ~2e-3; `tts-export verify` checks parity."""
    name: str | None = None
    """Voice name (default: the output folder's name)."""
    frontend_profile: str = ""
    """The text frontend profile the voice was trained with (voice.json `frontend_profile`;
    "" = the frontend's default). Checked against `vits2.text.profiles` before exporting."""


def parse_bert_args(values: list[str]) -> dict[str, Path]:
    """["ZH=/path", "EN=/path"] -> {"ZH": Path, ...} with a clear error for anything else."""
    out: dict[str, Path] = {}
    for v in values:
        lang, sep, path = v.partition("=")
        lang = lang.strip().upper()
        if lang == "JA":
            lang = "JP"
        if not sep or lang not in LANGUAGES or not path:
            raise ValueError(f"--bert takes LANG=DIR with LANG one of ZH, JP, EN; got {v!r}")
        p = Path(path).expanduser()
        if not (p / "config.json").is_file():
            raise FileNotFoundError(
                f"--bert {lang}: {p} is not a local model folder (no config.json)"
            )
        out[lang] = p
    return out


def export_voice(
    checkpoint: str | Path,
    out_dir: str | Path,
    bert_dirs: dict[str, Path],
    config: str | Path | None = None,
    options: ExportOptions | None = None,
    progress: Progress = print,
) -> VoiceManifest:
    options = options or ExportOptions()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not bert_dirs:
        raise ValueError(
            "give at least one BERT folder (--bert ZH=DIR); a voice speaks only the "
            "languages whose BERT it has"
        )
    # checked before anything heavy is loaded
    profile = get_profile(options.frontend_profile).name if options.frontend_profile else ""
    t0 = time.perf_counter()
    progress(f"loading {checkpoint}")
    model = vits2.load_model(checkpoint, config)
    cfg = model.config
    manifest = voice_manifest(
        cfg, options.name or out_dir.name, list(bert_dirs), frontend_profile=profile
    )
    (out_dir / "config.json").write_text(
        json.dumps(cfg.raw or {}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )

    _export_acoustic(model, out_dir, options, manifest, progress)

    from tts_export.bert import export_bert

    for lang, bert_dir in bert_dirs.items():
        graph = f"bert_{lang.lower()}.onnx"
        progress(f"exporting BERT {lang} from {bert_dir.name}")
        info = export_bert(bert_dir, out_dir / graph, opset=options.opset, fp16=options.fp16)
        tok_dir = out_dir / "tokenizers" / lang
        _copy_tokenizer(bert_dir, tok_dir)
        manifest.bert[lang] = BertInfo(
            lang, bert_dir.name, graph, f"tokenizers/{lang}", info.has_token_type_ids
        )
        manifest.graphs[f"bert_{lang.lower()}"] = graph
        manifest.precision[f"bert_{lang.lower()}"] = "fp16" if options.fp16 else "fp32"

    from tts_export.checks import check_graph, simplify

    for kind, graph in manifest.graphs.items():
        path = out_dir / graph
        if options.simplify:
            progress(f"simplifying {graph}")
            simplify(path)
        check_graph(path)
        extra = {"bert_language": kind.split("_")[1].upper()} if kind.startswith("bert_") else {}
        write_metadata(path, manifest.graph_metadata(kind.split("_")[0], **extra))
    manifest.save(out_dir)
    sources = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "bert": {k: str(v.resolve()) for k, v in bert_dirs.items()},
    }
    (out_dir / "source.json").write_text(json.dumps(sources, indent=2) + "\n", encoding="utf-8")
    progress(
        f"exported {len(manifest.graphs)} graphs to {out_dir} in {time.perf_counter() - t0:.1f} s"
    )
    return manifest


def _export_acoustic(
    model, out_dir: Path, options: ExportOptions, manifest: VoiceManifest, progress: Progress
) -> None:
    """Encoder (fp32), decoder, and the decoder's two halves, listed in `manifest`."""
    progress("exporting encoder (fp32: durations must not change)")
    acoustic.export_encoder(model, out_dir / "encoder.onnx", options.opset)
    manifest.graphs["encoder"], manifest.precision["encoder"] = "encoder.onnx", "fp32"
    progress("exporting decoder" + (" (fp16)" if options.fp16 else ""))
    acoustic.export_decoder(model, out_dir / "decoder.onnx", options.opset)
    if options.fp16:
        _to_fp16(out_dir / "decoder.onnx")
    manifest.graphs["decoder"] = "decoder.onnx"
    manifest.precision["decoder"] = "fp16" if options.fp16 else "fp32"
    # the decoder's two halves, for sub-sentence streaming (docs/graphs.md: flow, vocoder);
    # the flow stays fp32 (cheap, and z sets every sample), the vocoder follows the decoder
    progress("exporting flow and vocoder (the decoder in two halves, for streaming)")
    acoustic.export_flow(model, out_dir / "flow.onnx", options.opset)
    acoustic.export_vocoder(model, out_dir / "vocoder.onnx", options.opset)
    if options.fp16:
        _to_fp16(out_dir / "vocoder.onnx")
    manifest.graphs["flow"], manifest.precision["flow"] = "flow.onnx", "fp32"
    manifest.graphs["vocoder"] = "vocoder.onnx"
    manifest.precision["vocoder"] = manifest.precision["decoder"]


def _copy_tokenizer(bert_dir: Path, tok_dir: Path) -> None:
    names = (
        "vocab.txt",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "spm.model",
        "sentencepiece.bpe.model",
        "config.json",
    )
    tok_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (bert_dir / name).is_file():
            shutil.copy2(bert_dir / name, tok_dir / name)


def _to_fp16(path: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(path))
    model = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(model, str(path))
