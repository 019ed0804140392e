"""The `qwentts` command: a Typer app whose commands import torch only when they run a model.

Library code raises qwentts_cli.errors types; `main()` turns them into one line on stderr
and a non-zero exit. stdout carries only data (audio, ids, JSON).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from qwentts_cli import __version__
from qwentts_cli.cli_input import read_text
from qwentts_cli.cli_text import normalize_command, tokenize_command
from qwentts_cli.errors import QwenTTSError, StdoutClosed, UsageError

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

app.command("normalize")(normalize_command)
app.command("tokenize")(tokenize_command)

MODEL_HELP = "Checkpoint directory or Hugging Face repo id (default: $QWENTTS_MODEL, else Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice from the HF cache)."
QUANTIZE_HELP = (
    "int8: int8 weights (and activations) for the talker and code predictor, ~3x faster on CPU, not exact; "
    "int8-weight: weight-only int8. See docs/benchmark.md for the drift. The first run on a checkpoint "
    "quantizes it and keeps the int8 rows in ~/.cache/qwentts ($QWENTTS_CACHE_DIR) for later runs."
)
CUDA_GRAPHS_HELP = "On a GPU, replay each frame as captured CUDA graphs (--no-cuda-graphs: eager, for debugging)."


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qwentts {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


@app.command()
def synth(
    text: Optional[str] = typer.Argument(None, help="Text to speak; `-` or nothing reads stdin."),
    output: Optional[str] = typer.Option(
        None, "-o", "--output", help="Output file (.wav, .flac, .ogg), or - for raw PCM on stdout. Default: out.wav; with --stream, stdout."
    ),
    file: Optional[Path] = typer.Option(None, "-f", "--file", help="Read the text from this UTF-8 file."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    speaker: Optional[str] = typer.Option(None, "--speaker", "-s", help="Built-in voice (see `qwentts info`); default ryan."),
    language: str = typer.Option("auto", "--language", "-l", help="Language name (russian, english, ...) or auto."),
    instruct: Optional[str] = typer.Option(None, "--instruct", help="Style instruction (1.7B CustomVoice) or voice description (VoiceDesign)."),
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
    streaming_text: bool = typer.Option(False, "--streaming-text", help="Official streaming-text prompt layout: text fed one token per frame."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="Speak numbers, dates, units as words (ru, en)."),
    show_text: bool = typer.Option(False, "--show-text", help="Print the normalized text to stderr."),
    stream: bool = typer.Option(False, "--stream", help="Write audio as it is made: raw PCM to stdout, or an incremental WAV with -o."),
    chunk_ms: int = typer.Option(
        80, "--chunk-ms", min=20, max=1000,
        help="Size of each PCM write; the first audio is decoded after this much (80 ms is one frame), later decodes batch up to 640 ms.",
    ),
    pcm: str = typer.Option("s16le", "--pcm", help="Raw PCM format on stdout: s16le or f32le."),
    subtype: str = typer.Option("pcm16", "--subtype", help="Sample format: pcm16, pcm24, float (WAV), vorbis (OGG)."),
    sample_rate: int = typer.Option(24000, "--sample-rate", min=8000, max=192000, help="Resample the output (soxr) to this rate."),
    trim: bool = typer.Option(False, "--trim-silence", help="Cut leading and trailing silence (below -50 dBFS; files only)."),
    dump_codes: Optional[Path] = typer.Option(None, "--dump-codes", help="Also save the codes, int64 (frames, 16), as .npy."),
    dtype: str = typer.Option("float32", "--dtype", help="Talker weights: float32 or bfloat16."),
    quantize: Optional[str] = typer.Option(
        None, "--quantize", help=QUANTIZE_HELP
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    cuda_graphs: bool = typer.Option(
        True, "--cuda-graphs/--no-cuda-graphs", help=CUDA_GRAPHS_HELP
    ),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (default: torch's choice)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Progress, text and timings on stderr, also when piping."),
) -> None:
    """Speak TEXT into an audio file, or stream it as raw PCM.

    Examples:

      qwentts synth "Привет, мир!" -o out.wav

      echo "Hello there." | qwentts synth - --language english -o hello.flac

      qwentts synth -f book.txt --stream | aplay -f S16_LE -r 24000 -c 1

      qwentts synth "Тест" -o - | ffplay -f s16le -ar 24000 -ac 1 -nodisp -
    """
    from qwentts_cli.audio import PCM_FORMATS, check_writable, output_format

    if output is None:
        output = "-" if stream else "out.wav"
    to_stdout = output == "-"
    stream = stream or to_stdout
    body = read_text(text, file)
    if not body.strip():
        raise UsageError("the text is empty; give some text to speak")
    if pcm not in PCM_FORMATS:
        raise UsageError(f"unknown --pcm {pcm}; use s16le or f32le")
    if stream and to_stdout and sys.stdout.isatty():
        raise UsageError("refusing to write binary audio to a terminal; pipe it to a player or use -o FILE")
    if not to_stdout:
        if stream and not output.lower().endswith(".wav"):
            raise UsageError("--stream writes WAV files only; use -o NAME.wav (or -o - for raw PCM)")
        output_format(output, subtype)
        check_writable(output)
    if trim and stream:
        raise UsageError("--trim-silence needs the whole audio; drop --stream or trim afterwards")
    if dump_codes is not None:
        check_writable(str(dump_codes))

    from qwentts_cli.checkpoint import resolve_model_dir
    from qwentts_cli.config import TTSConfig
    from qwentts_cli.text.segment import split_text

    # Config-level checks (speaker, language, model type) before any weights are read.
    model_dir = model if model and model.startswith("random:") else resolve_model_dir(model)
    if not model_dir.startswith("random:"):
        TTSConfig.from_dir(model_dir).validate_request(speaker, language, instruct)
    if normalize:
        from qwentts_cli.text.normalize import normalize as normalize_text

        body = normalize_text(body, lang=language)
    pieces = split_text(body)
    if not pieces:
        raise UsageError("the text is empty after normalization; give some text to speak")
    if show_text or verbose:
        for piece in pieces:
            typer.echo(piece, err=True)

    import time
    from dataclasses import replace

    import torch

    from qwentts_cli.runtime import STREAM_MAX_CHUNK_FRAMES, Synthesizer
    from qwentts_cli.speak import Interrupted, SpeakRequest, speak

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    synthesizer = Synthesizer.from_pretrained(model_dir, device=device, dtype=dtype, quantize=quantize,
                                              graphs=None if cuda_graphs else False)
    load_s = time.perf_counter() - t0
    sampling = synthesizer.greedy() if greedy else synthesizer.sampling
    overrides = {
        "temperature": temperature, "top_k": top_k, "top_p": top_p, "repetition_penalty": repetition_penalty,
        "subtalker_temperature": subtalker_temperature, "subtalker_top_k": subtalker_top_k,
        "subtalker_top_p": subtalker_top_p,
    }
    sampling = replace(sampling, **{k: v for k, v in overrides.items() if v is not None})
    request = SpeakRequest(
        pieces=pieces,
        output=output,
        stream=stream,
        generation=dict(speaker=speaker, language=language, sampling=sampling, max_frames=max_frames,
                        streaming_text=streaming_text, instruct=instruct, seed=seed),
        max_seconds=max_seconds,
        chunk_frames=max(1, chunk_ms // 80),
        max_chunk_frames=max(STREAM_MAX_CHUNK_FRAMES, chunk_ms // 80),
        chunk_samples=sample_rate * chunk_ms // 1000,
        pcm=pcm,
        subtype=subtype,
        sample_rate=sample_rate,
        trim=trim,
        dump_codes=str(dump_codes) if dump_codes else None,
        progress=verbose or (not to_stdout and sys.stderr.isatty()),
    )
    try:
        summary = speak(synthesizer, request)
    except BrokenPipeError:
        raise StdoutClosed() from None
    except Interrupted as e:
        message = "interrupted"
        if stream and not to_stdout:
            message += f"; {output} holds the audio written so far"
        typer.echo(message, err=True)
        raise typer.Exit(e.status) from None
    if verbose:
        audio = summary["audio_s"]
        rtf = summary["elapsed_s"] / audio if audio else float("nan")
        typer.echo(
            f"load {load_s:.2f}s, synth {summary['elapsed_s']:.2f}s, {summary['frames']} frames, "
            f"{audio:.2f}s audio, RTF {rtf:.2f} -> {output}",
            err=True,
        )


@app.command()
def info(
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show a model's type, size, speakers and languages (no weights are loaded).

    Example: qwentts info --model ./models/Qwen3-TTS-12Hz-0.6B-CustomVoice
    """
    import json

    from qwentts_cli.checkpoint import count_parameters, resolve_model_dir
    from qwentts_cli.config import TTSConfig

    model_dir = resolve_model_dir(model)
    cfg = TTSConfig.from_dir(model_dir)
    params = count_parameters(model_dir)
    data = {
        "model_dir": os.path.abspath(model_dir),
        "type": cfg.model_type,
        "size": cfg.model_size,
        "parameters": params,
        "talker": {
            "hidden_size": cfg.talker.stack.hidden_size,
            "layers": cfg.talker.stack.num_hidden_layers,
            "heads": cfg.talker.stack.num_attention_heads,
            "kv_heads": cfg.talker.stack.num_key_value_heads,
        },
        "code_predictor": {
            "hidden_size": cfg.talker.predictor.hidden_size,
            "layers": cfg.talker.predictor.num_hidden_layers,
        },
        "speakers": cfg.speakers,
        "languages": cfg.languages,
    }
    if json_out:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(f"model:      {data['model_dir']}")
    typer.echo(f"type:       {cfg.model_type} ({cfg.model_size})")
    typer.echo(f"parameters: {params['talker'] / 1e6:.1f}M talker + predictor, {params['codec'] / 1e6:.1f}M codec")
    typer.echo(
        f"talker:     {cfg.talker.stack.num_hidden_layers} layers, hidden {cfg.talker.stack.hidden_size}; "
        f"code predictor: {cfg.talker.predictor.num_hidden_layers} layers, hidden {cfg.talker.predictor.hidden_size}"
    )
    typer.echo(f"speakers:   {', '.join(cfg.speakers) or '(none: voice cloning or voice design)'}")
    typer.echo(f"languages:  {', '.join(cfg.languages)}")


