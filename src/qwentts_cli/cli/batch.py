"""`qwentts batch INPUT --out-dir DIR`: many utterances, one file each, a manifest, resumable.

Every output goes through outputs.py (atomic, never half a file), and the manifest is rewritten
atomically after each item, so after Ctrl-C, SIGTERM or a crash the finished items and the
manifest are valid, and a rerun skips what is complete (same id, same text and settings, the
file still there). One bad item is one failed line of the manifest; the others run.

All items' pieces run through one batched engine (`--batch N` at once, generate/batch.py):
a piece joins as soon as a slot is free, whichever item it belongs to, and each item is written
as its last piece ends, in input order. Each item's audio is what it gets alone, except with int8
linears, which quantize a step's activations over all its rows (docs/benchmark.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections import deque
from dataclasses import dataclass, field, replace
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import typer

from qwentts_cli.cli.options import CODEC_DTYPE_HELP, DEFAULT_BATCH, MODEL_HELP, QUANTIZE_HELP
from qwentts_cli.errors import OutputError, QwenTTSError, QwenTTSWarning, UsageError

FORMATS = ("wav", "flac", "ogg")
MANIFEST = "manifest.jsonl"


def batch(
    input: str = typer.Argument(..., help="Utterances: a text file (one a line), .jsonl or .csv; - for stdin."),
    out_dir: Path = typer.Option(..., "--out-dir", "-d", help="Where the files and manifest.jsonl go (made if missing)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    input_format: str = typer.Option("auto", "--input-format", help="text, jsonl, csv, or auto (by extension, else content)."),
    audio_format: str = typer.Option("wav", "--format", help="Audio file format: wav, flac or ogg."),
    speaker: Optional[str] = typer.Option(None, "--speaker", "-s", help="Default speaker (an item's own wins)."),
    voice: Optional[str] = typer.Option(None, "--voice", help="Default saved voice (Base models)."),
    language: str = typer.Option("auto", "--language", "-l", help="Default language."),
    greedy: bool = typer.Option(False, "--greedy", help="No sampling: reproducible."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Default seed (an item's own wins)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Default frame cap per piece."),
    repetition_penalty: Optional[float] = typer.Option(None, "--repetition-penalty", help="Default repetition penalty."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="Speak numbers, dates, units as words."),
    subtype: str = typer.Option("pcm16", "--subtype", help="Sample format: pcm16, pcm24, float (WAV), vorbis (OGG)."),
    dump_codes: bool = typer.Option(False, "--dump-codes", help="Also write each item's codes as ID.codes.npy."),
    subtitles: bool = typer.Option(
        False, "--subtitles", help="Also put each item's subtitle cues (one per piece, timed from its audio) in its manifest line."),
    max_frames_per_token: float = typer.Option(8.0, "--max-frames-per-token", min=0.5, help="The run-on guard (see synth)."),
    guard: bool = typer.Option(True, "--guard/--no-guard", help="The run-on guard (--no-guard: only the frame cap)."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help=QUANTIZE_HELP),
    dtype: str = typer.Option("float32", "--dtype", help="Talker weights: float32 or bfloat16."),
    codec_dtype: str = typer.Option("float32", "--codec-dtype", help=CODEC_DTYPE_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (default: torch's choice)."),
    batch_size: int = typer.Option(
        DEFAULT_BATCH, "--batch", help="Pieces generated at once, across items (the same audio, except with --quantize int8; 1: one after another)."),
    ray_address: Optional[str] = typer.Option(
        None, "--ray", help="Run on a Ray cluster: local (start one here), auto (the one `ray start` made here), "
        "or the head's HOST:PORT. Needs the [ray] extra and an --out-dir every worker sees."),
    workers: int = typer.Option(1, "--workers", min=1, help="With --ray: model copies (actors), one per GPU or CPU slot."),
) -> None:
    """Speak every item of INPUT into its own file in --out-dir, with a manifest; a rerun resumes.

    JSONL or CSV fields: id, text, speaker, voice, ref_audio, ref_text, x_vector_only, language,
    instruct, seed, max_frames, repetition_penalty, streaming_text, file. An item's fields
    override the options.

    Examples:

      qwentts batch lines.txt --out-dir out/

      qwentts batch items.jsonl --out-dir out/ --format flac --greedy

      cat items.jsonl | qwentts batch - --out-dir out/

      qwentts batch items.jsonl --out-dir /shared/out --ray local --workers 2
    """
    from qwentts_cli.batch_input import check_output_names, parse_items
    from qwentts_cli.load.checkpoint import open_checkpoint
    from qwentts_cli.outputs import check_output

    if batch_size < 1:
        raise UsageError(f"--batch must be at least 1, not {batch_size}")
    from qwentts_cli.runtime import check_dtypes

    check_dtypes(dtype, codec_dtype)  # bad names, before any file is read or made
    if workers > 1 and ray_address is None:
        raise UsageError("--workers goes with --ray (one process runs one model; add --ray local)")
    if ray_address is not None:
        from qwentts_cli.cli.batch_ray import check_address

        check_address(ray_address)  # before anything is read
    if audio_format not in FORMATS:
        raise UsageError(f"unknown --format {audio_format!r}; use one of: {', '.join(FORMATS)}")
    if input_format not in ("auto", "text", "jsonl", "csv"):
        raise UsageError(f"unknown --input-format {input_format!r}; use text, jsonl, csv or auto")
    kind = input_format
    if kind == "auto" and input != "-":
        kind = {".jsonl": "jsonl", ".csv": "csv", ".txt": "text"}.get(Path(input).suffix.lower(), "auto")
    items = parse_items(_read_input(input), kind)
    if not items:
        raise UsageError(f"the batch input {input} holds no items")
    check_output_names(items, audio_format)
    # The folder and the manifest, checked before any model file is read.
    _make_folder(out_dir)
    manifest_target = check_output(str(out_dir / MANIFEST), example=MANIFEST)
    checkpoint = open_checkpoint(model)
    from qwentts_cli.audio import output_format

    output_format(f"x.{audio_format}", subtype)  # the subtype fits the format
    defaults = dict(speaker=speaker, voice=voice, language=language, greedy=greedy, seed=seed, max_frames=max_frames,
                    repetition_penalty=repetition_penalty, normalize=normalize, subtype=subtype, fmt=audio_format,
                    dump_codes=dump_codes, guard=max_frames_per_token if guard else None,
                    # what else makes the audio: the checkpoint and how it runs (a rerun with another redoes all)
                    model=checkpoint.path, quantize=quantize, dtype=dtype, device=device)
    if subtitles:  # only then part of the fingerprint: a rerun asking for cues redoes the items made without
        defaults["subtitles"] = True
    if codec_dtype != "float32":  # likewise: the audio of a float32 codec, made before the option existed, is kept
        defaults["codec_dtype"] = codec_dtype
    if ray_address is not None:
        from qwentts_cli.cli.batch_ray import run_ray

        run_ray(ray_address, workers, checkpoint, items, out_dir, manifest_target, defaults, quantize=quantize,
                dtype=dtype, codec_dtype=codec_dtype, device=device, threads=threads, batch=batch_size)
        return
    _run(checkpoint, items, out_dir, manifest_target, defaults, quantize=quantize, dtype=dtype,
         codec_dtype=codec_dtype, device=device, threads=threads, batch=batch_size)


def _read_input(input: str) -> bytes:
    if input == "-":
        if sys.stdin.isatty():
            raise UsageError("no batch input: give a file, or pipe the items on stdin with -")
        return sys.stdin.buffer.read()
    try:
        return Path(input).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no batch input file at '{input}'") from None
    except IsADirectoryError:
        raise UsageError(f"'{input}' is a folder; give the batch input file") from None
    except OSError as e:
        raise UsageError(f"cannot read '{input}': {e.strerror}") from None


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(exist_ok=True)
    except FileNotFoundError:
        raise OutputError(f"cannot make --out-dir {folder}: its parent folder does not exist") from None
    except FileExistsError:
        raise OutputError(f"--out-dir {folder} is a file, not a folder") from None
    except OSError as e:
        raise OutputError(f"cannot make --out-dir {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into --out-dir {folder}: permission denied")


def _fingerprint(item, defaults: dict) -> str:
    """What makes an item's audio: a rerun skips an item whose output was made from the same (its
    fields, the options, the checkpoint, and the size and date of its reference clip or voice file)."""
    files = {}
    for path in (item.ref_audio, item.voice or defaults.get("voice")):
        if path and os.path.exists(path):
            st = os.stat(path)
            files[path] = (st.st_size, st.st_mtime_ns)
    data = json.dumps({"item": {k: v for k, v in item.__dict__.items() if k != "line"}, "files": files,
                       "defaults": defaults}, sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _previous(manifest: Path) -> dict[str, dict]:
    """The last run's manifest lines by id (an unreadable manifest is no manifest)."""
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        try:
            entry = json.loads(line)
            out[entry["id"]] = entry
        except (ValueError, KeyError, TypeError):
            continue
    return out


