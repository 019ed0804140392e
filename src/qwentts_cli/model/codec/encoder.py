"""The 12Hz speech-tokenizer encoder: a 24 kHz reference clip -> codes at 12.5 Hz (voice cloning).

The official encoder (qwen-tts, `Qwen3TTSTokenizerV2Encoder`) is transformers' `MimiModel` with its
decoder half removed, run by `Qwen3TTSTokenizerV2Model.encode`:

    wav (L,) float32, 24 kHz (EncodecFeatureExtractor passes one mono clip through unchanged)
    -> SEANet: causal conv k=7, 4 x [residual block, ELU, strided causal conv x4/x5/x6/x8 (channels
       doubled)], ELU, causal conv k=3 -> (B, hidden, ceil(L / 960)) at 25 Hz
    -> transformer: LayerNorm, RoPE attention, GELU MLP, layer scales; causal over the whole clip
    -> downsample: conv k=4, stride 2, replicate padding -> (B, hidden, ceil(L / 1920)) at 12.5 Hz
    -> split RVQ, each half through its own 1x1 input projection: code 0 from the semantic
       quantizer, codes 1..15 from the first 15 layers of the acoustic RVQ (nearest codeword by
       Euclidean distance, successive residuals) -> (frames, 16)

Why our own module and not transformers' Mimi code: the official result is what transformers 4.57
computes, and its encoder attention is plain causal over the whole clip. MimiConfig declares
`sliding_window` (250 positions published), but transformers 4.57 applies it only in its
flash-attention-2 path, and the official speech tokenizer runs SDPA. transformers 5 builds a
sliding-window mask for every attention implementation, so its MimiModel computes different codes
once a clip is longer than the window (10 s published; tests/parity/test_codec_encoder.py shows
it on the fixture). The module also costs no transformers import (seconds) at run time. Every op
is the official one (the same padding, the same SDPA call, `torch.cdist` on the same shapes), so
the codes are the official ones bit for bit.

Parameter names mirror the checkpoint's (after the "encoder." prefix), so loading is a strict
name-for-name assignment; the one change is that each codebook holds its code vectors
`embed_sum / clamp(cluster_usage, 1e-5)` (`codebook.embed`), divided once at load time
(load/codec_encoder.py), where the official code divides on first use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qwentts_cli.config import CodecEncoderConfig
from qwentts_cli.model.codec.layers import LayerScale
from qwentts_cli.model.layers import Attention, RotaryTable


class PaddedConv1d(nn.Module):
    """Conv1d, causally padded as MimiConv1d: `(kernel - 1) * dilation + 1 - stride` on the left, then
    on the right up to a whole number of strides, so T inputs give ceil(T / stride) outputs and
    output t sees inputs up to (t + 1) * stride - 1 (and the right padding)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1, bias: bool = True,
                 pad_mode: str = "constant"):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride, dilation=dilation, bias=bias)
        self.stride = stride
        self.left = (kernel - 1) * dilation + 1 - stride
        self.pad_mode = pad_mode  # "constant" (zeros) or "replicate" (the edge values)

    def forward(self, x: Tensor) -> Tensor:
        # x (B, C_in, T) -> (B, C_out, ceil(T / stride))
        T = x.shape[-1]
        # MimiConv1d computes this length in float32 (ceil of a quotient); the integers agree
        # below 2^24 samples (11 minutes at 24 kHz).
        right = -(-T // self.stride) * self.stride - T
        return self.conv(F.pad(x, (self.left, right), mode=self.pad_mode))


class ResnetBlock(nn.Module):
    """SEANet residual block: ELU, conv k=3 (dilated, width / compress), ELU, conv k=1, plus the input."""

    def __init__(self, config: CodecEncoderConfig, dim: int, dilation: int):
        super().__init__()
        c = config
        hidden = dim // c.compress
        # block.0 ELU, block.1 conv, block.2 ELU, block.3 conv (checkpoint layout). The second ELU
        # works in place on the conv's fresh output (the same values, one pass less at 24 kHz).
        self.block = nn.ModuleList([
            nn.ELU(),
            PaddedConv1d(dim, hidden, c.residual_kernel_size, dilation=dilation, pad_mode=c.pad_mode),
            nn.ELU(inplace=True),
            PaddedConv1d(hidden, dim, 1, pad_mode=c.pad_mode),
        ])

    def forward(self, x: Tensor) -> Tensor:
        # x (B, dim, T) -> (B, dim, T)
        h = x
        for layer in self.block:
            h = layer(h)
        return h.add_(x)  # x + h, in place on the fresh conv output (addition commutes exactly)


class Seanet(nn.Module):
    """Waveform (B, 1, L) -> (B, hidden, ceil(L / prod(strides))), as MimiEncoder."""

    def __init__(self, config: CodecEncoderConfig):
        super().__init__()
        c = config
        layers: list[nn.Module] = [PaddedConv1d(1, c.num_filters, c.kernel_size, pad_mode=c.pad_mode)]
        width = c.num_filters
        # Each ELU here follows a conv or a residual block, whose output is fresh: in place.
        for ratio in reversed(c.upsampling_ratios):  # the decoder's upsampling, undone in reverse
            layers += [ResnetBlock(c, width, c.dilation_growth_rate**j) for j in range(c.num_residual_layers)]
            layers += [nn.ELU(inplace=True),
                       PaddedConv1d(width, 2 * width, 2 * ratio, stride=ratio, pad_mode=c.pad_mode)]
            width *= 2
        layers += [nn.ELU(inplace=True), PaddedConv1d(width, c.hidden_size, c.last_kernel_size, pad_mode=c.pad_mode)]
        # One ModuleList with the ELUs in it, so the convs' indices are the checkpoint's (layers.0, .3, ...).
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class CausalAttention(Attention):
    """Self-attention with RoPE, causal over every earlier position (no window), through SDPA as the
    official encoder runs it (MimiSdpaAttention with `is_causal`)."""

    def __init__(self, config: CodecEncoderConfig):
        c = config
        super().__init__(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim, norm_eps=None,
                         bias=c.attention_bias)

    def forward(self, x: Tensor, cos: Tensor, sin_signed: Tensor) -> Tensor:
        # x (B, T, hidden); cos, sin_signed (T, hd)
        B, T, _ = x.shape
        q, k, v = self.heads(x, cos, sin_signed)  # (B, nh, T, hd), (B, nkv, T, hd) x 2
        groups = self.n_heads // self.n_kv_heads
        if groups > 1:  # each kv head copied for its query heads (the official repeat_kv)
            S, hd = k.shape[2], k.shape[3]
            k = k[:, :, None].expand(B, self.n_kv_heads, groups, S, hd).reshape(B, self.n_heads, S, hd)
            v = v[:, :, None].expand(B, self.n_kv_heads, groups, S, hd).reshape(B, self.n_heads, S, hd)
        # transformers 4.57's SDPA mask for an unpadded clip is None, hence is_causal (for T > 1).
        y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)  # (B, nh, T, hd)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim))


