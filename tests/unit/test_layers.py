"""The shared layers' fast paths against the official computations they replace.

Bit for bit where the values are the same products in the same order on any CPU (RMSNorm's
fused call, RoPE with the sign moved onto sin, q/k normed together). Fused projections are
held to equal codes and close logits instead: see test_fused_projections_are_the_separate_ones.
"""

from __future__ import annotations

import pytest
import torch

from conftest import load_case
from qwentts_cli.config import SamplingConfig, TTSConfig
from qwentts_cli.generate.loop import FrameGenerator
from qwentts_cli.generate.prompt import build_prompt
from qwentts_cli.load import talker as talker_loader
from qwentts_cli.model.layers import RMSNorm, RotaryTable, apply_rope, grouped_matmul, rms_normalize, rope_angles
from qwentts_cli.request import SynthesisRequest, resolve_request
from qwentts_cli.text.tokenizer import load_tokenizer


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def official_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """transformers' apply_rotary_pos_emb for one tensor: x * cos + rotate_half(x) * sin."""
    return x * cos + rotate_half(x) * sin


@pytest.mark.parametrize("dim", [6, 8, 24, 32, 128, 1024, 2048])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (1, 1, 16), (2, 5, 8)])
def test_rms_norm_fast_path_is_the_reference(dim, shape):
    torch.manual_seed(dim)
    norm = RMSNorm(dim, 1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(dim))
    x = torch.randn(*shape, dim) * 3
    assert torch.equal(norm(x), norm.reference(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rope_with_the_sign_on_sin_is_the_official_rotation(dtype):
    torch.manual_seed(1)
    table = RotaryTable(128, 1_000_000.0, 3000)
    x = (torch.randn(2, 16, 7, 128) * 4).to(dtype)
    for start in (0, 1, 257, 2990):
        cos, sin_signed = table(start, 7, dtype)
        sin = rope_angles(128, 1_000_000.0, 3000).sin()[start : start + 7].to(dtype)
        assert torch.equal(apply_rope(x, cos, sin_signed), official_rope(x, cos, sin))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rms_normalize_times_the_weight_is_rms_norm(dtype):
    torch.manual_seed(2)
    norm = RMSNorm(128, 1e-6).to(dtype)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(128))
    x = (torch.randn(1, 3, 24, 128) * 3).to(dtype)
    assert torch.equal(rms_normalize(x, 1e-6) * norm.weight, norm.reference(x))
    assert torch.equal(rms_normalize(x, 1e-6) * norm.weight, norm(x))


@pytest.fixture(scope="module")
def config(model_dir) -> TTSConfig:
    return TTSConfig.from_dir(str(model_dir))


@torch.inference_mode()
def test_attention_heads_normed_and_rotated_together_are_the_separate_ones(model_dir, config):
    # q and k are normalized in one call and rotated in one call; the official code does each apart.
    talker = talker_loader.load_talker(str(model_dir), config)
    for stack in (talker.model, talker.code_predictor.model):
        stack.setup_caches(16, torch.float32, torch.device("cpu"))
        attn = stack.layers[-1].self_attn
        B, T, nh, nkv, hd = 1, 5, attn.n_heads, attn.n_kv_heads, attn.head_dim
        x = torch.randn(B, T, attn.qkv_proj.weight.shape[1]) * 2
        cos, sin_signed = stack.rope(3, T, torch.float32)
        sin = rope_angles(hd, stack.cfg.rope_theta, 16).sin()[3 : 3 + T]
        q, k, v = attn.qkv_proj(x).split([nh * hd, nkv * hd, nkv * hd], dim=-1)
        q_ref = official_rope(attn.q_norm.reference(q.reshape(B, T, nh, hd)).transpose(1, 2), cos, sin)
        k_ref = official_rope(attn.k_norm.reference(k.reshape(B, T, nkv, hd)).transpose(1, 2), cos, sin)
        got = attn.heads(x, cos, sin_signed)
        assert torch.equal(got[0], q_ref) and torch.equal(got[1], k_ref)
        assert torch.equal(got[2], v.reshape(B, T, nkv, hd).transpose(1, 2))


def test_fused_projections_are_the_separate_ones(model_dir, config, monkeypatch):
    """The talker and code predictor with and without fused q/k/v and gate/up: the same greedy
    codes, and prefill logits within float32 rounding.

    Not bit for bit: the fused gate/up output is split into two non-contiguous halves, and
    F.silu over a strided tensor may take another vector path than over a contiguous one: on
    AMD EPYC (Zen 4) that differs by 1 ulp in some elements. Measured on a 2-core Xeon (family
    6, model 167), the logits differ by 2e-7 of their largest magnitude for a random 30-row
    input. 1e-5 of it is fifty times that, and a thousand times below the gap between the top
    two logits there (1% of the largest magnitude), so the codes stay equal.
    """
    fused = talker_loader.load_talker(str(model_dir), config)
    monkeypatch.setattr(talker_loader, "fuse_projections", lambda module: None)
    monkeypatch.setattr(talker_loader, "fusion_plan", lambda module: [])
    separate = talker_loader.load_talker(str(model_dir), config)
    assert fused.model.layers[0].self_attn.qkv_proj is not None
    assert separate.model.layers[0].self_attn.qkv_proj is None
    assert separate.model.layers[0].mlp.gate_up_proj is None

    case = load_case("ru_short")
    request = resolve_request(config, SynthesisRequest(language="russian", speaker="ryan"), SamplingConfig())
    ids = torch.tensor([load_tokenizer(model_dir).chat_prompt_ids(case["text"])])
    greedy = SamplingConfig(do_sample=False, subtalker_do_sample=False)
    results = []
    for talker in (fused, separate):
        prompt = build_prompt(talker, config, ids, request.language_id, request.speaker)
        codes = torch.stack(list(FrameGenerator(talker, config).frames(prompt, 12, greedy, ignore_eos=True)))
        talker.model.setup_caches(prompt.length, torch.float32, torch.device("cpu"))
        with torch.inference_mode():
            results.append((codes, talker(prompt.embeds, 0)[1]))
    (codes_fused, logits_fused), (codes_separate, logits_separate) = results
    assert torch.equal(codes_fused, codes_separate)
    scale = float(logits_separate.abs().max())
    torch.testing.assert_close(logits_fused, logits_separate, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("B,T,S,nh,nkv", [(8, 1, 100, 16, 8), (3, 1, 9, 4, 2), (1, 7, 30, 6, 2), (2, 1, 600, 16, 8)])
def test_grouped_attention_products_are_the_repeated_heads_ones(dtype, B, T, S, nh, nkv):
    # Attention's grouped form (layers.grouped_matmul) against repeating each kv head for its
    # query heads, for q @ k^T and for probs @ v: the same values, bit for bit in float32.
    g = torch.Generator().manual_seed(B * S + nh)
    hd, groups = 64, nh // nkv
    q = torch.randn(B, nh, T, hd, generator=g).to(dtype)
    k = torch.randn(B, nkv, S, hd, generator=g).to(dtype)
    probs = torch.rand(B, nh, T, S, generator=g).to(dtype)
    repeated = k[:, :, None].expand(B, nkv, groups, S, hd).reshape(B, nh, S, hd)
    pairs = [(grouped_matmul(q, k.transpose(2, 3), groups), torch.matmul(q, repeated.transpose(2, 3))),
             (grouped_matmul(probs, k, groups), torch.matmul(probs, repeated))]
    for grouped, expected in pairs:
        assert grouped.shape == expected.shape and grouped.dtype == expected.dtype
        if dtype == torch.float32:  # the exact path: each product is the same BLAS call's
            assert torch.equal(grouped, expected)
        else:  # oneDNN may block a bfloat16 reduction by the batch count on another CPU
            assert float((grouped.float() - expected.float()).abs().max()) <= 2**-7 * float(expected.float().abs().max())


@pytest.mark.parametrize("scripted", [False, True])
def test_a_stack_attends_the_same_grouped_or_repeated(scripted, monkeypatch):
    # The whole layer path on both sides of the threshold (eager and scripted): the same hidden states.
    from qwentts_cli.model import layers, scripted as scripted_module
    from test_scripted import _stack, _steps

    stack = _stack(None, kv_heads=2)
    stack.scripted = scripted
    if scripted:
        assert stack.scripted_step() is not None
    repeated = _steps(stack, 3, prefix=4, steps=6)
    for module in (layers, scripted_module):
        monkeypatch.setattr(module, "GROUPED_MIN_ROWS_X_POSITIONS", 1)
    grouped = _steps(stack, 3, prefix=4, steps=6)
    assert all(torch.equal(a, b) for a, b in zip(repeated, grouped))
