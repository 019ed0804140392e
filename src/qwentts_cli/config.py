"""Every config of qwentts, frozen: parsed from a checkpoint's config.json, generation_config.json and
speech_tokenizer/config.json.

Pure Python (no torch), so `qwentts info` and argument validation stay cheap.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, fields
from typing import Any

from qwentts_cli.errors import CheckpointError, UnsupportedConfigError

SUPPORTED_MODEL_TYPES = ("custom_voice", "base", "voice_design")


def read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError as e:
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete, re-download it") from e
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}); re-download the model") from e


def _require(cfg: dict[str, Any], key: str, where: str) -> Any:
    if key not in cfg:
        raise UnsupportedConfigError(f"{where} has no '{key}'; this does not look like a Qwen3-TTS 12Hz config")
    return cfg[key]


@dataclass(frozen=True)
class DecoderStackConfig:
    """Shape of a Qwen3-style decoder stack (shared by the talker and the code predictor)."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    max_position_embeddings: int
    vocab_size: int
    num_code_groups: int

    @classmethod
    def from_dict(cls, cfg: dict[str, Any], where: str) -> "DecoderStackConfig":
        for key, value in (("hidden_act", "silu"), ("attention_bias", False)):
            if cfg.get(key, value) != value:
                raise UnsupportedConfigError(f"{where}: {key}={cfg[key]!r} is not supported (only {value!r})")
        if cfg.get("use_sliding_window") or cfg.get("sliding_window"):
            raise UnsupportedConfigError(f"{where}: sliding-window attention is not supported for the talker")
        heads = _require(cfg, "num_attention_heads", where)
        kv_heads = cfg.get("num_key_value_heads", heads)
        if heads % kv_heads:
            raise UnsupportedConfigError(f"{where}: {heads} heads do not split into {kv_heads} key/value heads")
        return cls(
            hidden_size=_require(cfg, "hidden_size", where),
            intermediate_size=_require(cfg, "intermediate_size", where),
            num_hidden_layers=_require(cfg, "num_hidden_layers", where),
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            head_dim=cfg.get("head_dim") or cfg["hidden_size"] // heads,
            rms_norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            rope_theta=float(cfg.get("rope_theta", 10000.0)),
            max_position_embeddings=int(cfg.get("max_position_embeddings", 32768)),
            vocab_size=_require(cfg, "vocab_size", where),
            num_code_groups=int(cfg.get("num_code_groups", 16)),
        )


@dataclass(frozen=True)
class TalkerConfig:
    """The talker: a decoder over (text + codec) embeddings that predicts the first codebook."""

    stack: DecoderStackConfig
    text_hidden_size: int
    text_vocab_size: int
    codec_bos_id: int
    codec_eos_id: int
    codec_pad_id: int
    codec_think_id: int
    codec_nothink_id: int
    codec_think_bos_id: int
    codec_think_eos_id: int
    language_ids: dict[str, int]
    speaker_ids: dict[str, int]
    speaker_dialect: dict[str, str | bool]
    predictor: DecoderStackConfig

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> "TalkerConfig":
        where = "config.json talker_config"
        rope = cfg.get("rope_scaling") or {}
        if rope and rope.get("rope_type", rope.get("type", "default")) != "default":
            # Qwen3-TTS uses multimodal RoPE whose three position streams are equal for speech,
            # which makes it the plain 1-D RoPE we implement; other scalings change the frequencies.
            raise UnsupportedConfigError(f"{where}: rope_type {rope.get('rope_type')!r} is not supported")
        predictor = DecoderStackConfig.from_dict(
            _require(cfg, "code_predictor_config", where), "config.json code_predictor_config"
        )
        if predictor.num_code_groups != cfg.get("num_code_groups", 16):
            raise UnsupportedConfigError(f"{where}: talker and code predictor disagree on num_code_groups")
        return cls(
            stack=DecoderStackConfig.from_dict(cfg, where),
            text_hidden_size=_require(cfg, "text_hidden_size", where),
            text_vocab_size=_require(cfg, "text_vocab_size", where),
            codec_bos_id=_require(cfg, "codec_bos_id", where),
            codec_eos_id=_require(cfg, "codec_eos_token_id", where),
            codec_pad_id=_require(cfg, "codec_pad_id", where),
            codec_think_id=_require(cfg, "codec_think_id", where),
            codec_nothink_id=_require(cfg, "codec_nothink_id", where),
            codec_think_bos_id=_require(cfg, "codec_think_bos_id", where),
            codec_think_eos_id=_require(cfg, "codec_think_eos_id", where),
            language_ids={k.lower(): int(v) for k, v in (cfg.get("codec_language_id") or {}).items()},
            speaker_ids={k.lower(): int(v) for k, v in (cfg.get("spk_id") or {}).items()},
            speaker_dialect={k.lower(): v for k, v in (cfg.get("spk_is_dialect") or {}).items()},
            predictor=predictor,
        )


