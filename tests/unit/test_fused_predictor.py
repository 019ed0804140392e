"""The fused code predictor (generate/fused_predictor.py) against the Python loop it stands in for.

Bit for bit: it runs the same aten ops in the same order as `steps.predict_codebooks`, so the
codes, the summed embedding and the generator's state afterwards must be equal, not close.
Checked for one row (a TokenPicker) and for the batched engine's rows (a RowPicker: rows of
different settings, each its own generator, a free slot among them), at a mid size where the
code predictor shares the talker's hidden size (the 0.6B: no projection) and where it is
narrower (the 1.7B: an input projection with a bias), for float32, int8, int8-weight and
bfloat16 linears, greedy and sampled with every sampling branch on, and against the eager
layers as well as the scripted steps.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from helpers import randomize
from qwentts_cli.config import DecoderStackConfig, SamplingConfig
from qwentts_cli.generate.fused_predictor import fused_predictor, plain_picker
from qwentts_cli.generate.rows import PickSettings, RowPicker
from qwentts_cli.generate.sampling import TokenPicker, predictor_picker
from qwentts_cli.generate.batch import BatchEngine
from qwentts_cli.generate.steps import EagerSteps, predict_codebooks
from qwentts_cli.load.fusion import fuse_projections
from qwentts_cli.load.pack import pack_talker
from qwentts_cli.load.presets import preset_config
from qwentts_cli.load.quantize import quantize_talker
from qwentts_cli.model import packed
from qwentts_cli.model.talker import Talker

CPU = torch.device("cpu")


def _stack_config(hidden: int, layers: int, vocab: int) -> DecoderStackConfig:
    return DecoderStackConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                              num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
                              rope_theta=10000.0, max_position_embeddings=64, vocab_size=vocab, num_code_groups=6)


def _talker(predictor_hidden: int, linears: str, dtype: torch.dtype = torch.float32) -> Talker:
    """A talker of 128 channels whose code predictor has `predictor_hidden` (128: no projection)."""
    cfg = dataclasses.replace(preset_config("0.6b").talker, stack=_stack_config(128, 2, 96), text_vocab_size=64,
                              text_hidden_size=64, predictor=_stack_config(predictor_hidden, 3, 80))
    torch.manual_seed(0)
    talker = Talker(cfg)
    randomize(talker, 0.1)
    talker.to(dtype)
    fuse_projections(talker)
    if linears == "packed":
        pack_talker(talker)
    elif linears != "float":
        quantize_talker(talker, linears)
    talker.code_predictor.model.setup_caches(cfg.predictor.num_code_groups, dtype, CPU)
    return talker.eval()


def _picker(talker: Talker, sampled: bool, seed: int = 7) -> TokenPicker:
    sampling = SamplingConfig(subtalker_do_sample=sampled, subtalker_temperature=0.8, subtalker_top_k=20,
                              subtalker_top_p=0.9)
    return predictor_picker(talker.cfg.predictor.vocab_size, sampling, torch.Generator().manual_seed(seed), CPU)


def _frames(talker: Talker, predict, sampled: bool, n: int = 4) -> tuple[list[torch.Tensor], torch.Tensor]:
    """`n` frames' (codes, summed embedding) from one picker, and the picker generator's next draw."""
    g = torch.Generator().manual_seed(3)
    dtype = talker.code_predictor.model.norm.weight.dtype
    pick = _picker(talker, sampled)
    out = []
    with torch.inference_mode():
        for k in range(n):
            hidden = torch.randn(1, 1, talker.cfg.stack.hidden_size, generator=g).to(dtype)
            token = torch.tensor([[5 + 11 * k]])
            out += list(predict(hidden, token, pick))
    assert pick.count == n * (talker.cfg.predictor.num_code_groups - 1)
    return out, torch.rand(4, generator=pick.generator)


LINEARS = ["float", "int8", "int8-weight"]


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("linears", LINEARS)
@pytest.mark.parametrize("predictor_hidden", [128, 96])
def test_fused_frames_are_the_python_loops_bit_for_bit(predictor_hidden, linears, sampled):
    talker = _talker(predictor_hidden, linears)
    fused = fused_predictor(talker, CPU, torch.float32)
    assert fused is not None  # the fused path is the one under test
    expected, expected_draw = _frames(talker, lambda h, t, p: predict_codebooks(talker, h, t, p), sampled)
    got, draw = _frames(talker, fused.one_row, sampled)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert torch.equal(draw, expected_draw)  # the same numbers were taken from the generator
    codes = torch.stack(got[0::2])
    assert codes.shape == (4, 1, 6) and len(set(codes[:, 0, 1:].flatten().tolist())) > 3  # real picks, not one id
    # And against the eager layers, with no TorchScript at all.
    talker.code_predictor.model.scripted = False
    assert fused_predictor(talker, CPU, torch.float32) is None
    eager, eager_draw = _frames(talker, lambda h, t, p: predict_codebooks(talker, h, t, p), sampled)
    assert all(torch.equal(a, b) for a, b in zip(got, eager)) and torch.equal(draw, eager_draw)


@pytest.mark.parametrize("linears", ["float", "int8", "packed"])
def test_bfloat16_fused_frames_are_the_python_loops_bit_for_bit(linears):
    if linears == "packed" and not packed.available():
        pytest.skip("oneDNN runs no bfloat16 on this CPU")
    talker = _talker(96, linears, torch.bfloat16)
    fused = fused_predictor(talker, CPU, torch.bfloat16)
    assert fused is not None
    expected, expected_draw = _frames(talker, lambda h, t, p: predict_codebooks(talker, h, t, p), sampled=True)
    got, draw = _frames(talker, fused.one_row, sampled=True)
    assert got[1].dtype == torch.bfloat16
    assert all(torch.equal(a, b) for a, b in zip(got, expected)) and torch.equal(draw, expected_draw)


def _row_frames(talker: Talker, predict, n: int = 3) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """`n` frames over 5 slots: slot 2 free, the others greedy or sampled with two settings,
    each sampled row its own seeded generator -> (codes and embeddings, each generator's next draw)."""
    V = talker.cfg.predictor.vocab_size
    pick = RowPicker(V, 5, CPU)
    settings = [PickSettings(True, 0.8, 20, 0.9), PickSettings(False), None, PickSettings(True, 1.0, 0, 0.7),
                PickSettings(True, 0.8, 20, 0.9)]
    generators = [torch.Generator().manual_seed(100 + r) for r in range(5)]
    for r, setting in enumerate(settings):
        if setting is not None:
            pick.reset(r, setting, generators[r])
    active = [0, 1, 3, 4]
    g = torch.Generator().manual_seed(3)
    dtype = talker.code_predictor.model.norm.weight.dtype
    talker.code_predictor.model.setup_caches(talker.cfg.predictor.num_code_groups, dtype, CPU, batch=5)
    out = []
    with torch.inference_mode():
        for k in range(n):
            hidden = torch.randn(5, 1, talker.cfg.stack.hidden_size, generator=g).to(dtype)
            token = torch.tensor([[5 + k], [20], [0], [31 + k], [5 + k]])
            out += list(predict(hidden, token, pick, active))
    assert pick.count == [n * (talker.cfg.predictor.num_code_groups - 1) if r in active else 0 for r in range(5)]
    return out, [torch.rand(3, generator=gen) for gen in generators]


@pytest.mark.parametrize("linears", ["float", "int8"])
def test_fused_rows_are_the_row_pickers_python_loop_bit_for_bit(linears):
    talker = _talker(96, linears)
    fused = fused_predictor(talker, CPU, torch.float32)
    expected, expected_draws = _row_frames(
        talker, lambda h, t, pick, rows: predict_codebooks(talker, h, t, lambda logits, noise=None: pick(logits, rows)))
    got, draws = _row_frames(talker, fused.rows)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert all(torch.equal(a, b) for a, b in zip(draws, expected_draws))
    codes = torch.stack(got[0::2])  # (3, 5, 6)
    assert not torch.equal(codes[:, 0], codes[:, 4])  # rows 0 and 4: one setting, their own generators
    # The free slot drew nothing.
    assert torch.equal(draws[2], torch.rand(3, generator=torch.Generator().manual_seed(102)))


def test_the_fixture_frames_run_fused(synthesizer):
    """The golden-code tests go through the fused predictor: an utterance's eager steps take it."""
    talker = synthesizer.talker
    sampling = SamplingConfig()
    pick_rest = predictor_picker(talker.cfg.predictor.vocab_size, sampling, None, CPU)
    steps = EagerSteps(talker, _picker(talker, False), pick_rest, talker.cfg.codec_eos_id, 16, torch.float32, CPU)
    assert steps.fused is not None
    engine = BatchEngine(talker, synthesizer.config, slots=2)
    assert engine.fused is not None


def test_only_plain_pickers_and_cpu_stacks_are_fused():
    talker = _talker(128, "float")
    assert plain_picker(_picker(talker, True)) and plain_picker(_picker(talker, False))
    penalized = TokenPicker(80, True, 0.9, 50, 1.0, repetition_penalty=1.05)
    with_eos = TokenPicker(80, False, 1.0, 0, 1.0, eos_id=3)
    assert not plain_picker(penalized) and not plain_picker(with_eos) and not plain_picker(lambda logits: logits)
    rows = RowPicker(80, 2, CPU)
    rows.reset(0, PickSettings(True, 0.9, 50), None)
    assert rows.plain([0, 1])
    rows.reset(1, PickSettings(True, 0.9, 50, repetition_penalty=1.05), None)
    assert not rows.plain([0, 1]) and not RowPicker(80, 2, CPU, eos_id=3).plain([0])
    assert fused_predictor(talker, torch.device("meta"), torch.float32) is None  # off the CPU: the Python loop
    assert fused_predictor(talker, CPU, torch.float16) is None  # a dtype the steps are not scripted for
