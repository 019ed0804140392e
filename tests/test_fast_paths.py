"""Fast paths against the reference computation they replace: bit for bit in float32."""

from __future__ import annotations

import pytest
import torch

from conftest import load_case
from qwentts_cli.config import TTSConfig
from qwentts_cli.generate import FrameGenerator, build_prompt
from qwentts_cli.model import talker as talker_module
from qwentts_cli.model.layers import RMSNorm


@pytest.mark.parametrize("dim", [6, 8, 24, 32, 128, 1024, 2048])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (1, 1, 16), (2, 5, 8)])
def test_rms_norm_fast_path_is_the_reference(dim, shape):
    torch.manual_seed(dim)
    norm = RMSNorm(dim, 1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(dim))
    x = torch.randn(*shape, dim) * 3
    assert torch.equal(norm(x), norm.reference(x))


def test_fused_projections_are_the_separate_ones(model_dir, monkeypatch):
    # The whole talker + code predictor with and without fused q/k/v and gate/up: same
    # prefill logits, same greedy codes, bit for bit.
    cfg = TTSConfig.from_dir(str(model_dir))
    fused = talker_module.load_talker(str(model_dir), cfg)
    monkeypatch.setattr(talker_module.Talker, "fuse_projections", lambda self: None)
    monkeypatch.setattr(talker_module, "fusion_plan", lambda module: [])
    separate = talker_module.load_talker(str(model_dir), cfg)
    assert fused.model.layers[0].self_attn.qkv_proj is not None
    assert separate.model.layers[0].self_attn.qkv_proj is None

    from qwentts_cli.config import SamplingConfig
    from qwentts_cli.text.tokenizer import load_tokenizer

    case = load_case("ru_short")
    ids = torch.tensor([load_tokenizer(model_dir).chat_prompt_ids(case["text"])])
    greedy = SamplingConfig(do_sample=False, subtalker_do_sample=False)
    results = []
    for talker in (fused, separate):
        prompt = build_prompt(talker, cfg, ids, language="russian", speaker="ryan")
        codes = torch.stack(list(FrameGenerator(talker, cfg).frames(prompt, 12, greedy, ignore_eos=True)))
        talker.model.setup_caches(prompt.embeds.shape[1], torch.float32, torch.device("cpu"))
        with torch.inference_mode():
            results.append((codes, talker(prompt.embeds, 0)[1]))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rope_with_the_sign_on_sin_is_the_official_rotation(dtype):
    from qwentts_cli.model.layers import RotaryTable, apply_rope, apply_rope_reference, rope_angles

    torch.manual_seed(1)
    table = RotaryTable(128, 1_000_000.0, 3000)
    x = (torch.randn(2, 16, 7, 128) * 4).to(dtype)
    for start in (0, 1, 257, 2990):
        cos, sin_signed = table(start, 7, dtype)
        sin = rope_angles(128, 1_000_000.0, 3000).sin()[start : start + 7].to(dtype)
        assert torch.equal(apply_rope(x, cos, sin_signed), apply_rope_reference(x, cos, sin))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rms_normalize_times_the_weight_is_rms_norm(dtype):
    from qwentts_cli.model.layers import rms_normalize

    torch.manual_seed(2)
    norm = RMSNorm(128, 1e-6).to(dtype)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(128))
    x = (torch.randn(1, 3, 24, 128) * 3).to(dtype)
    assert torch.equal(rms_normalize(x, 1e-6) * norm.weight, norm.reference(x))
    assert torch.equal(rms_normalize(x, 1e-6) * norm.weight, norm(x))


@torch.inference_mode()
def test_attention_heads_normed_and_rotated_together_are_the_separate_ones(model_dir):
    # q and k are normalized in one call and rotated in one call; the official code does each apart.
    from qwentts_cli.model.layers import apply_rope_reference, rope_angles

    cfg = TTSConfig.from_dir(str(model_dir))
    talker = talker_module.load_talker(str(model_dir), cfg)
    for stack in (talker.model, talker.code_predictor.model):
        stack.setup_caches(16, torch.float32, torch.device("cpu"))
        attn = stack.layers[-1].self_attn
        B, T, nh, nkv, hd = 1, 5, attn.n_heads, attn.n_kv_heads, attn.head_dim
        x = torch.randn(B, T, attn.qkv_proj.weight.shape[1]) * 2
        cos, sin_signed = stack.rope(3, T, torch.float32)
        sin = rope_angles(hd, stack.cfg.rope_theta, 16).sin()[3 : 3 + T]
        q, k, v = attn.qkv_proj(x).split([nh * hd, nkv * hd, nkv * hd], dim=-1)
        q_ref = apply_rope_reference(attn.q_norm.reference(q.reshape(B, T, nh, hd)).transpose(1, 2), cos, sin)
        k_ref = apply_rope_reference(attn.k_norm.reference(k.reshape(B, T, nkv, hd)).transpose(1, 2), cos, sin)
        got = attn.heads(x, cos, sin_signed)
        assert torch.equal(got[0], q_ref) and torch.equal(got[1], k_ref)
        assert torch.equal(got[2], v.reshape(B, T, nkv, hd).transpose(1, 2))
