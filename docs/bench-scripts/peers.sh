#!/usr/bin/env bash
# Times a native peer engine beside qwentts on one real-shape random checkpoint (issue 17).
#
#   bash docs/bench-scripts/peers.sh MODEL_DIR [WORK_DIR]
#
# vox (vox-tts on PyPI, C++ with its own q8/bf16 kernels) is installed into its own venv under
# WORK_DIR, converts MODEL_DIR with its own converter (`python -m vox build`), and times 25 frames
# of a medium English text with 2 threads, 4 runs (the first is its warm-up), through its
# library's `Engine.benchmark`. Then qwentts's own `bench` runs on the same checkpoint, int8 and
# bfloat16, streamed. Timing only: the weights are random.
#
# qwentts.cpp's Python wheel (qwentts-cpp-python) is on PyPI only for CUDA and Metal; its CPU
# variant lives on the Hugging Face hub, which these machines cannot reach. The script says so
# and goes on without it.
set -euo pipefail
MODEL=${1:?usage: peers.sh MODEL_DIR [WORK_DIR]}
WORK=${2:-/tmp/qwentts-peers}
mkdir -p "$WORK"

if [ ! -x "$WORK/vox/bin/python" ]; then
  python3 -m venv "$WORK/vox"
  "$WORK/vox/bin/pip" install -q numpy "vox-tts==0.19.5"
fi
# Asks the index which versions there are (no download): a CPU build carries "+cpu" in its version.
if ! python3 -m pip index versions qwentts-cpp-python 2>/dev/null | grep -q "+cpu"; then
  echo "peers: no CPU wheel of qwentts-cpp-python on PyPI (CUDA and Metal only); qwentts.cpp not timed" >&2
fi

for mode in q8 bf16; do
  out="$WORK/model.$mode.tmod"
  quant=(); [ "$mode" = q8 ] && quant=(--quant q8)
  [ -f "$out" ] || "$WORK/vox/bin/python" -m vox build --model "$MODEL" --dtype bf16 "${quant[@]}" --no-hash -o "$out"
  echo "== vox $mode"
  "$WORK/vox/bin/python" - "$out" <<'EOF'
import sys, time, vox
t0 = time.perf_counter()
engine = vox.Engine(sys.argv[1], device="cpu", threads=2)
load = time.perf_counter() - t0
text = "Hello, this is a medium length sentence used to time the engine on random weights."
result = engine.benchmark(text, engine.speaker_voice(engine.speakers[0]), runs=4, max_frames=25, seed=1,
                          language="english")
ms = result["stats"]["backend"]["ms_per_frame"]
print(f"load {load:.2f} s; first chunk {result['warm']['first_chunk_s']:.2f} s; RTF {result['warm']['rtf']:.2f}; "
      f"ms/frame talker {ms['talker']:.1f} predictor {ms['predictor']:.1f} codec {ms['codec']:.1f} "
      f"(means over all 4 runs); peak RSS {result['stats']['memory']['peak_rss'] / 2**30:.2f} GB")
EOF
done

for args in "--quantize int8" "--dtype bfloat16"; do
  echo "== qwentts $args"
  # shellcheck disable=SC2086
  python3 -m qwentts_cli bench --model "$MODEL" $args --frames 25 --threads 2 --texts medium --stream
done
