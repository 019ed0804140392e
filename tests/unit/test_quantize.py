"""--quantize: int8 linears close to float32, swapped in where the frame loop reads them, opt-in only."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from conftest import load_case
from qwentts_cli.model.quantize import MODES, DynamicInt8Linear, WeightOnlyInt8Linear, quantize_rows
from helpers import assert_clean_error, run_main


def test_quantize_rows_round_trip():
    w = torch.randn(64, 96) * torch.linspace(0.01, 3, 64)[:, None]  # rows of very different scale
    q, scale = quantize_rows(w)
    assert q.dtype == torch.int8 and int(q.abs().max()) == 127
    error = (q.float() * scale[:, None] - w).abs()
    assert bool((error <= scale[:, None] / 2 + 1e-7).all())  # at most half a step per row


@pytest.mark.parametrize("cls", [DynamicInt8Linear, WeightOnlyInt8Linear])
@pytest.mark.parametrize("bias", [False, True])
def test_int8_linear_close_to_float(cls, bias):
    torch.manual_seed(0)
    linear = nn.Linear(256, 384, bias=bias)
    x = torch.randn(3, 5, 256)
    expected = linear(x).detach()
    got = cls(*quantize_rows(linear.weight.detach()), linear.bias)(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    relative = (got - expected).norm() / expected.norm()
    assert relative < 0.02, float(relative)


@pytest.fixture(scope="module")
def quantized(model_dir):
    from qwentts_cli.runtime import Synthesizer

    return {mode: Synthesizer.from_pretrained(str(model_dir), quantize=mode) for mode in MODES}


@pytest.mark.parametrize("mode", MODES)
def test_frame_loop_linears_are_replaced(quantized, mode):
    talker = quantized[mode].talker
    kind = DynamicInt8Linear if mode == "int8" else WeightOnlyInt8Linear
    plain = [name for name, m in talker.named_modules() if type(m) is nn.Linear]
    # Prompt-only linears stay float; so do those the kernel cannot run (int8-weight: K % 16).
    expected_plain = ["text_projection.linear_fc1", "text_projection.linear_fc2"]
    if mode == "int8-weight":
        assert talker.code_predictor.cfg.hidden_size % 16 != 0  # the fixture's predictor (24) exercises the guard
        expected_plain += [name for name, m in talker.code_predictor.named_modules() if type(m) is nn.Linear]
        expected_plain = [n if n.startswith("text_") else f"code_predictor.{n}" for n in expected_plain]
    assert sorted(plain) == sorted(expected_plain)
    assert isinstance(talker.codec_head, kind)
    assert isinstance(talker.model.layers[0].self_attn.qkv_proj, kind)
    if mode == "int8":
        assert isinstance(talker.code_predictor.lm_head[3], kind)
        assert isinstance(talker.code_predictor.model.layers[0].mlp.gate_up_proj, kind)


@pytest.mark.parametrize("mode", MODES)
def test_quantized_generation_runs_long(quantized, mode):
    # Many frames on the quantized fixture model: the int8 kernels must stay inside their rows.
    synth = quantized[mode]
    frames = list(synth.frames("Ниже представлен план цикла статей о том, как создать собственную модель.",
                               language="russian", sampling=synth.greedy(), max_frames=40, ignore_eos=True))
    assert len(frames) == 40 and all(int(f.min()) >= 0 for f in frames)


@pytest.mark.parametrize("mode", MODES)
def test_quantized_logits_stay_close(synthesizer, quantized, mode):
    # The first codebook-0 logits of a golden prompt, float32 vs int8: the drift docs/benchmark.md reports.
    case = load_case("en_medium")

    def first_logits(synth):
        from qwentts_cli.generate.prompt import build_prompt

        request = synth.resolve(language=case["language"], speaker=case["speaker"])
        ids = torch.tensor([synth.prompt_ids(case["text"])])
        prompt = build_prompt(synth.talker, synth.config, ids, request.language_id, request.speaker)
        synth.talker.model.setup_caches(prompt.embeds.shape[1] + 1, torch.float32, torch.device("cpu"))
        with torch.inference_mode():
            return synth.talker(prompt.embeds, 0)[1][0]

    reference, got = first_logits(synthesizer), first_logits(quantized[mode])
    drift = float((got - reference).abs().max() / reference.std())
    assert 0 < drift < 0.25, drift


def test_synth_quantized_end_to_end(model_dir, tmp_path):
    out = tmp_path / "q.wav"
    proc = run_main("synth", "Hello there.", "--model", str(model_dir), "--quantize", "int8", "--greedy",
                   "--max-frames", "6", "--language", "english", "-o", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    audio, rate = sf.read(out)
    assert rate == 24000 and 0 < audio.shape[0] <= 6 * 1920 and np.isfinite(audio).all()


def test_unknown_quantize_mode(model_dir, tmp_path):
    out = tmp_path / "x.wav"
    proc = run_main("synth", "Hi", "--model", str(model_dir), "--quantize", "int4", "-o", str(out))
    assert_clean_error(proc, "--quantize", "int8")
    assert not out.exists()
