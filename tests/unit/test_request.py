"""Requests checked against a model before any weights load, and errors that carry data, not flags."""

from __future__ import annotations

import dataclasses

import pytest

from qwentts_cli.cli import option_name
from qwentts_cli.config import SamplingConfig, TTSConfig
from qwentts_cli.errors import ContextExceeded, UnknownChoice, UsageError
from qwentts_cli.request import ResolvedRequest, SynthesisRequest, resolve_request


@pytest.fixture(scope="module")
def config(model_dir) -> TTSConfig:
    return TTSConfig.from_dir(str(model_dir))


def test_resolving_fills_the_defaults_and_the_language_id(config):
    defaults = SamplingConfig(temperature=0.5)
    resolved = resolve_request(config, SynthesisRequest(language="Russian"), defaults)
    assert isinstance(resolved, ResolvedRequest)
    assert resolved.speaker == "ryan" and resolved.language == "russian"
    assert resolved.language_id == config.talker.language_ids["russian"]
    assert resolved.sampling is defaults
    assert resolve_request(config, resolved, SamplingConfig()) is resolved  # resolved once, not again


def test_a_dialect_speaker_overrides_auto(config):
    resolved = resolve_request(config, SynthesisRequest(speaker="Dylan"), SamplingConfig())
    assert resolved.language_id == config.talker.language_ids["beijing_dialect"]
    assert resolve_request(config, SynthesisRequest(speaker="dylan", language="english"),
                           SamplingConfig()).language_id == config.talker.language_ids["english"]


def test_requests_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SynthesisRequest().speaker = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        SamplingConfig().temperature = 2.0


@pytest.mark.parametrize("fields, param", [
    (dict(speaker="bob"), "speaker"),
    (dict(language="klingon"), "language"),
])
def test_unknown_values_carry_the_parameter_and_the_choices(config, fields, param):
    with pytest.raises(UnknownChoice) as e:
        resolve_request(config, SynthesisRequest(**fields), SamplingConfig())
    assert e.value.param == param and e.value.value == next(iter(fields.values()))
    assert "ryan" in e.value.choices or "russian" in e.value.choices


@pytest.mark.parametrize("fields", [dict(max_frames=0), dict(max_seconds=0.0), dict(max_seconds=float("nan")),
                                    dict(chunk_frames=0), dict(ignore_eos=True)])
def test_bad_caps_are_refused(config, fields):
    with pytest.raises(UsageError):
        resolve_request(config, SynthesisRequest(**fields), SamplingConfig())


def test_library_messages_name_parameters_and_the_cli_names_its_options():
    error = ContextExceeded(positions=20, frames=40000, context=32768)
    assert str(error).endswith("lower max_frames")
    assert error.render(option_name).endswith("lower --max-frames")
    assert "--" not in str(UnknownChoice("device", "tpu", ["cpu", "cuda"]))
    assert UsageError("use <device=cpu> or <graphs=False>").render(option_name) == "use --device cpu or --no-cuda-graphs"
