"""A bench report as rich tables on stdout (the JSON form is the report dict itself)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _cell(value: dict | float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):  # the spread is in --json
        return f"{value['median']:.{digits}f}"
    return f"{value:.{digits}f}"


def print_report(report: dict) -> None:
    # Redirected to a file or a pipe there is no terminal width to respect: print the table
    # whole (rich would otherwise squeeze it into 80 columns and cut every header).
    console = Console() if Console().is_terminal else Console(width=200)
    console.print(
        f"[bold]qwentts bench[/]  model={report['model']}  device={report['device']} ({report['device_name']})  "
        f"dtype={report['dtype']}  quantize={report.get('quantize') or 'none'}"
        f"{'  packer=' + report['int8_packer'] if report.get('int8_packer') else ''}  codec={report.get('codec_dtype', 'float32')}  cuda_graphs={report.get('cuda_graphs', False)}  threads={report['threads']}  mode={report['mode']}  "
        f"runs={report['runs']} (+{report['warmup']} warm-up)  load={report['load_s']:.2f}s"
    )
    voice = report.get("voice")
    if voice:
        console.print(f"voice ({voice['mode']}): created in {voice['total_s']:.3f}s (speaker encoder "
                      f"{voice['speaker_encoder_s']:.3f}s, speech encoder {voice['speech_encoder_s']:.3f}s)")
    if report.get("batches") is not None:
        _print_batches(console, report)
        return
    table = Table(title="medians over runs (min and max: --json)")
    for column in ("text", "chars", "frames", "audio s", "TTFA s", "total s", "RTF", "talker ms/f",
                   "predictor ms/f", "codec ms/f", "peak RSS MB"):
        table.add_column(column, justify="right" if column != "text" else "left")
    for r in report["results"]:
        table.add_row(
            r["text"], str(r["chars"]), str(r["frames"]), f"{r['audio_s']:.2f}", _cell(r["ttfa_s"], 2),
            _cell(r["total_s"], 2), _cell(r["rtf"], 2), _cell(r["talker_ms_per_frame"]),
            _cell(r["predictor_ms_per_frame"]), _cell(r["codec_ms_per_frame"]), f"{r['peak_rss_mb']:.0f}",
        )
    console.print(table)
    official = report.get("official")
    if not official:
        return
    by_text = {r["text"]: r for r in official["results"]}
    cmp = Table(title=f"ours vs {official['implementation']} (same process, same checkpoint; ratio = ours / official)")
    for column in ("text", "frames", "gen ms/f ours", "gen ms/f official", "ratio", "codec ms/f ours",
                   "codec ms/f official", "ratio", "RTF ours", "RTF official"):
        cmp.add_column(column, justify="right" if column != "text" else "left")
    for r in report["results"]:
        o = by_text[r["text"]]
        gen, ogen = r["generate_ms_per_frame"]["median"], o["generate_ms_per_frame"]["median"]
        codec, ocodec = r["codec_ms_per_frame"]["median"], o["codec_ms_per_frame"]["median"]
        cmp.add_row(r["text"], f"{r['frames']}/{o['frames']}", f"{gen:.1f}", f"{ogen:.1f}", f"{gen / ogen:.2f}",
                    f"{codec:.1f}", f"{ocodec:.1f}", f"{codec / ocodec:.2f}", _cell(r["rtf"]["median"], 2),
                    _cell(o["rtf"]["median"], 2))
    console.print(cmp)
    console.print(f"load: ours {report['load_s']:.2f}s, official {official['load_s']:.2f}s")


def _print_batches(console: Console, report: dict) -> None:
    table = Table(title=f"batched generation ({report['mode']}), '{report['batch_text']}' x 2B utterances of "
                        f"{report['fixed_frames']} frames (medians; min and max: --json)")
    for column in ("batch", "audio s / s", "aggregate RTF", "row ms/frame", "TTFA s", "talker s", "predictor s",
                   "prefill s", "codec s", "other s", "peak RSS MB"):
        table.add_column(column, justify="right")
    for b in report["batches"]:
        table.add_row(str(b["batch"]), _cell(b["audio_s_per_s"], 2), _cell(b["aggregate_rtf"], 2),
                      _cell(b["row_ms_per_frame"]), _cell(b["ttfa_s"], 2), _cell(b["talker_s"], 2),
                      _cell(b["predictor_s"], 2), _cell(b["prefill_s"], 2), _cell(b["codec_s"], 2),
                      _cell(b["other_s"], 2), f"{b['peak_rss_mb']:.0f}")
    console.print(table)
