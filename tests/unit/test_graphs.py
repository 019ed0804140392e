"""The CUDA-graph form of the frame steps (generate/graphs.py), checked on the CPU.

No GPU runs these tests: on a CPU the fixed-shape steps run uncaptured. What can be checked
here is what capture depends on: the steps give the eager loop's codes, their ops have the
same shapes at every position of a window, they never read a device value on the host, and
sampling by exponential noise draws from the right distribution.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from qwentts_cli.generate.graphs import MIN_WINDOW, FrameGraphs, attention_window
from qwentts_cli.generate.loop import FrameGenerator
from qwentts_cli.generate.prompt import build_prompt
from qwentts_cli.generate.sampling import TokenPicker
from test_generation import assert_seeded_sampling_reproduces


@pytest.fixture(scope="module")
def graphed(model_dir):
    from qwentts_cli.runtime import Synthesizer

    return Synthesizer.from_pretrained(str(model_dir), graphs=True)


def test_attention_window_is_a_power_of_two_that_holds_the_positions():
    assert attention_window(1) == MIN_WINDOW
    assert attention_window(MIN_WINDOW) == MIN_WINDOW
    assert attention_window(MIN_WINDOW + 1) == 2 * MIN_WINDOW
    assert attention_window(3000) == 4096


def _prompt(synth, text="Привет, мир!"):
    request = synth.resolve(language="russian", speaker="ryan")
    ids = torch.tensor([synth.prompt_ids(text)])
    return build_prompt(synth.talker, synth.config, ids, request.language_id, request.speaker)


def _prefilled(synth, text="Привет, мир!"):
    """A talker with its cache filled by an eager prefill; returns (graphs, prompt length, next embed)."""
    prompt = _prompt(synth, text)
    L = prompt.length
    graphs = FrameGraphs(synth.talker, torch.device("cpu"), torch.float32)
    graphs.setup_caches(L + 8)
    synth.talker(prompt.embeds, 0)
    return graphs, L, prompt.tts_pad


def at(position: int) -> torch.Tensor:
    return torch.tensor([position])


@torch.inference_mode()
def test_talker_step_matches_the_eager_step(graphed):
    # Masking the rest of the window instead of slicing the cache: same logits within float
    # rounding (the softmax sums over more, zero, terms), at positions across the window.
    steps, L, embed = _prefilled(graphed)
    for position in range(L, L + 4):
        _, logits = steps.talker_step(embed, at(position), position + 1)
        logits = logits.clone()
        _, eager = graphed.talker(embed, position)  # rewrites the same cache position
        torch.testing.assert_close(logits, eager, rtol=0, atol=1e-5)


HOST_READS = ("item", "tolist", "numpy", "__int__", "__index__", "__float__", "__bool__")
# Ops whose output size depends on tensor values: on a GPU they wait for the device.
SIZE_FROM_VALUES = ("nonzero", "masked_select", "repeat_interleave", "unique", "index.Tensor")


class HostReads(TorchDispatchMode):
    """Records every op with its argument shapes, and every read of a tensor's value on the host:
    .item()/int()/bool()/... (each a sync on a GPU) and torch.tensor(...) (a host-to-device copy)."""

    def __init__(self):
        super().__init__()
        self.ops: list[tuple] = []
        self.host_reads: list[str] = []
        self.saved = {}

    def __enter__(self):
        # On a CPU, int(t) and friends read memory directly, never reaching the dispatcher.
        for name in HOST_READS:
            original = self.saved[name] = getattr(torch.Tensor, name)

            def read(t, *args, _name=name, _original=original, **kwargs):
                self.host_reads.append(_name)
                return _original(t, *args, **kwargs)

            setattr(torch.Tensor, name, read)
        return super().__enter__()

    def __exit__(self, *exc):
        for name, original in self.saved.items():
            setattr(torch.Tensor, name, original)
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.lift_fresh.default) or any(
            name in str(func) for name in SIZE_FROM_VALUES
        ):
            self.host_reads.append(str(func))
        shapes = tuple(tuple(a.shape) for a in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor))
        self.ops.append((str(func), shapes))
        return func(*args, **kwargs)


@torch.inference_mode()
@pytest.mark.parametrize("sampling", ["greedy", "default", "top_p"])
def test_steps_are_fixed_shape_and_never_read_the_device(graphed, sampling):
    steps, L, embed = _prefilled(graphed)
    sampling = {
        "greedy": graphed.greedy(),
        "default": graphed.sampling,
        "top_p": replace(graphed.sampling, subtalker_top_k=0, subtalker_top_p=0.8, subtalker_temperature=0.7),
    }[sampling]
    generator = torch.Generator().manual_seed(0)
    talker_runs, predictor_runs = [], []
    hidden, _ = graphed.talker(embed, L)
    token = torch.tensor([[5]])
    for position in (L + 1, L + 2):
        positions = at(position)  # made by the loop before the step, outside what a capture holds
        with HostReads() as mode:
            steps.talker_step(embed, positions, position + 1)
        talker_runs.append(mode)
        with HostReads() as mode:
            steps.predict(hidden, token, sampling, generator)
        predictor_runs.append(mode)
    for runs in (talker_runs, predictor_runs):
        assert runs[0].host_reads == [] and runs[1].host_reads == []
        assert len(runs[0].ops) > 20
        assert runs[0].ops == runs[1].ops  # what one capture replays must fit every call


@torch.inference_mode()
def test_the_eager_loop_does_read_the_device(graphed):
    # The check above can fail: the eager frame loop reads each first-codebook token on the host.
    prompt = _prompt(graphed, "Привет")
    with HostReads() as mode:
        list(FrameGenerator(graphed.talker, graphed.config, graphs=False).frames(prompt, 2, graphed.greedy()))
    assert "__int__" in mode.host_reads


def windows_up_to(capacity: int) -> list[int]:
    windows = [MIN_WINDOW]
    while windows[-1] < capacity:
        windows.append(min(2 * windows[-1], capacity))
    return windows


@torch.inference_mode()
def test_every_window_is_captured_at_the_first_step_and_again_after_reallocation(graphed):
    steps, L, embed = _prefilled(graphed)
    capacity = graphed.talker.model.layers[0].self_attn.cache.max_len
    hidden, _ = steps.talker_step(embed, at(L), L + 1)
    first = dict(steps.talker_steps)
    assert sorted(first) == windows_up_to(capacity)  # none left to capture mid-utterance
    steps.predict(hidden.clone(), torch.tensor([[5]]), graphed.greedy(), None)
    (loop,) = steps.predictor_loops.values()
    steps.talker_step(embed, at(L + 1), L + 2)
    assert steps.talker_steps == first  # one capture per window, not per position
    graphed.talker.model.setup_caches(2 * capacity, torch.float32, torch.device("cpu"))  # larger: new buffers
    steps.talker_step(embed, at(L), L + 1)
    assert sorted(steps.talker_steps) == windows_up_to(2 * capacity)
    assert all(steps.talker_steps[w] is not first[w] for w in first)  # captured again, over the new cache
    steps.predict(hidden.clone(), torch.tensor([[5]]), graphed.greedy(), None)
    assert list(steps.predictor_loops.values()) == [loop]  # its own cache did not move: kept


def test_exponential_noise_draws_from_the_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5]])
    expected = torch.softmax(logits, dim=-1)[0]
    generator = torch.Generator().manual_seed(1)
    n = 20000
    picker = TokenPicker(5, do_sample=True, temperature=1.0, top_k=0, top_p=1.0)
    draws = torch.cat([picker(logits, torch.empty(1, 5).exponential_(generator=generator)) for _ in range(n)]).flatten()
    freq = torch.bincount(draws, minlength=5).float() / n
    assert (freq - expected).abs().max() < 0.015  # ~4 standard errors at n = 20000


def test_exponential_noise_of_zero_never_picks_a_masked_token():
    picker = TokenPicker(5, do_sample=True, temperature=1.0, top_k=2, top_p=1.0)
    noise = torch.tensor([[1.0, 1.0, 0.0, 1.0, 1.0]])  # token 2 is outside the top 2
    assert int(picker(torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5]]), noise)) == 0


def test_exponential_noise_respects_top_k():
    picker = TokenPicker(5, do_sample=True, temperature=1.0, top_k=2, top_p=1.0)
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5]])
    generator = torch.Generator().manual_seed(2)
    draws = {int(picker(logits, torch.empty(1, 5).exponential_(generator=generator))) for _ in range(200)}
    assert draws == {0, 1}


def test_graphed_sampling_is_reproducible_with_a_seed(graphed):
    assert_seeded_sampling_reproduces(graphed)  # with exponential-noise draws


def test_graphs_are_on_for_cuda_only_by_default(synthesizer):
    generator = FrameGenerator(synthesizer.talker, synthesizer.config)
    assert generator.frame_graphs(torch.device("cpu"), torch.float32) is None
    forced = FrameGenerator(synthesizer.talker, synthesizer.config, graphs=True)
    assert isinstance(forced.frame_graphs(torch.device("cpu"), torch.float32), FrameGraphs)


class FakeCuda:
    """Stands in for torch.cuda's stream and graph API, recording what Replayable asks of it."""

    def __init__(self, fail_capture: bool = False):
        self.events: list[str] = []
        self.fail_capture = fail_capture
        fake = self

        class Stream:
            def __init__(self, device=None):
                fake.events.append(f"stream on {device}")

            def wait_stream(self, other):
                pass

        class CUDAGraph:
            def replay(self):
                fake.events.append("replay")

        class Context:
            def __init__(self, name):
                self.name = name

            def __enter__(self):
                fake.events.append(f"enter {self.name}")
                if self.name == "graph" and fake.fail_capture:
                    raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

            def __exit__(self, *exc):
                fake.events.append(f"exit {self.name}")

        self.Stream, self.CUDAGraph = Stream, CUDAGraph
        self.device = lambda device: Context(f"device {device}")
        self.stream = lambda stream: Context("side stream")
        self.graph = lambda graph, stream=None: Context("graph")
        self.current_stream = lambda device=None: Stream(device)

    def install(self, monkeypatch):
        for name in ("Stream", "CUDAGraph", "device", "stream", "graph", "current_stream"):
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))


