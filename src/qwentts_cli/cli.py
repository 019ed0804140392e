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
from qwentts_cli.cli_text import normalize_command, tokenize_command
from qwentts_cli.errors import QwenTTSError, UsageError

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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qwentts {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


def read_text(text: Optional[str], file: Optional[Path]) -> str:
    """The text to speak: the argument, `-` or no argument with piped stdin, or --file."""
    if file is not None:
        if text is not None:
            raise UsageError("give the text either as an argument or with --file, not both")
        try:
            return file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"--file {file}: no such file") from None
        except UnicodeDecodeError as e:
            raise UsageError(f"--file {file} is not UTF-8 text (bad byte at offset {e.start}); convert it to UTF-8") from None
        except OSError as e:
            raise UsageError(f"--file {file}: {e.strerror}") from None
    if text is None or text == "-":
        if text is None and sys.stdin.isatty():
            raise UsageError("no text given; pass TEXT, --file FILE, or pipe text on stdin")
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"stdin is not UTF-8 text (bad byte at offset {e.start}); convert it to UTF-8") from None
    return text


@app.command()
def synth(
    text: Optional[str] = typer.Argument(None, help="Text to speak; `-` or nothing reads stdin."),
    output: Path = typer.Option(Path("out.wav"), "-o", "--output", help="Output file: .wav, .flac or .ogg."),
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
        None, "--max-frames", help="Stop after this many 80 ms frames (default: 60 + 10 per text token)."
    ),
    streaming_text: bool = typer.Option(False, "--streaming-text", help="Official streaming-text prompt layout: text fed one token per frame."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="Speak numbers, dates, units as words (ru, en)."),
    show_text: bool = typer.Option(False, "--show-text", help="Print the normalized text to stderr."),
    subtype: str = typer.Option("pcm16", "--subtype", help="Sample format: pcm16, pcm24, float (WAV), vorbis (OGG)."),
    dump_codes: Optional[Path] = typer.Option(None, "--dump-codes", help="Also save the codes, int64 (frames, 16), as .npy."),
    dtype: str = typer.Option("float32", "--dtype", help="Talker weights: float32 or bfloat16."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: torch's choice)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Progress and timings on stderr."),
) -> None:
    """Speak TEXT into an audio file.

    Examples:

      qwentts synth "Привет, мир!" -o out.wav

      echo "Hello there." | qwentts synth - --language english -o hello.flac

      qwentts synth -f chapter.txt --speaker serena --seed 7 -o chapter.wav
    """
    from qwentts_cli.audio import check_writable, output_format

    body = read_text(text, file)
    if not body.strip():
        raise UsageError("the text is empty; give some text to speak")
    output_format(str(output), subtype)
    check_writable(str(output))
    if dump_codes is not None:
        check_writable(str(dump_codes))
    from qwentts_cli.checkpoint import resolve_model_dir
    from qwentts_cli.config import TTSConfig

    # Config-level checks (speaker, language, model type) before any weights are read.
    model_dir = resolve_model_dir(model)
    TTSConfig.from_dir(model_dir).validate_request(speaker, language, instruct)
    if normalize:
        from qwentts_cli.text.normalize import normalize as normalize_text

        body = normalize_text(body, lang=language)
    if show_text or verbose:
        typer.echo(body, err=True)

    import time

    import torch

    from qwentts_cli.audio import write_audio, write_codes
    from qwentts_cli.runtime import Synthesizer

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    synth_ = Synthesizer.from_pretrained(model_dir, device=device, dtype=dtype)
    t1 = time.perf_counter()
    sampling = synth_.greedy() if greedy else synth_.sampling
    overrides = {
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "repetition_penalty": repetition_penalty,
        "subtalker_temperature": subtalker_temperature,
        "subtalker_top_k": subtalker_top_k,
        "subtalker_top_p": subtalker_top_p,
    }
    from dataclasses import replace

    sampling = replace(sampling, **{k: v for k, v in overrides.items() if v is not None})
    result = synth_.synthesize(
        body,
        speaker=speaker,
        language=language,
        sampling=sampling,
        max_frames=max_frames,
        streaming_text=streaming_text,
        instruct=instruct,
        seed=seed,
    )
    t2 = time.perf_counter()
    write_audio(str(output), result.audio, result.sample_rate, subtype)
    if dump_codes is not None:
        write_codes(str(dump_codes), result.codes)
    if verbose:
        rtf = (t2 - t1) / result.seconds if result.seconds else float("nan")
        typer.echo(
            f"load {t1 - t0:.2f}s, synth {t2 - t1:.2f}s, {len(result.codes)} frames, "
            f"{result.seconds:.2f}s audio, RTF {rtf:.2f} -> {output}",
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
    chunk_frames: int = typer.Option(1, "--chunk-frames", min=1, help="Frames per streamed decode."),
    language: str = typer.Option("russian", "--language", "-l"),
    speaker: Optional[str] = typer.Option(None, "--speaker", "-s"),
    dtype: str = typer.Option("float32", "--dtype"),
    device: str = typer.Option("cpu", "--device"),
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
                       dtype=dtype, device=device, language=language, speaker=speaker, threads=threads)
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


def main() -> None:
    import click

    try:
        # standalone_mode=False: errors come back here, so each ends as one line and an exit code.
        code = app(standalone_mode=False)
    except QwenTTSError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
