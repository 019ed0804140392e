"""The speech-tokenizer decoder: streamed == one-shot for any chunking, the official segmentation, strict loading."""

from __future__ import annotations

import shutil
import numpy as np
import pytest
import torch

from conftest import load_case
from qwentts_cli.config import CodecDecoderConfig
from qwentts_cli.errors import CheckpointError, UnsupportedConfigError
from qwentts_cli.load.codec import load_codec_decoder
from qwentts_cli.load.random import random_codec_decoder
from qwentts_cli.model.codec import Segmentation
from qwentts_cli.model.codec import decoder as decoder_module


@pytest.fixture(scope="module")
def codec(model_dir):
    return load_codec_decoder(str(model_dir / "speech_tokenizer"))


def golden_codes(name: str) -> torch.Tensor:
    return torch.tensor(load_case(name)["codes"], dtype=torch.long)  # (frames, 16)


def stream_in_chunks(decoder, codes: torch.Tensor, chunk: int) -> torch.Tensor:
    stream = decoder.stream()
    pieces = [stream.push(codes[i : i + chunk]) for i in range(0, codes.shape[0], chunk)]
    for piece, start in zip(pieces, range(0, codes.shape[0], chunk)):
        assert piece.shape == (min(chunk, codes.shape[0] - start) * decoder.frame_samples,)
    pieces.append(stream.flush())
    return torch.cat(pieces)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 1000])
def test_streamed_equals_one_shot_on_golden_codes(codec, chunk):
    codes = golden_codes("en_medium")
    one_shot = codec.decode(codes)
    streamed = stream_in_chunks(codec, codes, chunk)
    assert torch.allclose(streamed, one_shot, atol=5e-5, rtol=0)  # float32 summation order differs by chunk size


@pytest.fixture(scope="module")
def segmented_codec(codec):
    # Short segments so that a 40-frame input crosses three official segment boundaries, and a
    # window smaller than a segment so the ring buffer wraps.
    return random_codec_decoder(codec.config, seed=3, segmentation=Segmentation(frames=12, context=3))


@pytest.mark.parametrize("chunk", [1, 2, 5, 7, 12, 13, 40])
def test_streamed_equals_one_shot_across_segments(segmented_codec, chunk):
    codes = torch.randint(0, 2048, (40, 16), generator=torch.Generator().manual_seed(chunk))
    one_shot = segmented_codec.decode(codes)
    streamed = stream_in_chunks(segmented_codec, codes, chunk)
    # Random weights at full scale amplify float32 rounding more than the trained-scale fixture.
    assert torch.allclose(streamed, one_shot, atol=2e-4, rtol=0)


def test_segments_restart_the_network(segmented_codec):
    # As the official chunked_decode: frames [12, 24) come from a fresh network fed frames
    # [9, 24), whose first 3 frames of audio are dropped.
    codes = torch.randint(0, 2048, (40, 16), generator=torch.Generator().manual_seed(0))
    segmented = segmented_codec.decode(codes)
    hop = segmented_codec.frame_samples

    def one_pass(start: int, end: int):  # a fresh network over frames [start, end)
        with torch.inference_mode():
            return segmented_codec(codes[start:end].t()[None], segmented_codec.new_state(1))[0]

    assert torch.allclose(segmented[: 12 * hop], one_pass(0, 12), atol=1e-6)
    assert torch.allclose(segmented[12 * hop : 24 * hop], one_pass(9, 24)[3 * hop :], atol=1e-6)
    # ... which is not what the first network would have made of frames 12..14.
    assert not torch.allclose(segmented[12 * hop : 15 * hop], one_pass(0, 15)[12 * hop :], atol=1e-3)


def test_stream_reset_starts_a_new_utterance(codec):
    codes = golden_codes("ru_short")
    stream = codec.stream()
    stream.push(golden_codes("en_medium"))
    stream.reset()
    again = torch.cat([stream.push(codes[:3]), stream.push(codes[3:])])
    assert torch.allclose(again, codec.decode(codes), atol=5e-5, rtol=0)  # float32 summation order differs by chunk size


