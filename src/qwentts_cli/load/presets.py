"""The published Qwen3-TTS 12Hz shapes and token ids, as configs (no torch): what `random:0.6b` builds."""

from __future__ import annotations

from qwentts_cli.config import TTSConfig
from qwentts_cli.errors import UnknownChoice

# Token ids shared by every 12Hz checkpoint (from the published config.json files).
LANGUAGE_IDS = {"chinese": 2055, "english": 2050, "german": 2053, "italian": 2070, "portuguese": 2071,
                "spanish": 2054, "japanese": 2058, "korean": 2064, "french": 2061, "russian": 2069,
                "beijing_dialect": 2074, "sichuan_dialect": 2062}
SPEAKER_IDS = {"serena": 3066, "vivian": 3065, "uncle_fu": 3010, "ryan": 3061, "aiden": 2861,
               "ono_anna": 2873, "sohee": 2864, "eric": 2875, "dylan": 2878}
DIALECTS = {"dylan": "beijing_dialect", "eric": "sichuan_dialect"}

_PREDICTOR = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=5, num_attention_heads=16,
                  num_key_value_heads=8, head_dim=128)
TALKER_SHAPES = {
    "0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, text_hidden_size=2048),
    "1.7b": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, text_hidden_size=2048),
}
# The Qwen3-TTS-Tokenizer-12Hz decoder (same for both sizes).
CODEC_SHAPE = dict(hidden_size=512, intermediate_size=1024, latent_dim=1024, codebook_dim=512, codebook_size=2048,
                   decoder_dim=1536, head_dim=64, num_attention_heads=16, num_key_value_heads=16,
                   num_hidden_layers=8, sliding_window=72)


def preset_config(size: str) -> TTSConfig:
    """The config.json of a published CustomVoice checkpoint of this size."""
    if size not in TALKER_SHAPES:
        raise UnknownChoice("model", f"random:{size}", [f"random:{name}" for name in TALKER_SHAPES])
    talker = dict(
        TALKER_SHAPES[size], vocab_size=3072, num_code_groups=16, rope_theta=1000000, rms_norm_eps=1e-6,
        max_position_embeddings=32768, text_vocab_size=151936, hidden_act="silu",
        rope_scaling={"interleaved": True, "mrope_section": [24, 20, 20], "rope_type": "default"},
        codec_bos_id=2149, codec_eos_token_id=2150, codec_pad_id=2148, codec_think_id=2154, codec_nothink_id=2155,
        codec_think_bos_id=2156, codec_think_eos_id=2157, codec_language_id=LANGUAGE_IDS, spk_id=SPEAKER_IDS,
        spk_is_dialect={k: DIALECTS.get(k, False) for k in SPEAKER_IDS},
        code_predictor_config=dict(_PREDICTOR, vocab_size=2048, num_code_groups=16, rope_theta=1000000,
                                   rms_norm_eps=1e-6, max_position_embeddings=65536),
    )
    return TTSConfig.from_dict(dict(talker_config=talker, tts_model_type="custom_voice",
                                    tts_model_size={"0.6b": "0b6", "1.7b": "1b7"}[size]))
