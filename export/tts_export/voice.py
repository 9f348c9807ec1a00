"""Export a whole voice: encoder, decoder (and its flow/vocoder halves), one BERT per language,
tokenizers, sidecar."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import vits2
from tts_export import acoustic
from tts_export.metadata import BertInfo, VoiceManifest, write_metadata
from vits2.synthesize import voice_manifest
from vits2.text.openjtalk import SBV2_DEFAULT_CSV, compile_user_dict, read_user_dict_csv
from vits2.text.profiles import get_profile, profile_for_release
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
    stream_graphs: bool = True
    """Also export the decoder's two halves (flow, vocoder) that the stream model decodes in
    windows; without them it decodes whole sentences."""
    clap: Path | None = None
    """2.2 voices: a local clap-htsat-fused folder; its text and audio branches are exported
    as the voice's emotion graphs (EMOTION, REFERENCE_AUDIO; `tts_export.emotion`)."""
    emotion_model: Path | None = None
    """2.1 voices: a local wav2vec2-large-robust-12-ft-emotion-msp-dim folder (REFERENCE_AUDIO)."""
    bert_from: Path | None = None
    """A voice folder exported with the same BERT folders (same folder names and precision):
    its BERT graphs and tokenizers are copied instead of exported again (voices that share
    BERTs; the graphs depend only on the BERT)."""
    user_dict: Path | None = None
    """A user dictionary in Style-Bert-VITS2's CSV format: copied into the voice folder
    (user_dict.csv), compiled there (user_dict.dic; an SBV2 voice's with SBV2's default words
    first, as SBV2 compiles them) and read by this voice's frontend only."""


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
    profile = get_profile(options.frontend_profile).name if options.frontend_profile else None
    if options.user_dict is not None:
        read_user_dict_csv(options.user_dict)  # a bad line is an error naming it
    t0 = time.perf_counter()
    progress(f"loading {checkpoint}")
    model = vits2.load_model(checkpoint, config)
    cfg = model.config
    profile = profile or profile_for_release(cfg.parts.release)  # the release's own frontend
    _check_bert_languages(cfg.parts, bert_dirs)
    _check_emotion_models(cfg.parts.release, options)
    manifest = voice_manifest(
        cfg, options.name or out_dir.name, list(bert_dirs), frontend_profile=profile
    )
    if cfg.parts.style:
        _copy_style_vectors(Path(checkpoint), cfg, out_dir, manifest)
    if options.user_dict is not None:
        progress(f"compiling the user dictionary {options.user_dict}")
        add_user_dict(out_dir, manifest, options.user_dict)
    (out_dir / "config.json").write_text(
        json.dumps(cfg.raw or {}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )

    _export_acoustic(model, out_dir, options, manifest, progress)

    for lang, bert_dir in bert_dirs.items():
        _export_bert(lang, bert_dir, out_dir, options, manifest, progress)

    from tts_export.checks import check_graph, simplify

    for kind, graph in manifest.onnx_graphs.items():
        path = out_dir / graph
        if options.simplify:
            progress(f"simplifying {graph}")
            simplify(path)
        check_graph(path)
        extra = {"bert_language": kind.split("_")[1].upper()} if kind.startswith("bert_") else {}
        write_metadata(path, manifest.graph_metadata(kind.split("_")[0], **extra))
    manifest.save(out_dir)
    if options.clap or options.emotion_model:
        from tts_export.emotion import add_emotion_models

        clap, wav2vec2 = options.clap, options.emotion_model
        manifest = add_emotion_models(out_dir, clap, wav2vec2, options.opset, progress)
    sources = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "bert": {k: str(v.resolve()) for k, v in bert_dirs.items()},
    }
    (out_dir / "source.json").write_text(json.dumps(sources, indent=2) + "\n", encoding="utf-8")
    progress(
        f"exported {len(manifest.graphs)} graphs to {out_dir} in {time.perf_counter() - t0:.1f} s"
    )
    return manifest


