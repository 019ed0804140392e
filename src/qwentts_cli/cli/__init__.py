"""The `qwentts` command: a Typer app whose commands import torch only when they run a model.

Library code raises qwentts_cli.errors types; `main()` turns them into one line on stderr
(naming this CLI's options where the library names its parameters) and a non-zero exit.
stdout carries only data (audio, ids, JSON).
"""

from __future__ import annotations

import io
import os
import sys
import warnings

import typer

from qwentts_cli import __version__
from qwentts_cli.cli.batch import batch
from qwentts_cli.cli.bench import bench
from qwentts_cli.cli.info import download, info
from qwentts_cli.cli.serve import serve
from qwentts_cli.cli.synth import synth
from qwentts_cli.cli.text import normalize_command, tokenize_command
from qwentts_cli.cli.voice import voice_app
from qwentts_cli.errors import QwenTTSError, QwenTTSWarning, StdoutClosed, StdoutError

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
    # Plain click help: it wraps at any width and keeps every option name whole (rich's tables cut
    # them at 80 columns and tag each flag `<bool>`).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

app.command()(synth)
app.command("normalize")(normalize_command)
app.command("tokenize")(tokenize_command)
app.command()(info)
app.command()(download)
app.command()(batch)
app.command()(bench)
app.command()(serve)
app.add_typer(voice_app, name="voice")


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
_OPTION_OF = {"graphs": "--cuda-graphs"}
_FLAG_OF = {"graphs=False": "--no-cuda-graphs"}


def option_name(param: str) -> str:
    """How this CLI writes a library parameter (`max_frames` -> `--max-frames`, `device=cpu` -> `--device cpu`)."""
    if param in _FLAG_OF:
        return _FLAG_OF[param]
    name, _, value = param.partition("=")
    option = _OPTION_OF.get(name, "--" + name.replace("_", "-"))
    return f"{option} {value}" if value else option


def _silence_stdout() -> None:
    # The reader went away (`| head -c 1000`), or stdout cannot take more: stop. Point fd 1 at
    # /dev/null so the interpreter's final flush of what is still buffered does not fail again.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)


class _StdoutFile(io.RawIOBase):
    """File descriptor 1, whose write errors say that they are stdout's (a full disk, a closed fd)."""

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1

    def isatty(self) -> bool:
        return os.isatty(1)

    def write(self, data) -> int:
        try:
            return os.write(1, data)
        except BrokenPipeError:
            # The reader went away (`| head`): a quiet stop for every command. Raised as our own
            # type, because click turns an EPIPE OSError into exit status 1 before main() sees it.
            raise StdoutClosed() from None
        except OSError as e:
            raise StdoutError(e) from None


def _guard_stdout() -> None:
    """Route the process's stdout through _StdoutFile, so that `> /dev/full` or `>&-` ends as one
    line naming stdout, for every command (--help too). Left alone when stdout is not fd 1 (tests)."""
    current = sys.stdout
    try:
        if current is not None and current.fileno() != 1:
            return
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return
    raw = _StdoutFile()
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", errors="strict",
                                  line_buffering=raw.isatty(), write_through=False)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, QwenTTSWarning):
        typer.echo(f"warning: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def _click_exception() -> type[Exception]:
    """The ClickException of the click that typer runs on: recent typer vendors its own copy."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:
        from click.exceptions import ClickException
    return ClickException


def main() -> None:
    ClickException = _click_exception()
    _guard_stdout()
    warnings.showwarning = _show_warning
    warnings.simplefilter("always", QwenTTSWarning)  # each stopped piece is its own news
    try:
        # standalone_mode=False: errors come back here, so each ends as one line and an exit code.
        code = app(standalone_mode=False)
        sys.stdout.flush()  # here, where a failure is still ours to report
    except StdoutClosed:
        _silence_stdout()
        sys.exit(0)
    except QwenTTSError as e:
        typer.echo(f"error: {e.render(option_name)}", err=True)
        if isinstance(e, StdoutError):
            _silence_stdout()
        sys.exit(e.exit_code)
    except ClickException as e:
        if type(e).__name__ == "NoArgsIsHelpError" and getattr(e, "ctx", None) is not None:
            typer.echo(e.ctx.get_help())  # `qwentts` alone: the help, not an error
            sys.exit(0)
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
