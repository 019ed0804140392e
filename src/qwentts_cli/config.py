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
# The 12Hz models' audio: 24 kHz samples, 12.5 code frames a second (1920 samples each).
SAMPLE_RATE = 24000
FRAME_RATE = 12.5


def read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError as e:
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete, re-download it") from e
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}); re-download the model") from e


_MISSING = object()


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return repr(value) if isinstance(value, str) else str(value)


class _Fields:
    """Typed values from one JSON object; a wrong one is one error that names the file, the field,
    what was found and what was expected."""

    def __init__(self, obj: Any, where: str):
        if not isinstance(obj, dict):
            raise CheckpointError(f"{where} is {_describe(obj)}, expected a JSON object; re-download the model")
        self.obj, self.where = obj, where

    def _value(self, key: str, default: Any) -> Any:
        value = self.obj.get(key)
        if value is None:  # absent or null: the official default, where there is one
            if default is _MISSING:
                raise UnsupportedConfigError(f"{self.where} has no '{key}'; this does not look like a Qwen3-TTS 12Hz config")
            return default
        return value

    def wrong(self, key: str, expected: str) -> CheckpointError:
        return CheckpointError(f"{self.where}: '{key}' is {_describe(self.obj.get(key))}, expected {expected}; "
                               "the config is damaged or not a Qwen3-TTS 12Hz config")

    def int(self, key: str, default: Any = _MISSING, minimum: int = 0) -> int:
        value = self._value(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.wrong(key, f"an integer of at least {minimum}")
        return value

    def float(self, key: str, default: Any = _MISSING, positive: bool = True) -> float:
        value = self._value(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (positive and value <= 0):
            raise self.wrong(key, "a positive number" if positive else "a number")
        return float(value)

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        value = self._value(key, default)
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false")
        return value

    def str(self, key: str, default: Any = _MISSING) -> str:
        value = self._value(key, default)
        if not isinstance(value, str):
            raise self.wrong(key, "a string")
        return value

    def object(self, key: str, default: Any = _MISSING) -> dict[str, Any]:
        value = self._value(key, default)
        if not isinstance(value, dict):
            raise self.wrong(key, "an object")
        return value

    def ids(self, key: str) -> dict[str, int]:
        """A name -> token id table (lower-case names); absent means empty."""
        table = self.object(key, {})
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in table.values()):
            raise self.wrong(key, "an object of names and token ids")
        return {k.lower(): v for k, v in table.items()}

    def get(self, key: str, default: Any = None) -> Any:
        return self.obj.get(key, default)


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
    def from_dict(cls, cfg: Any, where: str) -> "DecoderStackConfig":
        f = _Fields(cfg, where)
        for key, value in (("hidden_act", "silu"), ("attention_bias", False)):
            if f.get(key, value) != value:
                raise UnsupportedConfigError(f"{where}: {key}={f.get(key)!r} is not supported (only {value!r})")
        if f.get("use_sliding_window") or f.get("sliding_window"):
            raise UnsupportedConfigError(f"{where}: sliding-window attention is not supported for the talker")
        heads = f.int("num_attention_heads", minimum=1)
        kv_heads = f.int("num_key_value_heads", heads, minimum=1)
        if heads % kv_heads:
            raise UnsupportedConfigError(f"{where}: {heads} heads do not split into {kv_heads} key/value heads")
        hidden = f.int("hidden_size", minimum=1)
        return cls(
            hidden_size=hidden,
            intermediate_size=f.int("intermediate_size", minimum=1),
            num_hidden_layers=f.int("num_hidden_layers", minimum=1),
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            head_dim=f.int("head_dim", hidden // heads, minimum=1),
            rms_norm_eps=f.float("rms_norm_eps", 1e-6),
            rope_theta=f.float("rope_theta", 10000.0),
            max_position_embeddings=f.int("max_position_embeddings", 32768, minimum=1),
            vocab_size=f.int("vocab_size", minimum=1),
            num_code_groups=f.int("num_code_groups", 16, minimum=2),
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
    def from_dict(cls, cfg: Any, source: str = "config.json") -> "TalkerConfig":
        where = f"{source} talker_config"
        f = _Fields(cfg, where)
        rope = f.object("rope_scaling", {})
        if rope and rope.get("rope_type", rope.get("type", "default")) != "default":
            # Qwen3-TTS uses multimodal RoPE whose three position streams are equal for speech,
            # which makes it the plain 1-D RoPE we implement; other scalings change the frequencies.
            raise UnsupportedConfigError(f"{where}: rope_type {rope.get('rope_type')!r} is not supported")
        predictor = DecoderStackConfig.from_dict(f.object("code_predictor_config"), f"{source} code_predictor_config")
        if predictor.num_code_groups != f.int("num_code_groups", 16):
            raise UnsupportedConfigError(f"{where}: talker and code predictor disagree on num_code_groups")
        dialect = f.object("spk_is_dialect", {})
        if not all(isinstance(v, (str, bool)) for v in dialect.values()):
            raise f.wrong("spk_is_dialect", "an object of speaker names and false or a dialect name")
        return cls(
            stack=DecoderStackConfig.from_dict(cfg, where),
            text_hidden_size=f.int("text_hidden_size", minimum=1),
            text_vocab_size=f.int("text_vocab_size", minimum=1),
            codec_bos_id=f.int("codec_bos_id"),
            codec_eos_id=f.int("codec_eos_token_id"),
            codec_pad_id=f.int("codec_pad_id"),
            codec_think_id=f.int("codec_think_id"),
            codec_nothink_id=f.int("codec_nothink_id"),
            codec_think_bos_id=f.int("codec_think_bos_id"),
            codec_think_eos_id=f.int("codec_think_eos_id"),
            language_ids=f.ids("codec_language_id"),
            speaker_ids=f.ids("spk_id"),
            speaker_dialect={k.lower(): v for k, v in dialect.items()},
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
    speaker_encoder: "SpeakerEncoderConfig | None" = None  # Base models: the x-vector network

    @classmethod
    def from_dict(cls, cfg: Any, source: str = "config.json") -> "TTSConfig":
        f = _Fields(cfg, source)
        tokenizer_type = f.str("tokenizer_type", "qwen3_tts_tokenizer_12hz")
        if tokenizer_type != "qwen3_tts_tokenizer_12hz":
            raise UnsupportedConfigError(
                f"{source} tokenizer_type {tokenizer_type!r} is not supported; qwentts runs the 12Hz models only"
            )
        model_type = f.str("tts_model_type", "custom_voice")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise UnsupportedConfigError(
                f"{source} tts_model_type {model_type!r} is unknown (expected one of {', '.join(SUPPORTED_MODEL_TYPES)})"
            )
        return cls(
            model_type=model_type,
            model_size=f.str("tts_model_size", ""),
            talker=TalkerConfig.from_dict(f.object("talker_config"), source),
            im_start_id=f.int("im_start_token_id", 151644),
            im_end_id=f.int("im_end_token_id", 151645),
            assistant_id=f.int("assistant_token_id", 77091),
            tts_bos_id=f.int("tts_bos_token_id", 151672),
            tts_eos_id=f.int("tts_eos_token_id", 151673),
            tts_pad_id=f.int("tts_pad_token_id", 151671),
            speaker_encoder=SpeakerEncoderConfig.from_dict(f.get("speaker_encoder_config"),
                                                           f"{source} speaker_encoder_config")
            if model_type == "base" else None,
        )

    @classmethod
    def from_dir(cls, model_dir: str) -> "TTSConfig":
        path = os.path.join(model_dir, "config.json")
        return cls.from_dict(read_json(path), path)

    @property
    def display_size(self) -> str:
        return self.size_name(self.model_size)

    @staticmethod
    def size_name(model_size: str) -> str:
        """The size as the model names say it: "0b6" -> "0.6B"."""
        return model_size.replace("b", ".").upper() + "B" if "b" in model_size else model_size

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
        f, base = _Fields(read_json(path), path), cls()
        config = cls(
            do_sample=f.bool("do_sample", base.do_sample),
            top_k=f.int("top_k", base.top_k),
            top_p=f.float("top_p", base.top_p),
            temperature=f.float("temperature", base.temperature),
            repetition_penalty=f.float("repetition_penalty", base.repetition_penalty),
            subtalker_do_sample=f.bool("subtalker_dosample", base.subtalker_do_sample),
            subtalker_top_k=f.int("subtalker_top_k", base.subtalker_top_k),
            subtalker_top_p=f.float("subtalker_top_p", base.subtalker_top_p),
            subtalker_temperature=f.float("subtalker_temperature", base.subtalker_temperature),
        )
        for key in ("top_p", "subtalker_top_p"):
            if f.get(key) is not None and f.get(key) > 1:
                raise f.wrong(key, "a number in (0, 1]")
        return config

    def problems(self) -> list[tuple[str, str]]:
        """(parameter, what it must be) for every setting out of range; empty when all are usable."""
        out = []
        for prefix in ("", "subtalker_"):
            temperature, top_k, top_p = (getattr(self, prefix + name) for name in ("temperature", "top_k", "top_p"))
            if not (math.isfinite(temperature) and temperature > 0):
                out.append((prefix + "temperature", "a number above 0"))
            if top_k < 0:
                out.append((prefix + "top_k", "0 (no limit) or more"))
            if not (0 < top_p <= 1):
                out.append((prefix + "top_p", "a number in (0, 1]"))
        if not (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0):
            out.append(("repetition_penalty", "a number above 0 (1 is no penalty)"))
        return out


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

        if not isinstance(tokenizer_config, dict):
            raise CheckpointError(f"{source} is {_describe(tokenizer_config)}, expected a JSON object; re-download the model")
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
        if rope_scaling is not None and not isinstance(rope_scaling, dict):
            raise CheckpointError(f"{source} decoder_config: 'rope_scaling' is {_describe(rope_scaling)}, expected an object")
        if rope_scaling and rope_scaling.get("rope_type", rope_scaling.get("type")) != "default":
            raise unsupported(f"decoder rope_scaling {rope_scaling}")
        if dec.get("partial_rotary_factor", 1.0) != 1.0:
            raise unsupported("decoder partial_rotary_factor != 1")
        if not dec.get("sliding_window"):
            raise unsupported("decoder without a sliding_window")
        f = _Fields(dec, f"{source} decoder_config")
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name == "sample_rate" or dec.get(field.name) is None:
                continue
            kind = str(field.type)
            if kind == "bool":
                values[field.name] = f.bool(field.name)
            elif kind == "float":
                values[field.name] = f.float(field.name)
            elif kind.startswith("tuple"):
                ratios = dec[field.name]
                if not isinstance(ratios, list) or not ratios or not all(
                        isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in ratios):
                    raise f.wrong(field.name, "a list of positive integers")
                values[field.name] = tuple(ratios)
            else:
                values[field.name] = f.int(field.name, minimum=1)
        rate = _Fields(tokenizer_config, source).int("output_sample_rate", 24000, minimum=1)
        config = cls(**values, sample_rate=rate)
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


def _positive_ints(f: _Fields, key: str, default: tuple[int, ...], length: int) -> tuple[int, ...]:
    """A list of `length` positive integers (absent or null: `default`); anything else is one error naming `key`."""
    value = f.get(key)
    if value is None:
        return default
    expected = f"a list of {length} positive integers"
    if not isinstance(value, list):
        raise f.wrong(key, expected)
    if len(value) != length or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        # The list itself (short) says more than "a list".
        raise CheckpointError(f"{f.where}: '{key}' is {json.dumps(value)[:80]}, expected {expected}; "
                              "the config is damaged or not a Qwen3-TTS 12Hz config")
    return tuple(value)


@dataclass(frozen=True)
class SpeakerEncoderConfig:
    """config.json's `speaker_encoder_config` (Base models): the ECAPA-TDNN that turns a reference clip
    into the x-vector. Defaults are the official `Qwen3TTSSpeakerEncoderConfig`'s; the published Base
    configs write only `enc_dim` and `sample_rate`.

    enc_channels / enc_kernel_sizes / enc_dilations have one entry per layer: the first TDNN, the
    three SE-Res2Net blocks, and the multi-layer feature aggregation.
    """

    mel_dim: int = 128
    enc_dim: int = 1024  # the x-vector's size (the talker's hidden size)
    enc_channels: tuple[int, ...] = (512, 512, 512, 512, 1536)
    enc_kernel_sizes: tuple[int, ...] = (5, 3, 3, 3, 1)
    enc_dilations: tuple[int, ...] = (1, 2, 3, 4, 1)
    enc_attention_channels: int = 128
    enc_res2net_scale: int = 8
    enc_se_channels: int = 128
    sample_rate: int = 24000

    LAYERS = 5  # entries in each per-layer list (the layout of the published checkpoints)

    @classmethod
    def from_dict(cls, obj: Any, source: str = "config.json") -> "SpeakerEncoderConfig":
        """Parse the raw `speaker_encoder_config` object (None: all defaults, as the official config does)."""
        where = f"{source} speaker_encoder_config"
        f, base = _Fields({} if obj is None else obj, where), cls()
        config = cls(
            mel_dim=f.int("mel_dim", base.mel_dim, minimum=1),
            enc_dim=f.int("enc_dim", base.enc_dim, minimum=1),
            enc_channels=_positive_ints(f, "enc_channels", base.enc_channels, cls.LAYERS),
            enc_kernel_sizes=_positive_ints(f, "enc_kernel_sizes", base.enc_kernel_sizes, cls.LAYERS),
            enc_dilations=_positive_ints(f, "enc_dilations", base.enc_dilations, cls.LAYERS),
            enc_attention_channels=f.int("enc_attention_channels", base.enc_attention_channels, minimum=1),
            enc_res2net_scale=f.int("enc_res2net_scale", base.enc_res2net_scale, minimum=1),
            enc_se_channels=f.int("enc_se_channels", base.enc_se_channels, minimum=1),
            sample_rate=f.int("sample_rate", base.sample_rate, minimum=1),
        )

        def unsupported(what: str) -> UnsupportedConfigError:
            return UnsupportedConfigError(f"{where}: {what}; this speaker encoder cannot be run")

        # The official log-mel is fixed: 128 bands of 24 kHz audio (it asserts the rate).
        if config.sample_rate != 24000:
            raise unsupported(f"sample_rate {config.sample_rate} (the speaker encoder's log-mel is for 24000 Hz only)")
        if config.mel_dim != 128:
            raise unsupported(f"mel_dim {config.mel_dim} (the speaker encoder's log-mel has 128 bands)")
        # What the official modules need to run at all: residual blocks keep the width, the
        # aggregation takes the three blocks' outputs, Res2Net splits the width evenly.
        width = config.enc_channels[0]
        if any(c != width for c in config.enc_channels[1:4]):
            raise unsupported(f"enc_channels {list(config.enc_channels)} (the first four must be equal)")
        if config.enc_channels[4] != 3 * width:
            raise unsupported(f"enc_channels {list(config.enc_channels)} (the last must be 3 x {width})")
        if width % config.enc_res2net_scale:
            raise unsupported(f"{width} channels do not split into enc_res2net_scale {config.enc_res2net_scale} parts")
        return config


@dataclass(frozen=True)
class CodecEncoderConfig:
    """The encoder half of speech_tokenizer/config.json: its `encoder_config` (a transformers
    MimiConfig) and the top-level fields the official `encode` reads. Defaults are MimiConfig's and
    Qwen3TTSTokenizerV2Config's (the published encoder: hidden 512, 8 layers, 32 quantizers).

    `sliding_window` is read but not applied: the official encoder runs SDPA attention, for which
    transformers 4.57 builds a plain causal mask (see model/codec/encoder.py).
    """

    sample_rate: int = 24000  # encoder_config.sampling_rate (and input_sample_rate)
    hidden_size: int = 512
    num_filters: int = 64
    num_residual_layers: int = 1
    upsampling_ratios: tuple[int, ...] = (8, 6, 5, 4)  # SEANet strides, applied last to first
    kernel_size: int = 7
    last_kernel_size: int = 3
    residual_kernel_size: int = 3
    dilation_growth_rate: int = 2
    compress: int = 2
    pad_mode: str = "constant"
    codebook_size: int = 2048
    codebook_dim: int = 256
    num_quantizers: int = 32
    num_semantic_quantizers: int = 1
    num_hidden_layers: int = 8
    intermediate_size: int = 2048
    num_attention_heads: int = 8
    num_key_value_heads: int = 8
    head_dim: int | None = None  # None: hidden_size // num_attention_heads
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    attention_bias: bool = False
    sliding_window: int | None = 250  # not applied (see above)
    downsample_kernel: int = 4  # 2 * int(SEANet frame rate / frame rate), stride 2
    num_codes: int = 16  # encoder_valid_num_quantizers: the codebooks kept
    frame_samples: int = 1920  # encode_downsample_rate: samples per code frame

    PAD_MODES = ("constant", "replicate")

    def __post_init__(self) -> None:
        if self.head_dim is None:
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        object.__setattr__(self, "upsampling_ratios", tuple(self.upsampling_ratios))

    @property
    def acoustic_codes(self) -> int:
        """Layers of the acoustic RVQ that the kept codes use (the rest are never computed)."""
        return max(0, self.num_codes - self.num_semantic_quantizers)

    @classmethod
    def from_tokenizer_config(cls, tokenizer_config: Any, source: str = "config.json") -> "CodecEncoderConfig":
        """Parse the speech tokenizer's config.json; raise UnsupportedConfigError for what we cannot run."""
        if not isinstance(tokenizer_config, dict):
            raise CheckpointError(f"{source} is {_describe(tokenizer_config)}, expected a JSON object; re-download the model")
        where = f"{source} encoder_config"

        def unsupported(what: str) -> UnsupportedConfigError:
            return UnsupportedConfigError(f"{where}: {what}; this speech-tokenizer encoder cannot be run")

        model_type = tokenizer_config.get("model_type")
        if model_type != "qwen3_tts_tokenizer_12hz":
            raise UnsupportedConfigError(f"{source}: model_type is {model_type!r}, not 'qwen3_tts_tokenizer_12hz'; "
                                         "only the Qwen3-TTS 12Hz speech tokenizer is supported")
        top = _Fields(tokenizer_config, source)
        # The official config class builds a default MimiConfig when encoder_config is absent.
        f, base = _Fields(top.object("encoder_config", {}), where), cls()

        # What the official encoder could compute but this one does not (none of it is published).
        for key, value in (("audio_channels", 1), ("use_causal_conv", True), ("use_conv_shortcut", False),
                           ("use_streaming", False), ("hidden_act", "gelu")):
            found = f.get(key)
            if found is not None and found != value:
                raise unsupported(f"{key} is {_describe(found)} (only {_describe(value)})")
        rope = f.get("rope_scaling")
        if rope is not None and (not isinstance(rope, dict)
                                 or rope.get("rope_type", rope.get("type", "default")) != "default"):
            raise unsupported(f"rope_scaling {rope!r} (only the default RoPE)")

        ratios = f.get("upsampling_ratios")
        if ratios is None or ratios == []:  # MimiConfig: an empty or absent list means the default
            ratios = base.upsampling_ratios
        elif not isinstance(ratios, list) or not all(isinstance(r, int) and not isinstance(r, bool) and r > 0
                                                      for r in ratios):
            raise f.wrong("upsampling_ratios", "a list of positive integers")
        sample_rate = f.int("sampling_rate", base.sample_rate, minimum=1)
        hidden = f.int("hidden_size", base.hidden_size, minimum=1)
        heads = f.int("num_attention_heads", base.num_attention_heads, minimum=1)
        # MimiConfig: an absent codebook_dim is 256, a null one hidden_size; an absent sliding_window 250.
        codebook_dim = f.int("codebook_dim", hidden if "codebook_dim" in f.obj else 256, minimum=1)
        window = f.int("sliding_window", minimum=1) if f.get("sliding_window") is not None else (
            None if "sliding_window" in f.obj else base.sliding_window)
        projection_dim = f.int("vector_quantization_hidden_dimension", 256, minimum=1)
        pad_mode = f.str("pad_mode", base.pad_mode)
        if pad_mode not in cls.PAD_MODES:
            raise unsupported(f"pad_mode {pad_mode!r} (only {' or '.join(map(repr, cls.PAD_MODES))})")

        # The downsampling conv: MimiModel builds it when the frame rate differs from the SEANet's,
        # with kernel 2 * int(SEANet rate / frame rate) and stride 2. A config may state the frame
        # rate (`_frame_rate` as serialized, or `frame_rate`); otherwise it follows from the strides.
        hop = math.prod(ratios)
        seanet_rate = math.ceil(sample_rate / hop)
        frame_rate = sample_rate / (2 * hop)
        for key in ("frame_rate", "_frame_rate"):  # the serialized `_frame_rate` wins, as in MimiConfig
            if f.get(key) is not None:
                frame_rate = f.float(key)
        if frame_rate == seanet_rate:
            raise unsupported(f"frame rate {frame_rate} equals the SEANet's (no downsampling layer)")
        downsample_kernel = 2 * int(seanet_rate / frame_rate)

        config = cls(
            sample_rate=sample_rate,
            hidden_size=hidden,
            num_filters=f.int("num_filters", base.num_filters, minimum=1),
            num_residual_layers=f.int("num_residual_layers", base.num_residual_layers),
            upsampling_ratios=tuple(ratios),
            kernel_size=f.int("kernel_size", base.kernel_size, minimum=1),
            last_kernel_size=f.int("last_kernel_size", base.last_kernel_size, minimum=1),
            residual_kernel_size=f.int("residual_kernel_size", base.residual_kernel_size, minimum=1),
            dilation_growth_rate=f.int("dilation_growth_rate", base.dilation_growth_rate, minimum=1),
            compress=f.int("compress", base.compress, minimum=1),
            pad_mode=pad_mode,
            codebook_size=f.int("codebook_size", base.codebook_size, minimum=1),
            codebook_dim=codebook_dim,
            num_quantizers=f.int("num_quantizers", base.num_quantizers, minimum=1),
            num_semantic_quantizers=f.int("num_semantic_quantizers", base.num_semantic_quantizers, minimum=1),
            num_hidden_layers=f.int("num_hidden_layers", base.num_hidden_layers),
            intermediate_size=f.int("intermediate_size", base.intermediate_size, minimum=1),
            num_attention_heads=heads,
            num_key_value_heads=f.int("num_key_value_heads", base.num_key_value_heads, minimum=1),
            head_dim=f.int("head_dim", hidden // heads, minimum=1),
            norm_eps=f.float("norm_eps", base.norm_eps),
            rope_theta=f.float("rope_theta", base.rope_theta),
            attention_bias=f.bool("attention_bias", base.attention_bias),
            sliding_window=window,
            downsample_kernel=downsample_kernel,
            num_codes=top.int("encoder_valid_num_quantizers", base.num_codes, minimum=1),
            frame_samples=top.int("encode_downsample_rate", base.frame_samples, minimum=1),
        )

        if hidden % heads:
            raise unsupported(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
        if heads % config.num_key_value_heads:
            raise unsupported(f"{heads} heads do not split into {config.num_key_value_heads} key/value heads")
        if config.head_dim % 2:
            raise unsupported(f"odd head_dim {config.head_dim} (RoPE rotates pairs)")
        if config.num_semantic_quantizers >= config.num_quantizers:
            raise unsupported(f"num_semantic_quantizers {config.num_semantic_quantizers} is not below "
                              f"num_quantizers {config.num_quantizers}")
        if projection_dim == hidden:
            raise unsupported("vector_quantization_hidden_dimension equals hidden_size (no quantizer projections)")
        if projection_dim != codebook_dim:
            raise unsupported(f"vector_quantization_hidden_dimension {projection_dim} != codebook_dim {codebook_dim}")
        if downsample_kernel < 2:
            raise unsupported(f"frame rate {frame_rate} is above the SEANet's {seanet_rate}")
        if config.num_codes > config.num_quantizers:
            raise unsupported(f"encoder_valid_num_quantizers {config.num_codes} is above num_quantizers "
                              f"{config.num_quantizers}")
        if config.frame_samples != 2 * hop:
            raise unsupported(f"encode_downsample_rate {config.frame_samples} != 2 x the product of "
                              f"upsampling_ratios ({2 * hop})")
        rate = top.int("input_sample_rate", sample_rate, minimum=1)
        if rate != sample_rate:
            raise unsupported(f"input_sample_rate {rate} != sampling_rate {sample_rate}")
        return config

    @classmethod
    def from_json(cls, path: str) -> "CodecEncoderConfig":
        return cls.from_tokenizer_config(read_json(path), source=path)

    def check_feature_extractor(self, preprocessor: Any, source: str = "preprocessor_config.json") -> None:
        """The official feature extractor (EncodecFeatureExtractor, preprocessor_config.json) passes one
        mono clip through unchanged; raise UnsupportedConfigError for a setting that would not."""
        f = _Fields(preprocessor, source)
        kind = f.str("feature_extractor_type", "EncodecFeatureExtractor")
        if kind != "EncodecFeatureExtractor":
            raise UnsupportedConfigError(f"{source}: feature_extractor_type {kind!r} (only 'EncodecFeatureExtractor')")
        if f.int("feature_size", 1, minimum=1) != 1:
            raise UnsupportedConfigError(f"{source}: feature_size {f.get('feature_size')} (only mono, 1)")
        for key in ("chunk_length_s", "overlap"):
            if f.get(key) is not None:
                raise UnsupportedConfigError(f"{source}: {key} {f.get(key)} (chunked feature extraction is not supported)")
        rate = f.int("sampling_rate", self.sample_rate, minimum=1)
        if rate != self.sample_rate:
            raise UnsupportedConfigError(f"{source}: sampling_rate {rate} != the encoder's {self.sample_rate}")
