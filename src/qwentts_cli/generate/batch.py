"""The batched frame engine: many utterances step together, each getting the codes it gets alone.

On a CPU a frame step is bound by reading the weights (the talker's 0.43 G parameters once,
the code predictor's 15 times); B rows in one step read them once. The engine keeps a fixed
number of slots, and at every frame boundary:

1. rows that joined are prefilled, each into its own cache row (`Talker.forward(..., row=slot)`:
   the same shapes, hence the same values, as alone): one per step by default, the others
   waiting a step each, or all at once (`prefills_per_step`: the server, `batch`, `synth` to a file);
2. codebook 0 is picked for every row (generate/rows.py: each row its own settings, state and
   generator); one host read of the picks finds the rows that said EOS;
3. the code predictor runs over all rows at once (its 15 steps start from position 0 for
   every row, so no mask is needed);
4. one talker step over all rows still running, each at its own position, over a masked
   window of the cache (`DecoderStack.decode_at`).

A row ends at EOS or at its frame limit and frees its slot; a new row can take it at the next
boundary (continuous batching: the server joins requests this way). Steps run over slots
[0, n) where n is one past the highest slot in use, and new rows take the lowest free slot,
so a half-empty engine runs small steps. Free slots below n ride along with a zero input at
position 0 (their cache row is rewritten by the next prefill there).

Exactness: a row's prefill is bit-identical to the unbatched path; its frame steps are the
same arithmetic over more rows (M > 1 matrix products may round differently from M = 1) and
over a window whose extra positions weigh exactly 0. tests/unit/test_batch.py holds every
fixture case to its golden codes in mixed batches, and seeded rows to their unbatched codes.
With int8 (fbgemm's dynamic quantization) a step's activations share one scale across rows,
so int8 rows are not independent of their neighbours (docs/benchmark.md measures the drift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qwentts_cli.config import SamplingConfig, TTSConfig
from qwentts_cli.errors import CheckpointError, ContextExceeded
from qwentts_cli.generate.fused_predictor import fused_predictor
from qwentts_cli.generate.graphs import FrameGraphs
from qwentts_cli.generate.prompt import Prompt
from qwentts_cli.generate.rows import PickSettings, RowPicker
from qwentts_cli.generate.steps import predict_codebooks
from qwentts_cli.generate.timing import StepTimes
from qwentts_cli.model.talker import Talker


@dataclass
class Row:
    """One utterance for the engine."""

    prompt: Prompt
    max_frames: int
    sampling: SamplingConfig
    generator: torch.Generator | None = None
    ignore_eos: bool = False
    tag: object = None  # the caller's, handed back with each event


@dataclass
class Frame:
    """One row's output of a step: a frame of codes (16,), or `codes` None when the row ended
    without one (EOS). `last`: the row ended with this step (EOS or its frame limit)."""

    slot: int
    tag: object
    codes: torch.Tensor | None
    last: bool = False


@dataclass
class _Slot:
    row: Row
    length: int  # prompt positions
    frames: int = 0  # frames made so far
    texts: int = 0  # trailing text rows of the prompt
    prefilled: bool = False


class BatchEngine:
    """A fixed number of slots stepping together (see the module docstring)."""

    def __init__(self, talker: Talker, cfg: TTSConfig, slots: int, times: StepTimes | None = None,
                 prefills_per_step: int = 1, graphs: bool = False):
        """`prefills_per_step`: newcomers prefilled at one frame boundary. 1 (a text's pieces) keeps
        the first piece's first audio one prefill away; a server takes every newcomer at once, so
        that requests arriving together all start at the next step (their time to first audio).

        `graphs`: the talker step and the code predictor's frame over all slots in fixed shapes,
        captured as CUDA graphs on a GPU (graphs.py; on a CPU the same steps run uncaptured, which
        is how the tests check them). Every step then runs all `slots` rows, the talker over a
        power-of-two window of its cache; a sampled row draws its code predictor's noise from its
        own generator as the graphed loop does alone."""
        if slots < 1:
            raise ValueError("a batch engine needs at least one slot")
        self.talker, self.cfg, self.slots, self.times = talker, cfg, slots, times
        self.prefills_per_step = max(1, prefills_per_step)
        norm = talker.model.norm.weight  # float, of the compute dtype, even with int8 linears
        self.device, self.dtype = norm.device, norm.dtype
        tc = cfg.talker
        C = tc.stack.hidden_size
        self.eos_id = tc.codec_eos_id
        self.first = RowPicker(tc.stack.vocab_size, slots, self.device, eos_id=self.eos_id)
        self.rest = RowPicker(tc.predictor.vocab_size, slots, self.device)
        self.hidden = torch.zeros(slots, 1, C, dtype=self.dtype, device=self.device)
        self.logits = torch.zeros(slots, tc.stack.vocab_size, dtype=torch.float32, device=self.device)
        # Each slot's trailing text rows, then tts_pad: frame k of a row reads row min(k, texts).
        self.text = torch.zeros(slots, 1, C, dtype=self.dtype, device=self.device)
        self.state: list[_Slot | None] = [None] * slots
        self.capacity = 0
        talker.code_predictor.model.setup_caches(tc.predictor.num_code_groups, self.dtype, self.device, slots)
        self.graphs = FrameGraphs(talker, self.device, self.dtype, batch=slots) if graphs else None
        # The code predictor's frame as one TorchScript call where it applies (the same ops, bit for bit).
        self.fused = None if graphs else fused_predictor(talker, self.device, self.dtype)
        # Steps over several rows in float32 on the CPU: weights packed for oneDNN (a second copy,
        # ScriptedStep.packed_for), 1.6-1.8x faster there than MKL's GEMM; a single row keeps the
        # plain step, the official products.
        self.talker_many = self.fused_many = None
        if slots > 1 and self.fused is not None:
            self.talker_many = talker.model.many_rows_step(slots)
            predictor_many = talker.code_predictor.model.many_rows_step(2 * slots)  # its first step: 2 positions
            if self.talker_many is not None and predictor_many is not None:
                self.fused_many = self.fused.with_step(predictor_many)

    # -- slots ------------------------------------------------------------------------------

    @property
    def free(self) -> int:
        return sum(s is None for s in self.state)

    @property
    def busy(self) -> bool:
        return any(s is not None for s in self.state)

    def join(self, row: Row) -> int:
        """Put `row` in the lowest free slot; it is prefilled at the next step. -> its slot."""
        context = self.cfg.talker.stack.max_position_embeddings
        if row.prompt.length + row.max_frames > context:
            raise ContextExceeded(row.prompt.length, row.max_frames, context)
        slot = self.state.index(None)  # ValueError when full: callers check `free`
        prompt = row.prompt.to(self.dtype)
        row = Row(prompt, row.max_frames, row.sampling, row.generator, row.ignore_eos, row.tag)
        self._ensure_capacity(prompt.length + row.max_frames)
        n_text = prompt.trailing_text.shape[1]
        if n_text + 1 > self.text.shape[1]:
            wider = torch.zeros(self.slots, n_text + 1, self.text.shape[2], dtype=self.dtype, device=self.device)
            wider[:, : self.text.shape[1]] = self.text
            self.text = wider
        self.text[slot, :n_text] = prompt.trailing_text[0]
        self.text[slot, n_text] = prompt.tts_pad[0, 0]
        self.first.reset(slot, PickSettings.first_codebook(row.sampling), row.generator, row.ignore_eos)
        self.rest.reset(slot, PickSettings.predictor(row.sampling), row.generator)
        self.state[slot] = _Slot(row, prompt.length, texts=n_text)
        return slot

    def cancel(self, slot: int) -> None:
        """Drop a row (its caller gave up: a guard stopped it, a client went away)."""
        self.state[slot] = None

    def _ensure_capacity(self, positions: int) -> None:
        if positions > self.capacity:
            # Grown with room to spare (rows of one text are alike), keeping the running rows' caches.
            self.capacity = max(positions, self.capacity + self.capacity // 2)
            self.capacity = min(self.capacity, self.cfg.talker.stack.max_position_embeddings)
            if self.graphs is not None:  # whole windows: a capture holds the cache's address
                self.capacity = self.graphs.cache_capacity(self.capacity)
            self.talker.model.setup_caches(self.capacity, self.dtype, self.device, self.slots, keep=True)

    # -- the step ---------------------------------------------------------------------------

    def _prefill(self, i: int) -> None:
        slot = self.state[i]
        hidden, logits = self.talker(slot.row.prompt.embeds, 0, row=i)
        if not bool(torch.isfinite(logits).all()):  # as frame_loop: damaged weights
            raise CheckpointError("the model computed NaN or infinite scores: its weights are damaged "
                                  "(NaN or inf values); re-download the checkpoint")
        self.hidden[i] = hidden[0]
        self.logits[i] = logits[0]
        slot.prefilled = True

    @torch.inference_mode()
    def step(self) -> list[Frame]:
        """One frame for every row in a slot (see the module docstring) -> one event per row."""
        clock = StepTimes.clock
        t0 = clock(self.device) if self.times else 0.0
        waiting = [i for i, s in enumerate(self.state) if s is not None and not s.prefilled]
        # By default one prefill per step: a joining row costs the running ones one prefill's
        # wait, not one per newcomer (the first audio of a text's first piece).
        for i in waiting[: self.prefills_per_step]:
            self._prefill(i)
        active = [i for i, s in enumerate(self.state) if s is not None and s.prefilled]
        if not active:
            return []
        n = active[-1] + 1
        t1 = clock(self.device) if self.times else 0.0
        tokens = self.first(self.logits[:n], active)  # (n, 1)
        picked = tokens[:, 0].tolist()  # the step's host read: which rows said EOS
        if self.graphs is not None:
            codes, next_embed = self._graphed_predictor(tokens, active)
        elif self.fused is not None and self.rest.plain(active):
            fused = self.fused_many if n > 1 and self.fused_many is not None else self.fused
            codes, next_embed = fused.rows(self.hidden[:n], tokens, self.rest, active)
        else:
            codes, next_embed = predict_codebooks(self.talker, self.hidden[:n], tokens,
                                                  lambda logits, noise=None: self.rest(logits, active))
        t2 = clock(self.device) if self.times else 0.0
        events = []
        # Graphed, the talker step covers every slot (its captured shape): the predictor's output
        # then has a row per slot too, and the rows not running ride along at position 0.
        size = self.slots if self.graphs is not None else n
        running = np.zeros(size, dtype=bool)
        positions = np.zeros(size, dtype=np.int64)
        text_rows = np.zeros(size, dtype=np.int64)
        for i in active:
            slot = self.state[i]
            if picked[i] == self.eos_id:
                events.append(Frame(i, slot.row.tag, None, last=True))
                self.state[i] = None
                continue
            k = slot.frames
            slot.frames += 1
            last = slot.frames == slot.row.max_frames
            events.append(Frame(i, slot.row.tag, codes[i], last=last))
            if last:
                self.state[i] = None
                continue
            running[i] = True
            positions[i] = slot.length + k  # frame k's talker step, as frame_loop
            text_rows[i] = min(k, slot.texts)
        if running.any():
            # Rows past the last running one need no step (eager); graphed, every slot steps.
            m = size if self.graphs is not None else int(np.flatnonzero(running)[-1]) + 1
            index = torch.from_numpy(text_rows[:m]).to(self.device)
            text = self.text[:m].gather(1, index.view(m, 1, 1).expand(m, 1, self.text.shape[2]))
            embeds = (next_embed[:m] + text) * torch.from_numpy(running[:m]).to(self.device, self.dtype).view(m, 1, 1)
            at = torch.from_numpy(positions[:m]).to(self.device)
            span = int(positions[:m].max()) + 1
            if self.graphs is not None:  # over a power-of-two window holding `span` (graphs.py)
                hidden, logits = self.graphs.talker_step(embeds, at, span)
            else:
                hidden, logits = self.talker.decode_at(embeds, at, span, self.talker_many if m > 1 else None)
            self.hidden[:m] = hidden
            self.logits[:m] = logits.float()
        if self.times:
            t3 = clock(self.device)
            self.times.prefill += t1 - t0
            self.times.predictor += t2 - t1
            self.times.talker += t3 - t2
        return events

    # -- the graphed step (graphs=True) -----------------------------------------------------

    def _graphed_predictor(self, tokens: torch.Tensor, active: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Codebooks 1..15 for the `active` rows: one replay over all slots per distinct predictor
        setting among them (usually one), each row drawing from its own generator as alone."""
        n = tokens.shape[0]
        token = torch.zeros(self.slots, 1, dtype=tokens.dtype, device=self.device)
        token[:n] = tokens
        groups: dict[PickSettings, list[int]] = {}
        for r in active:
            groups.setdefault(self.rest.settings[r] or PickSettings(False), []).append(r)
        codes = next_embed = None
        for settings, rows in groups.items():
            generators = {r: self.rest.generators[r] for r in rows} if settings.do_sample else {}
            group_codes, group_embed = self.graphs.predict_rows(self.hidden, token, settings, generators)
            # The replay's buffers are rewritten by the next one: what is handed out is a copy.
            if codes is None:
                codes, next_embed = group_codes.clone(), group_embed.clone()
            else:
                index = torch.tensor(rows, device=self.device)
                codes[index] = group_codes[index]
                next_embed[index] = group_embed[index]
        self.rest.counted(active, self.cfg.talker.predictor.num_code_groups - 1)
        return codes, next_embed
