"""The frame steps in fixed shapes, captured once as CUDA graphs and replayed per frame (`GraphSteps`).

On a GPU a frame of the 0.6B model is ~500 small kernels (the talker step, then 15 code
predictor steps of 5 layers each); launched one by one from Python, the launches cost more
than the math. Captured, a frame is two graph replays plus a few kernels for the first
codebook's pick, and one host sync at its end (reading the codes: EOS decides whether to go on).

What makes the steps capturable:
- fixed shapes: the talker step attends over a fixed window of its cache (a power of two
  from 256 up, one graph per window size) with the positions after the current one masked;
  the positions (one per row) are a device tensor, written before the replay, and the window
  size is chosen on the host from the largest position, which the loop knows;
- no host syncs: the cache is written with `scatter_` at that device position (one per row), and sampled
  tokens are drawn as argmax(p / E) with exponential noise E filled (from the user's seeded
  generator) before the replay, instead of `torch.multinomial` inside it;
- static buffers: a replay reads its inputs from, and writes its outputs to, the same tensors,
  so callers copy into the inputs and must use (or clone) the outputs before the next replay.

The code predictor's 15 steps always run at the same cache positions, so its loop is captured
unrolled, exactly as eager code runs it. The batched engine (batch.py, `graphs=True`) replays
the same kinds of capture over its slots: `talker_step` with one position per row, and
`predict_rows`, where each sampled row draws its noise from its own generator. On a CPU nothing
is captured: the same steps run as plain calls, which is how the tests check them against the
eager loop (and that they never read a device value on the host).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from qwentts_cli.config import SamplingConfig
from qwentts_cli.errors import QwenTTSError
from qwentts_cli.generate.rows import PickSettings
from qwentts_cli.generate.sampling import TokenPicker, predictor_picker
from qwentts_cli.generate.steps import predict_codebooks
from qwentts_cli.model.talker import Talker

# The talker's attention window: positions are rounded up to a power of two from here, so an
# utterance needs a handful of captures and attends over at most twice the positions it has.
MIN_WINDOW = 256


def attention_window(positions: int) -> int:
    """The smallest window (a power of two, at least MIN_WINDOW) that holds `positions`."""
    window = MIN_WINDOW
    while window < positions:
        window *= 2
    return window


class Replayable:
    """`fn()` captured as a CUDA graph (replay() reruns its kernels on the same buffers), or on
    a CPU just called."""

    def __init__(self, fn: Callable[[], tuple[torch.Tensor, ...]], device: torch.device):
        self.fn = fn
        self.device = device
        self.graph = None
        self.outputs: tuple[torch.Tensor, ...] | None = None
        if device.type != "cuda":
            return
        try:
            # On the model's GPU, which need not be the current one: a capture on another
            # device's stream would record nothing and replay stale outputs.
            with torch.cuda.device(device):
                # Warm up on a side stream first, as torch.cuda.graphs asks: cuBLAS handles,
                # workspaces and the allocator's blocks are set up outside the capture. Callers
                # pass functions that can run twice on the same inputs with the same result (a
                # cache write at the same position).
                side = torch.cuda.Stream(device)
                side.wait_stream(torch.cuda.current_stream(device))
                with torch.cuda.stream(side):
                    fn()
                torch.cuda.current_stream(device).wait_stream(side)
                # Each graph keeps its own memory pool: they are captured in one order and
                # replayed interleaved, and their intermediates are small.
                self.graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.graph, stream=side):
                    self.outputs = fn()
        except RuntimeError as e:
            raise QwenTTSError(
                f"capturing the frame loop as a CUDA graph failed ({str(e).splitlines()[0]}); "
                "run with <graphs=False>"
            ) from e

    def __call__(self) -> tuple[torch.Tensor, ...]:
        if self.graph is None:
            return self.fn()
        with torch.cuda.device(self.device):  # onto the current stream of the model's GPU
            self.graph.replay()
        return self.outputs


class FrameGraphs:
    """The talker step and the code-predictor loop over static buffers, one graph per shape.

    Long-lived (one per model, device and dtype): the captures outlive an utterance as long as
    the caches they were captured over stay where they are.
    """

    def __init__(self, talker: Talker, device: torch.device, dtype: torch.dtype, batch: int = 1):
        self.talker = talker
        self.device = device
        self.dtype = dtype
        stack, predictor = talker.cfg.stack, talker.cfg.predictor
        C = stack.hidden_size
        self.embed = torch.zeros(batch, 1, C, dtype=dtype, device=device)
        self.positions = torch.zeros(batch, dtype=torch.long, device=device)
        self.hidden = torch.zeros(batch, 1, C, dtype=dtype, device=device)
        self.token = torch.zeros(batch, 1, dtype=torch.long, device=device)
        # One row of draws per code-predictor pick (codebooks 1..15).
        self.noise = torch.ones(predictor.num_code_groups - 1, predictor.vocab_size, device=device)
        self.row_noise: torch.Tensor | None = None  # (B, 15, V), for predict_rows: made on first use
        self.talker_steps: dict[int, Replayable] = {}
        self.predictor_loops: dict[tuple, Replayable] = {}
        # The cache allocations each kind of graph was captured over (DecoderStack.cache_generation).
        self.talker_generation = self.predictor_generation = -1

    def cache_capacity(self, positions: int) -> int:
        """KV cache length to allocate for `positions`: whole windows, so that captured graphs
        (which hold the cache's address) survive from utterance to utterance."""
        return min(attention_window(positions), self.talker.cfg.stack.max_position_embeddings)

    def setup_caches(self, positions: int) -> None:
        self.talker.model.setup_caches(self.cache_capacity(positions), self.dtype, self.device, self.embed.shape[0])
        self.talker.code_predictor.model.setup_caches(self.talker.cfg.predictor.num_code_groups, self.dtype,
                                                      self.device, self.embed.shape[0])

    def _check_buffers(self) -> None:
        """Forget the graphs whose cache or RoPE table was reallocated (they hold the old addresses)."""
        if self.talker.model.cache_generation != self.talker_generation:
            self.talker_steps.clear()
            self.talker_generation = self.talker.model.cache_generation
        if self.talker.code_predictor.model.cache_generation != self.predictor_generation:
            self.predictor_loops.clear()
            self.predictor_generation = self.talker.code_predictor.model.cache_generation

    def talker_step(self, embed: torch.Tensor, positions: torch.Tensor, span: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The talker at `positions` -> (hidden (B, 1, C), logits (B, V)), valid until the next call."""
        self._check_buffers()
        self.embed.copy_(embed)
        self.positions.copy_(positions)
        capacity = self.talker.model.layers[0].self_attn.cache.max_len
        window = min(attention_window(span), capacity)
        if window not in self.talker_steps:
            # Capture this window and every larger one the cache holds now, so that no capture
            # (a device sync and a warm-up run) lands in the middle of an utterance later. Each
            # warm-up writes this position's k, v from this frame's input: what the replay writes.
            larger = window
            while larger not in self.talker_steps:
                self.talker_steps[larger] = self._talker_graph(larger)
                larger = min(2 * larger, capacity)
        return self.talker_steps[window]()

    def _talker_graph(self, window: int) -> Replayable:
        return Replayable(lambda: self.talker.decode_at(self.embed, self.positions, window), self.device)

    def predict(self, hidden: torch.Tensor, token: torch.Tensor, sampling: SamplingConfig,
                generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Codebooks 1..15 -> (codes (B, 16), next talker input (B, 1, C)), valid until the next call."""
        self._check_buffers()
        self.hidden.copy_(hidden)
        self.token.copy_(token)
        sample = sampling.subtalker_do_sample
        if sample:
            self.noise.exponential_(generator=generator)
        # A graph bakes in the settings it was captured with.
        key = (sample, sampling.subtalker_temperature, sampling.subtalker_top_k, sampling.subtalker_top_p)
        loop = self.predictor_loops.get(key)
        if loop is None:
            # The picker is stateless here (no penalty, no EOS); the generator is never called
            # inside the graph: the noise above stands in for it.
            pick = predictor_picker(self.talker.cfg.predictor.vocab_size, sampling, None, self.device)
            loop = self.predictor_loops[key] = Replayable(
                lambda: predict_codebooks(self.talker, self.hidden, self.token, pick,
                                          noise=self.noise if sample else None),
                self.device,
            )
        return loop()

    def predict_rows(self, hidden: torch.Tensor, token: torch.Tensor, settings: PickSettings,
                     generators: dict[int, torch.Generator | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """The batched engine's codebooks 1..15 over all B slots at once, every row picking with
        `settings` -> (codes (B, 16), next talker input (B, 1, C)), valid until the next call.

        hidden (B, 1, C), token (B, 1). A sampled row r in `generators` draws its 15 x V noise from
        its own generator, exactly as `predict` draws it for that row alone; the other slots' rows
        ride along and are not read.
        """
        self._check_buffers()
        self.hidden.copy_(hidden)
        self.token.copy_(token)
        if settings.do_sample:
            if self.row_noise is None:
                groups, vocab = self.noise.shape
                self.row_noise = torch.ones(self.hidden.shape[0], groups, vocab, device=self.device)
            for r, generator in generators.items():
                self.row_noise[r].exponential_(generator=generator)  # contiguous (15, V): `predict`'s draws
        key = ("rows", settings)
        loop = self.predictor_loops.get(key)
        if loop is None:
            pick = TokenPicker(self.talker.cfg.predictor.vocab_size, settings.do_sample, settings.temperature,
                               settings.top_k, settings.top_p, device=self.device)
            noise = self.row_noise.transpose(0, 1) if settings.do_sample else None  # (15, B, V)
            loop = self.predictor_loops[key] = Replayable(
                lambda: predict_codebooks(self.talker, self.hidden, self.token, pick, noise=noise), self.device)
        return loop()


class GraphSteps:
    """`FrameSteps` over `FrameGraphs`: one host sync per frame, for EOS, after its kernels are queued."""

    def __init__(self, graphs: FrameGraphs, pick_first: TokenPicker, sampling: SamplingConfig,
                 generator: torch.Generator | None, eos_id: int, positions: int):
        self.graphs, self.pick_first, self.sampling, self.generator, self.eos_id = (
            graphs, pick_first, sampling, generator, eos_id)
        graphs.setup_caches(positions)

    def prefill(self, embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.graphs.talker(embeds, 0)

    def frame(self, hidden: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        noise = None
        if self.sampling.do_sample:
            noise = torch.empty_like(logits, dtype=torch.float32).exponential_(generator=self.generator)
        token = self.pick_first(logits, noise)
        codes, next_embed = self.graphs.predict(hidden, token, self.sampling, self.generator)
        codes = codes.clone()  # the graph's output buffer is rewritten by the next replay
        # The frame's one host sync, once all its kernels are queued (an EOS frame's
        # code-predictor work is thrown away).
        if int(codes[0, 0]) == self.eos_id:
            return None
        return codes, next_embed

    def talker_step(self, embeds: torch.Tensor, positions: torch.Tensor, span: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.graphs.talker_step(embeds, positions, span)
