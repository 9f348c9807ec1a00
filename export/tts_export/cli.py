"""`tts-export`: voice -> ONNX graphs -> verified -> TensorRT engines / Triton repository."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console

from vits2.text.profiles import PROFILE_NAMES

app = typer.Typer(
    help="Export Bert-VITS2 voices for Triton: ONNX, verify, TensorRT, repository.",
    no_args_is_help=True,
    add_completion=False,
)
# soft_wrap: a long line (a path) stays one line in a log instead of wrapping at 80 columns
console = Console(stderr=True, soft_wrap=True)


def _progress(msg: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}")


def _fail(msg: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code)


OPSET = typer.Option(17, "--opset", min=14, max=21)
CLAP = typer.Option(
    None, "--clap", help="2.2 voices: local clap-htsat-fused folder (EMOTION, REFERENCE_AUDIO)"
)
EMOTION_MODEL = typer.Option(
    None,
    "--emotion-model",
    help="2.1 voices: local wav2vec2-large-robust-12-ft-emotion-msp-dim folder (REFERENCE_AUDIO)",
)
USER_DICT = typer.Option(
    None,
    "--user-dict",
    help="Japanese user dictionary in Style-Bert-VITS2's CSV format, compiled and read by this "
    "voice only: copied into the voice (onnx), or into the repository's copy of it, the voice "
    "folder unchanged (repository); docs/frontend.md",
)


@app.command()
def onnx(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="upstream G_*.pth"),
    out: Path = typer.Option(..., "--out", help="output voice folder"),
    bert: list[str] = typer.Option(
        [], "--bert", help="LANG=DIR local BERT folder; repeat per language (ZH, JP, EN)"
    ),
    config: Path | None = typer.Option(
        None, "--config", help="config.json (default: beside the checkpoint)"
    ),
    fp16: bool = typer.Option(
        False, "--fp16", help="decoder and BERT in fp16 (encoder stays fp32)"
    ),
    opset: int = OPSET,
    simplify: bool = typer.Option(
        False,
        "--simplify/--no-simplify",
        help="onnxslim each graph (measured: no onnxruntime speed-up; run verify after)",
    ),
    name: str | None = typer.Option(None, "--name", help="voice name (default: folder name)"),
    frontend_profile: str = typer.Option(
        "",
        "--frontend-profile",
        help="text frontend the voice was trained with (default: its release's own: "
        "upstream-2.0/2.1/2.2, improved for 2.3, sbv2, sbv2-jp-extra); one of "
        f"{', '.join(PROFILE_NAMES)} (docs/frontend.md); requests may override it (PROFILE)",
    ),
    clap: Path | None = CLAP,
    emotion_model: Path | None = EMOTION_MODEL,
    user_dict: Path | None = USER_DICT,
) -> None:
    """Export all graphs of a voice (BERT per language, encoder, decoder) plus voice.json."""
    from tts_export.voice import ExportOptions, export_voice, parse_bert_args

    try:
        berts = parse_bert_args(bert)
        export_voice(
            checkpoint,
            out,
            berts,
            config,
            ExportOptions(
                opset=opset,
                fp16=fp16,
                simplify=simplify,
                name=name,
                frontend_profile=frontend_profile,
                clap=clap,
                emotion_model=emotion_model,
                user_dict=user_dict,
            ),
            progress=_progress,
        )
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    console.print(f"next: tts-export verify {out}")


@app.command()
def verify(
    voice_dir: Path = typer.Argument(..., help="folder written by `tts-export onnx`"),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="the voice's G_*.pth (default: the one it was exported from)"
    ),
    phones: list[int] = typer.Option([3, 41, 200], "--phones", help="phone counts to test"),
    tolerance: float = typer.Option(1e-4, "--tolerance", help="fp32 max |error|"),
) -> None:
    """Run every graph against the PyTorch reference; exit 1 when outside tolerance."""
    from tts_export.verify import verify_voice

    try:
        checks = verify_voice(voice_dir, checkpoint, tuple(phones), tolerance, _progress)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    for c in checks:
        console.print(c.line(), highlight=False)
    bad = [c for c in checks if not c.ok]
    worst = max((c.max_abs_error for c in checks if c.max_abs_error != float("inf")), default=0.0)
    if bad:
        console.print(f"[red]FAILED[/red]: {len(bad)} of {len(checks)} checks outside tolerance")
        raise typer.Exit(1)
    console.print(f"[green]OK[/green]: {len(checks)} checks, worst max|err| {worst:.2e}")


@app.command()
def quantize(
    voice: Path = typer.Option(..., "--voice", help="folder written by `tts-export onnx`"),
    min_snr: float = typer.Option(
        25.0, "--min-snr", help="refuse the int8 decoder below this held-out SNR (dB)"
    ),
) -> None:
    """int8 decoder (static QDQ), calibrated on the voice's own graphs; serve it with
    `tts-export repository --precision decoder=int8`."""
    from tts_export.quantize import quantize_decoder

    try:
        res = quantize_decoder(voice, min_snr, progress=_progress)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    console.print(
        f"[green]wrote {res.graph}[/green]: SNR {res.snr_db:.1f} dB against fp32, "
        f"{res.calibration_sentences} calibration sentences, {res.seconds:.0f} s"
    )
    console.print(f"next: tts-export repository --voice {voice} --precision decoder=int8 ...")


@app.command()
def trt(
    voice_dir: Path = typer.Argument(..., help="folder written by `tts-export onnx`"),
    out: Path = typer.Option(..., "--out", help="folder for the .plan engines"),
    fp16: bool = typer.Option(False, "--fp16"),
    max_batch: int = typer.Option(8, "--max-batch"),
    max_tokens: int = typer.Option(512, "--max-tokens"),
    max_phones: int = typer.Option(512, "--max-phones"),
    max_frames: int = typer.Option(4096, "--max-frames"),
    workspace: float = typer.Option(4.0, "--workspace", help="GiB"),
) -> None:
    """Build TensorRT engines (needs TensorRT and an NVIDIA GPU)."""
    from tts_export.metadata import VoiceManifest
    from tts_export.tensorrt import (
        TensorRTUnavailable,
        build_engine,
        default_profiles,
        split_decoder_profiles,
        tensorrt_available,
    )
    from tts_runtime.windows import WINDOW_FRAMES, context_from_config
    from vits2.serving.pipeline import voice_parts

    ok, why = tensorrt_available()
    if not ok:
        _fail(f"cannot build TensorRT engines here: {why}", code=1)
    manifest = VoiceManifest.load(voice_dir)
    out.mkdir(parents=True, exist_ok=True)
    dims = dict(inter_channels=manifest.inter_channels, gin_channels=manifest.gin_channels)
    # the encoder's inputs are the voice's release's (BERT slots, emo / emo_id / style_vec)
    emo_dim = voice_parts(manifest).emo_dim
    encoder = dict(encoder_inputs=manifest.encoder_inputs, emo_dim=emo_dim)
    for kind, graph in manifest.onnx_graphs.items():
        family = kind.split("_")[0]
        if family in ("flow", "vocoder"):  # the decoder's halves, for windowed streaming
            ctx = context_from_config(json.loads((voice_dir / "config.json").read_text()))
            window = WINDOW_FRAMES + ctx.left + ctx.right
            profiles = split_decoder_profiles(
                family, max_batch, max_phones, max_frames, window_frames=window, **dims
            )
        else:
            profiles = default_profiles(
                family, max_batch, max_tokens, max_phones, max_frames, **dims, **encoder
            )
        _progress(f"building {kind}")
        try:
            build_engine(
                voice_dir / graph,
                out / f"{kind}.plan",
                profiles,
                fp16=fp16 and family not in ("encoder", "flow"),  # durations, z stay fp32
                workspace_gb=workspace,
                timing_cache=out / "timing.cache",
            )
        except TensorRTUnavailable as e:
            _fail(str(e), code=1)
    console.print(f"[green]built {len(manifest.graphs)} engines in {out}[/green]")


RUNTIME = typer.Option(
    "python",
    "--runtime",
    help="python (embedded default), onnxruntime, openvino or tensorrt (Triton backends)",
)
GRAPH_RUNTIME = typer.Option(
    "auto",
    "--graph-runtime",
    help="runtime python: onnxruntime or openvino; auto: per CPU ISA, recorded in the repository",
)
PRECISION = typer.Option(
    [],
    "--precision",
    help="GRAPH=fp32|bf16|fp16 for bert or decoder (OpenVINO), or decoder=int8 (after "
    "`tts-export quantize`); the encoder is always fp32",
)
PREFERRED_BATCH = typer.Option(
    [], "--preferred-batch", help="Triton preferred batch size (repeat; default 4 8 16)"
)
MAX_PADDING = typer.Option(
    0.0,
    "--max-padding",
    help="runtime python: most share of a decoder batch that may be padding (0: only "
    "equal lengths batch, best on CPU; 1: one batch)",
)
FIRST_WINDOW = typer.Option(
    None, "--first-window-seconds", help="V_stream: audio in the first vocoder window (0.2)"
)
WINDOW_FRAMES_OPTION = typer.Option(
    None, "--window-frames", help="V_stream: frames in the second vocoder window (64)"
)
WINDOW_GROWTH_OPTION = typer.Option(
    None,
    "--window-growth",
    help="V_stream: each later window keeps this many times the frames of the one before "
    "(2; 1 on the native openvino and tensorrt runtimes, which need fixed widths)",
)


@app.command()
def repository(
    voice: Path = typer.Option(..., "--voice", help="folder written by `tts-export onnx`"),
    out: Path = typer.Option(..., "--out", help="model repository folder (voices add up)"),
    runtime: str = RUNTIME,
    graph_runtime: str = GRAPH_RUNTIME,
    precision: list[str] = PRECISION,
    name: str | None = typer.Option(None, "--name", help="voice (ensemble) name"),
    max_batch: int = typer.Option(16, "--max-batch", min=1),
    queue_delay_us: int = typer.Option(2000, "--queue-delay-us", min=0),
    max_queue: int = typer.Option(
        64, "--max-queue", min=1, help="requests a model lets wait; more get 503 (retry later)"
    ),
    queue_timeout_s: float = typer.Option(
        60.0, "--queue-timeout-s", help="seconds a request may wait in a model's queue (then 503)"
    ),
    preferred_batch: list[int] = PREFERRED_BATCH,
    max_padding: float = MAX_PADDING,
    first_window_seconds: float | None = FIRST_WINDOW,
    window_frames: int | None = WINDOW_FRAMES_OPTION,
    window_growth: float | None = WINDOW_GROWTH_OPTION,
    instances: int = typer.Option(1, "--instances", min=1),
    stream_instances: int | None = typer.Option(
        None,
        "--stream-instances",
        min=1,
        help="instances of the streaming model (default: --instances): each streams one request "
        "at a time, so concurrent streams wait for each other's whole stream; one more costs one "
        "stub process (~475 MiB full-size), not another copy of the graphs",
    ),
    stream_lookahead: bool = typer.Option(
        False,
        "--stream-lookahead",
        help="the streaming model prepares the next sentence while it sends this one's windows "
        "(for machines with cores to spare: on 2 cores the two compete and streams got slower)",
    ),
    gpu: bool = typer.Option(False, "--gpu", help="instance groups on GPU (native backends)"),
    engines: Path | None = typer.Option(
        None, "--engines", help="runtime tensorrt: folder from `tts-export trt`"
    ),
    link: bool = typer.Option(
        False,
        "--link",
        help="hard-link the voice's graph files instead of copying them (one copy on disk; "
        "copies across file systems); do not overwrite them in the voice folder then",
    ),
    user_dict: Path | None = USER_DICT,
) -> None:
    """Write the voice's Triton models (ensemble, frontend, graphs) into a repository."""
    from tts_export.repository import (
        RepositoryOptions,
        describe_plan,
        parse_precision,
        resolved_options,
        write_repository,
    )

    try:
        opts = RepositoryOptions(
            runtime=runtime,
            graph_runtime=graph_runtime,  # "auto": chosen per CPU by write_repository
            precision=parse_precision(precision),
            max_batch=max_batch,
            queue_delay_us=queue_delay_us,
            max_queue=max_queue,
            queue_timeout_s=queue_timeout_s,
            preferred_batch=list(preferred_batch) or None,
            max_padding=max_padding,
            instances=instances,
            stream_instances=stream_instances,
            stream_lookahead=stream_lookahead,
            gpu=gpu,
            name=name,
            engines=engines,
            first_window_seconds=first_window_seconds,
            window_frames=window_frames,
            window_growth=window_growth,
            link=link,
        )
        with tempfile.TemporaryDirectory(prefix="tts-user-dict-") as tmp:
            source = voice
            if user_dict is not None:  # a view of the folder with the dictionary added
                from tts_export.voice import with_user_dict

                source = with_user_dict(voice, user_dict, Path(tmp))
            models = write_repository(source, out, opts)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    if runtime == "python":
        opts, auto = resolved_options(voice, opts)
        why = f"; auto: {auto.reason}" if auto else ""
        _progress(f"runtime python ({describe_plan(opts)}{why})")
    else:
        _progress(f"runtime {runtime}")
    console.print(f"wrote {len(models)} models to {out}: {', '.join(models)}")
    console.print(f"next: tts-serve --repository {out}")


