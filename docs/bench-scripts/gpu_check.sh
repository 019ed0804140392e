#!/usr/bin/env bash
# The GPU checks that issues 13 and 17 leave for a session lent a GPU, as one run:
#   bash docs/bench-scripts/gpu_check.sh        (through the device tool; results in $OUT)
# It runs from the checkout without installing (PYTHONPATH=src): the device image's python3 has
# torch, typer, rich, safetensors, tokenizers and numpy, which is all `bench` imports. The model
# is built there with random weights (`random:0.6b`): timings and agreement only, never quality.
# Environment: MODEL, DEVICE, FRAMES override the defaults below (a CPU dry run:
#   MODEL=tests/fixtures/qwen3-tts-micro/model DEVICE=cpu FRAMES=4 bash docs/bench-scripts/gpu_check.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-check}
MODEL=${MODEL:-random:0.6b}
DEVICE=${DEVICE:-cuda}
FRAMES=${FRAMES:-50}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
bench() { python3 -m qwentts_cli bench --model "$MODEL" --device "$DEVICE" --frames "$FRAMES" --texts medium --json "$@"; }

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} > "$OUT/machine.txt"

# 1. Graphs against eager steps, greedy codes, unbatched and batched (float32 and bfloat16).
python3 docs/bench-scripts/graphs_vs_eager.py --model "$MODEL" --device "$DEVICE" --frames "$FRAMES" \
  > "$OUT/graphs_vs_eager.jsonl" 2> "$OUT/errors.txt"
# 2. One stream: RTF and time to first audio, bfloat16 with graphs and without, float32 with graphs.
bench --dtype bfloat16 --runs 3 --stream > "$OUT/one_bf16.json" 2>> "$OUT/errors.txt"
bench --dtype bfloat16 --runs 3 --stream --no-cuda-graphs > "$OUT/one_bf16_eager.json" 2>> "$OUT/errors.txt"
bench --dtype float32 --runs 3 --stream > "$OUT/one_f32.json" 2>> "$OUT/errors.txt"
# 3. Batched, bfloat16: aggregate RTF at B = 1, 8, 16 (files), and time to first audio streaming at 16.
bench --dtype bfloat16 --runs 2 --batch 1,8,16 > "$OUT/batch_bf16.json" 2>> "$OUT/errors.txt"
bench --dtype bfloat16 --runs 2 --batch 16 --stream > "$OUT/batch_bf16_stream.json" 2>> "$OUT/errors.txt"
ls -l "$OUT"
tail -n 20 "$OUT/errors.txt"
