"""Live-input latency: the first sentence's last character written -> its first audio byte on stdout.

    python docs/bench-scripts/live.py MODEL_DIR [extra synth options...]

Starts `qwentts synth - --stream --quantize int8` on MODEL_DIR (the real 0.6B shape:
make_fixture.py --size real), waits 12 s for it to load, writes one sentence to its stdin and
times the first byte of audio; three runs.
"""
import os, subprocess, sys, time
PY = sys.executable
MODEL = sys.argv[1]
env = dict(os.environ)
for run in range(3):
    p = subprocess.Popen([PY, "-m", "qwentts_cli", "synth", "-", "--model", MODEL, "--quantize", "int8",
                          "--stream", "--threads", "2", "--language", "russian", "--max-frames", "10", "--greedy"] + sys.argv[2:],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    time.sleep(12)  # the model loaded (int8 from the warm row cache: ~2.5 s), waiting for text
    t0 = time.perf_counter()
    p.stdin.write("Привет, как у тебя дела сегодня? ".encode())
    p.stdin.flush()
    first = p.stdout.read(1)
    t1 = time.perf_counter()
    p.stdin.close()
    p.stdout.read(); p.wait()
    print(f"run {run + 1}: {1000 * (t1 - t0):.0f} ms from the sentence's end to the first audio byte (rc {p.returncode})")