def _export_bert(
    lang: str,
    bert_dir: Path,
    out_dir: Path,
    options: ExportOptions,
    manifest: VoiceManifest,
    progress: Progress,
) -> None:
    """BERT graph + tokenizer of one language (copied from `options.bert_from` when it has
    this BERT at this precision), listed in `manifest`."""
    from tts_export.bert import export_bert

    kind, graph = f"bert_{lang.lower()}", f"bert_{lang.lower()}.onnx"
    precision = "fp16" if options.fp16 else "fp32"
    source = VoiceManifest.load(options.bert_from) if options.bert_from else None
    same = source is not None and lang in source.bert and source.precision.get(kind) == precision
    if same and source.bert[lang].model_name == bert_dir.name:
        progress(f"copying BERT {lang} ({bert_dir.name}) from {options.bert_from}")
        shutil.copy2(options.bert_from / source.bert[lang].graph, out_dir / graph)
        has_token_types = source.bert[lang].has_token_type_ids
    else:
        progress(f"exporting BERT {lang} from {bert_dir.name}")
        info = export_bert(bert_dir, out_dir / graph, opset=options.opset, fp16=options.fp16)
        has_token_types = info.has_token_type_ids
    _copy_tokenizer(bert_dir, out_dir / "tokenizers" / lang)
    manifest.bert[lang] = BertInfo(
        lang, bert_dir.name, graph, f"tokenizers/{lang}", has_token_types
    )
    manifest.graphs[kind], manifest.precision[kind] = graph, precision


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
    if not options.stream_graphs:
        return
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


def _check_bert_languages(parts, bert_dirs: dict[str, Path]) -> None:
    """JP-Extra voices project only the Japanese BERT: other languages are refused."""
    slots = {"bert_zh": "ZH", "bert_ja": "JP", "bert_en": "EN"}  # encoder input -> language
    extra = [lang for lang in bert_dirs if lang not in (slots[s] for s in parts.bert_inputs)]
    if extra:
        takes = ", ".join(slots[s] for s in parts.bert_inputs)
        raise ValueError(
            f"a {parts.release} voice speaks {takes} only (its encoder has no BERT input for "
            f"{', '.join(extra)}); drop --bert {' '.join(f'{x}=...' for x in extra)}"
        )


def _check_emotion_models(release: str, options: ExportOptions) -> None:
    """--clap is for 2.2 voices, --emotion-model for 2.1 (checked before anything is exported)."""
    for flag, given, takes in (
        ("--clap", options.clap, "2.2"),
        ("--emotion-model", options.emotion_model, "2.1"),
    ):
        if given is not None and release != takes:
            raise ValueError(
                f"{flag} is for {takes} voices (their emo input); this voice is release {release}"
            )


def _copy_style_vectors(checkpoint: Path, cfg, out_dir: Path, manifest: VoiceManifest) -> None:
    """The model folder's style_vectors.npy (beside the checkpoint, as `vits2.load_model` reads
    it) -> the voice folder, listed as ``graphs["style_vectors"]``."""
    from vits2.styles import load_style_vectors

    src = checkpoint.parent / "style_vectors.npy"
    if not src.is_file():
        raise FileNotFoundError(
            f"{src} not found: a Style-Bert-VITS2 voice needs the style_vectors.npy of its model "
            "folder beside the checkpoint"
        )
    load_style_vectors(src, cfg.data.num_styles or None)  # checked before it is copied
    shutil.copy2(src, out_dir / "style_vectors.npy")
    manifest.graphs["style_vectors"] = "style_vectors.npy"


USER_DICT = "user_dict.dic"
"""The compiled user dictionary's name in a voice folder (its CSV: user_dict.csv)."""


def add_user_dict(voice_dir: Path, manifest: VoiceManifest, csv_file: str | Path) -> None:
    """Copy the CSV into `voice_dir`, compile it there (SBV2 voices: SBV2's default words
    first) and name it in `manifest` (saved by the caller)."""
    csv = voice_dir / Path(USER_DICT).with_suffix(".csv")
    if Path(csv_file).resolve() != csv.resolve():
        shutil.copy2(csv_file, csv)
    sbv2 = get_profile(manifest.frontend_profile or None).ja_g2p.startswith("sbv2")
    compile_user_dict([SBV2_DEFAULT_CSV, csv] if sbv2 else [csv], voice_dir / USER_DICT)
    manifest.user_dict = USER_DICT


def with_user_dict(voice_dir: Path, csv_file: str | Path, tmp: Path) -> Path:
    """A copy of exported voice `voice_dir` with the user dictionary `csv_file` in the folder
    `tmp` (files hard-linked where the filesystem allows: no graph is copied twice); the voice
    folder is not changed."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:  # another filesystem
            shutil.copy2(src, dst)

    view = tmp / voice_dir.name
    view.mkdir(parents=True)
    for item in voice_dir.iterdir():
        if item.name in ("voice.json", USER_DICT, Path(USER_DICT).with_suffix(".csv").name):
            continue
        if item.is_dir():
            shutil.copytree(item, view / item.name, copy_function=link_or_copy)
        else:
            link_or_copy(str(item), str(view / item.name))
    manifest = VoiceManifest.load(voice_dir)
    add_user_dict(view, manifest, csv_file)
    manifest.save(view)
    return view


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
