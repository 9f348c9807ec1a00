"""`tts`: speak text through a Triton server, list, load and unload voices.

tts voices
tts say "你好，世界。" -o hello.wav --voice demo --speaker demo_a --seed 1
echo "long text..." | tts say - -o long.wav --stream

The server and the gateway have their own commands (`tts-serve`, `tts-gateway`): this package
is the thin client and imports nothing of the server side.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tts_client.audio import Audio
from tts_client.cli_files import check_output, read_file
from tts_client.errors import InvalidInputError, TTSError
from tts_client.loading import load_with_progress
from tts_client.planner import SynthesisParams, plan_chunks
from tts_contract.request import (
    EMOTION_IDS,
    INTONATION_SCALE,
    PITCH_SCALE,
    SCALE_BY_NAME,
    STYLE_TEXT_WEIGHT,
    STYLE_WEIGHT,
    Scale,
)

if TYPE_CHECKING:
    from tts_client.client import TTSClient

app = typer.Typer(
    name="tts",
    help="Bert-VITS2 voices served by Triton: speak text, manage voices, run servers.",
    no_args_is_help=True,
    add_completion=False,
)


def range_option(scale: Scale, text: str) -> typer.models.OptionInfo:
    """The option of a contract knob (``--style-weight`` for STYLE_WEIGHT), default None, its
    help the contract's range and then ``text``."""
    flag = "--" + scale.name.replace("_", "-")
    return typer.Option(None, flag, help=f"[{scale.low}, {scale.high}]; {text}")


def scale_option(name: str, extra: str = "") -> typer.models.OptionInfo:
    """A scale option whose help states the contract's range."""
    return range_option(SCALE_BY_NAME[name], f"speaker default.{extra}")


URL = typer.Option(
    "127.0.0.1:8001", "--url", envvar="TTS_URL", help="Triton address host:port (gRPC or HTTP)."
)
PROTOCOL = typer.Option("grpc", "--protocol", help="grpc or http (match the port of --url).")
TIMEOUT = typer.Option(120.0, "--timeout", help="Seconds per request before giving up.")


def _client(url: str, protocol: str, timeout: float = 60.0, voice: str | None = None):
    from tts_client.client import TTSClient

    try:
        return TTSClient(url, protocol=protocol, timeout=timeout, default_voice=voice)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def _fail(err: TTSError) -> typer.Exit:
    kind = type(err).__name__
    typer.echo(f"error ({kind}): {err.message}", err=True)
    return typer.Exit(2 if isinstance(err, InvalidInputError) else 1)


