"""The `qwentts` command: a Typer app whose commands import torch only when they run a model.

Library code raises qwentts_cli.errors types; `main()` turns them into one line on stderr
(naming this CLI's options where the library names its parameters) and a non-zero exit.
stdout carries only data (audio, ids, JSON).
"""

from __future__ import annotations

import os
import sys

import typer

from qwentts_cli import __version__
from qwentts_cli.cli.bench import bench
from qwentts_cli.cli.info import download, info
from qwentts_cli.cli.synth import synth
from qwentts_cli.cli.text import normalize_command, tokenize_command
from qwentts_cli.errors import QwenTTSError, StdoutClosed

app = typer.Typer(
    name="qwentts",
    help=(
        "Speech synthesis with the Qwen3-TTS 12Hz models, in-process.\n\n"
        "Examples:\n\n"
        "  qwentts synth \"Привет, мир!\" -o out.wav\n\n"
        "  qwentts synth -f book.txt --stream | aplay -f S16_LE -r 24000 -c 1\n\n"
        "  qwentts normalize \"100 рублей\" --lang ru\n\n"
        "  qwentts info --model Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command()(synth)
app.command("normalize")(normalize_command)
app.command("tokenize")(tokenize_command)
app.command()(info)
app.command()(download)
app.command()(bench)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qwentts {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


# Library parameters whose option is not simply `--name-with-dashes`, and parameter=value pairs
# that are a flag of their own.
_OPTION_OF = {"graphs": "--cuda-graphs", "chunk_frames": "--chunk-ms", "ignore_eos": "--frames"}
_FLAG_OF = {"graphs=False": "--no-cuda-graphs"}


def option_name(param: str) -> str:
    """How this CLI writes a library parameter (`max_frames` -> `--max-frames`, `device=cpu` -> `--device cpu`)."""
    if param in _FLAG_OF:
        return _FLAG_OF[param]
    name, _, value = param.partition("=")
    option = _OPTION_OF.get(name, "--" + name.replace("_", "-"))
    return f"{option} {value}" if value else option


def _silence_stdout() -> None:
    # The reader went away (`| head -c 1000`): stop quietly. Point stdout at /dev/null so the
    # interpreter's final flush does not fail again.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _click_exception() -> type[Exception]:
    """The ClickException of the click that typer runs on: recent typer vendors its own copy."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:
        from click.exceptions import ClickException
    return ClickException


def main() -> None:
    ClickException = _click_exception()
    try:
        # standalone_mode=False: errors come back here, so each ends as one line and an exit code.
        code = app(standalone_mode=False)
    except StdoutClosed:
        _silence_stdout()
        sys.exit(0)
    except QwenTTSError as e:
        typer.echo(f"error: {e.render(option_name)}", err=True)
        sys.exit(e.exit_code)
    except ClickException as e:
        # Bad options and arguments: one line that names the problem and where help is.
        ctx = getattr(e, "ctx", None)
        hint = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
        typer.echo(f"error: {e.format_message().rstrip('.')}{hint}", err=True)
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
