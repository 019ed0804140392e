"""The int8 row cache: a warm load reads the rows instead of quantizing, and computes the same."""

from __future__ import annotations

import os

import pytest
import torch

from qwentts_cli.config import TTSConfig
from qwentts_cli.load import quantize as quantize_module
from qwentts_cli.load.quant_cache import CACHE_ENV, RowsWriter, cache_file, read_rows
from qwentts_cli.load.talker import load_talker
from qwentts_cli.model.quantize import MODES


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def cached_files(cache_dir):
    folder = cache_dir / "int8"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@torch.inference_mode()
def first_logits(model_dir, mode, dtype=torch.float32):
    """The talker's logits for a fixed input, then the code predictor's for its first frame."""
    cfg = TTSConfig.from_dir(str(model_dir))
    talker = load_talker(str(model_dir), cfg, dtype=dtype, quantize=mode)
    talker.model.setup_caches(8, dtype, torch.device("cpu"))
    talker.code_predictor.model.setup_caches(16, dtype, torch.device("cpu"))
    hidden, logits = talker(talker.embed_text(torch.arange(100, 108)[None]).to(dtype), 0)
    code = talker.embed_codec(logits.argmax(-1, keepdim=True))
    return torch.cat((logits, talker.code_predictor.step(torch.cat((hidden, code), dim=1), 0, head=0)), dim=-1)


def test_the_fixture_has_a_projection_with_a_bias(model_dir):
    # small_to_mtp_projection (talker width -> predictor width) is the one quantized linear with a
    # bias; the warm load must carry it over from the checkpoint.
    from safetensors import safe_open

    cfg = TTSConfig.from_dir(str(model_dir))
    assert cfg.talker.stack.hidden_size != cfg.talker.predictor.hidden_size
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        assert "talker.code_predictor.small_to_mtp_projection.bias" in set(f.keys())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])  # the dtype is part of the key
@pytest.mark.parametrize("mode", MODES)
def test_a_warm_load_reads_the_rows_and_computes_the_same(model_dir, cache_dir, monkeypatch, mode, dtype):
    cold = first_logits(model_dir, mode, dtype)
    files = cached_files(cache_dir)
    assert len(files) == 1 and files[0].endswith(".safetensors")  # and no .part left behind

    def no_quantizing(weight):
        raise AssertionError("a warm load quantized a matrix")

    monkeypatch.setattr(quantize_module, "quantize_rows", no_quantizing)
    warm = first_logits(model_dir, mode, dtype)
    assert torch.equal(cold, warm)


def test_each_mode_has_its_own_file(model_dir, cache_dir):
    for mode in MODES:
        first_logits(model_dir, mode)
    assert len(cached_files(cache_dir)) == len(MODES)


def test_a_damaged_cache_is_ignored_and_rewritten(model_dir, cache_dir):
    cold = first_logits(model_dir, "int8")
    (path,) = (cache_dir / "int8").iterdir()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    assert torch.equal(first_logits(model_dir, "int8"), cold)
    assert path.stat().st_size == size


def test_an_unwritable_cache_is_no_error(model_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    assert first_logits(model_dir, "int8").shape[-1] > 0
    assert blocker.read_text() == "a file where the cache folder would be"


def test_the_key_follows_the_checkpoint_file(tmp_path, cache_dir):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x" * 16)
    before = cache_file([str(weights)], "int8", torch.float32)
    assert cache_file([str(weights)], "int8", torch.float32) == before
    assert cache_file([str(weights)], "int8-weight", torch.float32) != before
    assert cache_file([str(weights)], "int8", torch.bfloat16) != before  # a float32 file is quantized narrowed
    os.utime(weights, ns=(1, 1))  # replaced or touched: a different key
    assert cache_file([str(weights)], "int8", torch.float32) != before


def test_rows_round_trip_and_a_writer_with_holes_leaves_nothing(tmp_path):
    shapes = {"a": (4, 8), "b": (3, 5)}
    rows = {name: (torch.randint(-127, 128, shape, dtype=torch.int8), torch.rand(shape[0])) for name, shape in shapes.items()}
    path = str(tmp_path / "rows.safetensors")
    writer = RowsWriter(path, shapes)
    for name in reversed(list(shapes)):  # any order: each tensor lands at its offset
        writer.add(name, *rows[name])
    writer.finish()
    back = read_rows(path, shapes)
    for name, (q, scale) in rows.items():
        assert torch.equal(back[f"{name}.q"], q) and torch.equal(back[f"{name}.scale"], scale)
    assert read_rows(path, {"a": (4, 9)}) is None  # other shapes: a miss

    partial = str(tmp_path / "partial.safetensors")
    writer = RowsWriter(partial, shapes)
    writer.add("a", *rows["a"])
    writer.finish()
    assert os.listdir(tmp_path) == ["rows.safetensors"]


class FullDisk:
    """A file whose writes and flushes fail, as on a full disk."""

    def __init__(self, real):
        self.real = real

    def seek(self, offset):
        self.real.seek(offset)

    def write(self, data):
        raise OSError(28, "No space left on device")

    def close(self):
        self.real.close()
        raise OSError(28, "No space left on device")


def test_a_full_disk_is_no_error_and_leaves_nothing(tmp_path):
    shapes = {"a": (4, 8)}
    writer = RowsWriter(str(tmp_path / "rows.safetensors"), shapes)
    writer.file = FullDisk(writer.file)
    writer.add("a", torch.ones(4, 8, dtype=torch.int8), torch.ones(4))
    writer.finish()
    assert os.listdir(tmp_path) == []


def test_zeroed_rows_are_a_miss(tmp_path):
    # What a crash between writing and syncing could leave: the right header over zeros.
    shapes = {"a": (4, 8)}
    path = str(tmp_path / "rows.safetensors")
    writer = RowsWriter(path, shapes)
    writer.add("a", torch.zeros(4, 8, dtype=torch.int8), torch.zeros(4))
    writer.finish()
    assert read_rows(path, shapes) is None


def test_parts_left_by_a_killed_writer_are_removed_once_stale(tmp_path):
    old, recent = tmp_path / "old.part", tmp_path / "recent.part"
    old.write_bytes(b"x")
    recent.write_bytes(b"x")
    os.utime(old, (0, 0))
    writer = RowsWriter(str(tmp_path / "rows.safetensors"), {"a": (1, 1)})
    writer.add("a", torch.ones(1, 1, dtype=torch.int8), torch.ones(1))
    writer.finish()
    assert sorted(os.listdir(tmp_path)) == ["recent.part", "rows.safetensors"]


def test_flipped_bytes_are_a_miss_with_one_warning(model_dir, cache_dir):
    from qwentts_cli.errors import QwenTTSWarning

    cold = first_logits(model_dir, "int8")
    (path,) = (cache_dir / "int8").iterdir()
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x5A  # one byte of the last int8 matrix
    path.write_bytes(bytes(data))
    with pytest.warns(QwenTTSWarning, match="damaged"):
        again = first_logits(model_dir, "int8")
    assert torch.equal(again, cold)  # quantized again, not computed from the flipped row
    assert read_rows(str(path), {}) is not None  # and the file rewritten whole
