"""The Qwen3-TTS text tokenizer (Qwen2 byte-level BPE + TTS special tokens), built with `tokenizers`.

transformers' Qwen2TokenizerFast is what the official package uses; it is built here from the
same pieces (see transformers' `Qwen2Converter`) straight on the `tokenizers` library, because
importing transformers costs seconds and can pull in torch. `tests/unit/test_tokenizer.py` checks
that both give the same ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qwentts_cli.errors import ModelNotFoundError

# The files shipped as package data of qwentts_cli (see tokenizer_files/SOURCE.md).
SHIPPED_DIR = Path(__file__).resolve().parent / "tokenizer_files"

# transformers.models.qwen2.tokenization_qwen2.PRETOKENIZE_REGEX
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# The prompt the official qwen-tts package feeds the talker for a text (Qwen3TTSModel._build_assistant_text).
CHAT_TEMPLATE = "<|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n"

TTS_SPECIAL_TOKENS = {
    "<|audio_start|>": 151669,
    "<|audio_end|>": 151670,
    "<tts_pad>": 151671,
    "<tts_text_bos>": 151672,
    "<tts_text_eod>": 151673,
    "<tts_text_bos_single>": 151674,
    "<|audio_pad|>": 151675,
}


@dataclass(frozen=True)
class TextTokenizer:
    """A loaded tokenizer and the folder it came from."""

    backend: "tokenizers.Tokenizer"  # noqa: F821 - imported lazily
    source: Path

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; special tokens written in the text are recognised, nothing is added."""
        return self.backend.encode(text, add_special_tokens=False).ids

    def chat_prompt(self, text: str) -> str:
        return CHAT_TEMPLATE.format(text=text)

    def chat_prompt_ids(self, text: str) -> list[int]:
        """Ids of the full assistant prompt that synth feeds the model for `text`."""
        return self.encode(self.chat_prompt(text))

    def tokens(self, ids: list[int]) -> list[str]:
        """The vocabulary strings of `ids` (byte-level: 'Ġ' is a space, 'Ċ' a newline)."""
        return [self.backend.id_to_token(i) for i in ids]

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(ids, skip_special_tokens=False)

    def token_id(self, token: str) -> int:
        i = self.backend.token_to_id(token)
        if i is None:
            raise KeyError(f"{token!r} is not in the vocabulary")
        return i


def _build(vocab: Path, merges: Path, config: Path | None) -> "tokenizers.Tokenizer":  # noqa: F821
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE

    try:
        model = BPE.from_file(str(vocab), str(merges), unk_token=None, fuse_unk=False, byte_fallback=False)
    except Exception as e:  # the tokenizers library raises a bare Exception for unreadable files
        from qwentts_cli.errors import CheckpointError

        raise CheckpointError(f"cannot read the tokenizer files {vocab.name} and {merges.name} in {vocab.parent} "
                              f"({str(e).splitlines()[0]}); re-download the model") from None
    backend = Tokenizer(model)
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)

    added: dict[int, dict] = {}
    if config is not None:
        added = {int(k): v for k, v in json.loads(config.read_text(encoding="utf-8")).get("added_tokens_decoder", {}).items()}
    for token_id in sorted(added):
        spec = added[token_id]
        token = AddedToken(
            spec["content"],
            single_word=spec.get("single_word", False),
            lstrip=spec.get("lstrip", False),
            rstrip=spec.get("rstrip", False),
            normalized=spec.get("normalized", False),
            special=spec.get("special", False),
        )
        if spec.get("special", False):
            backend.add_special_tokens([token])
        else:
            backend.add_tokens([token])
        got = backend.token_to_id(spec["content"])
        if got != token_id:
            from qwentts_cli.errors import CheckpointError

            raise CheckpointError(
                f"{config}: added token {spec['content']!r} should have id {token_id} but got {got}; "
                "the vocab.json and tokenizer_config.json do not belong together"
            )
    return backend


def _find_files(model_dir: Path) -> tuple[Path | None, Path, Path, Path | None]:
    """(tokenizer.json, vocab.json, merges.txt, tokenizer_config.json) in `model_dir`."""
    tok_json = model_dir / "tokenizer.json"
    config = model_dir / "tokenizer_config.json"
    return (
        tok_json if tok_json.is_file() else None,
        model_dir / "vocab.json",
        model_dir / "merges.txt",
        config if config.is_file() else None,
    )


@lru_cache(maxsize=4)
def load_tokenizer(model_dir: str | Path | None = None) -> TextTokenizer:
    """The tokenizer of the checkpoint in `model_dir`, or the shipped Qwen3-TTS tokenizer when None."""
    folder = Path(model_dir) if model_dir is not None else SHIPPED_DIR
    if not folder.is_dir():
        if model_dir is None:
            raise ModelNotFoundError(
                f"the shipped tokenizer folder {folder} is missing; reinstall qwentts or pass <model=DIR>"
            )
        raise ModelNotFoundError(f"{folder} is not a folder; pass <model> the checkpoint folder that holds vocab.json")
    tok_json, vocab, merges, config = _find_files(folder)
    if tok_json is not None:
        from tokenizers import Tokenizer

        return TextTokenizer(Tokenizer.from_file(str(tok_json)), folder)
    missing = [p.name for p in (vocab, merges) if not p.is_file()]
    if missing:
        raise ModelNotFoundError(f"{folder} has no {' or '.join(missing)}; it is not a Qwen3-TTS checkpoint folder")
    return TextTokenizer(_build(vocab, merges, config), folder)