def test_replayable_warms_up_captures_once_and_then_only_replays(monkeypatch):
    from qwentts_cli.generate.graphs import Replayable

    cuda = FakeCuda()
    cuda.install(monkeypatch)
    calls = []

    def step():
        calls.append(list(cuda.events))
        return (torch.tensor(len(calls)),)

    replayable = Replayable(step, torch.device("cuda", 1))
    assert len(calls) == 2  # warm-up, then the capture
    assert "enter side stream" in calls[0][-1] and "enter graph" not in calls[0]
    assert calls[1][-1] == "enter graph" and "enter device cuda:1" in calls[1]
    cuda.events.clear()
    assert int(replayable()[0]) == 2 and int(replayable()[0]) == 2  # the captured outputs, fn not rerun
    assert len(calls) == 2
    assert cuda.events == ["enter device cuda:1", "replay", "exit device cuda:1"] * 2


def test_a_failed_capture_is_a_one_line_error_naming_the_way_out(monkeypatch):
    from qwentts_cli.errors import QwenTTSError
    from qwentts_cli.generate.graphs import Replayable

    FakeCuda(fail_capture=True).install(monkeypatch)
    with pytest.raises(QwenTTSError) as error:
        Replayable(lambda: (torch.zeros(1),), torch.device("cuda", 0))
    message = str(error.value)
    assert "\n" not in message and "operation not permitted" in message
    from qwentts_cli.cli import option_name

    assert "--no-cuda-graphs" in error.value.render(option_name)  # the CLI's way out


