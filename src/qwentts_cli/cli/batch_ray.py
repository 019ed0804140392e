"""`qwentts batch INPUT --out-dir DIR --ray ADDRESS`: the same job on a Ray cluster, with Ray Data.

The driver (this process) does what needs no model: it reads and checks the input and the
out-dir, records the items done before (same fingerprint, file present) and the items that
could not be read, and writes the manifest (atomically, after each item) as results come
back. The other items go to a Ray Data `map_batches` over a pool of `--workers` actors. Each
actor loads the model once (an `ItemSpeaker`, the local run's engine) and speaks its blocks
of items into the out-dir, which every worker must see (a shared filesystem), through the
same atomic writes as a local run. A result is the item's manifest line.

ADDRESS is `local` (start a Ray instance on this machine, `--workers` CPUs), `auto` (the
cluster `ray start` made on this machine), or the head's `host:port` / `ray://host:port`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import asdict
from pathlib import Path

from qwentts_cli.errors import UsageError

CONNECT_TIMEOUT_S = 3.0


class _Worker:
    """A Ray actor: the model once, then blocks of items -> their manifest lines.

    Ray Data builds it on the actor's main thread and calls it from a thread pool: both go
    through one compute thread (compute.py), so that torch runs one OpenMP team."""

    def __init__(self, model: str, defaults: dict, out_dir: str, quantize, dtype: str, codec_dtype: str, device: str,
                 threads: int, batch: int):
        from qwentts_cli.compute import ComputeThread

        def load():
            import torch

            from qwentts_cli.cli.batch import ItemSpeaker
            from qwentts_cli.load.checkpoint import open_checkpoint

            torch.set_num_threads(threads)  # on the thread that computes: OpenMP's count is per thread
            return ItemSpeaker(open_checkpoint(model), defaults, Path(out_dir), quantize=quantize, dtype=dtype,
                               codec_dtype=codec_dtype, device=device, batch=batch)

        self.compute = ComputeThread()
        self.speaker = self.compute.run(load)

    def __call__(self, block: dict) -> dict:
        import numpy as np

        from qwentts_cli.batch_input import BatchItem

        numbered = [(int(n), BatchItem(**json.loads(text))) for n, text in zip(block["n"], block["item"])]
        # The driver skipped what was done.
        plans = self.compute.run(lambda: list(self.speaker.speak_items(numbered, previous={})))
        return {"n": np.array([p.number for p in plans]),
                "entry": np.array([json.dumps(p.entry, ensure_ascii=False) for p in plans])}


def check_address(address: str) -> None:
    """A head given as host:port (or ray://host:port) answers a TCP connect within seconds, so an
    unreachable one is one line now, not a hang in ray.init."""
    if address in ("local", "auto"):
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray {address}: give local, auto, or the head's HOST:PORT (or ray://HOST:PORT)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = e.strerror or "no answer"
        raise UsageError(f"cannot reach the Ray cluster at {address} ({reason} within {CONNECT_TIMEOUT_S:g} s); "
                         "start it with `ray start --head`, or run here with --ray local") from None


def run_ray(address: str, workers: int, checkpoint, items, out_dir: Path, manifest_target, defaults: dict, *,
            quantize, dtype: str, codec_dtype: str, device: str, threads: int | None, batch: int) -> None:
    from qwentts_cli.cli.batch import MANIFEST, Recorder, _previous, done_before
    from qwentts_cli.cli.signals import Interrupted, interruptible

    try:
        import ray
        import ray.data
    except ImportError:
        raise UsageError('--ray needs Ray: pip install "qwentts-cli[ray]"') from None
    check_address(address)
    gpu = device.startswith("cuda")
    cpus = 1 if gpu else (threads or 1)
    previous = _previous(out_dir / MANIFEST)
    recorder = Recorder(items, out_dir, manifest_target, previous)
    status = 0
    started = False
    try:
        with interruptible():
            todo = []
            for n, item in enumerate(items, 1):
                skipped = done_before(item, defaults, previous, out_dir)
                if skipped is not None:
                    recorder.record(n, skipped)
                else:
                    todo.append({"n": n, "item": json.dumps(asdict(item), ensure_ascii=False)})
            if todo:  # (everything done before: no cluster needed)
                _start(ray, address, workers * cpus)
                started = True
                results = ray.data.from_items(todo).map_batches(
                    _Worker, batch_size=max(1, batch), num_cpus=cpus, num_gpus=1 if gpu else 0, max_restarts=0,
                    compute=ray.data.ActorPoolStrategy(size=workers),
                    fn_constructor_kwargs=dict(model=checkpoint.path, defaults=defaults, out_dir=str(out_dir),
                                               quantize=quantize, dtype=dtype, codec_dtype=codec_dtype,
                                               device=device, threads=cpus,
                                               batch=batch))
                for row in results.iter_rows():
                    recorder.record(int(row["n"]), json.loads(row["entry"]))
    except Interrupted as e:
        status = e.status
        recorder.stopped("interrupted")
    except ray.exceptions.RayError as e:  # a worker died or raised: one line, the finished items kept
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        recorder.stopped(f"error: a Ray worker failed ({reason})")
        status = 1
    finally:
        recorder.progress.close()
        if started:
            ray.shutdown()
    recorder.finish(status)


def _start(ray, address: str, cpus: int) -> None:
    """Connect to the cluster (or start one here), quietly: Ray's own notices stay off stderr."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # the core worker's C++ notices
    init = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    if address == "local":
        ray.init(num_cpus=cpus, **init)
    else:
        ray.init(address=address, **init)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
