"""Random weights at the published Qwen3-TTS 12Hz shapes (`random:0.6b`, `random:1.7b`; presets.py).

They let anyone time a machine on the real architecture at its real size without
downloading gigabytes. Random weights say nothing about audio quality: timings only.
"""

from __future__ import annotations

import torch
from torch import nn

from qwentts_cli.config import CodecDecoderConfig, TTSConfig
from qwentts_cli.load.fusion import fuse_projections
from qwentts_cli.load.presets import CODEC_SHAPE
from qwentts_cli.load.pack import pack_codec, pack_talker, packs, packs_codec
from qwentts_cli.load.quantize import quantize_talker
from qwentts_cli.model.codec import OFFICIAL_SEGMENTATION, CodecDecoder, Segmentation
from qwentts_cli.model.talker import Talker

# Drawing 0.9 G normal numbers one by one takes ~20 s on 2 cores; weights are instead tiled
# from a pool of this many draws (at a random offset per tensor), which is as good for timing.
POOL_SIZE = 1 << 22


def random_talker(cfg: TTSConfig, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                  seed: int = 0) -> Talker:
    """A talker of this shape with weights at a 1/sqrt(fan_in) spread, so activations keep a sane scale."""
    g = torch.Generator().manual_seed(seed)
    pool = torch.randn(POOL_SIZE, generator=g).repeat(2)  # doubled: any window of POOL_SIZE is a slice
    with torch.device("meta"):
        talker = Talker(cfg.talker)
    talker = talker.to_empty(device=device).to(dtype)
    with torch.no_grad():
        for name, p in talker.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0) if name.endswith("norm.weight") else p.zero_()
                continue
            scale = 1.0 if "embedding" in name else p.shape[1] ** -0.5
            offset = int(torch.randint(0, POOL_SIZE, (1,), generator=g))
            flat = p.view(-1)
            for start in range(0, flat.numel(), POOL_SIZE):
                n = min(POOL_SIZE, flat.numel() - start)
                flat[start : start + n].copy_(pool[offset : offset + n]).mul_(scale)
    return talker.eval()


def random_codec(dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu", seed: int = 1) -> CodecDecoder:
    return random_codec_decoder(CodecDecoderConfig(**CODEC_SHAPE), seed=seed, dtype=dtype, device=device)


def random_model(config: TTSConfig, dtype: torch.dtype, device: torch.device, quantize: str | None = None,
                 seed: int = 0, pack: bool | None = None,
                 codec_dtype: torch.dtype = torch.float32) -> tuple[Talker, CodecDecoder]:
    """A talker and codec of a preset's shape (presets.preset_config) with random weights, ready to
    run as loaded ones (`pack` as in load_talker and load_codec_decoder)."""
    talker = random_talker(config, dtype, device, seed)
    fuse_projections(talker)
    if quantize:
        quantize_talker(talker, quantize)
    if packs(dtype, device, quantize) if pack is None else pack:
        pack_talker(talker)
    codec = random_codec(codec_dtype, device, seed + 1)
    if codec_dtype is torch.float32 and packs_codec(device, pack):  # the codec loader's policy
        pack_codec(codec)
    return talker, codec


def random_codec_decoder(config: CodecDecoderConfig, seed: int = 0, dtype: torch.dtype = torch.float32,
                         device: torch.device | str = "cpu",
                         segmentation: Segmentation = OFFICIAL_SEGMENTATION) -> CodecDecoder:
    """A decoder with random weights at working scales, for tests and timings without a checkpoint.

    Matrices get a 1/sqrt(fan_in) spread, norms and scales 1 +- 0.1 (the trained layer scales
    are tiny, which would hide whole blocks under a test's tolerance), and the output conv is
    scaled so the waveform has a 0.1 spread instead of clipping at +-1 (where every error hides).
    """
    g = torch.Generator().manual_seed(seed)
    # Built on meta and given fresh memory: every parameter is drawn below, so torch's own
    # initialization (Python-level, per layer) would be work thrown away.
    with torch.device("meta"):
        decoder = CodecDecoder(config, segmentation)
    decoder = decoder.to_empty(device="cpu")
    decoder.pre_transformer.init_rope("cpu")
    decoder.quantizer.init_offsets("cpu")
    with torch.no_grad():
        for name, p in decoder.named_parameters():
            kind = name.rpartition(".")[2]
            if kind in ("alpha", "beta"):  # SnakeBeta's log frequency and log magnitude
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif kind == "bias":
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:  # norm weights, layer scales, ConvNeXt gamma
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name == "quantizer.codebooks":
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                # A transposed conv maps C_in -> C_out * kernel: its fan-in is C_in, dim 0.
                transposed = isinstance(decoder.get_submodule(name.rpartition(".")[0]), nn.ConvTranspose1d)
                fan_in = p.shape[0] if transposed else p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)
        codes = torch.randint(0, config.codebook_size, (1, config.num_quantizers, 4), generator=g)
        last = decoder.decoder[-1].conv
        captured = {}
        hook = last.register_forward_hook(lambda m, i, o: captured.setdefault("y", o))
        decoder(codes, decoder.new_state(1))
        hook.remove()
        scale = 0.1 / captured["y"].std()
        last.weight.mul_(scale)
        last.bias.mul_(scale)
    return decoder.to(device=device, dtype=dtype).eval()