@torch.inference_mode()
def test_rows_at_different_positions_share_a_step(graphed):
    """The fixed-shape talker step over B rows, each at its own position, gives each row what it
    gives alone: the form batched generation steps in. Row 0 stops early and keeps rewriting its
    last position (the same input at the same position: the same result)."""
    talker = graphed.talker
    C = talker.cfg.stack.hidden_size
    torch.manual_seed(0)
    lengths = (5, 9)
    inputs = [torch.randn(n, 1, 1, C) for n in lengths]
    window = MIN_WINDOW
    alone = []
    for x in inputs:
        talker.model.setup_caches(window, torch.float32, torch.device("cpu"), batch=1)
        alone.append([talker.decode_at(x[t], at(t), window)[1] for t in range(len(x))])
    talker.model.setup_caches(window, torch.float32, torch.device("cpu"), batch=2)
    for t in range(max(lengths)):
        rows = [min(t, n - 1) for n in lengths]
        x = torch.cat([inputs[r][p] for r, p in enumerate(rows)])  # (2, 1, C)
        _, logits = talker.decode_at(x, torch.tensor(rows), window)
        for r, p in enumerate(rows):
            torch.testing.assert_close(logits[r : r + 1], alone[r][p], rtol=0, atol=1e-5)
    talker.model.setup_caches(window, torch.float32, torch.device("cpu"), batch=1)


