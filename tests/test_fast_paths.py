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
