"""Help texts of the options that several commands share."""

MODEL_HELP = "Checkpoint directory or Hugging Face repo id (default: $QWENTTS_MODEL, else Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice from the HF cache)."
QUANTIZE_HELP = (
    "int8: int8 weights (and activations) for the talker and code predictor, ~3x faster on CPU, not exact; "
    "int8-weight: weight-only int8. See docs/benchmark.md for the drift. The first run on a checkpoint "
    "quantizes it and keeps the int8 rows in ~/.cache/qwentts ($QWENTTS_CACHE_DIR) for later runs."
)
CODEC_DTYPE_HELP = (
    "Speech decoder weights: float32 (the official waveform) or bfloat16 (~1.7x faster decoding on CPUs with "
    "bf16 instructions; the same codes, but the audio drifts by ~12% RMS: see docs/benchmark.md)."
)
CUDA_GRAPHS_HELP = "On a GPU, replay each frame as captured CUDA graphs (--no-cuda-graphs: eager, for debugging)."
# Pieces generated at once by default (synth from a file, batch): see docs/benchmark.md, "Batched generation".
DEFAULT_BATCH = 8
