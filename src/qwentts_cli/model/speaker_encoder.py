"""The Base models' speaker encoder: a 24 kHz reference clip -> the x-vector that clones its voice.

It is ECAPA-TDNN (Desplanques et al., "ECAPA-TDNN: Emphasized Channel Attention, Propagation and
Aggregation in TDNN Based Speaker Verification", 2020), as the official package builds it
(`Qwen3TTSSpeakerEncoder` and `mel_spectrogram` in qwen-tts 0.1.1,
core/models/modeling_qwen3_tts.py), fed the official log-mel:

    wav (L,) float32, 24 kHz
    -> reflect pad 384 each side, STFT (n_fft 1024, hop 256, periodic Hann, no centering)
    -> magnitude sqrt(re^2 + im^2 + 1e-9) -> 128 Slaney mel bands (0-12 kHz) -> log(max(., 1e-5))
    -> mel (frames, 128), frames = (L - 256) // 256 + 1
    -> TDNN k5 -> 3 x SE-Res2Net block (k3, dilation 2, 3, 4) -> concatenate the three -> TDNN k1
    -> attentive statistics pooling (weighted mean and std over time) -> 1x1 conv
    -> x-vector (enc_dim,), not normalized

Every convolution pads "same" by reflection, as the official Conv1d(padding="same",
padding_mode="reflect"). Tensors inside the network are channels-first, (B, C, T). Module names
follow the checkpoint's `speaker_encoder.*` tensors so weights load by name. The arithmetic
follows the official one operation for operation (the statistics as sums of weighted terms, not
means), so in float32 it matches to rounding.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qwentts_cli.config import SpeakerEncoderConfig
from qwentts_cli.errors import UsageError

SAMPLE_RATE = 24000
N_FFT = 1024
HOP = 256
N_MELS = 128
F_MAX = 12000.0
_WAV_PAD = (N_FFT - HOP) // 2  # 384 samples of reflection each side
_STATS_EPS = 1e-12  # floor of the variance in the statistics pooling


# ---------------------------------------------------------------------------------------------------
# log-mel


def _hz_to_mel(hz: float) -> np.ndarray:
    """Slaney's mel scale (librosa, htk=False) of one frequency: linear below 1 kHz, logarithmic above. float64."""
    hz = np.asarray(hz, dtype=np.float64)  # 0-d, as librosa computes fmin and fmax
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    if hz >= min_log_hz:
        return min_log_mel + np.log(hz / min_log_hz) / logstep
    return hz / f_sp


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """The inverse of _hz_to_mel, over an array."""
    f_sp = 200.0 / 3
    hz = f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_region = mels >= min_log_mel
    hz[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    return hz


def slaney_mel_filters(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = 0.0,
                       fmax: float = F_MAX) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters, Slaney scale and area norm.

    The same computation as `librosa.filters.mel(..., htk=False, norm="slaney")`, rounding included:
    triangles in float64 stored as float32, then scaled by the float64 norm and stored again.
    """
    fft_hz = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)  # (n_fft // 2 + 1,)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))  # (n_mels + 2,) band edges
    widths = np.diff(edges_hz)  # (n_mels + 1,)
    ramps = np.subtract.outer(edges_hz, fft_hz)  # (n_mels + 2, n_fft // 2 + 1)
    filters = np.zeros((n_mels, fft_hz.size), dtype=np.float32)
    for i in range(n_mels):
        rising, falling = -ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]
        filters[i] = np.maximum(0, np.minimum(rising, falling))
    filters *= (2.0 / (edges_hz[2 : n_mels + 2] - edges_hz[:n_mels]))[:, None]  # float64 product, stored float32
    return filters


@functools.cache
def _mel_constants() -> tuple[torch.Tensor, torch.Tensor]:
    """(filters (128, 513), periodic Hann window (1024,)), float32 on the CPU, built once."""
    return torch.from_numpy(slaney_mel_filters()), torch.hann_window(N_FFT)


def log_mel(wav: torch.Tensor) -> torch.Tensor:
    """The speaker encoder's input: (L,) float32 at 24 kHz -> (frames, 128) natural-log mel magnitudes."""
    if wav.dim() != 1:
        raise ValueError(f"log_mel takes one mono waveform (L,), got shape {tuple(wav.shape)}")
    if wav.shape[0] <= _WAV_PAD:
        raise UsageError(f"the reference audio is too short for the speaker encoder ({wav.shape[0]} samples at "
                         f"24 kHz); give a few seconds of speech")
    filters, window = (t.to(wav.device) for t in _mel_constants())
    x = F.pad(wav.to(torch.float32)[None, None], (_WAV_PAD, _WAV_PAD), mode="reflect")[0]  # (1, L + 768)
    spec = torch.stft(x, N_FFT, hop_length=HOP, win_length=N_FFT, window=window, center=False,
                      normalized=False, onesided=True, return_complex=True)  # (1, 513, frames)
    magnitude = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-9)  # (1, 513, frames)
    mel = torch.matmul(filters, magnitude)  # (1, 128, frames)
    return torch.log(torch.clamp(mel, min=1e-5))[0].transpose(0, 1)  # (frames, 128)


# ---------------------------------------------------------------------------------------------------
# ECAPA-TDNN


