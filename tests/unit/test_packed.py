"""Weights in oneDNN's layout (model/packed.py) and the loaders' packing policies (load/pack.py):
bfloat16 talker linears, float32 codec layers.

A packed layer computes what the plain op computes, up to rounding (oneDNN may block the
reduction differently from the plain path, depending on the CPU and the row count), so these
compare within bfloat16's or float32's precision; bit for bit is asserted only where the same op
runs twice (scripted against eager, tests/unit/test_scripted.py). The packed codec is held to the
official waveform at the tolerance every codec test uses (1e-4).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import golden_wav, load_case
from qwentts_cli.load.codec import load_codec_decoder
from qwentts_cli.load.pack import pack_codec, pack_talker, packs, packs_codec
from qwentts_cli.load.talker import load_talker
from qwentts_cli.model import packed
from qwentts_cli.model.codec.layers import CausalConv1d
from qwentts_cli.model.packed import PackedConv1d, PackedLinear, PackedMatrix
from qwentts_cli.runtime import Synthesizer

needs_bf16 = pytest.mark.skipif(not packed.available(), reason="oneDNN runs no bfloat16 on this CPU")
needs_onednn = pytest.mark.skipif(not packed.float32_available(), reason="this torch has no oneDNN")


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    # bfloat16 keeps 8 bits: a few units of the last place of the largest output.
    return a.dtype == b.dtype and a.shape == b.shape and float((a.float() - b.float()).detach().abs().max()) <= \
        4 * 2**-8 * float(b.float().detach().abs().max())


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


def test_only_bfloat16_and_float32_cpu_weights_are_packed():
    with pytest.raises(ValueError, match="bfloat16 or float32"):
        PackedLinear(nn.Linear(8, 8).half())


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


# -- float32, the codec ----------------------------------------------------------------------


def _close32(a: torch.Tensor, b: torch.Tensor) -> bool:
    # float32 sums of a few hundred products, in another order: well under 1e-5 of the largest output.
    return a.dtype == b.dtype == torch.float32 and a.shape == b.shape and \
        float((a - b).abs().max()) <= 1e-5 * float(b.abs().max())


@needs_onednn
@pytest.mark.parametrize("shape", [(1, 96), (7, 96), (2, 3, 96)])
def test_a_float32_packed_linear_computes_the_linear(shape):
    torch.manual_seed(0)
    linear = nn.Linear(96, 160)
    x = torch.randn(*shape)
    with torch.inference_mode():
        assert _close32(PackedLinear(linear, rows=16)(x), F.linear(x, linear.weight, linear.bias))


@needs_onednn
@pytest.mark.parametrize("frames", [1, 5, 40])
def test_a_packed_matrix_is_the_transposed_convolutions_product(frames):
    torch.manual_seed(0)
    conv = nn.ConvTranspose1d(24, 16, 8, stride=4)
    x = torch.randn(2, frames, 24)
    with torch.inference_mode():
        m = PackedMatrix(conv, rows=16)
        assert (m.in_channels, m.out_channels) == (24, 16) and torch.equal(m.bias, conv.bias)
        assert _close32(m(x), torch.matmul(x, conv.weight.view(24, 16 * 8)))
        assert _close32(m(x.transpose(1, 2).transpose(1, 2)), m(x))  # a transposed view reads the same


@needs_onednn
@pytest.mark.parametrize("dilation", [1, 3])
@pytest.mark.parametrize("length", [1, 9, 300])
def test_a_packed_conv1d_is_the_convolution(length, dilation):
    torch.manual_seed(0)
    conv = nn.Conv1d(32, 48, 7, dilation=dilation)
    x = torch.randn(2, 32, length + 6 * dilation)
    with torch.inference_mode():
        y = PackedConv1d(conv, length=64)(x)
        assert y.shape == (2, 48, length)
        assert _close32(y, conv(x))


def test_a_packed_conv1d_refuses_what_it_cannot_compute():
    for conv in (nn.Conv1d(8, 8, 3, groups=2), nn.Conv1d(8, 8, 3, stride=2), nn.Conv1d(8, 8, 3, padding=1)):
        with pytest.raises(ValueError, match="one group, stride 1 and no padding"):
            PackedConv1d(conv, length=64)


def test_the_codec_policy_packs_on_the_cpu_only():
    assert packs_codec("cpu") == packed.float32_available()
    assert not packs_codec("cuda") and not packs_codec("meta")


@needs_onednn
def test_a_packed_codec_decodes_the_official_waveform(model_dir):
    loaded = load_codec_decoder(str(model_dir / "speech_tokenizer"))  # the default: the policy's packing
    assert any(isinstance(m, PackedLinear) for m in loaded.modules())
    codec = load_codec_decoder(str(model_dir / "speech_tokenizer"), pack=False)
    assert not any(isinstance(m, (PackedLinear, PackedMatrix, PackedConv1d)) for m in codec.modules())
    plain_convs = sum(1 for m in codec.modules() if isinstance(m, CausalConv1d) and m.conv.groups == 1)
    linears = sum(1 for m in codec.modules() if type(m) is nn.Linear)
    upsamplers = sum(1 for m in codec.modules() if type(m) is nn.ConvTranspose1d)
    # Every linear, transposed convolution and one-group convolution (the fixture's are all small,
    # so the size threshold is lifted to reach them).
    assert pack_codec(codec, conv_min_bytes=0) == plain_convs + linears + upsamplers
    assert not any(type(m) in (nn.Linear, nn.ConvTranspose1d) for m in codec.modules())
    assert all(m.conv.groups > 1 for m in codec.modules() if isinstance(m, CausalConv1d) and type(m.conv) is nn.Conv1d)
    case = "en_medium"
    codes = torch.tensor(load_case(case)["codes"], dtype=torch.long)
    expected = torch.from_numpy(golden_wav(case))
    wav = codec.decode(codes)
    assert wav.shape == expected.shape and float((wav - expected).abs().max()) < 1e-4
    stream = codec.stream()
    streamed = torch.cat([stream.push(codes[i : i + 3]) for i in range(0, codes.shape[0], 3)])
    assert float((streamed - wav).abs().max()) < 1e-4
