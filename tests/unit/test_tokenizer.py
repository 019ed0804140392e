"""Our `tokenizers`-built tokenizer gives the ids transformers' Qwen2TokenizerFast (the official path) gives."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GOLDEN_CASES, load_case
from qwentts_cli.text.tokenizer import SHIPPED_DIR, load_tokenizer

SAMPLES = [
    "Привет, мир!",
    "Hello, world! It's 5 o'clock; we're   late.",
    "Ёлки-палки, 1234567 руб. — ну и ну…",
    "混合 text и кириллица 😀 \t tabs\nnew line\r\n",
    "<tts_pad><tts_text_bos>special tokens written as text<|im_end|>",
    "  leading and trailing spaces  ",
    "e\u0301 composed vs é",  # NFC normalization
]


@pytest.fixture(scope="module")
def reference(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


@pytest.mark.parametrize("text", SAMPLES)
def test_ids_match_transformers(reference, model_dir, text):
    expected = reference(text, add_special_tokens=False)["input_ids"]
    assert load_tokenizer(model_dir).encode(text) == expected
    assert load_tokenizer(None).encode(text) == expected  # the shipped copy is the same tokenizer


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_ids_match_transformers_on_any_text(reference, text):
    assert load_tokenizer(None).encode(text) == reference(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_chat_prompt_starts_the_golden_input_ids(model_dir, name):
    # The golden input_ids are the assistant prompt of the case's text, as the official package built it.
    case = load_case(name)
    assert load_tokenizer(model_dir).chat_prompt_ids(case["text"]) == case["input_ids"]


# The files every published Qwen3-TTS checkpoint carries (and the official fixtures, whose copies in
# tests/fixtures are links to the shipped ones).
CHECKPOINT_SHA256 = {
    "vocab.json": "ca10d7e9fb3ed18575dd1e277a2579c16d108e32f27439684afa0e10b1440910",
    "merges.txt": "b8e04af9c950e393054010dcef499c3f005e803e9b2da1a09b96a26c33266eb1",
    "tokenizer_config.json": "b29b73a1b08b3305049fabea1e6e063a6b305be8970fb89cfee2e01b7938b205",
}


def test_shipped_files_are_the_checkpoint_files():
    import hashlib

    for name, digest in CHECKPOINT_SHA256.items():
        assert hashlib.sha256((SHIPPED_DIR / name).read_bytes()).hexdigest() == digest, name


def test_tts_special_tokens_have_their_ids():
    from qwentts_cli.text.tokenizer import TTS_SPECIAL_TOKENS

    tokenizer = load_tokenizer(None)
    for token, token_id in TTS_SPECIAL_TOKENS.items():
        assert tokenizer.encode(token) == [token_id], token
        assert tokenizer.token_id(token) == token_id
