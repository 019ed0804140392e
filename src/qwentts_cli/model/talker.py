"""The talker (first codebook, one step per 80 ms frame) and its code predictor (the other 15).

Per frame: the talker reads the sum of the previous frame's 16 codebook embeddings plus a
text embedding and predicts codebook 0; the code predictor, a small decoder with its own
short KV cache, then runs 15 sequential steps from [talker hidden, embed(code 0)] to fill
codebooks 1..15. Module names follow the checkpoint (`talker.*`) so weights load by name.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from qwentts_cli.config import DecoderStackConfig, TalkerConfig, TTSConfig
from qwentts_cli.errors import UnsupportedConfigError
from qwentts_cli.model.layers import DecoderStack, Embedding, fusion_plan
from qwentts_cli.model.quant_cache import cache_file, read_rows
from qwentts_cli.model.quantize import quantize_talker, quantized_linears, swap_in_cached
from qwentts_cli.weights import assign_weights, fuse_rows, read_tensors, safetensors_files


class TextProjection(nn.Module):
    """Text embedding (text_hidden_size) -> talker hidden size: Linear, SiLU, Linear."""

    def __init__(self, text_hidden: int, hidden: int):
        super().__init__()
        self.linear_fc1 = nn.Linear(text_hidden, text_hidden, bias=True)
        self.linear_fc2 = nn.Linear(text_hidden, hidden, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_fc2(F.silu(self.linear_fc1(x)))


class TalkerBackbone(DecoderStack):
    """The talker's decoder stack plus its two input embedding tables."""

    def __init__(self, cfg: TalkerConfig):
        super().__init__(cfg.stack)
        self.codec_embedding = Embedding(cfg.stack.vocab_size, cfg.stack.hidden_size)
        self.text_embedding = Embedding(cfg.text_vocab_size, cfg.text_hidden_size)


class PredictorBackbone(DecoderStack):
    """The code predictor's decoder stack plus one embedding table per codebook 1..15.

    Its embeddings live in the talker's hidden size: they are summed into the talker's
    next input, and projected down to the predictor's size before its layers.
    """

    def __init__(self, cfg: DecoderStackConfig, talker_hidden: int):
        super().__init__(cfg)
        self.codec_embedding = nn.ModuleList(
            Embedding(cfg.vocab_size, talker_hidden) for _ in range(cfg.num_code_groups - 1)
        )


class CodePredictor(nn.Module):
    def __init__(self, cfg: DecoderStackConfig, talker_hidden: int):
        super().__init__()
        self.cfg = cfg
        self.model = PredictorBackbone(cfg, talker_hidden)
        self.lm_head = nn.ModuleList(
            nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False) for _ in range(cfg.num_code_groups - 1)
        )
        # The 1.7B talker is wider than its predictor; the 0.6B's are equal and have no projection.
        self.small_to_mtp_projection: nn.Module = (
            nn.Linear(talker_hidden, cfg.hidden_size, bias=True) if cfg.hidden_size != talker_hidden else nn.Identity()
        )

    def step(self, embeds: torch.Tensor, start: int, head: int) -> torch.Tensor:
        """embeds (B, T, talker_hidden) at predictor positions [start, start+T) -> logits of the last (B, V)."""
        hidden = self.model(self.small_to_mtp_projection(embeds), start)
        # The head runs over every position, as the official forward does, so a prefill's
        # last row comes from the same matrix product (M>1 and M=1 kernels may round apart).
        return self.lm_head[head](hidden)[:, -1]


