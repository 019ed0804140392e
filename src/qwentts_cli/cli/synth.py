"""`qwentts synth`: options -> one frozen request and an output spec, checked before the model loads,
then one call (cli/speak.py)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from qwentts_cli.cli.input import read_text
from qwentts_cli.cli.options import CODEC_DTYPE_HELP, CUDA_GRAPHS_HELP, DEFAULT_BATCH, MODEL_HELP, QUANTIZE_HELP
from qwentts_cli.errors import EmptyText, StdoutClosed, UsageError

# One streamed frame is 80 ms of audio.
FRAME_MS = 80


def synth(
    text: Optional[str] = typer.Argument(None, help="Text to speak; `-` or nothing reads stdin."),
    output: Optional[str] = typer.Option(
        None, "-o", "--output", help="Output file (.wav, .flac, .ogg), or - for raw PCM on stdout. Default: out.wav; with --stream, stdout."
    ),
    file: Optional[Path] = typer.Option(None, "-f", "--file", help="Read the text from this UTF-8 file (- reads stdin)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    speaker: Optional[str] = typer.Option(None, "--speaker", "-s", help="Built-in voice (see `qwentts info`); default ryan."),
    language: str = typer.Option("auto", "--language", "-l", help="Language name (russian, english, ...) or auto."),
    instruct: Optional[str] = typer.Option(None, "--instruct", help="Style instruction (1.7B CustomVoice) or voice description (VoiceDesign)."),
    voice: Optional[str] = typer.Option(None, "--voice", help="A saved voice (Base models): a name from `qwentts voice list`, or a .voice file."),
    ref_audio: Optional[Path] = typer.Option(None, "--ref-audio", help="Clone the voice of this clip (Base models): WAV, FLAC, OGG or MP3, 1-30 s."),
    ref_text: Optional[str] = typer.Option(None, "--ref-text", help="What the --ref-audio clip says (in-context cloning)."),
    x_vector_only: bool = typer.Option(False, "--x-vector-only", help="Clone from the clip's speaker embedding alone (no --ref-text needed)."),
    greedy: bool = typer.Option(False, "--greedy", help="No sampling, for the talker and the code predictor (reproducible)."),
    temperature: Optional[float] = typer.Option(None, help="Talker sampling temperature (default from the model, 0.9)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Talker top-k (default 50)."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Talker top-p (default 1.0)."),
    repetition_penalty: Optional[float] = typer.Option(None, "--repetition-penalty", help="Penalty on repeated first-codebook tokens (default 1.05)."),
    subtalker_temperature: Optional[float] = typer.Option(None, "--subtalker-temperature", help="Code predictor temperature (default 0.9)."),
    subtalker_top_k: Optional[int] = typer.Option(None, "--subtalker-top-k", help="Code predictor top-k (default 50)."),
    subtalker_top_p: Optional[float] = typer.Option(None, "--subtalker-top-p", help="Code predictor top-p (default 1.0)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling; same seed, same audio."),
    max_frames: Optional[int] = typer.Option(
        None, "--max-frames", min=1, help="Stop each sentence after N frames of 80 ms (default: 60 + 10 per text token)."
    ),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", min=0.08, help="Stop once this much audio exists in all."),
    max_frames_per_token: float = typer.Option(
        8.0, "--max-frames-per-token", min=0.5,
        help="Run-on guard: stop a piece past 25 frames + this many per text token, or looping (0.64 s a token: 2-4x speech)."),
    guard: bool = typer.Option(True, "--guard/--no-guard", help="The run-on guard (--no-guard: only the frame cap stops a piece)."),
    sentence_pause: int = typer.Option(0, "--sentence-pause", min=0, max=60000, help="Milliseconds of silence between pieces."),
    paragraph_pause: Optional[int] = typer.Option(
        None, "--paragraph-pause", min=0, max=60000, help="Milliseconds of silence after a paragraph (a blank line); default: --sentence-pause."),
    subtitles: Optional[str] = typer.Option(
        None, "--subtitles", help="Also write subtitles: one cue per piece, timed from the audio (.srt or .vtt), or - for JSON cues on stderr."),
    start_at: int = typer.Option(1, "--start-at", min=1, help="Resume: start at piece N (the number the progress and --verbose show)."),
    flush_ms: int = typer.Option(
        300, "--flush-ms", min=20, max=10000,
        help="Live input (--stream from a pipe): speak what has come once the input is idle this long."),
    streaming_text: Optional[bool] = typer.Option(
        None, "--streaming-text/--no-streaming-text",
        help="Text fed one token per frame (the official streaming-text layout). Default: on for cloning, off otherwise, as the official package."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="Speak numbers, dates, units as words (ru, en)."),
    show_text: bool = typer.Option(False, "--show-text", help="Print the normalized text to stderr."),
    stream: bool = typer.Option(False, "--stream", help="Write audio as it is made: raw PCM to stdout, or an incremental WAV with -o."),
    chunk_ms: int = typer.Option(
        FRAME_MS, "--chunk-ms", min=20, max=1000,
        help="Size of each PCM write; the first audio is decoded after this much (80 ms is one frame), later decodes batch up to 640 ms.",
    ),
    pcm: str = typer.Option("s16le", "--pcm", help="Raw PCM format on stdout: s16le or f32le."),
    subtype: str = typer.Option("pcm16", "--subtype", help="Sample format: pcm16, pcm24, float (WAV), vorbis (OGG)."),
    sample_rate: int = typer.Option(24000, "--sample-rate", min=8000, max=192000, help="Resample the output (soxr) to this rate."),
    trim: bool = typer.Option(False, "--trim-silence", help="Cut leading and trailing silence (below -50 dBFS; files only)."),
    dump_codes: Optional[str] = typer.Option(None, "--dump-codes", help="Also save the codes, int64 (frames, 16), as .npy (- for stdout)."),
    dtype: str = typer.Option("float32", "--dtype", help="Talker weights: float32 or bfloat16."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help=QUANTIZE_HELP),
    codec_dtype: str = typer.Option("float32", "--codec-dtype", help=CODEC_DTYPE_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    cuda_graphs: bool = typer.Option(True, "--cuda-graphs/--no-cuda-graphs", help=CUDA_GRAPHS_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (default: torch's choice)."),
    batch: Optional[int] = typer.Option(
        None, "--batch", help="Generate up to N sentences at once (faster; the same audio except with --quantize int8; default: "
        f"{DEFAULT_BATCH} for files, 1 for live input). --batch 1: one after another."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Progress, text and timings on stderr, also when piping."),
) -> None:
    """Speak TEXT into an audio file, or stream it as raw PCM.

    Examples:

      qwentts synth "Привет, мир!" -o out.wav

      echo "Hello there." | qwentts synth - --language english -o hello.flac

      qwentts synth -f book.txt --stream | aplay -f S16_LE -r 24000 -c 1

      qwentts synth -f book.txt -o book.wav --batch 8

      qwentts synth "Тест" -o - | ffplay -f s16le -ar 24000 -ac 1 -nodisp -
    """
    if batch is not None and batch < 1:
        raise UsageError(f"--batch must be at least 1, not {batch}")
    live = (stream or output == "-") and _is_live(text, file)
    if live and batch is not None and batch > 1:
        raise UsageError("--batch reads sentences ahead, and live input is spoken as it comes; drop --batch "
                         "(or give the text with -f FILE)")
    batch = batch or (1 if live else DEFAULT_BATCH)
    body = None if live else read_text(text, file)
    if body is not None and not body.strip():
        raise EmptyText()
    # The outputs next: a bad path fails before any model file is read.
    out = _output_spec(output, stream, pcm, subtype, sample_rate, trim, chunk_ms, dump_codes, subtitles,
                       sentence_pause, sentence_pause if paragraph_pause is None else paragraph_pause)

    from qwentts_cli.load.checkpoint import open_checkpoint
    from qwentts_cli.request import STREAM_MAX_CHUNK_FRAMES, SynthesisRequest, resolve_request

    # The model's configs, read once; the request checked against them before any weights load.
    checkpoint = open_checkpoint(model)
    cloned = _voice_source(voice, ref_audio, ref_text, x_vector_only)
    _check_inputs_are_not_outputs([out.target, out.dump_codes, out.subtitles], [file, ref_audio])
    if cloned is not None and not isinstance(cloned, _Reference) and checkpoint.config.model_type == "base":
        from qwentts_cli.voices import check_family, checkpoint_family

        check_family(cloned, checkpoint_family(checkpoint.path, checkpoint.config))  # headers only: before loading
    sampling = checkpoint.sampling
    if greedy:
        sampling = replace(sampling, do_sample=False, subtalker_do_sample=False)
    overrides = {
        "temperature": temperature, "top_k": top_k, "top_p": top_p, "repetition_penalty": repetition_penalty,
        "subtalker_temperature": subtalker_temperature, "subtalker_top_k": subtalker_top_k,
        "subtalker_top_p": subtalker_top_p,
    }
    sampling = replace(sampling, **{k: v for k, v in overrides.items() if v is not None})
    if seed is not None and start_at > 1:
        seed += start_at - 1  # piece N is sampled with seed + N - 1, whether the run started there or not
    request = resolve_request(checkpoint.config, SynthesisRequest(
        speaker=speaker, voice=cloned, language=language, instruct=instruct, sampling=sampling, seed=seed,
        max_frames=max_frames,
        max_seconds=max_seconds, streaming_text=streaming_text,
        chunk_frames=max(1, chunk_ms // FRAME_MS), max_chunk_frames=max(STREAM_MAX_CHUNK_FRAMES, chunk_ms // FRAME_MS),
        max_frames_per_token=max_frames_per_token if guard else None,
    ), checkpoint.sampling)
    if instruct and request.instruct is None:
        typer.echo(f"warning: this {checkpoint.config.model_type} {checkpoint.config.display_size} model "
                   "ignores --instruct (as the official package does)", err=True)
    if live:
        pieces, known = _live_pieces(text, file, normalize, language, flush_ms / 1000, start_at, show_text or verbose), None
    else:
        pieces = _pieces(body, normalize, language, start_at, by_paragraph=bool(out.paragraph_pause_ms))
        known = len(pieces)
        if show_text or verbose:
            for number, (piece, spoken) in enumerate(pieces, start_at):
                typer.echo(f"[{number}] {spoken}" if verbose else spoken, err=True)
    _run(checkpoint, pieces, request, out, known, start_at, device=device, dtype=dtype, quantize=quantize, graphs=cuda_graphs,
         codec_dtype=codec_dtype, threads=threads, progress=verbose or (not out.to_stdout and sys.stderr.isatty()),
         verbose=verbose, batch=batch, warm=live)


class _Reference:
    """A reference clip read and checked before the model loads; cloned once the encoders are there."""

    def __init__(self, samples, text: str | None, x_vector_only: bool):
        self.samples, self.text, self.x_vector_only = samples, text, x_vector_only


def _voice_source(voice: str | None, ref_audio: Path | None, ref_text: str | None, x_vector_only: bool,
                  audio_flag: str = "--ref-audio", text_flag: str = "--ref-text"):
    """The cloned voice the options ask for: a saved Voice, a _Reference to clone after loading, or None."""
    if voice is not None and ref_audio is not None:
        raise UsageError("--voice and --ref-audio both name a voice; give one")
    if ref_audio is None and (ref_text is not None or x_vector_only):
        raise UsageError(f"{text_flag if ref_text is not None else '--x-vector-only'} goes with {audio_flag}")
    if voice is not None:
        from qwentts_cli.voices import find_voice, load_voice

        return load_voice(find_voice(voice))
    if ref_audio is None:
        return None
    from qwentts_cli.reference import read_reference

    if not x_vector_only and not (ref_text and ref_text.strip()):
        raise UsageError(f"{audio_flag} needs {text_flag}, what the clip says (or --x-vector-only to clone from "
                         "the speaker embedding alone)")
    return _Reference(read_reference(ref_audio), ref_text, x_vector_only)


def _check_inputs_are_not_outputs(targets: list, inputs: list) -> None:
    """-o, --dump-codes or --subtitles naming the text file or the reference clip would replace what is read."""
    for target in targets:
        for given in inputs:
            if target is not None and given is not None and not target.stream \
                    and os.path.realpath(given) == target.real:
                raise UsageError(f"'{target.path}' is an input of this run ({given}); write the output elsewhere")


def _output_spec(output: str | None, stream: bool, pcm: str, subtype: str, sample_rate: int, trim: bool,
                 chunk_ms: int, dump_codes: str | None, subtitles: str | None = None, sentence_pause: int = 0,
                 paragraph_pause: int = 0):
    """The output options, checked (outputs.check_output: every target before the model loads)."""
    from qwentts_cli.audio import PCM_FORMATS, WAV_STREAM_PCM, output_format
    from qwentts_cli.cli.speak import OutputSpec
    from qwentts_cli.outputs import check_output, same_target

    if output is None:
        output = "-" if stream else "out.wav"
    to_stdout = output == "-"
    stream = stream or to_stdout
    if pcm not in PCM_FORMATS:
        raise UsageError(f"unknown --pcm {pcm}; use s16le or f32le")
    if stream and to_stdout and sys.stdout.isatty():
        raise UsageError("refusing to write binary audio to a terminal; pipe it to a player or use -o FILE")
    target, format_name = None, ""
    if not to_stdout:
        target = check_output(output)
        if target.stream and not os.path.splitext(output)[1]:
            format_name = output + ".wav"  # a device or pipe named without an extension (/dev/null) gets WAV
        if stream and not (format_name or output).lower().endswith(".wav"):
            raise UsageError("--stream writes WAV files only; use -o NAME.wav (or -o - for raw PCM)")
        output_format(format_name or output, subtype)
        if stream and subtype not in WAV_STREAM_PCM:
            raise UsageError(f"--stream writes WAV as {', '.join(WAV_STREAM_PCM)}; not --subtype {subtype}")
    if trim and stream:
        raise UsageError("--trim-silence needs the whole audio; drop --stream or trim afterwards")
    codes_target = None
    if dump_codes is not None:
        codes_target = check_output(dump_codes, example="codes.npy")
        if to_stdout and codes_target.real == "-":
            raise UsageError("--dump-codes - and -o - both want stdout; give the codes a file name")
        if target is not None and same_target(codes_target, target):
            raise UsageError(f"--dump-codes and -o name the same file ({output}); give the codes a name of their own")
    subtitle_target = None
    if subtitles is not None:
        from qwentts_cli.cli.timeline import SUBTITLE_FORMATS

        subtitle_target = check_output(subtitles, example="out.srt")
        if subtitle_target.real != "-" and os.path.splitext(subtitles)[1].lower() not in SUBTITLE_FORMATS:
            raise UsageError(f"--subtitles {subtitles}: use a .srt or .vtt file name, or - for JSON cues on stderr")
        for other in (target, codes_target):
            if other is not None and subtitle_target.real != "-" and same_target(other, subtitle_target):
                raise UsageError(f"--subtitles names the same file as another output ({subtitles})")
    return OutputSpec(target=target, stream=stream, pcm=pcm, subtype=subtype, sample_rate=sample_rate, trim=trim,
                      chunk_samples=sample_rate * chunk_ms // 1000, dump_codes=codes_target, format_name=format_name,
                      subtitles=subtitle_target, sentence_pause_ms=sentence_pause, paragraph_pause_ms=paragraph_pause)


def _is_live(text: str | None, file: Path | None) -> bool:
    """Whether the text comes from a pipe (or a FIFO) to be read as it arrives: `-` or `--file -` on a
    piped stdin, or `--file` naming a FIFO. A regular file, redirected or named, is read whole."""
    import stat

    if file is not None and str(file) != "-":
        try:
            return text is None and stat.S_ISFIFO(os.stat(file).st_mode)
        except OSError:
            return False
    if text not in (None, "-") and file is None:
        return False
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False  # not a real descriptor (tests): read whole
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _pieces(body: str, normalize: bool, language: str, start_at: int = 1, by_paragraph: bool = False) -> list:
    """The text, normalized (unless asked not to) and cut into the pieces the model speaks one by one:
    (text.feed.Piece, what is spoken) pairs, from piece `start_at` on."""
    from qwentts_cli.text.feed import spoken_pieces

    pieces = [(piece, piece.text) for piece in spoken_pieces(body, normalize, language, by_paragraph)]
    if not pieces:
        raise UsageError("the text has nothing to speak (only symbols, punctuation or control characters); "
                         "give some words")
    if start_at > len(pieces):
        raise UsageError(f"--start-at {start_at}: the text has {len(pieces)} pieces")
    return pieces[start_at - 1 :]


def _live_pieces(text: str | None, file: Path | None, normalize: bool, language: str, flush_s: float,
                 start_at: int, show: bool):
    """Pieces as the input arrives (text.feed.pieces_of_stream), normalized one by one."""
    from qwentts_cli.cli.input import _not_utf8, open_file
    from qwentts_cli.text.feed import NotUTF8, pieces_of_stream
    from qwentts_cli.text.segment import speakable

    normalize_text = None
    if normalize:
        from qwentts_cli.text.normalize import normalize as normalize_text, preload

        preload(language)  # not when the first sentence is waiting
    if file is not None and str(file) != "-":
        source, what = open_file(file), f"--file {file}"
    else:
        source, what = sys.stdin.buffer, "stdin"

    def pieces():
        number, spoken_any = 0, False
        try:
            for piece in pieces_of_stream(source, flush_s):
                spoken = normalize_text(piece.text, lang=language) if normalize_text else piece.text
                if not speakable(spoken):
                    continue
                number += 1
                if number < start_at:
                    continue
                spoken_any = True
                if show:
                    typer.echo(f"[{number}] {spoken}", err=True)
                yield piece, spoken
        except NotUTF8 as e:
            raise _not_utf8(what, e.offset) from None
        if not spoken_any:
            raise EmptyText("the text" if start_at == 1 else f"the text from piece {start_at} on")

    return pieces()


def _run(checkpoint, pieces, request, out, known, first: int = 1, *, device: str, dtype: str, quantize: str | None, graphs: bool,
         codec_dtype: str, threads: int | None, progress: bool, verbose: bool, batch: int = 1, warm: bool = False) -> None:
    """Load the model and speak; the one place synth touches torch. `warm`: live input, whose first
    sentence should not wait for first calls (Synthesizer.warm_up)."""
    import torch

    from qwentts_cli.cli.signals import Interrupted
    from qwentts_cli.cli.speak import speak
    from qwentts_cli.runtime import Synthesizer

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    synthesizer = Synthesizer.load(checkpoint, device=device, dtype=dtype, quantize=quantize,
                                   graphs=None if graphs else False, codec_dtype=codec_dtype)
    if isinstance(request.voice, _Reference):
        clip = request.voice
        request = replace(request, voice=synthesizer.create_voice((clip.samples, 24000), clip.text, clip.x_vector_only))
    if warm:
        synthesizer.warm_up(request)
    load_s = time.perf_counter() - t0
    try:
        summary = speak(synthesizer, pieces, request, out, progress=progress, known=known, first=first, batch=batch)
    except BrokenPipeError:
        raise StdoutClosed() from None
    except Interrupted as e:
        message = "interrupted"
        if e.kept:
            message += f"; {out.path} was left as it was, the audio so far is in {e.kept}"
        typer.echo(message, err=True)
        raise typer.Exit(e.status) from None
    if verbose:
        rtf = summary.elapsed_s / summary.audio_s if summary.audio_s else float("nan")
        typer.echo(
            f"load {load_s:.2f}s, synth {summary.elapsed_s:.2f}s, {summary.frames} frames, "
            f"{summary.audio_s:.2f}s audio, RTF {rtf:.2f} -> {out.path}",
            err=True,
        )