class SameConv1d(nn.Conv1d):
    """Conv1d whose output is as long as its input: the input is first reflected by
    dilation * (kernel - 1) samples in all, the smaller half on the left (PyTorch's "same")."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__(c_in, c_out, kernel_size, dilation=dilation)
        total = dilation * (kernel_size - 1)
        self.same_pad = (total // 2, total - total // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same_pad != (0, 0):
            x = F.pad(x, self.same_pad, mode="reflect")
        return F.conv1d(x, self.weight, self.bias, dilation=self.dilation)


class TDNNBlock(nn.Module):
    """A time-delay layer: SameConv1d then ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = SameConv1d(c_in, c_out, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class Res2NetBlock(nn.Module):
    """Channels split into `scale` groups: group 0 passes, group 1 goes through a TDNN, each later
    group through a TDNN of (itself + the previous group's output); the outputs are concatenated."""

    def __init__(self, channels: int, scale: int, kernel_size: int, dilation: int):
        super().__init__()
        self.scale = scale
        self.blocks = nn.ModuleList(TDNNBlock(channels // scale, channels // scale, kernel_size, dilation)
                                    for _ in range(scale - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.chunk(x, self.scale, dim=1)  # scale x (B, C / scale, T)
        out = [parts[0]]
        for i in range(1, self.scale):
            out.append(self.blocks[i - 1](parts[i] if i == 1 else parts[i] + out[-1]))
        return torch.cat(out, dim=1)  # (B, C, T)


class SqueezeExcitationBlock(nn.Module):
    """Per-channel gates from the time average: mean -> 1x1 conv, ReLU -> 1x1 conv, sigmoid -> scale."""

    def __init__(self, channels: int, se_channels: int):
        super().__init__()
        self.conv1 = SameConv1d(channels, se_channels)
        self.conv2 = SameConv1d(se_channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean(dim=2, keepdim=True)  # (B, C, 1)
        gate = torch.sigmoid(self.conv2(torch.relu(self.conv1(gate))))  # (B, C, 1)
        return x * gate


class SERes2NetBlock(nn.Module):
    """TDNN (k1), Res2Net, TDNN (k1), squeeze-excitation, plus the block's input."""

    def __init__(self, channels: int, scale: int, se_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.tdnn1 = TDNNBlock(channels, channels)
        self.res2net_block = Res2NetBlock(channels, scale, kernel_size, dilation)
        self.tdnn2 = TDNNBlock(channels, channels)
        self.se_block = SqueezeExcitationBlock(channels, se_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se_block(self.tdnn2(self.res2net_block(self.tdnn1(x)))) + x


def _weighted_stats(x: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over time of x (B, C, T) under weights (B, 1 or C, T) that sum to 1 over T: (B, C) each."""
    mean = (weights * x).sum(dim=2)
    var = (weights * (x - mean.unsqueeze(2)).pow(2)).sum(dim=2)
    return mean, torch.sqrt(var.clamp(min=_STATS_EPS))


class AttentiveStatisticsPooling(nn.Module):
    """(B, C, T) -> (B, 2C, 1): the mean and std of each channel over time, weighted by a softmax
    attention that sees each frame beside the clip's plain mean and std."""

    def __init__(self, channels: int, attention_channels: int):
        super().__init__()
        self.tdnn = TDNNBlock(channels * 3, attention_channels)
        self.conv = SameConv1d(attention_channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[2]
        uniform = x.new_ones(1, 1, frames) / frames  # (1, 1, T): the plain average, as a weighted one
        mean, std = _weighted_stats(x, uniform)  # (B, C) each
        context = torch.cat([x, mean.unsqueeze(2).expand_as(x), std.unsqueeze(2).expand_as(x)], dim=1)  # (B, 3C, T)
        attention = torch.softmax(self.conv(torch.tanh(self.tdnn(context))), dim=2)  # (B, C, T), sums to 1 over T
        mean, std = _weighted_stats(x, attention)  # (B, C) each
        return torch.cat((mean, std), dim=1).unsqueeze(2)  # (B, 2C, 1)


class SpeakerEncoder(nn.Module):
    """ECAPA-TDNN: log-mel (B, frames, 128) -> x-vector (B, enc_dim)."""

    def __init__(self, cfg: SpeakerEncoderConfig):
        super().__init__()
        channels, kernels, dilations = cfg.enc_channels, cfg.enc_kernel_sizes, cfg.enc_dilations
        self.blocks = nn.ModuleList([TDNNBlock(cfg.mel_dim, channels[0], kernels[0], dilations[0])])
        for i in range(1, len(channels) - 1):
            self.blocks.append(SERes2NetBlock(channels[i], cfg.enc_res2net_scale, cfg.enc_se_channels,
                                              kernels[i], dilations[i]))
        self.mfa = TDNNBlock(channels[-1], channels[-1], kernels[-1], dilations[-1])
        self.asp = AttentiveStatisticsPooling(channels[-1], cfg.enc_attention_channels)
        self.fc = SameConv1d(channels[-1] * 2, cfg.enc_dim)
        # Reflection needs more frames than the widest one-sided pad.
        self.min_frames = 1 + max(m.same_pad[1] for m in self.modules() if isinstance(m, SameConv1d))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        frames = mel.shape[1]
        if frames < self.min_frames:
            raise UsageError(f"the reference audio is too short for the speaker encoder ({frames} mel frames, "
                             f"at least {self.min_frames} needed: {self.min_frames * HOP / SAMPLE_RATE:.2f} s)")
        x = self.blocks[0](mel.transpose(1, 2))  # (B, frames, 128) -> (B, 128, T) -> (B, C0, T)
        outputs = []
        for block in self.blocks[1:]:
            x = block(x)
            outputs.append(x)
        x = self.mfa(torch.cat(outputs, dim=1))  # (B, 3 x C0, T) -> (B, C4, T)
        x = self.asp(x)  # (B, 2 x C4, 1)
        return self.fc(x).squeeze(2)  # (B, enc_dim)

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        """One 24 kHz float32 waveform (L,) -> its x-vector (enc_dim,)."""
        mel = log_mel(wav.to(self.fc.weight.device))  # (frames, 128)
        return self.forward(mel[None].to(self.fc.weight.dtype))[0]
