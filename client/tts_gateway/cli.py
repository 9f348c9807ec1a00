"""`tts-gateway`: the HTTP gateway over a running Triton (``pip install "./client[gateway]"``).

    tts-gateway --triton-url 127.0.0.1:8001            # http://127.0.0.1:5000
    tts-gateway --jobs-dir jobs --api-key KEY --host 0.0.0.0

Before it listens it prints what it serves: the voices Triton has loaded, the routes, whether
jobs, /models/add and an API key are on (and how to turn each on).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from tts_gateway.backend import GatewayConfig

app = typer.Typer(
    name="tts-gateway",
    help="HTTP gateway over Triton: upstream's /voice API, OpenAI's speech API, jobs, VOICEVOX.",
    add_completion=False,
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _bert_dirs(items: list[str]) -> dict[str, Path]:
    dirs = {}
    for item in items:
        lang, sep, folder = item.partition("=")
        if not (sep and lang.strip() and folder):
            raise typer.BadParameter(f"--bert takes LANG=DIR (e.g. ZH=bert/zh), got {item!r}")
        dirs[lang.strip()] = Path(folder)
    return dirs


def _voice_lines(cfg: GatewayConfig) -> list[str]:
    """One line per voice Triton has loaded (a short timeout: Triton may come up later)."""
    from tts_client.client import TTSClient
    from tts_client.errors import TTSError

    try:
        with TTSClient(cfg.triton_url, protocol=cfg.protocol, timeout=5.0, retries=0) as tts:
            voices = [v for v in tts.voices() if v.ready]
    except (TTSError, ValueError) as e:
        return [
            f"none yet: Triton at {cfg.triton_url} does not answer ({e}); they appear once it does"
        ]
    if not voices:
        return [f"none loaded in Triton at {cfg.triton_url} (tts load NAME)"]
    return [
        f"{i}: {v.name} (release {v.release}; speakers {', '.join(v.speakers)}; "
        f"{', '.join(v.languages)})"
        for i, v in enumerate(voices)
    ]


def summary(cfg: GatewayConfig, host: str, port: int) -> list[str]:
    """What the gateway serves, one short line per fact (no table: logs keep it readable)."""
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    lines = [f"tts-gateway on {url} over Triton {cfg.protocol} {cfg.triton_url}"]
    lines += [f"  voice    {line}" for line in _voice_lines(cfg)]
    lines.append(
        "  routes   /voice /models/info /status (upstream), /v1/audio/speech /v1/models "
        "(OpenAI), /audio_query /synthesis /speakers (VOICEVOX), /playground, /health"
    )
    if cfg.jobs_dir:
        lines.append(f"  jobs     on: POST /jobs, state and audio in {cfg.jobs_dir}")
    else:
        lines.append("  jobs     off: start with --jobs-dir DIR to turn on POST /jobs")
    if cfg.repository and cfg.roots:
        berts = ", ".join(cfg.bert_dirs) or "none (exported voice folders only; --bert LANG=DIR)"
        lines.append(
            f"  add      /models/add writes {cfg.repository}, reads "
            f"{', '.join(str(r) for r in cfg.roots)}; checkpoints export with BERT {berts}"
        )
    else:
        lines.append("  add      off: /models/add needs --repository DIR and --models-root DIR")
    if cfg.api_key:
        lines.append("  key      required on every route but /health and the playground page")
    else:
        lines.append("  key      none: anyone who reaches it can use it (--api-key or TTS_API_KEY)")
    return lines


BAD_REQUEST_HINT = (
    " The usual cause: text put into the URL unencoded. Percent-encode it (UTF-8), e.g. "
    "curl -G http://HOST:PORT/voice --data-urlencode 'text=...', or POST a JSON body."
)
"""Appended to the HTTP server's 400 for a request line it cannot parse (ASCII only)."""


def http_protocol() -> type:
    """uvicorn's HTTP protocol (httptools where installed, else h11) whose 400 for an
    unparsable request says what to do: raw UTF-8 in a URL is refused before the app sees the
    request, so no route of ours can answer it."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class HintingProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        def send_400_response(self, msg: str) -> None:
            super().send_400_response(msg + BAD_REQUEST_HINT)

    return HintingProtocol


@app.command()
def gateway(
    triton_url: str = typer.Option("127.0.0.1:8001", "--triton-url", help="Triton host:port."),
    protocol: str = typer.Option("grpc", "--protocol", help="grpc or http (match the port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(5000, "--port", help="Port (upstream's default; 8000 is Triton's)."),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="TTS_API_KEY", help="Require this key."
    ),
    models_root: list[Path] = typer.Option(
        [], "--models-root", help="Folder /models/add and /models/get_* may read (repeat)."
    ),
    repository: Path | None = typer.Option(
        None, "--repository", help="Triton's model repository, where /models/add writes."
    ),
    jobs_dir: Path | None = typer.Option(
        None, "--jobs-dir", help="Where long-form jobs keep state and audio (jobs off without)."
    ),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", min=1024),
    bert: list[str] = typer.Option(
        [], "--bert", help="LANG=DIR local BERT folder /models/add exports a G_*.pth with (repeat)."
    ),
) -> None:
    """Serve the HTTP gateway over Triton until Ctrl-C."""
    import uvicorn

    from tts_gateway.app import create_app

    if host not in LOOPBACK and not api_key:
        typer.echo(
            f"warning: binding {host} without --api-key: anyone who reaches it can use it", err=True
        )
    options: dict[str, Any] = dict(
        roots=list(models_root), repository=repository, jobs_dir=jobs_dir,
        max_body_bytes=max_body_bytes, bert_dirs=_bert_dirs(bert),
    )  # fmt: skip
    app_ = create_app(triton_url, protocol=protocol, api_key=api_key, **options)
    for line in summary(app_.state.config, host, port):
        typer.echo(line)
    uvicorn.run(app_, host=host, port=port, http=http_protocol())


def main() -> None:
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        typer.echo(
            f"error: the gateway needs its extra ({', '.join(missing)} missing): "
            'pip install "./client[gateway]" (or the full project)',
            err=True,
        )
        raise SystemExit(1)
    app()


if __name__ == "__main__":
    main()
