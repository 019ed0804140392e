"""`qwentts serve`: the OpenAI-compatible speech server (server/), on uvicorn."""

from __future__ import annotations

import ipaddress
import sys
from typing import Optional

import typer

from qwentts_cli.cli.options import CODEC_DTYPE_HELP, DEFAULT_BATCH, MODEL_HELP, QUANTIZE_HELP
from qwentts_cli.errors import UsageError


def serve(
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free one; the line on stderr says which)."),
    slots: int = typer.Option(DEFAULT_BATCH, "--slots", help="Requests generated at once (the batched engine's rows)."),
    max_queue: int = typer.Option(16, "--max-queue", min=0, help="Requests that may wait for a slot; past it, 429."),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", envvar="QWENTTS_API_KEY", help="Require `Authorization: Bearer KEY` (also $QWENTTS_API_KEY)."),
    max_input_chars: int = typer.Option(4096, "--max-input-chars", min=1, help="Longest `input` taken (OpenAI's limit)."),
    max_upload_mb: float = typer.Option(32, "--max-upload-mb", min=0.01, help="Largest voice upload."),
    drain_seconds: float = typer.Option(
        30, "--drain-seconds", min=0, help="On SIGTERM or Ctrl-C: stop taking requests, finish those in flight for up to this long."),
    cors: Optional[str] = typer.Option(None, "--cors", help="Allow browser requests from this origin (none by default)."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="Speak numbers, dates, units as words (a request's `normalize` wins)."),
    dtype: str = typer.Option("float32", "--dtype", help="Talker weights: float32 or bfloat16."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help=QUANTIZE_HELP),
    codec_dtype: str = typer.Option("float32", "--codec-dtype", help=CODEC_DTYPE_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for the model (default: torch's, the cores or OMP_NUM_THREADS; all of the server's torch work runs on one thread)."),
) -> None:
    """Serve OpenAI's speech API (/v1/audio/speech) and voices, health, readiness and metrics over HTTP.

    Examples:

      qwentts serve --model ./Qwen3-TTS-12Hz-0.6B-CustomVoice

      curl -s localhost:8000/v1/audio/speech -H 'Content-Type: application/json' \\
        -d '{"model": "tts-1", "input": "Hello!", "voice": "ryan", "response_format": "pcm"}' \\
        | aplay -f S16_LE -r 24000 -c 1

      QWENTTS_API_KEY=secret qwentts serve --host 0.0.0.0 --quantize int8
    """
    if slots < 1:
        raise UsageError(f"--slots must be at least 1, not {slots}")
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise UsageError('the server needs its extra: pip install "qwentts-cli[server]"') from None
    from qwentts_cli.load.checkpoint import open_checkpoint
    from qwentts_cli.runtime import check_dtypes

    check_dtypes(dtype, codec_dtype)  # a bad name, like a bad model, fails here, before the port is taken
    checkpoint = open_checkpoint(model)
    if not api_key and not _loopback(host):
        typer.echo(f"warning: listening on {host} with no --api-key: anyone who can reach it can use it", err=True)

    import threading

    from qwentts_cli.server.api import create_app
    from qwentts_cli.server.service import ServeSettings, SpeechService

    settings = ServeSettings(model=checkpoint.path, slots=slots, max_waiting=max_queue, device=device, dtype=dtype,
                             codec_dtype=codec_dtype, quantize=quantize, threads=threads, max_input_chars=max_input_chars,
                             normalize=normalize)
    service = SpeechService(settings)
    app = create_app(service, api_key=api_key, max_upload_bytes=int(max_upload_mb * 2**20), cors=cors)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=drain_seconds, lifespan="off")
    server = _server_class()(config)

    def load() -> None:
        service.load()
        if service.error:
            typer.echo(f"qwentts serve: the model failed to load: {service.error}", err=True)
            server.should_exit = True
        else:
            typer.echo(f"qwentts serve: ready ({service.model_id}, {slots} slots, loaded in {service.load_s:.1f} s)",
                       err=True)

    _announce(server, host, checkpoint.path)
    loader = threading.Thread(target=load, name="qwentts-load", daemon=True)
    loader.start()
    try:
        server.run()
    finally:
        service.close()
    if service.error:
        raise typer.Exit(1)


def _server_class():
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, draining on SIGTERM or Ctrl-C and then exiting 0 (uvicorn itself re-raises
        the signal once it has drained, which makes the exit status 143)."""

        @contextlib.contextmanager
        def capture_signals(self):
            signals = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}  # a second one: force exit
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _announce(server, host: str, model: str) -> None:
    """Say on stderr where the server listens, once the socket is bound (port 0 picks one)."""
    startup = server.startup

    async def announced(sockets=None):
        await startup(sockets)
        for s in server.servers:
            for sock in s.sockets:
                address = sock.getsockname()
                shown = f"[{address[0]}]" if ":" in address[0] else address[0]
                print(f"qwentts serve: listening on http://{shown}:{address[1]} (model {model}; loading)",
                      file=sys.stderr, flush=True)

    server.startup = announced