@dataclass(frozen=True)
class TTSConfig:
    """Top level of config.json: model kind, size and the text-side special token ids."""

    model_type: str  # custom_voice | base | voice_design
    model_size: str  # "0b6", "1b7"
    talker: TalkerConfig
    im_start_id: int
    im_end_id: int
    assistant_id: int
    tts_bos_id: int
    tts_eos_id: int
    tts_pad_id: int

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> "TTSConfig":
        tokenizer_type = cfg.get("tokenizer_type", "qwen3_tts_tokenizer_12hz")
        if tokenizer_type != "qwen3_tts_tokenizer_12hz":
            raise UnsupportedConfigError(
                f"config.json tokenizer_type {tokenizer_type!r} is not supported; qwentts runs the 12Hz models only"
            )
        model_type = cfg.get("tts_model_type", "custom_voice")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise UnsupportedConfigError(
                f"config.json tts_model_type {model_type!r} is unknown (expected one of {', '.join(SUPPORTED_MODEL_TYPES)})"
            )
        return cls(
            model_type=model_type,
            model_size=str(cfg.get("tts_model_size", "")),
            talker=TalkerConfig.from_dict(_require(cfg, "talker_config", "config.json")),
            im_start_id=cfg.get("im_start_token_id", 151644),
            im_end_id=cfg.get("im_end_token_id", 151645),
            assistant_id=cfg.get("assistant_token_id", 77091),
            tts_bos_id=cfg.get("tts_bos_token_id", 151672),
            tts_eos_id=cfg.get("tts_eos_token_id", 151673),
            tts_pad_id=cfg.get("tts_pad_token_id", 151671),
        )

    @classmethod
    def from_dir(cls, model_dir: str) -> "TTSConfig":
        return cls.from_dict(read_json(os.path.join(model_dir, "config.json")))

    @property
    def languages(self) -> list[str]:
        """Languages a user may ask for: 'auto' plus every non-dialect language id (as the official API)."""
        return ["auto"] + sorted(k for k in self.talker.language_ids if "dialect" not in k)

    @property
    def speakers(self) -> list[str]:
        return sorted(self.talker.speaker_ids)

    @property
    def default_speaker(self) -> str | None:
        if not self.speakers:
            return None
        return "ryan" if "ryan" in self.speakers else self.speakers[0]


@dataclass(frozen=True)
class SamplingConfig:
    """How tokens are picked. Defaults follow the official package (and generation_config.json)."""

    do_sample: bool = True
    top_k: int = 50
    top_p: float = 1.0
    temperature: float = 0.9
    repetition_penalty: float = 1.05
    subtalker_do_sample: bool = True
    subtalker_top_k: int = 50
    subtalker_top_p: float = 1.0
    subtalker_temperature: float = 0.9

    @classmethod
    def from_generation_config(cls, model_dir: str) -> "SamplingConfig":
        path = os.path.join(model_dir, "generation_config.json")
        if not os.path.isfile(path):
            return cls()
        cfg = read_json(path)
        base = cls()
        return cls(
            do_sample=bool(cfg.get("do_sample", base.do_sample)),
            top_k=int(cfg.get("top_k", base.top_k)),
            top_p=float(cfg.get("top_p", base.top_p)),
            temperature=float(cfg.get("temperature", base.temperature)),
            repetition_penalty=float(cfg.get("repetition_penalty", base.repetition_penalty)),
            subtalker_do_sample=bool(cfg.get("subtalker_dosample", base.subtalker_do_sample)),
            subtalker_top_k=int(cfg.get("subtalker_top_k", base.subtalker_top_k)),
            subtalker_top_p=float(cfg.get("subtalker_top_p", base.subtalker_top_p)),
            subtalker_temperature=float(cfg.get("subtalker_temperature", base.subtalker_temperature)),
        )