@dataclass
class _Plan:
    """One item made ready to run (or found done before, or bad): what `_run` writes for it, in order."""

    number: int
    item: object
    entry: dict
    status: str = "run"  # run, skipped, error
    request: object = None
    pieces: list = field(default_factory=list)
    out: object = None


def done_before(item, defaults: dict, previous: dict, out_dir: Path) -> dict | None:
    """The last run's manifest line for an item whose output is complete (same fingerprint, file
    present), marked skipped; None when it must run."""
    name = item.file or f"{item.id}.{defaults['fmt']}"
    old = previous.get(item.id)
    if (item.error is None and old and old.get("status") in ("ok", "skipped")
            and old.get("input") == _fingerprint(item, defaults) and (out_dir / name).is_file()):
        return {**old, "status": "skipped"}
    return None


class ItemSpeaker:
    """The model, loaded once, and the items spoken into files in `out_dir`: the local run's and
    each Ray worker's (cli/batch_ray.py) one engine."""

    def __init__(self, checkpoint, defaults: dict, out_dir: Path, *, quantize, dtype, device, batch: int = 1,
                 codec_dtype: str = "float32"):
        from qwentts_cli.runtime import Synthesizer

        self.defaults, self.out_dir, self.batch = defaults, out_dir, batch
        self.synth = Synthesizer.load(checkpoint, device=device, dtype=dtype, quantize=quantize, codec_dtype=codec_dtype)
        self.sampling = self.synth.greedy() if defaults["greedy"] else self.synth.sampling
        self.voices: dict = {}

    def _fail(self, plan: _Plan, e: QwenTTSError) -> None:
        from qwentts_cli.cli import option_name

        plan.status = "error"
        plan.entry.update(status="error", error=e.render(option_name), file=None)

    def prepare(self, n: int, item, previous: dict) -> _Plan:
        """The item's request, pieces and output, checked; or why it is skipped or failed."""
        from qwentts_cli.cli.speak import OutputSpec
        from qwentts_cli.cli.synth import _pieces
        from qwentts_cli.outputs import check_output
        from qwentts_cli.request import SynthesisRequest
        from qwentts_cli.voices import find_voice, load_voice

        defaults, synth, out_dir = self.defaults, self.synth, self.out_dir
        name = item.file or f"{item.id}.{defaults['fmt']}"
        plan = _Plan(n, item, {"id": item.id, "line": item.line, "file": name, "audio_s": 0.0, "frames": 0,
                               "status": "ok", "error": None, "input": _fingerprint(item, defaults)})
        skipped = done_before(item, defaults, previous, out_dir)
        if skipped is not None:
            plan.status, plan.entry = "skipped", skipped
            return plan
        try:
            if item.error:
                raise UsageError(item.error)
            if os.sep in name or name.startswith("."):
                raise UsageError(f"file {name!r} must be a plain file name in the output folder")
            voice = item.voice or defaults["voice"]
            cloned = None
            if item.ref_audio:
                key = (item.ref_audio, item.ref_text, bool(item.x_vector_only))
                if key not in self.voices:
                    self.voices[key] = synth.create_voice(item.ref_audio, item.ref_text, bool(item.x_vector_only))
                cloned = self.voices[key]
            elif voice:
                if voice not in self.voices:
                    self.voices[voice] = load_voice(find_voice(voice))
                cloned = self.voices[voice]
            item_sampling = self.sampling
            penalty = item.repetition_penalty or defaults["repetition_penalty"]
            if penalty is not None:
                item_sampling = replace(item_sampling, repetition_penalty=penalty)
            fields = dict(speaker=defaults["speaker"], language=defaults["language"], seed=defaults["seed"],
                          max_frames=defaults["max_frames"])
            fields.update(item.overrides())
            plan.request = synth.resolve(SynthesisRequest(**fields, voice=cloned, sampling=item_sampling,
                                                          max_frames_per_token=defaults["guard"]))
            plan.pieces = _pieces(item.text, defaults["normalize"], plan.request.language)
            plan.out = OutputSpec(target=check_output(str(out_dir / name)), stream=False, subtype=defaults["subtype"],
                                  dump_codes=check_output(str(out_dir / f"{item.id}.codes.npy"))
                                  if defaults["dump_codes"] else None)
        except QwenTTSError as e:
            self._fail(plan, e)
        return plan

    def speak_items(self, numbered, previous: dict) -> Iterator[_Plan]:
        """(number, item) pairs -> each one's finished plan, in their order.

        Every runnable item's pieces go through one engine: items are prepared as the engine has
        room for their pieces, and each is written as its last piece ends."""
        plans: deque[_Plan] = deque()
        owners: list[_Plan] = []  # the plan of each utterance, by index

        def utterances():
            for n, item in numbered:
                plan = self.prepare(n, item, previous)
                plans.append(plan)
                if plan.status != "run":
                    continue
                seed = plan.request.seed
                for i, (_, spoken) in enumerate(plan.pieces):
                    owners.append(plan)
                    yield spoken, plan.request, None if seed is None else seed + i, i

        # Every free slot filled at once: a job of files has no first audio to hurry, and rows that
        # join together step together (docs/benchmark.md, "Newcomers at once").
        shared = self.synth.ordered_frames(utterances(), self.batch, prefills_per_step=self.batch)
        for index, frames in shared:
            plan = owners[index]
            while plans[0] is not plan:  # the skipped and bad items before it
                yield plans.popleft()
            plans.popleft()
            self._run_item(plan, frames, shared)
            yield plan
        while plans:
            yield plans.popleft()

    def _run_item(self, plan: _Plan, first_frames, shared) -> None:
        from qwentts_cli.cli.speak import speak

        taken = 0

        def item_frames():
            nonlocal taken
            taken = 1
            yield 0, first_frames
            for i in range(1, len(plan.pieces)):
                _, frames = next(shared)
                taken += 1
                yield i, frames

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", QwenTTSWarning)
                summary = speak(self.synth, plan.pieces, plan.request, plan.out, known=len(plan.pieces),
                                frames=item_frames())
            plan.entry.update(audio_s=round(summary.audio_s, 3), frames=summary.frames)
            if self.defaults.get("subtitles"):
                plan.entry["cues"] = list(summary.cues)
            notes = [str(w.message) for w in caught if issubclass(w.category, QwenTTSWarning)]
            if notes:  # the guard stopped a piece: the file is kept, and the manifest says so
                plan.entry["warnings"] = notes
        except QwenTTSError as e:
            self._fail(plan, e)
        for _ in range(len(plan.pieces) - taken):  # a failed item's pieces not reached: dropped
            next(shared)


