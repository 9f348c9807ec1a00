"""`tts-serve`: run tritonserver on a model repository until Ctrl-C.

    tts-serve --repository demo/repository                # 127.0.0.1:8000 HTTP, 8001 gRPC, 8002 metrics
    tts-serve --repository /models --host 0.0.0.0 --health-port 8003

Prints each model's resident memory after load and warm-up, watches the Python-backend stubs
and reloads a model whose stub died; ``--health-port`` serves a readiness that says so.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    name="tts-serve",
    help="Run tritonserver on a model repository (Bert-VITS2 voices) until Ctrl-C.",
    add_completion=False,
)


@app.command()
def serve(
    repository: Path = typer.Option(..., "--repository", help="Model repository folder."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0: all)."),
    http_port: int = typer.Option(8000, "--http-port"),
    grpc_port: int = typer.Option(8001, "--grpc-port"),
    metrics_port: int = typer.Option(8002, "--metrics-port"),
    model: list[str] | None = typer.Option(None, "--model", help="Load only these (repeat)."),
    health_port: int | None = typer.Option(
        None, "--health-port", help="Serve GET /ready and /live here (probes; 0: a free port)."
    ),
) -> None:
    """Run tritonserver on a model repository until Ctrl-C; reloads a model whose stub died."""
    from tts_server.binary import TritonNotFoundError, TritonStartError
    from tts_server.tritonserver import serve as run_server

    if not repository.is_dir():
        typer.echo(
            f"error: --repository {repository} is not a folder; write one with "
            "`tts-export repository --voice VOICE_DIR --out DIR`",
            err=True,
        )
        raise typer.Exit(2)
    try:
        code = run_server(
            repository, host, http_port, grpc_port, metrics_port, model or None,
            health_port=health_port,
        )  # fmt: skip
    except (TritonNotFoundError, TritonStartError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