@dataclass(frozen=True)
class CodecDecoderConfig:
    """The decoder part of speech_tokenizer/config.json; defaults are the official config class's."""

    codebook_dim: int
    codebook_size: int = 2048
    num_quantizers: int = 16
    latent_dim: int = 1024
    hidden_size: int = 1024
    intermediate_size: int = 3072
    num_hidden_layers: int = 8
    num_attention_heads: int = 16
    num_key_value_heads: int = 16
    head_dim: int | None = None  # None: hidden_size // num_attention_heads
    sliding_window: int = 72
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    attention_bias: bool = False
    upsampling_ratios: tuple[int, ...] = (2, 2)
    upsample_rates: tuple[int, ...] = (8, 5, 4, 3)
    decoder_dim: int = 1536
    sample_rate: int = 24000

    def __post_init__(self) -> None:
        # Derived once here so the frozen value is complete (frozen: through object.__setattr__).
        if self.head_dim is None:
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        object.__setattr__(self, "upsampling_ratios", tuple(self.upsampling_ratios))
        object.__setattr__(self, "upsample_rates", tuple(self.upsample_rates))

    @property
    def frame_samples(self) -> int:
        """Waveform samples per code frame (1920 = 2 * 2 * 8 * 5 * 4 * 3)."""
        return math.prod(self.upsampling_ratios) * math.prod(self.upsample_rates)

    @classmethod
    def from_tokenizer_config(cls, tokenizer_config: dict, source: str = "config.json") -> CodecDecoderConfig:
        """Parse the speech tokenizer's config.json; raise UnsupportedConfigError for what we cannot run."""

        def unsupported(what: str) -> UnsupportedConfigError:
            return UnsupportedConfigError(f"{source}: {what}; only the Qwen3-TTS 12Hz speech tokenizer is supported")

        model_type = tokenizer_config.get("model_type")
        if model_type != "qwen3_tts_tokenizer_12hz":
            raise unsupported(f"model_type is {model_type!r}, not 'qwen3_tts_tokenizer_12hz'")
        dec = tokenizer_config.get("decoder_config")
        if not isinstance(dec, dict):
            raise unsupported("there is no decoder_config")
        if "codebook_dim" not in dec:
            raise unsupported("decoder_config has no codebook_dim")
        if dec.get("hidden_act", "silu") != "silu":
            raise unsupported(f"decoder hidden_act {dec['hidden_act']!r} (only 'silu')")
        rope_scaling = dec.get("rope_scaling")
        if rope_scaling and rope_scaling.get("rope_type", rope_scaling.get("type")) != "default":
            raise unsupported(f"decoder rope_scaling {rope_scaling}")
        if dec.get("partial_rotary_factor", 1.0) != 1.0:
            raise unsupported("decoder partial_rotary_factor != 1")
        if not dec.get("sliding_window"):
            raise unsupported("decoder without a sliding_window")
        names = {f.name for f in fields(cls)} - {"sample_rate"}
        config = cls(
            **{k: v for k, v in dec.items() if k in names},
            sample_rate=int(tokenizer_config.get("output_sample_rate", 24000)),
        )
        if config.num_quantizers < 2:
            raise unsupported("fewer than 2 quantizers (the decoder splits codebook 0 from the rest)")
        if config.codebook_dim % 2:
            raise unsupported(f"odd codebook_dim {config.codebook_dim}")
        if config.num_attention_heads % config.num_key_value_heads:
            raise unsupported("num_attention_heads is not a multiple of num_key_value_heads")
        if config.decoder_dim % 2 ** len(config.upsample_rates):
            raise unsupported(f"decoder_dim {config.decoder_dim} does not halve {len(config.upsample_rates)} times")
        hop = tokenizer_config.get("decode_upsample_rate", config.frame_samples)
        if hop != config.frame_samples:
            raise unsupported(f"decode_upsample_rate {hop} != the product of the upsampling factors "
                              f"({config.frame_samples})")
        return config

    @classmethod
    def from_json(cls, path: str) -> CodecDecoderConfig:
        return cls.from_tokenizer_config(read_json(path), source=path)
