"""Load generator for `qwentts serve`: throughput and latency at several concurrencies.

Starts `qwentts serve` on 127.0.0.1 and a free port, waits until /ready, then for each
concurrency C sends 2C requests from C client threads (streamed pcm, `max_frames` fixed so
every request makes the same work) and reports:
  audio seconds per wall second, aggregate RTF, p50/p95 time to first byte, p50/p95 request
  time, errors.

    python docs/bench-scripts/serve_load.py --model random:0.6b --quantize int8 --concurrency 1,4,8
    python docs/bench-scripts/serve_load.py --model random:0.6b --quantize int8 --codec-dtype bfloat16

Only 127.0.0.1 is ever a target; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

TEXT = "Ниже представлен план цикла статей о том, как создать собственную модель."


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def start_server(args) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "qwentts_cli", "serve", "--model", args.model, "--port", "0",
           "--slots", str(args.slots), "--max-queue", "64"]
    if args.quantize:
        cmd += ["--quantize", args.quantize]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.codec_dtype:
        cmd += ["--codec-dtype", args.codec_dtype]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    url = None
    for raw in proc.stderr:
        match = re.search(r"listening on (http://\S+)", raw.decode())
        if match:
            url = match.group(1)
            break
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # keep draining
    with httpx.Client(trust_env=False) as http:
        while http.get(url + "/ready").status_code != 200:
            time.sleep(0.5)
    return proc, url


def one_request(url: str, frames: int) -> dict:
    body = {"model": "tts-1", "input": TEXT, "voice": "ryan", "response_format": "pcm", "max_frames": frames,
            "greedy": True, "language": "russian"}
    t0 = time.perf_counter()
    ttfb, size = None, 0
    with httpx.Client(base_url=url, trust_env=False, timeout=600) as http:
        with http.stream("POST", "/v1/audio/speech", json=body) as r:
            status = r.status_code
            for chunk in r.iter_raw():
                if ttfb is None and chunk:
                    ttfb = time.perf_counter() - t0
                size += len(chunk)
    return {"status": status, "ttfb": ttfb, "total": time.perf_counter() - t0, "audio_s": size / 2 / 24000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="random:0.6b")
    parser.add_argument("--quantize", default=None)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="the server's --threads (default: its own)")
    parser.add_argument("--codec-dtype", default=None, help="the server's --codec-dtype (default: its own, float32)")
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--concurrency", default="1,4,8")
    args = parser.parse_args()
    proc, url = start_server(args)
    results = []
    try:
        one_request(url, 2)  # warm
        for c in (int(x) for x in args.concurrency.split(",")):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(c) as pool:
                runs = list(pool.map(lambda _: one_request(url, args.frames), range(2 * c)))
            wall = time.perf_counter() - t0
            ok = [r for r in runs if r["status"] == 200]
            audio = sum(r["audio_s"] for r in ok)
            entry = {"concurrency": c, "requests": len(runs), "errors": len(runs) - len(ok),
                     "audio_s_per_s": round(audio / wall, 3), "aggregate_rtf": round(wall / audio, 3) if audio else None,
                     "ttfb_p50_s": round(statistics.median(r["ttfb"] for r in ok), 3),
                     "ttfb_p95_s": round(percentile([r["ttfb"] for r in ok], 0.95), 3),
                     "request_p50_s": round(statistics.median(r["total"] for r in ok), 3),
                     "request_p95_s": round(percentile([r["total"] for r in ok], 0.95), 3)}
            print(json.dumps(entry), flush=True)
            results.append(entry)
    finally:
        proc.terminate()
        proc.wait(60)


if __name__ == "__main__":
    main()
