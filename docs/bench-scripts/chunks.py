"""Streaming decode cost per frame by chunk size vs one-shot: python chunks.py MODEL_DIR."""
import sys
import time

import torch

from qwentts_cli.load.codec import load_codec_decoder

torch.set_num_threads(2)
codec = load_codec_decoder(f"{sys.argv[1]}/speech_tokenizer")
codes = torch.randint(0, 2048, (48, 16))
codec.decode(codes)  # warm-up
for _ in range(2):
    t = time.perf_counter()
    codec.decode(codes)
    print("one-shot ms/frame", round((time.perf_counter() - t) / 48 * 1000, 1))
    for chunk in (1, 2, 4, 8, 16):
        codec.stream().push(codes[:chunk])  # warm-up at this size
        stream = codec.stream()
        t = time.perf_counter()
        for i in range(0, 48, chunk):
            stream.push(codes[i : i + chunk])
        print("chunk", chunk, "ms/frame", round((time.perf_counter() - t) / 48 * 1000, 1))