class GeluMLP(nn.Module):
    """fc2(gelu(fc1(x))), no biases (MimiMLP; the erf GELU, transformers' "gelu")."""

    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden, intermediate, bias=False)
        self.fc2 = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class TransformerLayer(nn.Module):
    def __init__(self, config: CodecEncoderConfig):
        super().__init__()
        c = config
        self.input_layernorm = nn.LayerNorm(c.hidden_size, eps=c.norm_eps)
        self.self_attn = CausalAttention(c)
        self.self_attn_layer_scale = LayerScale(c.hidden_size)
        self.post_attention_layernorm = nn.LayerNorm(c.hidden_size, eps=c.norm_eps)
        self.mlp = GeluMLP(c.hidden_size, c.intermediate_size)
        self.mlp_layer_scale = LayerScale(c.hidden_size)

    def forward(self, x: Tensor, cos: Tensor, sin_signed: Tensor) -> Tensor:
        # x (B, T, hidden) -> (B, T, hidden)
        x = x + self.self_attn_layer_scale(self.self_attn(self.input_layernorm(x), cos, sin_signed))
        return x + self.mlp_layer_scale(self.mlp(self.post_attention_layernorm(x)))


class Transformer(nn.Module):
    """The encoder transformer (MimiTransformerModel: no input/output projections, no final norm)."""

    def __init__(self, config: CodecEncoderConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(TransformerLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: Tensor) -> Tensor:
        # x (B, T, hidden) -> (B, T, hidden), positions 0..T-1
        c = self.config
        # The talker's table (model/layers.py): the same float32 values as transformers' default RoPE,
        # built per call for exactly the positions used (T * head_dim values, nothing next to the convs).
        rope = RotaryTable(c.head_dim, c.rope_theta, x.shape[1]).to(x.device)
        cos, sin_signed = rope(0, x.shape[1], x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin_signed)
        return x


class Codebook(nn.Module):
    def __init__(self, size: int, dim: int):
        super().__init__()
        self.embed = nn.Parameter(torch.empty(size, dim))  # code vectors, folded at load time

    def nearest(self, x: Tensor) -> Tensor:
        # x (N, dim) -> (N,) the index of the nearest code vector: the official torch.cdist call
        # (float32, the matmul form for a codebook of more than 25 entries), first index on ties.
        return torch.cdist(x[None].float(), self.embed[None].float(), p=2)[0].argmin(dim=-1)


class VectorQuantizer(nn.Module):
    def __init__(self, size: int, dim: int):
        super().__init__()
        self.codebook = Codebook(size, dim)


class ResidualVectorQuantizer(nn.Module):
    """A 1x1 input projection, then `layers` codebooks, each quantizing what the previous ones left."""

    def __init__(self, config: CodecEncoderConfig, layers: int):
        super().__init__()
        c = config
        self.input_proj = nn.Conv1d(c.hidden_size, c.codebook_dim, 1, bias=False)  # a conv, as the official
        self.layers = nn.ModuleList(VectorQuantizer(c.codebook_size, c.codebook_dim) for _ in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        # x (B, hidden, T) -> codes (len(layers), B, T)
        B, _, T = x.shape
        residual = self.input_proj(x).transpose(1, 2).reshape(B * T, -1)  # (B * T, dim), contiguous
        codes = []
        for layer in self.layers:
            index = layer.codebook.nearest(residual)  # (B * T,)
            residual = residual - layer.codebook.embed[index]
            codes.append(index.view(B, T))
        return torch.stack(codes)


class SplitQuantizer(nn.Module):
    """Semantic RVQ (code 0) beside the acoustic RVQ (codes 1..): both quantize the same embedding.

    Only the acoustic layers whose codes are kept exist here (15 of 31 published): an RVQ layer
    depends on the layers before it only, so the kept codes are those of the full quantizer. The
    checkpoint's other layers and the output projections (used to decode) are checked and dropped
    by the loader.
    """

    def __init__(self, config: CodecEncoderConfig):
        super().__init__()
        c = config
        self.semantic_residual_vector_quantizer = ResidualVectorQuantizer(c, c.num_semantic_quantizers)
        self.acoustic_residual_vector_quantizer = ResidualVectorQuantizer(c, c.acoustic_codes)
        self.num_codes = c.num_codes

    def forward(self, x: Tensor) -> Tensor:
        # x (B, hidden, T) -> codes (B, num_codes, T)
        codes = self.semantic_residual_vector_quantizer(x)  # (n_semantic, B, T)
        if len(self.acoustic_residual_vector_quantizer.layers):
            codes = torch.cat([codes, self.acoustic_residual_vector_quantizer(x)])
        return codes[: self.num_codes].transpose(0, 1)


class CodecEncoder(nn.Module):
    """24 kHz waveform -> codes (frames, 16) at 12.5 Hz, as the official speech tokenizer's `encode`."""

    def __init__(self, config: CodecEncoderConfig):
        super().__init__()
        c = self.config = config
        self.encoder = Seanet(c)
        self.encoder_transformer = Transformer(c)
        self.downsample = PaddedConv1d(c.hidden_size, c.hidden_size, c.downsample_kernel, stride=2, bias=False,
                                       pad_mode="replicate")
        self.quantizer = SplitQuantizer(c)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_samples(self) -> int:
        return self.config.frame_samples

    def forward(self, wav: Tensor) -> Tensor:
        """wav (B, 1, L) -> codes (B, num_codes, ceil(L / 1920)). Every clip is L samples long (no padding)."""
        h = self.encoder(wav)  # (B, hidden, T25), T25 = ceil(L / 960)
        h = self.encoder_transformer(h.transpose(1, 2)).transpose(1, 2)  # (B, hidden, T25)
        h = self.downsample(h)  # (B, hidden, ceil(T25 / 2))
        return self.quantizer(h)  # (B, num_codes, frames)

    @torch.inference_mode()
    def encode(self, wav: Tensor) -> Tensor:
        """One mono clip, (L,) float at the encoder's sample rate -> codes (frames, num_codes), int64,
        frames = ceil(L / frame_samples)."""
        if wav.dim() != 1:
            raise ValueError(f"wav must be one mono clip of shape (samples,), got {tuple(wav.shape)}")
        if wav.shape[0] == 0:
            raise ValueError("wav is empty; give at least one sample")
        weight = self.downsample.conv.weight
        # The official path: float32 samples (the feature extractor), then the model's dtype and device.
        wav = wav.to(torch.float32).to(dtype=weight.dtype, device=weight.device)
        codes = self(wav.view(1, 1, -1))[0]  # (num_codes, frames)
        frames = -(-wav.shape[0] // self.config.frame_samples)  # the official trim (a no-op here)
        return codes[:, :frames].t().contiguous()
