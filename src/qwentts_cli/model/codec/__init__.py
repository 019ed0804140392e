"""The 12Hz speech tokenizer: codes -> 24 kHz audio (decoder, one-shot or streamed), and audio -> codes (encoder).

layers.py holds the layers, state.py what they carry from frame to frame, decoder.py the
network, its segmented one-shot decode and the streaming decoder; encoder.py the encoder that
turns a reference clip into codes for voice cloning.
"""

from qwentts_cli.model.codec.decoder import (
    OFFICIAL_SEGMENTATION,
    CodecDecoder,
    CodecStream,
    Segmentation,
    check_code_range,
)
from qwentts_cli.model.codec.encoder import CodecEncoder

__all__ = ["OFFICIAL_SEGMENTATION", "CodecDecoder", "CodecEncoder", "CodecStream", "Segmentation", "check_code_range"]
