"""The speech tokenizer's encoder (reference audio -> codes, for voice cloning) against the official package.

Golden data: the Base fixture's `ref_code`, what the official `speech_tokenizer.encode` returned
inside `generate_voice_clone` (tests/fixtures/qwen3-tts-micro-base/README.md). Also: the loader's
strictness, the config reader's errors, and the quirk that the official encoder's attention has
no sliding window.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from conftest import TESTS
from qwentts_cli.config import CodecEncoderConfig
from qwentts_cli.errors import CheckpointError, UnsupportedConfigError
from qwentts_cli.load.codec_encoder import load_codec_encoder
from qwentts_cli.model.codec.encoder import CausalAttention

BASE = TESTS / "fixtures" / "qwen3-tts-micro-base"
TOKENIZER = BASE / "model" / "speech_tokenizer"
# case -> the case whose ref_code is its reference's codes (x-vector-only cases record none, but the
# official call still encodes the reference: en_ref.wav, as in icl_en_streaming_text).
CASES = {
    "icl_ru": "icl_ru",
    "icl_en_streaming_text": "icl_en_streaming_text",
    "icl_16k_streaming_long_text": "icl_16k_streaming_long_text",
    "xvec_en": "icl_en_streaming_text",
}


def case_json(name: str) -> dict:
    with open(BASE / "golden" / name / "case.json", encoding="utf-8") as f:
        return json.load(f)


def reference_wav(name: str) -> torch.Tensor:
    """The 24 kHz signal the official encoder saw: the recorded resampled one for a 16 kHz reference,
    else the file as librosa reads it (soundfile's float32, channels averaged)."""
    resampled = BASE / "golden" / name / "ref_wav_24k.npy"
    if resampled.is_file():
        return torch.from_numpy(np.load(resampled).astype(np.float32).reshape(-1))
    wav, rate = sf.read(BASE / case_json(name)["ref_audio"], dtype="float32", always_2d=True)
    assert rate == 24000
    return torch.from_numpy(np.ascontiguousarray(wav.mean(axis=1, dtype=np.float32)))


def golden_codes(name: str) -> np.ndarray:
    source = CASES[name]
    assert case_json(name)["ref_audio"] == case_json(source)["ref_audio"]
    codes = np.array(case_json(source)["ref_code"], dtype=np.int64)
    assert codes.ndim == 2 and codes.shape[1] == 16
    return codes


@pytest.fixture(scope="module")
def encoder():
    return load_codec_encoder(str(TOKENIZER))


@pytest.mark.parametrize("name", list(CASES))
def test_codes_equal_the_official_ref_code(encoder, name):
    wav = reference_wav(name)
    codes = encoder.encode(wav)
    assert codes.dtype == torch.int64
    assert codes.shape[0] == -(-wav.shape[0] // 1920)
    np.testing.assert_array_equal(codes.numpy(), golden_codes(name))


def test_sliding_window_is_not_applied(encoder, monkeypatch):
    """The quirk: MimiConfig's sliding_window (50 positions here) is not applied by the official
    encoder; applying it changes many of the reference codes (about 40% of icl_ru's)."""
    window = encoder.config.sliding_window
    wav = reference_wav("icl_ru")
    expected = golden_codes("icl_ru")

    def windowed(self, x, cos, sin_signed):  # query p sees keys p - window < q <= p
        B, T, _ = x.shape
        q, k, v = self.heads(x, cos, sin_signed)
        p = torch.arange(T)
        mask = (p[None, :] <= p[:, None]) & (p[None, :] > p[:, None] - window)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))

    monkeypatch.setattr(CausalAttention, "forward", windowed)
    positions = -(-wav.shape[0] // 960)  # the transformer runs at 25 Hz
    assert positions > window
    changed = (encoder.encode(wav).numpy() != expected).mean()
    assert changed > 0.2, changed


def test_transformers_mimi_without_a_window_agrees(encoder):
    """transformers' MimiModel on the same weights, its window made wider than the clip, gives the
    golden codes too (an independent implementation; transformers 5 applies the window otherwise)."""
    transformers = pytest.importorskip("transformers")
    from safetensors.torch import load_file

    with open(TOKENIZER / "config.json", encoding="utf-8") as f:
        fields = json.load(f)["encoder_config"]
    config = transformers.MimiConfig(**{**fields, "sliding_window": 1_000_000})
    config._attn_implementation = "sdpa"
    model = transformers.MimiModel(config).eval()
    names = set(model.state_dict())
    nested = any(n.startswith("encoder.encoder_seanet.") for n in names)

    def theirs(name: str) -> str:  # the checkpoint's names are transformers 4's; transformers 5 nests the encoder
        name = name[len("encoder."):]
        if nested and name.startswith("encoder."):
            return "encoder.encoder_seanet." + name[len("encoder."):]
        if nested and name.startswith(("encoder_transformer.", "downsample.")):
            return "encoder." + name
        return name

    weights = {theirs(n): t for n, t in load_file(TOKENIZER / "model.safetensors").items() if n.startswith("encoder.")}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(n.startswith(("decoder", "upsample")) for n in missing), (unexpected, missing)
    wav = reference_wav("icl_ru")
    with torch.inference_mode():
        codes = model.encode(wav.view(1, 1, -1), num_quantizers=16).audio_codes[0].t()
    np.testing.assert_array_equal(codes.numpy(), golden_codes("icl_ru"))
    np.testing.assert_array_equal(encoder.encode(wav).numpy(), codes.numpy())


def copy_tokenizer(dest: Path, drop: str | None = None, encoder_fields: dict | None = None) -> Path:
    """A speech_tokenizer folder in `dest`: the fixture's files linked, the weights rewritten without
    tensor `drop`, config.json rewritten with `encoder_fields` merged into its encoder_config."""
    from safetensors.torch import load_file, save_file

    dest.mkdir()
    for item in TOKENIZER.iterdir():
        (dest / item.name).symlink_to(item.resolve())
    if drop is not None:
        tensors = load_file(TOKENIZER / "model.safetensors")
        assert drop in tensors
        del tensors[drop]
        (dest / "model.safetensors").unlink()
        save_file(tensors, dest / "model.safetensors")
    if encoder_fields is not None:
        config = json.loads((TOKENIZER / "config.json").read_text(encoding="utf-8"))
        config["encoder_config"].update(encoder_fields)
        (dest / "config.json").unlink()
        (dest / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return dest


@pytest.mark.parametrize("drop", [
    "encoder.encoder_transformer.layers.0.self_attn.k_proj.weight",
    "encoder.quantizer.acoustic_residual_vector_quantizer.layers.3.codebook.cluster_usage",
    "encoder.quantizer.acoustic_residual_vector_quantizer.layers.30.codebook.embed_sum",  # a codebook not kept
])
def test_missing_encoder_tensor_is_named(tmp_path, drop):
    folder = copy_tokenizer(tmp_path / "speech_tokenizer", drop=drop)
    with pytest.raises(CheckpointError) as error:
        load_codec_encoder(str(folder))
    message = str(error.value)
    assert f"'{drop}'" in message and "speech tokenizer's encoder" in message, message
    assert "missing in all" not in message  # only this one


def test_checkpoint_without_an_encoder_names_the_first_tensor(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_tokenizer(tmp_path / "speech_tokenizer")
    decoder_only = {n: t for n, t in load_file(TOKENIZER / "model.safetensors").items() if n.startswith("decoder.")}
    (folder / "model.safetensors").unlink()
    save_file(decoder_only, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing tensor 'encoder\.encoder\.layers\.0\.conv\.weight' of the "
                                              r"speech tokenizer's encoder \(\d+ missing in all\)"):
        load_codec_encoder(str(folder))


def test_wrong_typed_encoder_field_is_one_clear_error(tmp_path):
    folder = copy_tokenizer(tmp_path / "speech_tokenizer", encoder_fields={"hidden_size": "32"})
    with pytest.raises(CheckpointError) as error:
        load_codec_encoder(str(folder))
    message = str(error.value)
    assert "config.json encoder_config" in message and "'hidden_size' is '32'" in message, message
    assert "expected an integer" in message and "\n" not in message


def test_wrong_shape_is_named(tmp_path):
    folder = copy_tokenizer(tmp_path / "speech_tokenizer", encoder_fields={"intermediate_size": 48})
    with pytest.raises(CheckpointError, match=r"'encoder\.encoder_transformer\.layers\.0\.mlp\.fc1\.weight' .*"
                                              r"has shape \(64, 32\), expected \(48, 32\)"):
        load_codec_encoder(str(folder))


def test_absent_fields_take_the_official_defaults():
    c = CodecEncoderConfig.from_tokenizer_config({"model_type": "qwen3_tts_tokenizer_12hz", "encoder_config": {}})
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.head_dim) == (512, 8, 8, 64)
    assert (c.intermediate_size, c.num_filters, c.codebook_dim, c.num_quantizers) == (2048, 64, 256, 32)
    assert (c.sliding_window, c.downsample_kernel, c.num_codes, c.frame_samples) == (250, 4, 16, 1920)


@pytest.mark.parametrize("fields, needle", [
    ({"hidden_act": "relu"}, "hidden_act"),
    ({"use_causal_conv": False}, "use_causal_conv"),
    ({"pad_mode": "reflect"}, "pad_mode"),
    ({"vector_quantization_hidden_dimension": 8}, "vector_quantization_hidden_dimension"),
])
def test_what_cannot_run_is_unsupported(fields, needle):
    raw = json.loads((TOKENIZER / "config.json").read_text(encoding="utf-8"))
    raw["encoder_config"].update(fields)
    with pytest.raises(UnsupportedConfigError, match=needle):
        CodecEncoderConfig.from_tokenizer_config(raw, "config.json")


def test_encode_rejects_what_is_not_one_clip(encoder):
    with pytest.raises(ValueError, match="mono"):
        encoder.encode(torch.zeros(2, 1000))
    with pytest.raises(ValueError, match="empty"):
        encoder.encode(torch.zeros(0))