@app.command()
def download(
    repo_id: str = typer.Argument("Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice", help="Hugging Face repo id."),
    local_dir: Optional[Path] = typer.Option(None, "--dir", help="Put the files here instead of the Hugging Face cache."),
) -> None:
    """Fetch a model from the Hugging Face Hub (needs network; progress on stderr).

    Example: qwentts download Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice
    """
    from qwentts_cli.checkpoint import download as fetch

    path = fetch(repo_id, str(local_dir) if local_dir else None)
    typer.echo(path)


@app.command()
def bench(
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP + " Also random:0.6b or random:1.7b."),
    text: Optional[str] = typer.Option(None, "--text", help="Time this text instead of the default set."),
    texts: str = typer.Option("short,medium,long", "--texts", help="Which default texts to time."),
    runs: int = typer.Option(3, "--runs", min=1, help="Measured runs per text."),
    warmup: int = typer.Option(1, "--warmup", min=0, help="Unmeasured runs per text first."),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Generate exactly N frames (EOS ignored): comparable across weights."),
    stream: bool = typer.Option(False, "--stream", help="Decode audio as frames come (time to first audio)."),
    chunk_frames: int = typer.Option(1, "--chunk-frames", min=1, help="Frames in the first streamed decode."),
    max_chunk_frames: int = typer.Option(
        8, "--max-chunk-frames", min=1, help="Later streamed decodes double up to this many frames (as synth does)."
    ),
    language: str = typer.Option("russian", "--language", "-l"),
    speaker: Optional[str] = typer.Option(None, "--speaker", "-s"),
    dtype: str = typer.Option("float32", "--dtype"),
    quantize: Optional[str] = typer.Option(
        None, "--quantize", help=QUANTIZE_HELP
    ),
    device: str = typer.Option("cpu", "--device"),
    cuda_graphs: bool = typer.Option(
        True, "--cuda-graphs/--no-cuda-graphs", help=CUDA_GRAPHS_HELP
    ),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: torch's choice)."),
    compare_official: bool = typer.Option(False, "--compare-official", help="Also time the official qwen-tts package (if installed) on the same checkpoint."),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout instead of a table."),
) -> None:
    """Time synthesis: RTF, time to first audio, ms per frame by stage, memory.

    Examples:

      qwentts bench --model random:0.6b --frames 25 --runs 3

      qwentts bench --model ./models/0.6b --stream --json

      qwentts bench --model ./models/0.6b --frames 25 --compare-official
    """
    import json

    from qwentts_cli.bench.runner import DEFAULT_TEXTS
    from qwentts_cli.bench.runner import bench as run_bench

    if text is not None:
        chosen = {"custom": text}
    else:
        names = [n.strip() for n in texts.split(",") if n.strip()]
        unknown = [n for n in names if n not in DEFAULT_TEXTS]
        if unknown or not names:
            raise UsageError(f"unknown text set '{','.join(unknown) or texts}'; choose from {', '.join(DEFAULT_TEXTS)}")
        chosen = {n: DEFAULT_TEXTS[n] for n in names}
    if compare_official and (model is None or model.startswith("random:")):
        raise UsageError("--compare-official needs a checkpoint both can load: pass --model DIR")
    report = run_bench(model, chosen, runs=runs, warmup=warmup, frames=frames, stream=stream, chunk_frames=chunk_frames,
                       max_chunk_frames=max_chunk_frames,
                       dtype=dtype, device=device, language=language, speaker=speaker, threads=threads,
                       quantize=quantize, graphs=None if cuda_graphs else False)
    if compare_official:
        from qwentts_cli.bench.official import bench_official
        from qwentts_cli.checkpoint import resolve_model_dir
        from qwentts_cli.config import TTSConfig

        model_dir = resolve_model_dir(model)
        spk = TTSConfig.from_dir(model_dir).validate_request(speaker, language, None)
        report["official"] = bench_official(model_dir, chosen, runs, warmup, frames, dtype, report["device"], language, spk)
    if json_out:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        from qwentts_cli.bench.report import print_report

        print_report(report)


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
        typer.echo(f"error: {e}", err=True)
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