class Talker(nn.Module):
    def __init__(self, cfg: TalkerConfig):
        super().__init__()
        self.cfg = cfg
        self.model = TalkerBackbone(cfg)
        self.text_projection = TextProjection(cfg.text_hidden_size, cfg.stack.hidden_size)
        self.codec_head = nn.Linear(cfg.stack.hidden_size, cfg.stack.vocab_size, bias=False)
        self.code_predictor = CodePredictor(cfg.predictor, cfg.stack.hidden_size)

    def fuse_projections(self) -> None:
        """q/k/v and gate/up as single matrices in the talker and the code predictor."""
        self.model.fuse_projections()
        self.code_predictor.model.fuse_projections()

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        """Text token ids (B, T) -> projected embeddings (B, T, C)."""
        # The table may be kept in the checkpoint's dtype (see load_talker): widening the looked-up
        # rows gives the same values as widening the whole table first.
        rows = self.model.text_embedding(ids)
        return self.text_projection(rows.to(self.text_projection.linear_fc1.weight.dtype))

    def embed_codec(self, ids: torch.Tensor) -> torch.Tensor:
        """Codebook-0 / control ids (B, T) -> embeddings (B, T, C)."""
        return self.model.codec_embedding(ids)

    def forward(self, embeds: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """embeds (B, T, C) at positions [start, start+T) -> (last hidden (B, 1, C), codebook-0 logits (B, V))."""
        hidden = self.model(embeds, start)
        return hidden[:, -1:], self.codec_head(hidden)[:, -1]

    def decode_at(self, embeds: torch.Tensor, position: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame's step in fixed shapes (see DecoderStack.decode_at): embeds (B, 1, C) at
        `position` ((1,) long tensor) -> (hidden (B, 1, C), codebook-0 logits (B, V))."""
        hidden = self.model.decode_at(embeds, position, window)
        return hidden, self.codec_head(hidden)[:, -1]


def load_talker(model_dir: str, cfg: TTSConfig, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                quantize: str | None = None) -> "Talker":
    """Build the talker on the meta device and assign it the checkpoint's `talker.*` tensors.

    `quantize` ("int8", "int8-weight"): the per-frame linears become int8 (model/quantize.py).
    """
    with torch.device("meta"):
        talker = Talker(cfg.talker)
    plan = fusion_plan(talker)
    # Still on the meta device, so only the module structure changes. (Outside the device
    # context: under it, meta ops run through Python reference implementations, ~1 s here.)
    talker.fuse_projections()
    files = safetensors_files(model_dir)
    tensors = read_tensors(files)
    # Base checkpoints also carry the speaker encoder (voice cloning), which is not run here.
    foreign = [k for k in tensors if not k.startswith(("talker.", "speaker_encoder."))]
    if foreign:
        raise UnsupportedConfigError(f"model.safetensors has unexpected tensor '{foreign[0]}'; this checkpoint is not supported")
    talker_tensors = tensors.strip_prefix("talker.")
    del tensors
    source = os.path.join(model_dir, "model.safetensors")
    # The text embedding table (151936 x 2048, a third of the 0.6B checkpoint) is only read a few
    # rows per sentence: it stays as stored, memory-mapped, instead of being widened to float32.
    # Linears about to be quantized are read as stored too: widening them first would cost a copy.
    kept = {"model.text_embedding.weight"}
    quantize_after: tuple[str, str] | None = None  # (mode, cache file to write) when quantizing below
    if quantize:
        names = quantized_linears(talker, quantize)
        cache = cache_file(files, quantize, dtype)
        cached = read_rows(cache, {name: tuple(talker.get_submodule(name).weight.shape) for name in names})
        if cached is None:
            kept.update(f"{name}.weight" for name in names)
            quantize_after = (quantize, cache)
        else:
            # The int8 rows of a previous load: these linears' float matrices are never read, nor fused.
            # Biases as assign_weights would have made them (in `dtype`), so a warm load equals a cold one.
            biases = {name: talker_tensors[f"{name}.bias"].to(dtype) for name in names if f"{name}.bias" in talker_tensors}
            swap_in_cached(talker, quantize, names, cached, biases)
            _drop_tensors_of(talker_tensors, names, plan)
            plan = [entry for entry in plan if entry[0][: -len(".weight")] not in names]
    for fused, parts, shapes in plan:
        fuse_rows(talker_tensors, fused, parts, shapes, source, dtype=None if fused in kept else dtype)
    assign_weights(talker, talker_tensors, source, dtype, device, keep_stored=kept.__contains__)
    # From here the module holds the weights; drop the dict's references so that each float
    # matrix is freed as soon as its int8 form replaces it (the recorded spans stay).
    talker_tensors.clear()
    if quantize_after:
        quantize_talker(talker, *quantize_after)
    talker_tensors.release_unused(talker)  # keep resident only what the model still reads from the file
    return talker.eval()


def _drop_tensors_of(tensors, linears: list[str], plan) -> None:
    """Remove (and release) the checkpoint tensors of `linears` that were replaced before loading:
    their weights, or the parts fused into them, and their biases."""
    parts = {fused: names for fused, names, _ in plan}
    for name in linears:
        for key in (*parts.get(f"{name}.weight", [f"{name}.weight"]), f"{name}.bias"):
            if key in tensors:
                del tensors[key]
                tensors.release(key)
