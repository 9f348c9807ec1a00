"""`vits2` command line: the PyTorch reference synthesizer.

    vits2 say "你好" --checkpoint G.pth --bert ZH=./bert/chinese-roberta-wwm-ext-large \\
        --speaker spk0 --language ZH -o out.wav
"""

from __future__ import annotations

from pathlib import Path

import typer

from tts_contract.request import SCALE_BY_NAME

app = typer.Typer(add_completion=False, help="Bert-VITS2 v2.3 reference synthesizer (PyTorch).")


def scale_option(name: str, extra: str = "") -> typer.models.OptionInfo:
    """An option for one of the contract's scales, its range in the help."""
    s = SCALE_BY_NAME[name]
    return typer.Option(None, "--" + name.replace("_", "-"), help=f"[{s.low}, {s.high}].{extra}")


@app.callback()
def _main() -> None:
    """Bert-VITS2 v2.3 reference synthesizer (PyTorch)."""


def _parse_bert(values: list[str]) -> dict[str, Path]:
    dirs: dict[str, Path] = {}
    for value in values:
        lang, sep, path = value.partition("=")
        lang = lang.strip().upper().replace("JA", "JP")
        if not sep or lang not in ("ZH", "JP", "EN") or not path:
            raise typer.BadParameter(
                f"--bert takes LANG=DIR with LANG in ZH, JP, EN; got {value!r}"
            )
        dirs[lang] = Path(path)
    if not dirs:
        raise typer.BadParameter("give at least one --bert LANG=DIR")
    return dirs


@app.command()
def say(
    text: str = typer.Argument(..., help="Text to speak; '-' reads it from standard input."),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-m", help="Generator G_*.pth."),
    bert: list[str] = typer.Option(..., "--bert", help="LANG=DIR of a local BERT folder."),
    speaker: str = typer.Option(None, "--speaker", "-s", help="Speaker name (default: first)."),
    language: str = typer.Option("ZH", "--language", "-l", help="ZH, JP, EN, AUTO or MIX."),
    output: Path = typer.Option(Path("out.wav"), "--output", "-o", help="Wav file to write."),
    config: Path = typer.Option(None, "--config", "-c", help="config.json (default: beside G)."),
    sdp_ratio: float | None = scale_option("sdp_ratio", " Stochastic duration predictor share."),
    noise_scale: float | None = scale_option("noise_scale", " Prior noise scale."),
    noise_scale_w: float | None = scale_option("noise_scale_w", " Duration noise scale."),
    length_scale: float | None = scale_option("length_scale", " Speaking slowness (>1 slower)."),
    seed: int = typer.Option(0, help="Noise seed: the same seed gives the same audio."),
    device: str = typer.Option("cpu", help="torch device."),
) -> None:
    """Synthesize TEXT to a 16-bit wav file."""
    import sys

    from vits2.synthesize import Synthesizer, write_wav

    if text == "-":
        text = sys.stdin.read()
    try:
        synth = Synthesizer(checkpoint, _parse_bert(bert), config=config, device=device)
        result = synth(
            text, speaker or "", language, sdp_ratio, noise_scale, noise_scale_w, length_scale, seed
        )
    except (ValueError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    write_wav(output, result.audio, result.sample_rate)
    seconds = len(result.audio) / result.sample_rate
    typer.echo(
        f"wrote {output}: {seconds:.2f} s audio at {result.sample_rate} Hz, "
        f"{len(result.sentences)} sentence(s), {result.elapsed:.2f} s elapsed, RTF {result.rtf:.3f}"
    )


if __name__ == "__main__":
    app()