def test_batch_decode_equals_single(codec):
    a, b = golden_codes("ru_short"), golden_codes("auto_dialect")
    n = min(a.shape[0], b.shape[0])
    batch = torch.stack([a[:n].t(), b[:n].t()])  # (2, 16, n)
    wav = codec.decode(batch)
    assert torch.allclose(wav[0], codec.decode(a[:n]), atol=5e-5, rtol=0)
    assert torch.allclose(wav[1], codec.decode(b[:n]), atol=5e-5, rtol=0)


@pytest.mark.parametrize("batch", [1, 3, 20])
def test_upsampling_in_pieces_is_the_one_pass_result(codec, batch, monkeypatch):
    # forward runs the upsampling half over at most WAVEFORM_ROW_FRAMES rows x frames per call on
    # the CPU (batch 20: one frame at a time), carrying its state: the one-pass audio within rounding.
    codes = torch.randint(0, 2048, (batch, 16, 37), generator=torch.Generator().manual_seed(batch))
    with torch.inference_mode():
        state = codec.new_state(batch)
        one_pass = codec.to_waveform(codec.to_latent(codes, state), state)
        calls = []
        to_waveform = codec.to_waveform
        monkeypatch.setattr(codec, "to_waveform", lambda h, s: calls.append(h.shape[-1]) or to_waveform(h, s))
        pieced = codec(codes, codec.new_state(batch))
    step = max(1, decoder_module.WAVEFORM_ROW_FRAMES // batch)
    assert calls == [min(step, 37 - i) for i in range(0, 37, step)]
    assert pieced.shape == one_pass.shape == (batch, 37 * codec.frame_samples)
    assert torch.allclose(pieced, one_pass, atol=5e-5, rtol=0)


@pytest.mark.parametrize(
    "codes, message",
    [
        (torch.zeros(4, 15, dtype=torch.long), "must be (frames, 16)"),
        (torch.full((4, 16), 2048), "must be in [0, 2048)"),
        (torch.zeros(4, 16), "must be integers"),
    ],
)
def test_bad_codes_are_refused(codec, codes, message):
    with pytest.raises(ValueError) as e:
        codec.decode(codes)
    assert message in str(e.value)


def copy_speech_tokenizer(model_dir, tmp_path):
    dest = tmp_path / "speech_tokenizer"
    shutil.copytree(model_dir / "speech_tokenizer", dest)
    return dest


def test_truncated_weights_are_a_checkpoint_error(model_dir, tmp_path):
    dest = copy_speech_tokenizer(model_dir, tmp_path)
    weights = dest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(CheckpointError) as e:
        load_codec_decoder(str(dest))
    assert "model.safetensors" in str(e.value)


def test_missing_tensor_is_named(model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    dest = copy_speech_tokenizer(model_dir, tmp_path)
    weights = dest / "model.safetensors"
    tensors = load_file(str(weights))
    name = "decoder.pre_conv.conv.weight"
    assert name in tensors
    del tensors[name]
    save_file(tensors, str(weights))
    with pytest.raises(CheckpointError) as e:
        load_codec_decoder(str(dest))
    assert "pre_conv.conv.weight" in str(e.value)


def test_wrong_shape_is_named(model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    dest = copy_speech_tokenizer(model_dir, tmp_path)
    weights = dest / "model.safetensors"
    tensors = load_file(str(weights))
    name = "decoder.decoder.0.conv.bias"
    tensors[name] = torch.zeros(tensors[name].shape[0] + 1)
    save_file(tensors, str(weights))
    with pytest.raises(CheckpointError) as e:
        load_codec_decoder(str(dest))
    assert "decoder.0.conv.bias" in str(e.value)


def test_unsupported_config_is_refused(model_dir):
    import json

    config = json.loads((model_dir / "speech_tokenizer" / "config.json").read_text())
    config["model_type"] = "qwen3_tts_tokenizer_25hz"
    with pytest.raises(UnsupportedConfigError) as e:
        CodecDecoderConfig.from_tokenizer_config(config)
    assert "qwen3_tts_tokenizer_25hz" in str(e.value)


def test_push_never_reads_the_device(codec):
    # Validating the codes' values on every chunk would sync the host with the GPU twice per chunk;
    # the frame loop's codes are in range by construction, and decode() checks codes from outside.
    from test_graphs import HostReads

    codes = golden_codes("ru_short")[:2]
    stream = codec.stream()
    with HostReads() as mode:
        stream.push(codes)
    assert mode.host_reads == []


def test_chunk_schedule_doubles_to_the_cap():
    from itertools import islice

    from qwentts_cli.runtime import chunk_schedule

    assert list(islice(chunk_schedule(1, 8), 6)) == [1, 2, 4, 8, 8, 8]
    assert list(islice(chunk_schedule(3, 8), 4)) == [3, 6, 8, 8]
    assert list(islice(chunk_schedule(5, 2), 3)) == [5, 5, 5]  # never below the first size


def test_growing_stream_chunks_equal_one_shot(synthesizer):
    case = load_case("en_medium")
    kwargs = dict(speaker=case["speaker"].lower(), language=case["language"].lower(), sampling=synthesizer.greedy(),
                  max_frames=case["max_new_tokens"] - 1)
    chunks = list(synthesizer.stream(case["text"], chunk_frames=1, max_chunk_frames=4, **kwargs))
    sizes = [len(chunk.frames) for chunk in chunks]
    assert sizes[:3] == [1, 2, 4] and all(n <= 4 for n in sizes)
    one_shot = synthesizer.synthesize(case["text"], **kwargs)
    streamed = np.concatenate([chunk.samples for chunk in chunks])
    assert np.array_equal(np.concatenate([chunk.frames for chunk in chunks]), one_shot.codes)
    assert np.abs(streamed - one_shot.audio).max() < 1e-4


def test_priming_continues_like_a_full_decode():
    # A cloned voice's reference primes the stream: the upsampling half sees only its last frames.
    from qwentts_cli.config import CodecDecoderConfig
    from qwentts_cli.load.presets import CODEC_SHAPE
    from qwentts_cli.model.codec.decoder import PRIME_TAIL_FRAMES

    # The real 12Hz layout (kernels, strides, window: what the memory is made of) at an eighth of its
    # channels, which change the cost (10 s -> 1.7 s here) and not how far back a convolution reaches.
    codec = random_codec_decoder(CodecDecoderConfig(**dict(CODEC_SHAPE, decoder_dim=192)), seed=5)
    codes = torch.randint(0, 2048, (70, 16), generator=torch.Generator().manual_seed(1))
    R = 50
    assert R > PRIME_TAIL_FRAMES
    full = codec.stream()
    full.push(codes[:R])
    expected = full.push(codes[R:])
    primed = codec.stream()
    primed.prime(codes[:R])
    assert primed.frames == R
    got = primed.push(codes[R:])
    assert torch.allclose(got, expected, atol=2e-4, rtol=0)  # random full-scale weights: float rounding
    # ... and not because the tail does not matter: with half the tail the audio is wrong.
    short = codec.stream()
    with torch.inference_mode():
        codec.to_latent(codes[: R - 4].t()[None], short.state)  # (1, 16, R - 4)
    short.frames = R - 4
    short.push(codes[R - 4 : R])
    assert not torch.allclose(short.push(codes[R:]), expected, atol=1e-2, rtol=0)


@pytest.mark.parametrize("frames", [1, 11, 12, 13, 40])
def test_segments_are_the_one_shot_decode_bit_for_bit(segmented_codec, frames):
    # What a file is written from, a segment at a time: exactly decode()'s samples, from int16 codes too.
    codes = torch.randint(0, 2048, (frames, 16), generator=torch.Generator().manual_seed(frames))
    parts = list(segmented_codec.segments(codes.to(torch.int16)))
    assert [len(p) for p in parts] == [min(12, frames - s) * 1920 for s in range(0, frames, 12)]
    assert torch.equal(torch.cat(parts), segmented_codec.decode(codes))
    with pytest.raises(ValueError, match=r"must be in \[0, 2048\)"):
        list(segmented_codec.segments(torch.full((3, 16), 2048, dtype=torch.int16)))
