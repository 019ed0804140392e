"""`qwentts voice create | list | show | rm`: cloned voices extracted once and kept in the voice library."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from qwentts_cli.cli.options import MODEL_HELP
from qwentts_cli.errors import OutputError, UsageError

voice_app = typer.Typer(
    help=(
        "Cloned voices (Base models), extracted once and reused.\n\n"
        "Examples:\n\n"
        "  qwentts voice create ref.wav --text \"What the clip says.\" --name anna --model ./0.6b-base\n\n"
        "  qwentts synth \"Hello!\" --voice anna --model ./0.6b-base -o hello.wav\n\n"
        "  qwentts voice list"
    ),
    no_args_is_help=True,
)


@voice_app.command("create")
def create(
    ref_audio: Path = typer.Argument(..., help="The reference clip: WAV, FLAC, OGG or MP3, 1-30 s (3-10 s is best)."),
    text: Optional[str] = typer.Option(None, "--text", "-t", help="What the clip says (in-context cloning)."),
    x_vector_only: bool = typer.Option(False, "--x-vector-only", help="Keep only the speaker embedding (no --text needed)."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Save it in the voice library under this name."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="Save it to this .voice file instead."),
    force: bool = typer.Option(False, "--force", help="Replace a saved voice of the same name."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP + " A Base model."),
) -> None:
    """Clone the voice of REF_AUDIO once and save it (to the library with --name, or a file with -o).

    Examples:

      qwentts voice create ref.wav --text "Hello there, this is my voice." --name anna

      qwentts voice create ref.flac --x-vector-only -o anna.voice
    """
    from qwentts_cli.cli.synth import _voice_source
    from qwentts_cli.outputs import check_output
    from qwentts_cli.voices import library_path

    from qwentts_cli.load.checkpoint import open_checkpoint

    if (name is None) == (output is None):
        raise UsageError("give the voice a --name (the library) or an -o FILE, one of the two")
    path = str(library_path(name)) if name is not None else output
    if name is not None:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot make the voice library folder {Path(path).parent}: {e.strerror}; "
                              "set QWENTTS_VOICES to a folder you can write, or save with -o FILE") from None
    target = check_output(path, example="anna.voice")
    if target.existed and not force:
        raise UsageError(f"a voice is already saved at {path}; pass --force to replace it")
    # The clip read and checked, and the model's kind, before any weights load.
    clip = _voice_source(None, ref_audio, text, x_vector_only, audio_flag="REF_AUDIO", text_flag="--text")
    checkpoint = open_checkpoint(model)
    if checkpoint.config.model_type != "base":
        raise UsageError(f"only Base models clone voices; {checkpoint.path} is a {checkpoint.config.model_type} "
                         "model (pass --model with a Base checkpoint)")

    from qwentts_cli.runtime import Synthesizer
    from qwentts_cli.voices import save_voice

    t0 = time.perf_counter()
    synth = Synthesizer.load(checkpoint)
    times: dict = {}
    voice = synth.create_voice((clip.samples, 24000), clip.text, clip.x_vector_only, times=times)
    save_voice(voice, target)
    typer.echo(f"saved {voice.mode} voice to {path} ({voice.seconds:.1f} s of reference codes; speaker encoder "
               f"{times['speaker_encoder']:.2f} s, speech encoder {times['speech_encoder']:.2f} s, "
               f"{time.perf_counter() - t0:.1f} s in all)", err=True)


@voice_app.command("list")
def list_command(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the saved voices (the library: $QWENTTS_VOICES, else the user data folder)."""
    from qwentts_cli.voices import VoiceError, list_voices, load_voice, voices_dir

    rows = []
    for path in list_voices():
        try:
            rows.append(_describe(path.stem, load_voice(path)))
        except VoiceError as e:
            rows.append({"name": path.stem, "error": str(e)})
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo(f"no saved voices in {voices_dir()}", err=True)
    for row in rows:
        what = row.get("error") or f"{row['mode']}, {row['seconds']:.1f} s, {row['made_by']}"
        typer.echo(f"{row['name']}\t{what}")


@voice_app.command("show")
def show(name: str = typer.Argument(..., help="A saved voice's name, or a .voice file.")) -> None:
    """Show what a voice holds and which checkpoints take it."""
    from qwentts_cli.voices import find_voice, load_voice

    path = find_voice(name)
    typer.echo(json.dumps({**_describe(name, load_voice(path)), "file": str(path)}, ensure_ascii=False, indent=2))


@voice_app.command("rm")
def remove(name: str = typer.Argument(..., help="The saved voice to delete.")) -> None:
    """Delete a saved voice from the library."""
    from qwentts_cli.voices import library_path

    path = library_path(name)
    if not path.is_file():
        raise UsageError(f"no saved voice '{name}'; see `qwentts voice list`")
    try:
        path.unlink()
    except OSError as e:
        raise OutputError(f"cannot remove {path}: {e.strerror}") from None
    typer.echo(f"removed {path}", err=True)


def _describe(name: str, voice) -> dict:
    f = voice.family
    return {"name": name, "mode": voice.mode, "seconds": voice.seconds, "ref_text": voice.ref_text,
            "made_by": f.describe(), "model_type": f.model_type, "model_size": f.model_size,
            "xvector_dim": f.xvector_dim, "fingerprint": f.fingerprint}
