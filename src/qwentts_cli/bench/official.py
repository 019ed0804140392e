"""The official `qwen-tts` package timed on the same checkpoint, texts and frame count (`bench --compare-official`).

Optional: qwentts does not depend on qwen-tts. Install it beside qwentts to compare, e.g.
`pip install --no-deps qwen-tts "transformers==4.57.3" accelerate einops librosa` (see
../shared/reference/setup.sh). Only the official calls live here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types

import torch

from qwentts_cli.bench.runner import clock, summarize
from qwentts_cli.errors import UsageError
from qwentts_cli.runtime import FRAME_RATE

# The official package imports its 25Hz tokenizer's dependencies eagerly; the 12Hz path never
# runs them, so empty stand-ins let it import where they are not installed.
_STAND_INS = ("sox", "onnxruntime", "torchaudio", "torchaudio.compliance", "torchaudio.compliance.kaldi")


INSTALL_HINT = 'pip install --no-deps qwen-tts "transformers==4.57.3" accelerate einops librosa'


def check_official_available() -> None:
    """Raise a UsageError saying how to install the official package when it is not importable."""
    if importlib.util.find_spec("qwen_tts") is None:
        raise UsageError(f"<compare_official> needs the official qwen-tts package: {INSTALL_HINT}")


def _import_official():
    check_official_available()
    missing = [name for name in _STAND_INS if importlib.util.find_spec(name.split(".")[0]) is None]
    for name in missing:
        module = types.ModuleType(name)
        module.__spec__ = None
        sys.modules.setdefault(name, module)
    real_find_spec = importlib.util.find_spec
    stubbed = {name.split(".")[0] for name in missing}
    importlib.util.find_spec = lambda n, *a, **k: None if n.split(".")[0] in stubbed else real_find_spec(n, *a, **k)
    try:
        from qwen_tts import Qwen3TTSModel
    finally:
        importlib.util.find_spec = real_find_spec
    return Qwen3TTSModel


def bench_official(model_dir: str, texts: dict[str, str], runs: int, warmup: int, frames: int | None, dtype: str,
                   device: str, language: str, speaker: str | None, ref_audio: str | None = None,
                   ref_text: str | None = None, x_vector_only: bool = False) -> dict:
    """Greedy official generate + decode per text; with `frames`, EOS is made unreachable as in our bench.
    With `ref_audio`, the official voice clone: its prompt made once (timed), then streaming text
    (generate_voice_clone's default), the reference codes decoded in front as it does."""
    # The official package prints banners (flash-attn, pad_token_id) on stdout, which must
    # carry only the report: send them to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        return _bench_official(model_dir, texts, runs, warmup, frames, dtype, device, language, speaker,
                               ref_audio, ref_text, x_vector_only)


def _bench_official(model_dir: str, texts: dict[str, str], runs: int, warmup: int, frames: int | None, dtype: str,
                    device: str, language: str, speaker: str | None, ref_audio: str | None, ref_text: str | None,
                    x_vector_only: bool) -> dict:
    Qwen3TTSModel = _import_official()
    dev = torch.device(device)
    t = clock(dev)
    tts = Qwen3TTSModel.from_pretrained(model_dir, dtype=getattr(torch, dtype), attn_implementation="sdpa",
                                        device_map=str(dev))
    load_s = clock(dev) - t
    talker_cfg = tts.model.config.talker_config
    clone, voice = {}, None
    if ref_audio is not None:
        tts.create_voice_clone_prompt(ref_audio=ref_audio, ref_text=ref_text, x_vector_only_mode=x_vector_only)
        t = clock(dev)
        items = tts.create_voice_clone_prompt(ref_audio=ref_audio, ref_text=ref_text, x_vector_only_mode=x_vector_only)
        voice = {"total_s": round(clock(dev) - t, 4)}
        prompt = tts._prompt_items_to_voice_clone_prompt(items)
        ref_ids = [None if x_vector_only else tts._tokenize_texts([tts._build_ref_text(ref_text)])[0]]
        clone = dict(ref_ids=ref_ids, voice_clone_prompt=prompt, non_streaming_mode=False)
        ref_code = None if x_vector_only else prompt["ref_code"][0]

    def run(text: str) -> dict[str, float]:
        input_ids = tts._tokenize_texts([tts._build_assistant_text(text)])
        kwargs = tts._merge_generate_kwargs(do_sample=False, subtalker_dosample=False,
                                            max_new_tokens=(frames + 1) if frames else 2048)
        if frames:
            # A suppressed id as EOS: generation runs to max_new_tokens, keeping `frames` frames.
            kwargs["eos_token_id"] = talker_cfg.vocab_size - 1
        t0 = clock(dev)
        if clone:
            codes, _ = tts.model.generate(input_ids=input_ids, languages=[language], **clone, **kwargs)
        else:
            codes, _ = tts.model.generate(input_ids=input_ids, instruct_ids=[None], languages=[language],
                                          speakers=[speaker], non_streaming_mode=True, **kwargs)
        t1 = clock(dev)
        decoded = codes if not clone or ref_code is None else [torch.cat([ref_code.to(codes[0].device), codes[0]])]
        tts.model.speech_tokenizer.decode([{"audio_codes": c} for c in decoded])
        t2 = clock(dev)
        n = len(codes[0])
        return {"frames": n, "audio_s": n / FRAME_RATE, "total_s": t2 - t0, "rtf": (t2 - t0) / (n / FRAME_RATE),
                "generate_ms_per_frame": 1000 * (t1 - t0) / n, "codec_ms_per_frame": 1000 * (t2 - t1) / n}

    results = []
    for name, text in texts.items():
        for _ in range(warmup):
            run(text)
        figures = [run(text) for _ in range(runs)]
        entry = {"text": name, "chars": len(text), "frames": figures[-1]["frames"],
                 "audio_s": round(figures[-1]["audio_s"], 3)}
        for field in ("total_s", "rtf", "generate_ms_per_frame", "codec_ms_per_frame"):
            entry[field] = {k: round(v, 4) for k, v in summarize([f[field] for f in figures]).items()}
        results.append(entry)  # no peak RSS: this process also holds our model
    from importlib.metadata import version

    return {"implementation": f"qwen-tts {version('qwen-tts')}", "load_s": round(load_s, 3), "voice": voice,
            "dtype": dtype, "device": str(dev), "results": results}
