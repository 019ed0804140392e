"""The bad-input catalogue: every case ends in a clean failure and touches no file.

Each case is a command line (in process, through `main()`) and an optional setup. For every
one: a non-zero exit, no traceback, at most 2 lines on stderr naming the problem, nothing on
stdout, no new file in the output folder, and the existing output file byte-identical with
its mode unchanged.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from helpers import copy_model, run_main

PRECIOUS = b"RIFF precious audio the user already had"


@dataclass
class Case:
    name: str
    args: list[str]  # {model}, {out} (the output folder), {keep} (the existing output file), {tmp}
    needle: str  # what stderr must name
    setup: Callable[[Path, Path], None] | None = None  # (tmp, model copy) -> None
    stdin: bytes = b""
    own_model: bool = False  # run against a writable copy of the checkpoint (setup edits it)


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def talker(**values):
    return lambda tmp, model: edit_json(model / "config.json", lambda c: c["talker_config"].update(values))


def top(**values):
    return lambda tmp, model: edit_json(model / "config.json", lambda c: c.update(values))


def generation(**values):
    return lambda tmp, model: edit_json(model / "generation_config.json", lambda c: c.update(values))


def replace_weights(change):
    def setup(tmp, model):
        from safetensors.torch import load_file, save_file

        path = model / "model.safetensors"
        tensors = load_file(str(path.resolve()))
        path.unlink()
        change(tensors)
        save_file(tensors, str(path))
    return setup


def as_int(tensors):
    import torch

    name = "talker.model.layers.0.mlp.down_proj.weight"
    tensors[name] = tensors[name].to(torch.int32)


def with_nan(tensors):
    name = "talker.model.layers.0.mlp.down_proj.weight"
    tensors[name] = tensors[name].float().fill_(float("nan")).to(tensors[name].dtype)


def write(relative: str, data: bytes):
    return lambda tmp, model: (tmp / relative).write_bytes(data)


SYNTH = ["synth", "Hello there.", "--model", "{model}", "--language", "english", "--greedy", "--max-frames", "3"]


def synth(*extra: str, text: str | None = None) -> list[str]:
    args = list(SYNTH)
    if text is not None:
        args[1] = text
    return args + list(extra)


CASES = [
    # text
    Case("empty text", synth("-o", "{keep}", text=""), "empty"),
    Case("blank text", synth("-o", "{keep}", text="  \n\t "), "empty"),
    Case("emoji only", synth("-o", "{keep}", "--no-normalize", text="😀🎉😀"), "nothing to speak"),
    Case("punctuation only", synth("-o", "{keep}", text="... !!! ??? —"), "nothing to speak"),
    Case("control characters only", synth("-o", "{keep}", "--no-normalize", text="\x01\x02\x7f"), "nothing to speak"),
    Case("argv not UTF-8", synth("-o", "{keep}", text="abc\udcff"), "not UTF-8"),
    Case("stdin not UTF-8", synth("-o", "{keep}", text="-"), "not UTF-8", stdin=b"ok \xff\xfe"),
    Case("text and --file", synth("-f", "{tmp}/t.txt", "-o", "{keep}"), "not both", setup=write("t.txt", b"hi")),
    Case("--file missing", ["synth", "--model", "{model}", "-f", "{tmp}/none.txt", "-o", "{keep}"], "no such file"),
    Case("--file a folder", ["synth", "--model", "{model}", "-f", "{out}", "-o", "{keep}"], "folder"),
    Case("--file not UTF-8", ["synth", "--model", "{model}", "-f", "{tmp}/t.txt", "-o", "{keep}"], "UTF-8",
         setup=write("t.txt", b"\xff\xfe\x00")),
    Case("text too long for the context", synth("-o", "{keep}", "--no-normalize", text="word " * 80), "too long",
         setup=talker(max_position_embeddings=64), own_model=True),
    Case("frames beyond the context", synth("--max-frames", "100000", "-o", "{keep}"), "--max-frames"),
    # voice and language
    Case("unknown speaker", synth("--speaker", "bob", "-o", "{keep}"), "--speaker"),
    Case("unknown language", synth("--language", "klingon", "-o", "{keep}"), "--language"),
    Case("base model without a reference", synth("-o", "{keep}"), "--ref-audio",
         setup=top(tts_model_type="base"), own_model=True),
    # sampling and caps
    Case("--max-frames 0", synth("--max-frames", "0", "-o", "{keep}"), "--max-frames"),
    Case("--max-frames negative", synth("--max-frames", "-5", "-o", "{keep}"), "--max-frames"),
    Case("--max-seconds 0", synth("--max-seconds", "0", "-o", "{keep}"), "--max-seconds"),
    Case("--temperature 0", synth("--temperature", "0", "-o", "{keep}"), "--temperature"),
    Case("--temperature negative", synth("--temperature", "-1", "-o", "{keep}"), "--temperature"),
    Case("--temperature nan", synth("--temperature", "nan", "-o", "{keep}"), "--temperature"),
    Case("--temperature inf", synth("--temperature", "inf", "-o", "{keep}"), "--temperature"),
    Case("--top-k negative", synth("--top-k", "-1", "-o", "{keep}"), "--top-k"),
    Case("--top-p 0", synth("--top-p", "0", "-o", "{keep}"), "--top-p"),
    Case("--top-p above 1", synth("--top-p", "1.5", "-o", "{keep}"), "--top-p"),
    Case("--top-p nan", synth("--top-p", "nan", "-o", "{keep}"), "--top-p"),
    Case("--repetition-penalty 0", synth("--repetition-penalty", "0", "-o", "{keep}"), "--repetition-penalty"),
    Case("--repetition-penalty negative", synth("--repetition-penalty", "-2", "-o", "{keep}"), "--repetition-penalty"),
    Case("--subtalker-temperature 0", synth("--subtalker-temperature", "0", "-o", "{keep}"), "--subtalker-temperature"),
    Case("--subtalker-top-k negative", synth("--subtalker-top-k", "-3", "-o", "{keep}"), "--subtalker-top-k"),
    Case("--subtalker-top-p above 1", synth("--subtalker-top-p", "2", "-o", "{keep}"), "--subtalker-top-p"),
    Case("--seed 2^64", synth("--seed", str(2**64), "-o", "{keep}"), "--seed"),
    Case("--seed negative", synth("--seed", "-1", "-o", "{keep}"), "--seed"),
    Case("--threads 0", synth("--threads", "0", "-o", "{keep}"), "--threads"),
    Case("--chunk-ms too small", synth("--chunk-ms", "5", "-o", "{keep}"), "--chunk-ms"),
    Case("--chunk-ms too large", synth("--chunk-ms", "5000", "-o", "{keep}"), "--chunk-ms"),
    Case("--sample-rate too low", synth("--sample-rate", "100", "-o", "{keep}"), "--sample-rate"),
    # devices and dtypes
    Case("--device tpu", synth("--device", "tpu", "-o", "{keep}"), "--device"),
    Case("--device cuda without a GPU", synth("--device", "cuda", "-o", "{keep}"), "CUDA"),
    Case("--dtype int3", synth("--dtype", "int3", "-o", "{keep}"), "--dtype"),
    Case("--quantize int4", synth("--quantize", "int4", "-o", "{keep}"), "--quantize"),
    # output paths and formats
    Case("unknown format", synth("-o", "{out}/x.mp4"), ".wav"),
    Case("--pcm u8", synth("--pcm", "u8", "-o", "-"), "--pcm"),
    Case("--subtype pcm32", synth("--subtype", "pcm32", "-o", "{keep}"), "--subtype"),
    Case("--subtype float for ogg", synth("--subtype", "float", "-o", "{out}/x.ogg"), "--subtype"),
    Case("--stream to flac", synth("--stream", "-o", "{out}/x.flac"), "WAV"),
    Case("--stream as vorbis", synth("--stream", "--subtype", "vorbis", "-o", "{keep}"), "--subtype"),
    Case("--trim-silence with --stream", synth("--trim-silence", "--stream", "-o", "{keep}"), "--trim-silence"),
    Case("-o a folder", synth("-o", "{out}"), "folder"),
    Case("-o in a missing folder", synth("-o", "{out}/no/such/x.wav"), "does not exist"),
    Case("-o under a file", synth("-o", "{keep}/x.wav"), "is a file, not a folder"),
    Case("-o a 300-character name", synth("-o", "{out}/" + "n" * 296 + ".wav"), "longer than"),
    Case("-o under /proc", synth("-o", "/proc/self/qwentts.wav"), "/proc"),
    Case("-o under /sys", synth("-o", "/sys/qwentts.wav"), "/sys"),
    Case("--dump-codes the audio file", synth("--dump-codes", "{keep}", "-o", "{keep}"), "same file"),
    Case("--dump-codes through a link to the audio", synth("--dump-codes", "{out}/link.npy", "-o", "{keep}"),
         "same file", setup=lambda tmp, model: (tmp / "out" / "link.npy").symlink_to(tmp / "out" / "keep.wav")),
    Case("--dump-codes a folder", synth("--dump-codes", "{out}", "-o", "{out}/new.wav"), "codes.npy"),
    Case("--dump-codes in a missing folder", synth("--dump-codes", "{out}/no/c.npy", "-o", "{out}/new.wav"),
         "does not exist"),
    Case("--dump-codes on a full device", synth("--dump-codes", "/dev/full", "-o", "{out}/new.wav"),
         "no space left"),
    # checkpoints
    Case("missing model folder", ["synth", "x", "--model", "{tmp}/nope", "-o", "{keep}"], "no model directory"),
    Case("model path is a file", ["synth", "x", "--model", "{keep}", "-o", "{out}/n.wav"], "is a file, not a checkpoint"),
    Case("repo id not in the cache", ["synth", "x", "--model", "Qwen/Not-A-Model", "-o", "{keep}"], "qwentts download"),
    Case("config.json a string for a size", synth("-o", "{keep}"), "'hidden_size' is 'abc'",
         setup=talker(hidden_size="abc"), own_model=True),
    Case("config.json null talker_config", synth("-o", "{keep}"), "talker_config",
         setup=top(talker_config=None), own_model=True),
    Case("config.json a list", synth("-o", "{keep}"), "expected a JSON object",
         setup=write("m/config.json", b"[1, 2]"), own_model=True),
    Case("config.json not JSON", synth("-o", "{keep}"), "not valid JSON",
         setup=write("m/config.json", b"{oops"), own_model=True),
    Case("config.json a boolean id", synth("-o", "{keep}"), "codec_bos_id",
         setup=talker(codec_bos_id=True), own_model=True),
    Case("config.json speaker ids as strings", synth("-o", "{keep}"), "spk_id",
         setup=talker(spk_id={"ryan": "x"}), own_model=True),
    Case("generation_config.json a word for a number", synth("-o", "{keep}"), "temperature",
         setup=generation(temperature="hot"), own_model=True),
    Case("vocab.json corrupt", synth("-o", "{keep}"), "vocab.json",
         setup=lambda tmp, model: ((model / "vocab.json").unlink(), (model / "vocab.json").write_text("{bad")),
         own_model=True),
    Case("weights stored as int", synth("-o", "{keep}"), "int32", setup=replace_weights(as_int), own_model=True),
    Case("NaN weights", synth("-o", "{keep}"), "NaN", setup=replace_weights(with_nan), own_model=True),
    Case("info on random bytes", ["info", "--model", "{model}"], "corrupt",
         setup=lambda tmp, model: ((model / "model.safetensors").unlink(),
                                   (model / "model.safetensors").write_bytes(os.urandom(4096))), own_model=True),
    Case("info on a missing model", ["info", "--model", "{tmp}/none"], "no model directory"),
    # other commands
    Case("bench --threads -1", ["bench", "--model", "{model}", "--threads", "-1"], "--threads"),
    Case("bench unknown text set", ["bench", "--model", "{model}", "--texts", "huge"], "huge"),
    Case("bench --compare-official on random weights", ["bench", "--model", "random:0.6b", "--compare-official"],
         "--compare-official"),
    Case("bench unknown random size", ["bench", "--model", "random:9b", "--frames", "1"], "random:0.6b"),
    Case("normalize unknown --lang", ["normalize", "5", "--lang", "xx"], "--lang"),
    Case("normalize argv not UTF-8", ["normalize", "5 \udcfe", "--lang", "en"], "not UTF-8"),
    Case("tokenize two formats", ["tokenize", "x", "--tokens", "--json"], "pick one"),
    Case("tokenize empty stdin", ["tokenize"], "empty", stdin=b"\n"),
    Case("tokenize --model missing", ["tokenize", "x", "--model", "{tmp}/none"], "none"),
    Case("unknown command", ["nosuch"], "nosuch"),
    Case("unknown option", ["synth", "x", "--bogus"], "--bogus"),
]


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


def snapshot(folder: Path) -> dict[str, tuple[bytes | str, int]]:
    """Every entry below `folder`: its bytes (a link: where it points) and its mode."""
    out = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        content = os.readlink(path) if path.is_symlink() else (path.read_bytes() if path.is_file() else "dir")
        out[str(path.relative_to(folder))] = (content, stat.S_IMODE(st.st_mode))
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_fails_cleanly_and_touches_nothing(case: Case, model_dir: Path, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "keep.wav"
    keep.write_bytes(PRECIOUS)
    keep.chmod(0o640)
    model = model_dir
    if case.own_model:
        model = copy_model(model_dir, tmp_path / "m")
    if case.setup is not None:
        case.setup(tmp_path, model)
    before = snapshot(out)
    values = {"model": str(model), "out": str(out), "keep": str(keep), "tmp": str(tmp_path)}
    run = run_main(*(arg.format(**values) for arg in case.args), stdin=case.stdin)
    err = run.stderr.decode(errors="replace")
    lines = [line for line in err.splitlines() if line.strip()]
    assert run.returncode != 0, err
    assert "Traceback" not in err, err
    assert 1 <= len(lines) <= 2, err
    assert case.needle in err, err
    assert run.stdout == b""
    assert snapshot(out) == before  # no new file, no changed byte or mode
