"""Error types that carry data: library code raises them, the CLI words them as one stderr line.

A message may name a parameter of the library as `<name>` or `<name=value>` (`<max_frames>`,
`<device=cpu>`). `str(error)` shows it as the Python parameter (`max_frames`, `device=cpu`);
the CLI renders the same error with its own option names (`--max-frames`, `--device cpu`),
so library code never names a CLI flag and a Python caller never reads one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_PARAM = re.compile(r"<([A-Za-z_][\w]*(?:=[^<>\s]*)?)>")


class QwenTTSError(Exception):
    """A failure the user can fix. The message says what went wrong and what to do."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def render(self, name: Callable[[str], str] = lambda param: param) -> str:
        """The message with each `<param>` written by `name` (the CLI passes its flag names)."""
        return _PARAM.sub(lambda m: name(m.group(1)), self.message)

    def __str__(self) -> str:
        return self.render()


class UsageError(QwenTTSError):
    """Bad arguments or input text."""

    exit_code = 2


class UnknownChoice(UsageError):
    """A value outside a fixed set (a speaker, a language, a device, a dtype)."""

    def __init__(self, param: str, value: object, choices: Sequence[str]):
        self.param, self.value, self.choices = param, value, list(choices)
        super().__init__(f"unknown <{param}> {value!r}; choose one of: {', '.join(self.choices)}")


class EmptyText(UsageError):
    """Nothing to speak."""

    def __init__(self, what: str = "the text"):
        super().__init__(f"{what} is empty; give some text to speak")


class TextTooLong(UsageError):
    """A piece of text whose prompt does not fit the model's context."""

    def __init__(self, tokens: int, context: int):
        self.tokens, self.context = tokens, context
        super().__init__(
            f"the text is too long for one pass ({tokens} tokens, the model's context is {context}); "
            "split it into shorter pieces"
        )


class ContextExceeded(UsageError):
    """A prompt plus the frames asked for do not fit the model's context."""

    def __init__(self, positions: int, frames: int, context: int):
        self.positions, self.frames, self.context = positions, frames, context
        super().__init__(
            f"the prompt ({positions} positions) plus {frames} frames exceeds the model's context of "
            f"{context}; split the text or lower <max_frames>"
        )


class ModelNotFoundError(QwenTTSError):
    """No checkpoint at the given path, and none in the Hugging Face cache."""


class CheckpointError(QwenTTSError):
    """A checkpoint that is incomplete, corrupt, or has tensors of the wrong shape."""


class UnsupportedConfigError(QwenTTSError):
    """A config.json this code does not know how to run."""


class OutputError(QwenTTSError):
    """An output path that cannot be written."""


class StdoutError(OutputError):
    """Writing to stdout failed (it is full, closed or broken) for another reason than a reader leaving."""

    def __init__(self, error: OSError):
        reason = "it is closed" if error.errno == 9 else (error.strerror or str(error)).lower()
        super().__init__(f"cannot write to stdout: {reason}; redirect it to a file or a pipe with room")


class QwenTTSWarning(UserWarning):
    """Something the user should know that does not stop the work (a damaged cache, an ignored option)."""


class PieceRanOn(QwenTTSWarning):
    """The run-on guard stopped piece `index` (from 0 in its call) and the work went on. `first` is
    the number the message gives piece 0: a caller that started at a later piece renumbers it."""

    def __init__(self, index: int, reason: str, first: int = 1):
        super().__init__(f"piece {index + first} ran on ({reason}); stopped it there and went on")
        self.index, self.reason, self.first = index, reason, first

    def numbered_from(self, first: int) -> "PieceRanOn":
        return PieceRanOn(self.index, self.reason, first)


class StdoutClosed(QwenTTSError):
    """The reader of stdout went away (`| head -c 1000`): not a failure, the command just stops.

    Commands raise this in place of BrokenPipeError because click turns an EPIPE OSError into
    exit status 1 before the CLI's own handler sees it.
    """

    exit_code = 0

    def __init__(self) -> None:
        super().__init__("stdout was closed")