class Recorder:
    """The manifest (rewritten atomically after each item), the progress bar and the stderr lines."""

    def __init__(self, items, out_dir: Path, manifest_target, previous: dict):
        from qwentts_cli.cli.progress import BatchProgress

        self.items, self.out_dir, self.target, self.previous = items, out_dir, manifest_target, previous
        self.entries: list[dict] = []
        self.failed = 0
        self.progress = BatchProgress(len(items))

    def record(self, number: int, entry: dict) -> None:
        from qwentts_cli.outputs import write_output

        if entry["status"] == "error":
            self.failed += 1
            typer.echo(f"item {entry['id']} (line {entry['line']}): {entry['error']}", err=True)
        for note in entry.get("warnings", []) if entry["status"] == "ok" else []:
            typer.echo(f"warning: item {entry['id']}: {note}", err=True)
        self.entries.append(entry)
        # This run's lines, then the last run's for the items not reached yet: an interrupted rerun
        # must not forget what an earlier run finished.
        done = {e["id"] for e in self.entries}
        rest = [self.previous[item.id] for item in self.items if item.id not in done and item.id in self.previous]
        text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in self.entries + rest).encode("utf-8")
        write_output(self.target, lambda f: f.write(text))
        self.progress.done(number, entry["id"], "skipped (done before)" if entry["status"] == "skipped"
                           else entry["status"], entry["audio_s"])

    def stopped(self, why: str) -> None:
        """The job stopped early (a signal, a worker failure): what is done, and where it is recorded."""
        typer.echo(f"{why}; {len(self.entries)} of {len(self.items)} items done, in {self.out_dir / MANIFEST}",
                   err=True)

    def finish(self, status: int) -> None:
        """Exit 130/143 after a signal, 1 if an item failed."""
        if status:
            raise typer.Exit(status)
        if self.failed:
            typer.echo(f"{self.failed} of {len(self.items)} items failed; see {self.out_dir / MANIFEST}", err=True)
            raise typer.Exit(1)


def _run(checkpoint, items, out_dir: Path, manifest_target, defaults: dict, *, quantize, dtype, codec_dtype, device,
         threads, batch: int = 1) -> None:
    import torch

    from qwentts_cli.cli.signals import Interrupted, interruptible

    if threads:
        torch.set_num_threads(threads)
    previous = _previous(out_dir / MANIFEST)
    speaker = ItemSpeaker(checkpoint, defaults, out_dir, quantize=quantize, dtype=dtype, device=device, batch=batch,
                          codec_dtype=codec_dtype)
    recorder = Recorder(items, out_dir, manifest_target, previous)
    status = 0
    try:
        with interruptible():
            for plan in speaker.speak_items(enumerate(items, 1), previous):
                recorder.record(plan.number, plan.entry)
    except Interrupted as e:
        status = e.status
        recorder.stopped("interrupted")
    finally:
        recorder.progress.close()
    recorder.finish(status)
