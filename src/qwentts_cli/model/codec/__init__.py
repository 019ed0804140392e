"""The 12Hz speech tokenizer's decoder: codes -> 24 kHz audio, one-shot or streamed.

layers.py holds the layers, state.py what they carry from frame to frame, decoder.py the
network, its segmented one-shot decode and the streaming decoder. The voices issue adds the
encoder beside them.
"""

from qwentts_cli.model.codec.decoder import (
    OFFICIAL_SEGMENTATION,
    CodecDecoder,
    CodecStream,
    Segmentation,
    check_code_range,
)

__all__ = ["OFFICIAL_SEGMENTATION", "CodecDecoder", "CodecStream", "Segmentation", "check_code_range"]
