"""The scripted step (model/scripted.py) against the eager layers it stands in for.

Bit for bit: it runs the same aten ops in the same order, so any difference is a bug in the
scripted graph, not rounding. Checked over a stack of a mid size with grouped-query attention
(float32, int8, int8-weight linears; bfloat16, with plain or packed linears), over the fixture's talker and code predictor, for
B rows at one position (the batched engine's code predictor), for a prefill of several positions,
and for the masked window of the batched engine's talker.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import randomize
from qwentts_cli.config import DecoderStackConfig
from qwentts_cli.load.fusion import fuse_projections
from qwentts_cli.load.pack import pack_talker
from qwentts_cli.model import packed
from qwentts_cli.model.layers import DecoderStack
from qwentts_cli.model.quantize import kernel_for, quantize_rows
from qwentts_cli.model.scripted import linear_kind, scripted_step


def _stack(quantize: str | None, kv_heads: int = 2, seed: int = 0, dtype: torch.dtype = torch.float32) -> DecoderStack:
    torch.manual_seed(seed)
    cfg = DecoderStackConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=3, num_attention_heads=4,
                             num_key_value_heads=kv_heads, head_dim=64, rms_norm_eps=1e-6, rope_theta=10000.0,
                             max_position_embeddings=64, vocab_size=32, num_code_groups=4)
    stack = DecoderStack(cfg)
    randomize(stack, 0.05)
    stack.to(dtype)
    fuse_projections(stack)
    if quantize == "packed":  # bfloat16 linears in oneDNN's layout (model/packed.py)
        assert pack_talker(stack) == 4 * cfg.num_hidden_layers
    elif quantize is not None:
        kernel = kernel_for(quantize)
        for parent in list(stack.modules()):
            for child_name, child in list(parent.named_children()):
                if type(child) is nn.Linear and kernel.supports(child):
                    setattr(parent, child_name, kernel(*quantize_rows(child.weight.detach())))
    stack.eval()
    return stack


def _steps(stack: DecoderStack, batch: int, prefix: int, steps: int, dtype: torch.dtype = torch.float32
           ) -> list[torch.Tensor]:
    """A prefill of `prefix` positions, then `steps` one-position steps: the hidden states of each."""
    generator = torch.Generator().manual_seed(1)
    C = stack.cfg.hidden_size
    stack.setup_caches(prefix + steps, dtype, torch.device("cpu"), batch=batch)
    with torch.inference_mode():
        prefilled = stack(torch.randn(batch, prefix, C, generator=generator).to(dtype), 0)
        return [prefilled] + [stack(torch.randn(batch, 1, C, generator=generator).to(dtype), prefix + i)
                              for i in range(steps)]


@pytest.mark.parametrize("quantize", [None, "int8", "int8-weight"])
@pytest.mark.parametrize("kv_heads,batch", [(2, 1), (4, 1), (2, 3)])
def test_scripted_steps_are_the_eager_ones_bit_for_bit(quantize, kv_heads, batch):
    stack = _stack(quantize, kv_heads)
    assert stack.scripted_step() is not None  # the scripted path is the one under test
    scripted = _steps(stack, batch, prefix=3, steps=12)  # past TorchScript's profiling runs
    stack.scripted = False
    eager = _steps(stack, batch, prefix=3, steps=12)
    assert all(torch.equal(a, b) for a, b in zip(scripted, eager))


@pytest.mark.parametrize("quantize", [None, "int8", "packed"])
def test_bfloat16_steps_are_the_eager_ones_bit_for_bit(quantize):
    if quantize == "packed" and not packed.available():
        pytest.skip("oneDNN runs no bfloat16 on this CPU")
    stack = _stack(quantize, dtype=torch.bfloat16)
    assert stack.scripted_step() is not None
    scripted = _steps(stack, 2, prefix=3, steps=10, dtype=torch.bfloat16)
    stack.scripted = False
    eager = _steps(stack, 2, prefix=3, steps=10, dtype=torch.bfloat16)
    assert scripted[0].dtype == torch.bfloat16 and all(torch.equal(a, b) for a, b in zip(scripted, eager))


def test_the_fixture_stacks_step_scripted_and_exactly(synthesizer):
    for stack in (synthesizer.talker.model, synthesizer.talker.code_predictor.model):
        assert linear_kind(stack) is not None and stack.scripted_step() is not None
        scripted = _steps(stack, 1, prefix=2, steps=8)
        stack.scripted = False
        try:
            eager = _steps(stack, 1, prefix=2, steps=8)
        finally:
            stack.scripted = True
        assert all(torch.equal(a, b) for a, b in zip(scripted, eager))


def test_stacks_of_another_shape_stay_eager():
    stack = _stack(None)
    stack.layers[1].self_attn.q_norm = stack.layers[1].self_attn.k_norm = None  # no q/k norm: not the graph scripted
    assert linear_kind(stack) is None and scripted_step(stack) is None
    steps = _steps(stack, 1, prefix=2, steps=2)  # and it still steps, eagerly
    assert steps[-1].shape == (1, 1, 256)


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_masked_window_steps_are_the_eager_ones_bit_for_bit(quantize):
    # decode_at: each row at its own position over a fixed window (the batched engine's talker step).
    stack = _stack(quantize)
    assert stack.scripted_step() is not None
    scripted = _masked_window_run(stack)
    stack.scripted = False
    eager = _masked_window_run(stack)
    assert all(torch.equal(a, b) for a, b in zip(scripted, eager))


def _masked_window_run(stack: DecoderStack, step=None) -> list[torch.Tensor]:
    """Six decode_at steps of 3 rows at positions 0, 4 and 9 over a window of 16 (with `step`, that scripted step)."""
    C, window = stack.cfg.hidden_size, 16
    generator = torch.Generator().manual_seed(2)
    stack.setup_caches(window, torch.float32, torch.device("cpu"), batch=3)
    with torch.inference_mode():
        for layer in stack.layers:
            layer.self_attn.cache.k.zero_(), layer.self_attn.cache.v.zero_()
        positions = torch.tensor([0, 4, 9])
        out = []
        for _ in range(6):
            out.append(stack.decode_at(torch.randn(3, 1, C, generator=generator), positions, window, step))
            positions = positions + 1
        return out


@pytest.mark.skipif(not packed.float32_available(), reason="this torch runs no float32 through oneDNN")
def test_the_many_rows_step_is_the_plain_one_within_float32_rounding():
    # The batched engine's steps over several rows: the same graph on weights packed for oneDNN.
    stack = _stack(None)
    many = stack.many_rows_step(3)
    assert many is not None and many.kind == 3 and many is stack.many_rows_step(3)  # packed, made once
    assert stack.scripted_step().kind == 0  # the stack's own step keeps its plain weights
    plain, packed_rows = _masked_window_run(stack), _masked_window_run(stack, many)
    for a, b in zip(plain, packed_rows):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("quantize, dtype", [("int8", torch.float32), (None, torch.bfloat16)])
def test_only_float32_plain_stacks_get_a_many_rows_step(quantize, dtype):
    stack = _stack(quantize, dtype=dtype)
    assert stack.many_rows_step(3) is None
    with pytest.raises(ValueError, match="float32"):
        stack.scripted_step().packed_for(3)
