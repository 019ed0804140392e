"""bfloat16 linears in oneDNN's layout (model/packed.py) and the loader's packing policy (load/pack.py).

A packed linear computes what F.linear computes, up to bfloat16 rounding (oneDNN may block the
reduction differently from the plain path, depending on the CPU and the row count), so these
compare within bfloat16's precision; bit for bit is asserted only where the same op runs twice
(scripted against eager, tests/unit/test_scripted.py).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from qwentts_cli.load.pack import pack_talker, packs
from qwentts_cli.load.talker import load_talker
from qwentts_cli.model import packed
from qwentts_cli.model.packed import PackedLinear
from qwentts_cli.runtime import Synthesizer

needs_bf16 = pytest.mark.skipif(not packed.available(), reason="oneDNN runs no bfloat16 on this CPU")


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    # bfloat16 keeps 8 bits: a few units of the last place of the largest output.
    return a.dtype == b.dtype and a.shape == b.shape and float((a.float() - b.float()).abs().max()) <= \
        4 * 2**-8 * float(b.float().abs().max())


@needs_bf16
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(1, 96), (8, 96), (50, 96), (2, 3, 96)])
def test_a_packed_linear_computes_the_linear(bias, shape):
    torch.manual_seed(0)
    linear = nn.Linear(96, 160, bias=bias).to(torch.bfloat16)
    x = torch.randn(*shape).to(torch.bfloat16)
    y = PackedLinear(linear)(x)
    assert y.shape == (*shape[:-1], 160)
    assert _close(y, F.linear(x, linear.weight, linear.bias))


def test_only_bfloat16_cpu_weights_are_packed():
    with pytest.raises(ValueError, match="bfloat16"):
        PackedLinear(nn.Linear(8, 8))  # float32: its exact path stays F.linear


def test_the_policy_packs_only_plain_bfloat16_on_the_cpu():
    assert not packs(torch.float32, "cpu", None)
    assert not packs(torch.bfloat16, "cpu", "int8")  # the int8 linears are fbgemm's
    assert not packs(torch.bfloat16, "cuda", None)
    assert packs(torch.bfloat16, "cpu", None) == packed.available()


@needs_bf16
def test_a_bfloat16_load_packs_the_frame_loop_linears_and_computes_the_same(model_dir, synthesizer):
    config = synthesizer.config
    talker = load_talker(str(model_dir), config, torch.bfloat16)
    plain = load_talker(str(model_dir), config, torch.bfloat16, pack=False)
    kinds = {name: type(m) for name, m in talker.named_modules() if isinstance(m, (nn.Linear, PackedLinear))}
    assert {k for n, k in kinds.items() if not n.startswith("text_projection")} == {PackedLinear}
    assert {k for n, k in kinds.items() if n.startswith("text_projection")} == {nn.Linear}
    assert {type(m) for m in plain.modules() if isinstance(m, (nn.Linear, PackedLinear))} == {nn.Linear}
    # Same weights: every packed linear gives its plain twin's output.
    torch.manual_seed(1)
    for name, module in talker.named_modules():
        if isinstance(module, PackedLinear):
            twin = plain.get_submodule(name)
            x = torch.randn(2, twin.in_features).to(torch.bfloat16)
            assert _close(module(x), twin(x)), name


@needs_bf16
def test_a_packed_bfloat16_synthesizer_speaks_like_the_plain_one(model_dir):
    # The prompt's first scores through the whole talker, packed and plain, within bfloat16's
    # precision (not its greedy codes: a near tie may fall either way on another CPU's rounding).
    from qwentts_cli.generate.prompt import build_prompt

    s = Synthesizer.from_pretrained(str(model_dir), dtype="bfloat16")
    assert any(isinstance(m, PackedLinear) for m in s.talker.modules())
    req = s.resolve(language="english")
    ids = torch.tensor([s.prompt_ids("Hello there.")])

    def first_logits(talker) -> torch.Tensor:
        p = build_prompt(talker, s.config, ids, req.language_id, None)
        talker.model.setup_caches(p.embeds.shape[1] + 1, torch.bfloat16, torch.device("cpu"))
        with torch.inference_mode():
            return talker(p.embeds.to(torch.bfloat16), 0)[1][0].float()

    packed_logits = first_logits(s.talker)
    plain_logits = first_logits(load_talker(str(model_dir), s.config, torch.bfloat16, pack=False))
    assert packed_logits.shape == plain_logits.shape
    relative = float((packed_logits - plain_logits).norm() / plain_logits.norm())
    assert relative < 0.02, relative
    codes = torch.stack(list(s.frames("Hello there.", language="english", sampling=s.greedy(), max_frames=6,
                                      ignore_eos=True)))
    assert codes.shape == (6, 16) and int(codes.min()) >= 0


def test_pack_talker_reports_each_copied_weight():
    stack = nn.Sequential(nn.Linear(16, 16), nn.Linear(16, 8)).to(torch.bfloat16)
    if not packed.available():
        pytest.skip("oneDNN runs no bfloat16 on this CPU")
    weights = [stack[0].weight, stack[1].weight]
    seen = []
    assert pack_talker(stack, copied=seen.append) == 2
    assert [w is v for w, v in zip(seen, weights)] == [True, True]
    assert all(type(m) is PackedLinear for m in stack)
