"""The compute thread (compute.py): every torch call of the server, or of a Ray worker, on one thread."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from qwentts_cli.model.codec.decoder import CodecStream
from qwentts_cli.compute import ComputeThread
from qwentts_cli.server.service import ServeSettings, SpeechFields, SpeechService

from helpers import BF16_CODEC_MAX_DRIFT, relative_rms


def test_functions_run_on_one_thread_in_order_and_raise_there():
    compute = ComputeThread()
    try:
        seen: list[tuple[int, int]] = []
        callers = [threading.Thread(target=lambda i=i: seen.append((i, compute.run(threading.get_ident))))
                   for i in range(4)]
        for t in callers:
            t.start()
        for t in callers:
            t.join()
        idents = {ident for _, ident in seen}
        assert len(seen) == 4 and len(idents) == 1 and threading.get_ident() not in idents
        assert compute.run(lambda: compute.run(lambda: 41) + 1) == 42  # a call from inside runs inline
        with pytest.raises(ZeroDivisionError):
            compute.run(lambda: 1 / 0)
        assert compute.run(lambda: "still up") == "still up"
    finally:
        compute.close()


def test_urgent_work_runs_before_the_rest_each_in_the_order_asked():
    compute = ComputeThread()
    try:
        started, gate, order = threading.Event(), threading.Event(), []
        busy = threading.Thread(target=lambda: compute.run(lambda: started.set() or gate.wait()))
        busy.start()
        assert started.wait(10)  # the thread is busy: what follows queues up
        callers = []
        for name, urgent in (("step 1", False), ("step 2", False), ("decode 1", True), ("decode 2", True)):
            callers.append(threading.Thread(target=lambda n=name, u=urgent: compute.run(lambda: order.append(n), u)))
            callers[-1].start()
            while compute._jobs.qsize() < len(callers):  # queued, in this order
                time.sleep(0.001)
        gate.set()
        for t in (busy, *callers):
            t.join()
        assert order == ["decode 1", "decode 2", "step 1", "step 2"]
    finally:
        compute.close()


def test_the_server_loads_steps_and_decodes_on_its_compute_thread(model_dir, monkeypatch):
    where: dict[str, set[int]] = {"load": set(), "step": set(), "decode": set()}
    push = CodecStream.push
    monkeypatch.setattr(CodecStream, "push", lambda self, codes: where["decode"].add(threading.get_ident())
                        or push(self, codes))
    from qwentts_cli.runtime import Synthesizer

    load = Synthesizer.load.__func__
    monkeypatch.setattr(Synthesizer, "load", classmethod(
        lambda cls, *a, **k: where["load"].add(threading.get_ident()) or load(cls, *a, **k)))
    service = SpeechService(ServeSettings(model=str(model_dir), slots=2))
    try:
        service.load()
        assert service.error is None
        step = service.scheduler.engine.step
        monkeypatch.setattr(service.scheduler.engine, "step",
                            lambda: where["step"].add(threading.get_ident()) or step())
        request, stream = service.speech(SpeechFields(input="Hello there.", voice=service.voices()[0]["name"],
                                                      greedy=True, max_frames=4))
        samples = sum(len(chunk.samples) for chunk in service.audio(request, stream))
        assert samples > 0
        compute = service.compute.run(threading.get_ident)
        assert where["load"] == where["step"] == where["decode"] == {compute}
        assert compute != threading.get_ident()
    finally:
        service.close()


def test_served_audio_is_decoded_in_growing_chunks(model_dir):
    # As synth --stream: the first frame alone (time to first byte), then decodes doubling up to
    # STREAM_MAX_CHUNK_FRAMES. Decoding every frame alone cost the server twice the codec time.
    from qwentts_cli.request import STREAM_MAX_CHUNK_FRAMES
    from qwentts_cli.runtime import chunk_schedule

    service = SpeechService(ServeSettings(model=str(model_dir), slots=1))
    try:
        service.load()
        request, stream = service.speech(SpeechFields(input="Hello there, this is a longer sentence to speak.",
                                                      voice=service.voices()[0]["name"], greedy=True, max_frames=40))
        sizes = [len(chunk.frames) for chunk in service.audio(request, stream) if len(chunk.frames)]
    finally:
        service.close()
    assert sum(sizes) > 1 + 2 + 4 + STREAM_MAX_CHUNK_FRAMES  # long enough to reach the largest chunk
    schedule = chunk_schedule(1, STREAM_MAX_CHUNK_FRAMES)
    expected = [next(schedule) for _ in sizes]
    assert sizes[:-1] == expected[:-1] and 0 < sizes[-1] <= expected[-1]


def test_close_waits_for_the_running_work_and_cancels_the_queued():
    from concurrent.futures import CancelledError

    compute = ComputeThread()
    started, gate, results = threading.Event(), threading.Event(), {}

    def call(name, fn):
        try:
            results[name] = compute.run(fn)
        except CancelledError:
            results[name] = "cancelled"

    running = threading.Thread(target=call, args=("running", lambda: started.set() or gate.wait(10) and "done"))
    running.start()
    assert started.wait(10)
    queued = threading.Thread(target=call, args=("queued", lambda: "ran"))
    queued.start()
    while compute._jobs.qsize() < 1:
        time.sleep(0.001)
    closer = threading.Thread(target=compute.close)
    closer.start()
    time.sleep(0.05)
    assert closer.is_alive()  # close waits while torch work runs on the thread
    gate.set()
    for t in (running, queued, closer):
        t.join(10)
    assert results == {"running": "done", "queued": "cancelled"} and not compute._thread.is_alive()
    with pytest.raises(CancelledError):
        compute.run(lambda: "too late")


def test_the_server_decodes_with_the_codec_dtype_it_was_given(model_dir):
    # `serve --codec-dtype bfloat16`: the same codes as float32, from a bfloat16 codec.
    import numpy as np

    audio, codes = {}, {}
    for codec_dtype in ("float32", "bfloat16"):
        service = SpeechService(ServeSettings(model=str(model_dir), slots=1, codec_dtype=codec_dtype))
        try:
            service.load()
            assert {p.dtype for p in service.synth.codec.parameters()} == {getattr(torch, codec_dtype)}
            request, stream = service.speech(SpeechFields(input="Hello there.", voice=service.voices()[0]["name"],
                                                          greedy=True, max_frames=12))
            chunks = list(service.audio(request, stream))
        finally:
            service.close()
        audio[codec_dtype] = np.concatenate([c.samples for c in chunks])
        codes[codec_dtype] = np.concatenate([c.frames for c in chunks])
    np.testing.assert_array_equal(codes["bfloat16"], codes["float32"])
    assert audio["bfloat16"].shape == audio["float32"].shape
    assert 1e-3 < relative_rms(audio["bfloat16"], audio["float32"]) < BF16_CODEC_MAX_DRIFT