@app.command("demo-voice")
def demo_voice(
    out: Path = typer.Option(Path("demo"), "--out", help="folder for the demo checkpoint + BERTs"),
    tiny: bool = typer.Option(False, "--tiny", help="tiny dims (fast) instead of full size"),
    seed: int = typer.Option(0, "--seed"),
    version: str = typer.Option(
        "2.3", "--version", help="release: 2.0, 2.1, 2.2, 2.3, sbv2 or sbv2-jp-extra"
    ),
) -> None:
    """Make a random-weight voice of a release and tiny random BERTs (NOT speech: for trying
    the stack); Style-Bert-VITS2 voices get random style vectors (Neutral, Happy, Sad)."""
    from vits2.random_bert import make_random_bert
    from vits2.random_voice import VERSIONS, full_config, make_random_voice, tiny_config

    if version not in VERSIONS:
        _fail(f"--version must be one of {', '.join(VERSIONS)}, got {version!r}")
    cfg = tiny_config(version) if tiny else full_config(version)
    ckpt = make_random_voice(out / "voice", cfg, seed=seed)
    _progress(f"random {version} voice (not speech) -> {ckpt}")
    for lang in ("JP",) if version == "sbv2-jp-extra" else ("ZH", "EN", "JP"):
        path = make_random_bert(lang, out / "bert" / lang, tiny=True, seed=seed)
        _progress(f"tiny random BERT {lang} -> {path}")
    console.print(f"checkpoint: {ckpt}", highlight=False)


@app.command()
def emotion(
    voice: Path = typer.Argument(..., help="voice folder written by `tts-export onnx`"),
    clap: Path | None = CLAP,
    emotion_model: Path | None = EMOTION_MODEL,
    opset: int = OPSET,
) -> None:
    """Add a 2.1/2.2 voice's emotion models as graphs (checked against transformers)."""
    from tts_export.emotion import add_emotion_models

    try:
        manifest = add_emotion_models(voice, clap, emotion_model, opset, progress=_progress)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    console.print(f"{voice}: emotion graphs {', '.join(sorted(manifest.emotion_models))}")


def main() -> None:  # pragma: no cover
    sys.exit(app())