@app.command()
def say(
    text: str = typer.Argument(..., help="Text to speak, or - to read it from stdin."),
    output: Path = typer.Option(
        Path("out.wav"), "-o", "--output", help="WAV file to write (- for stdout)."
    ),
    voice: str | None = typer.Option(None, "--voice", help="Voice name (default: first loaded)."),
    speaker: str | None = typer.Option(None, "--speaker", help="Speaker name or id."),
    language: str | None = typer.Option(
        None,
        "--language",
        help="ZH, JP, EN, AUTO or MIX (default: the voice's: ZH where it has a Chinese BERT, "
        "else its first language).",
    ),
    sdp_ratio: float | None = scale_option("sdp_ratio"),
    noise_scale: float | None = scale_option("noise_scale"),
    noise_scale_w: float | None = scale_option("noise_scale_w"),
    length_scale: float | None = scale_option("length_scale", " >1 slower."),
    seed: int | None = typer.Option(None, "--seed", help="Same seed, same audio (default random)."),
    profile: str | None = typer.Option(
        None, "--profile", help="Text frontend profile (default: the voice's own)."
    ),
    style_text: str | None = typer.Option(
        None, "--style-text", help="Style text whose BERT features are mixed in (v2.3)."
    ),
    style_text_weight: float | None = range_option(
        STYLE_TEXT_WEIGHT, f"default {STYLE_TEXT_WEIGHT.default}."
    ),
    emotion: str | None = typer.Option(
        None, "--emotion", help='Bert-VITS2 2.2 voices: emotion prompt ("Happy", "Sad", ...).'
    ),
    emotion_id: int | None = typer.Option(
        None, "--emotion-id", help=f"Bert-VITS2 2.1 voices: emotion id 0-{EMOTION_IDS[-1]}."
    ),
    reference_audio: Path | None = typer.Option(
        None,
        "--reference-audio",
        help="Bert-VITS2 2.1/2.2 voices: audio file (WAV, FLAC, OGG) whose emotion to use.",
    ),
    style: str | None = typer.Option(
        None, "--style", help="Style-Bert-VITS2 voices: style name (default: Neutral)."
    ),
    style_weight: float | None = range_option(STYLE_WEIGHT, f"default {STYLE_WEIGHT.default}."),
    pitch_scale: float | None = range_option(
        PITCH_SCALE,
        f"{PITCH_SCALE.default} leaves the audio as synthesized (Style-Bert-VITS2's pitch; any "
        "voice; not with --stream).",
    ),
    intonation_scale: float | None = range_option(
        INTONATION_SCALE,
        f"F0 swing around its mean (default {INTONATION_SCALE.default}; not with --stream).",
    ),
    given_phones: str | None = typer.Option(
        None,
        "--given-phones",
        help='Style-Bert-VITS2 voices: the sentence\'s phones by hand, "_ k o N n i ch i w a _".',
    ),
    given_tones: str | None = typer.Option(
        None, "--given-tones", help="Style-Bert-VITS2 voices: one tone (0/1) per given phone."
    ),
    timestamps: Path | None = typer.Option(
        None,
        "--timestamps",
        help="Also write when each sentence, phone, word (Japanese: mora, accent phrase) is "
        "heard to this JSON file (samples and seconds, exact to the frame).",
    ),
    clause_chars: int | None = typer.Option(
        None,
        "--clause-chars",
        help="Cut sentences longer than this many characters at clause marks (each piece "
        "spoken on its own: earlier first audio, different prosody). Default: never.",
    ),
    stream: bool = typer.Option(
        False,
        "--stream",
        help="Write audio as it arrives: per vocoder window where the voice has a stream model "
        "(gRPC), else per sentence. -o - streams a WAV to stdout.",
    ),
    play: bool = typer.Option(
        False, "--play", help="Stream and play as it arrives (aplay, ffplay or paplay)."
    ),
    url: str = URL,
    protocol: str = PROTOCOL,
    timeout: float = TIMEOUT,
) -> None:
    """Speak TEXT into a WAV file; prints audio duration, elapsed time and RTF."""
    check_output(output, "-o / --output")
    check_output(timestamps, "--timestamps")
    if text == "-":
        text = sys.stdin.read()
    params = SynthesisParams(
        speaker=speaker, language=language, sdp_ratio=sdp_ratio, noise_scale=noise_scale,
        noise_scale_w=noise_scale_w, length_scale=length_scale, seed=seed, profile=profile,
        style_text=style_text, style_text_weight=style_text_weight, emotion=emotion,
        emotion_id=emotion_id, reference_audio=read_file(reference_audio, "--reference-audio"),
        style=style, style_weight=style_weight, pitch_scale=pitch_scale,
        intonation_scale=intonation_scale, given_phones=given_phones, given_tones=given_tones,
        timestamps=timestamps is not None, clause_chars=clause_chars,
    )  # fmt: skip
    tts = _client(url, protocol, timeout)
    _say(text, voice, params, output, stream or play, play, tts, timestamps_file=timestamps)


