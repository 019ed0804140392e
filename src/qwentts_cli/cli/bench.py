"""`qwentts bench`: options -> the benchmark runner (bench/), report as tables or JSON."""

from __future__ import annotations

from typing import Optional

import typer

from qwentts_cli.cli.options import CODEC_DTYPE_HELP, CUDA_GRAPHS_HELP, MODEL_HELP, QUANTIZE_HELP
from qwentts_cli.errors import UsageError


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
    ref_audio: Optional[str] = typer.Option(None, "--ref-audio", help="Base models: clone this clip (its creation is timed too)."),
    ref_text: Optional[str] = typer.Option(None, "--ref-text", help="What the --ref-audio clip says."),
    x_vector_only: bool = typer.Option(False, "--x-vector-only", help="Clone from the speaker embedding alone."),
    dtype: str = typer.Option("float32", "--dtype"),
    quantize: Optional[str] = typer.Option(None, "--quantize", help=QUANTIZE_HELP),
    codec_dtype: str = typer.Option("float32", "--codec-dtype", help=CODEC_DTYPE_HELP),
    device: str = typer.Option("cpu", "--device"),
    cuda_graphs: bool = typer.Option(True, "--cuda-graphs/--no-cuda-graphs", help=CUDA_GRAPHS_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (default: torch's choice)."),
    compare_official: bool = typer.Option(False, "--compare-official", help="Also time the official qwen-tts package (if installed) on the same checkpoint."),
    batch: Optional[str] = typer.Option(
        None, "--batch", help="Time batched generation at these sizes (e.g. 1,2,4,8): 2B utterances of the first "
        "text each, aggregate throughput and RTF, ms per frame per row, TTFA, peak RSS; each utterance decoded "
        "once done (files), or in order as it is made with --stream. --frames defaults to 25."),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout instead of a table."),
) -> None:
    """Time synthesis: RTF, time to first audio, ms per frame by stage, memory.

    Examples:

      qwentts bench --model random:0.6b --frames 25 --runs 3

      qwentts bench --model ./models/0.6b --stream --json

      qwentts bench --model ./models/0.6b --frames 25 --compare-official

      qwentts bench --model random:0.6b --quantize int8 --batch 1,2,4,8 --texts medium

      qwentts bench --model random:0.6b --quantize int8 --codec-dtype bfloat16 --batch 8
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
    batches = _batch_sizes(batch) if batch is not None else None
    from qwentts_cli.runtime import check_dtypes

    check_dtypes(dtype, codec_dtype)  # bad names, before anything loads or prints
    if batches is not None:
        if compare_official:
            raise UsageError("--batch and --compare-official time different things; give one")
        frames = frames or 25
    if compare_official:
        if model is None or model.startswith("random:"):
            raise UsageError("--compare-official needs a checkpoint both can load: pass --model DIR")
        from qwentts_cli.bench.official import check_official_available

        check_official_available()  # before the benchmark, not after it
    report = run_bench(model, chosen, runs=runs, warmup=warmup, frames=frames, stream=stream, chunk_frames=chunk_frames,
                       max_chunk_frames=max_chunk_frames,
                       dtype=dtype, device=device, language=language, speaker=speaker, threads=threads,
                       quantize=quantize, codec_dtype=codec_dtype, graphs=None if cuda_graphs else False,
                       progress=lambda message: typer.echo(f"bench: {message}", err=True),
                       ref_audio=ref_audio, ref_text=ref_text, x_vector_only=x_vector_only, batches=batches)
    if compare_official:
        from qwentts_cli.bench.official import bench_official

        typer.echo("bench: timing the official qwen-tts package", err=True)
        report["official"] = bench_official(report["model_dir"], chosen, runs, warmup, frames, dtype, report["device"],
                                            language, report["speaker"], ref_audio, ref_text, x_vector_only)
    if json_out:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        from qwentts_cli.bench.report import print_report

        print_report(report)


def _batch_sizes(spec: str) -> list[int]:
    """`1,2,4,8` -> [1, 2, 4, 8]: whole numbers of at least 1."""
    sizes = []
    for part in spec.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise UsageError(f"--batch {spec}: give batch sizes of at least 1, separated by commas (e.g. 1,2,4,8)")
        sizes.append(int(part))
    return sizes
