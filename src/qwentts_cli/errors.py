"""User-facing error types: library code raises these, the CLI turns them into one stderr line."""


class QwenTTSError(Exception):
    """A failure the user can fix. The message says what went wrong and what to do."""

    exit_code = 1


class UsageError(QwenTTSError):
    """Bad arguments or input text."""

    exit_code = 2


class ModelNotFoundError(QwenTTSError):
    """No checkpoint at the given path, and none in the Hugging Face cache."""


class CheckpointError(QwenTTSError):
    """A checkpoint that is incomplete, corrupt, or has tensors of the wrong shape."""


class UnsupportedConfigError(QwenTTSError):
    """A config.json this code does not know how to run."""


class OutputError(QwenTTSError):
    """An output path that cannot be written."""


class StdoutClosed(QwenTTSError):
    """The reader of stdout went away (`| head -c 1000`): not a failure, the command just stops.

    Commands raise this in place of BrokenPipeError because click turns an EPIPE OSError into
    exit status 1 before the CLI's own handler sees it.
    """

    exit_code = 0
