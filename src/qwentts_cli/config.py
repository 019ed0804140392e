"""Dataclasses parsed from a Qwen3-TTS checkpoint's config.json and generation_config.json.

Pure Python (no torch), so `qwentts info` and argument validation stay cheap.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from qwentts_cli.errors import CheckpointError, UnsupportedConfigError, UsageError

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

    def validate_request(self, speaker: str | None, language: str, instruct: str | None) -> str | None:
        """Check a request against this model before any weights load; returns the speaker to use."""
        if self.model_type == "base":
            raise UnsupportedConfigError(
                "this is a Base (voice-cloning) model and voice cloning is not supported yet; "
                "use a CustomVoice model such as Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice"
            )
        if self.model_type == "voice_design":
            if speaker:
                raise UsageError("VoiceDesign models have no built-in speakers; describe the voice with --instruct")
            if not instruct:
                raise UsageError('VoiceDesign models need a voice description; pass --instruct "..."')
        else:
            speaker = speaker or self.default_speaker
            if speaker is None or speaker.lower() not in self.talker.speaker_ids:
                raise UsageError(f"unknown speaker '{speaker}'; choose one of: {', '.join(self.speakers)}")
        if language.lower() not in self.languages:
            raise UsageError(f"unknown language '{language}'; choose one of: {', '.join(self.languages)}")
        return speaker


@dataclass
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