# -- the batched engine in graph form (BatchEngine(graphs=True), what batch_engine builds on a GPU) --


def _run_batched(synth, utterances, batch):
    resolved = [(text, synth.resolve(**fields), seed) for text, fields, seed in utterances]
    return {i: torch.stack(list(frames)).numpy() for i, frames in synth.ordered_frames(resolved, batch)}


def test_the_batched_engine_is_graphed_where_the_frame_loop_is(graphed, synthesizer):
    assert graphed.batch_engine(3).graphs is not None
    assert synthesizer.batch_engine(3).graphs is None  # the CPU default: the eager engine


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_graphed_batches_give_the_golden_codes(graphed, batch):
    from conftest import GOLDEN_CASES, golden_request, load_case

    names = GOLDEN_CASES + GOLDEN_CASES[:2]  # rows join as others end, at every slot count
    utterances = [(load_case(n)["text"], golden_request(load_case(n), graphed.greedy), None) for n in names]
    out = _run_batched(graphed, utterances, batch)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(out[i], np.array(load_case(name)["codes"]), err_msg=f"{name} at batch {batch}")


def test_graphed_seeded_rows_sample_what_they_sample_alone(graphed):
    """Mixed settings (two sampled ones beside greedy rows, so a step replays the predictor once
    per setting): every seeded row draws, from its own generator, what the graphed frame loop
    draws for it alone."""
    from conftest import GOLDEN_CASES, golden_request, load_case

    s = graphed.sampling
    hot = replace(s, temperature=1.3, top_k=7, subtalker_top_p=0.8, repetition_penalty=1.2)
    texts = [load_case(n)["text"] for n in GOLDEN_CASES[:2]]
    utterances = []
    for i, text in enumerate(texts):
        utterances.append((text, dict(speaker="ryan", language="english", sampling=s, max_frames=8), 100 + i))
        utterances.append((text, dict(speaker="ryan", language="russian", sampling=hot, max_frames=8), 200 + i))
        utterances.append((text, golden_request(load_case(GOLDEN_CASES[i]), graphed.greedy), None))
    alone = [graphed.synthesize(t, seed=seed, **f).codes for t, f, seed in utterances]
    assert not np.array_equal(alone[0], alone[2]) and not np.array_equal(alone[1], alone[2])  # sampled: not greedy
    for batch in (4, 6):
        out = _run_batched(graphed, utterances, batch)
        for i in range(len(utterances)):
            np.testing.assert_array_equal(out[i], alone[i], err_msg=f"utterance {i} at batch {batch}")


@torch.inference_mode()
def test_graphed_batched_steps_are_fixed_shape_and_never_read_the_device(graphed, monkeypatch):
    """What a capture of the batched step holds: the same ops at every step of a window, whatever
    rows run, and no read of a device value on the host."""
    from conftest import GOLDEN_CASES, golden_request, load_case

    engine = graphed.batch_engine(3)
    runs = {"talker_step": [], "predict_rows": []}
    for name in runs:
        original = getattr(engine.graphs, name)

        def watched(*args, _original=original, _runs=runs[name], **kwargs):
            with HostReads() as mode:
                out = _original(*args, **kwargs)
            _runs.append(mode)
            return out

        monkeypatch.setattr(engine.graphs, name, watched)
    for n, name in enumerate(GOLDEN_CASES[:2]):
        case = load_case(name)
        request = graphed.resolve(**{**golden_request(case, graphed.greedy), "max_frames": 4 + 2 * n})
        row, _ = graphed.piece_row(case["text"], request, None)
        engine.join(row)
    while engine.busy:
        engine.step()
    for name, modes in runs.items():
        assert len(modes) >= 4, name
        assert all(mode.host_reads == [] for mode in modes), name
        assert all(mode.ops == modes[1].ops for mode in modes[1:]), name  # (step 0 also prefills row 2's wait)
    # These rows fit the smallest window; every larger one the cache holds is captured with it.
    assert MIN_WINDOW in engine.graphs.talker_steps
    assert all(window == attention_window(window) for window in engine.graphs.talker_steps)