def _say(
    text: str, voice: str | None, params: SynthesisParams, output: Path, stream: bool,
    play: bool, tts: TTSClient, timestamps_file: Path | None = None,
) -> None:  # fmt: skip
    """`say`'s work once its options are read: synthesize or stream into ``output``."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    started = time.perf_counter()
    first_audio: float | None = None
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())  # fmt: skip
    to_stdout = str(output) == "-"  # the WAV is stdout: progress and summary go to stderr
    bar = Progress(*columns, transient=True, console=Console(stderr=True) if to_stdout else None)
    with tts as client, bar:
        try:
            if stream:
                audio, first_audio = _say_streamed(
                    client, text, voice, params, output, play, bar, started
                )
            else:
                task = bar.add_task("synthesizing", total=None)

                def progress(done: int, total: int, _: Audio) -> None:
                    bar.update(task, completed=done, total=total)

                audio = client.synthesize(text, voice, params, progress=progress)
        except TTSError as err:
            raise _fail(err) from None
    elapsed = time.perf_counter() - started
    if first_audio is None:  # streamed audio is written as it arrives
        if to_stdout:
            sys.stdout.buffer.write(audio.to_wav())
            sys.stdout.buffer.flush()
        else:
            audio.save(output)
    if timestamps_file is not None:
        _write_timestamps(timestamps_file, audio)
    rtf = elapsed / audio.duration if audio.duration else float("nan")
    extra = f", first audio after {first_audio:.2f} s" if first_audio is not None else ""
    typer.echo(
        f"wrote {'stdout' if to_stdout else output}: {audio.duration:.2f} s of audio at "
        f"{audio.sample_rate} Hz in {elapsed:.2f} s (RTF {rtf:.3f}{extra})",
        err=to_stdout,
    )


def _write_timestamps(path: Path, audio: Audio) -> None:
    """``audio.timestamps`` with seconds beside the samples, as JSON."""
    import json

    from tts_contract.timestamps import with_seconds

    if audio.timestamps is None:
        raise _fail(TTSError("the server sent no TIMESTAMPS (a server from before them?)"))
    text = json.dumps(with_seconds(audio.timestamps), ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")


def _say_streamed(
    client, text: str, voice: str | None, params: SynthesisParams, output: Path, play: bool,
    bar, started: float,
) -> tuple[Audio, float]:  # fmt: skip
    """`say --stream`: each chunk is written to the WAV (and the player) as it arrives, so the
    file grows while the rest is synthesized. Returns (all the audio, seconds to the first
    chunk). Decoupled (per vocoder window) where the voice has a stream model, else per
    sentence (`first_audio_method`)."""
    from tts_client.encoding import pcm16
    from tts_client.streaming import WavStreamWriter, first_audio_method, open_player

    info = client.voice_info(voice)
    method = first_audio_method(client.protocol, info)
    total = None
    if method == "pipelined":  # one chunk per sentence; decoupled: per window (count unknown)
        language = params.language_for(info)
        whole, clauses = params.whole_request(), params.clause_chars or 0
        total = len(plan_chunks(text, info, True, language, whole, clauses))
    task = bar.add_task(f"streaming ({method})", total=total)
    player = open_player(info.sample_rate) if play else None
    to_stdout = str(output) == "-"
    sink = sys.stdout.buffer if to_stdout else open(output, "wb")  # noqa: SIM115 (closed below)
    writer, parts, first_audio = WavStreamWriter(sink, seekable=not to_stdout), [], None
    try:
        for part in client.stream(text, voice, params, method=method):
            first_audio = first_audio or time.perf_counter() - started
            writer.write(part)
            if player is not None:
                try:
                    player.stdin.write(pcm16(part.samples))
                    player.stdin.flush()
                except BrokenPipeError:
                    raise TTSError(f"the player {player.args[0]} exited while playing") from None
            parts.append(part)
            bar.advance(task)
    finally:
        writer.close()
        if not to_stdout:
            sink.close()
        if player is not None:
            with contextlib.suppress(BrokenPipeError):
                player.stdin.close()
            player.wait()
    if not parts:
        raise TTSError("the stream ended without audio")
    return Audio.join(parts), first_audio  # each sentence's last chunk ends with its pause


@app.command()
def voices(
    url: str = URL,
    protocol: str = PROTOCOL,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the voices in the server's repository."""
    from dataclasses import asdict

    from rich.console import Console
    from rich.table import Table

    with _client(url, protocol) as client:
        try:
            found = client.voices()
        except TTSError as err:
            raise _fail(err) from None
    if as_json:
        typer.echo(json.dumps([asdict(v) for v in found], ensure_ascii=False, indent=2))
        return
    table = Table("voice", "ready", "release", "speakers", "languages", "Hz", "takes", "styles")
    for v in found:
        table.add_row(
            v.name,
            "yes" if v.ready else v.state.lower() or "no",
            v.release or "(load to see)",
            ", ".join(f"{name} ({i})" for name, i in v.speakers.items()),
            ", ".join(v.languages),
            str(v.sample_rate or ""),
            ", ".join(v.conditioning_inputs),
            ", ".join(v.styles),
        )
    # in a log (not a terminal) a row stays one line: rich would wrap it at 80 columns
    Console(width=None if sys.stdout.isatty() else 1000).print(table)
    if not found:
        typer.echo("no voices in the repository", err=True)


@app.command()
def load(
    name: str = typer.Argument(..., help="Voice name."),
    url: str = URL,
    protocol: str = PROTOCOL,
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds for the loads."),
) -> None:
    """Load a voice's models (server in explicit model-control mode)."""
    started = time.perf_counter()
    with _client(url, protocol, timeout) as client:
        try:
            info = load_with_progress(client, name, lambda: _client(url, protocol, 5.0))
        except TTSError as err:
            raise _fail(err) from None
    typer.echo(
        f"loaded {name} ({len(info.models)} models) in {time.perf_counter() - started:.1f} s"
    )


@app.command()
def unload(name: str = typer.Argument(..., help="Voice name."), url: str = URL, protocol: str = PROTOCOL) -> None:  # fmt: skip
    """Unload every model of a voice."""
    with _client(url, protocol) as client:
        try:
            client.unload_voice(name)
        except TTSError as err:
            raise _fail(err) from None
    typer.echo(f"unloaded {name}")


MOVED = {
    "serve": ("tts-serve", "the full project (bash scripts/install.sh, or pip install ./client .)"),
    "gateway": ("tts-gateway", 'the gateway extra (pip install "./client[gateway]")'),
}
"""Commands that left `tts` -> (their own command, what installs it)."""


def _moved(old: str) -> None:
    new, install = MOVED[old]

    @app.command(
        old,
        hidden=True,
        add_help_option=False,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def moved(ctx: typer.Context) -> None:
        command = shlex.join([new, *ctx.args])
        typer.echo(
            f"error: `tts {old}` is now its own command: run `{command}` (installed with "
            f"{install})",
            err=True,
        )
        raise typer.Exit(2)


for _old in MOVED:
    _moved(_old)


if __name__ == "__main__":
    app()
