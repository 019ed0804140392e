"""`qwentts info` (a model's type, size, speakers and languages, from its configs and headers) and
`qwentts download`. Neither imports torch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from qwentts_cli.cli.options import MODEL_HELP


def info(
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show a model's type, size, speakers and languages (no weights are loaded).

    Example: qwentts info --model ./models/Qwen3-TTS-12Hz-0.6B-CustomVoice
    """
    from qwentts_cli.load.checkpoint import resolve_model_dir
    from qwentts_cli.load.files import count_parameters
    from qwentts_cli.config import TTSConfig

    model_dir = resolve_model_dir(model)
    cfg = TTSConfig.from_dir(model_dir)
    params = {"talker": count_parameters(model_dir),
              "codec": count_parameters(os.path.join(model_dir, "speech_tokenizer"))}
    data = {
        "model_dir": os.path.abspath(model_dir),
        "type": cfg.model_type,
        "size": cfg.model_size,
        "parameters": params,
        "talker": {
            "hidden_size": cfg.talker.stack.hidden_size,
            "layers": cfg.talker.stack.num_hidden_layers,
            "heads": cfg.talker.stack.num_attention_heads,
            "kv_heads": cfg.talker.stack.num_key_value_heads,
        },
        "code_predictor": {
            "hidden_size": cfg.talker.predictor.hidden_size,
            "layers": cfg.talker.predictor.num_hidden_layers,
        },
        "speakers": cfg.speakers,
        "languages": cfg.languages,
        # Which voice options this model takes (synth --speaker, --voice/--ref-audio, --instruct).
        "options": {
            "speaker": cfg.model_type == "custom_voice",
            "voice": cfg.model_type == "base",
            "instruct": cfg.model_type == "voice_design" or (cfg.model_type == "custom_voice" and cfg.model_size != "0b6"),
        },
    }
    if json_out:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(f"model:      {data['model_dir']}")
    typer.echo(f"type:       {cfg.model_type} ({cfg.display_size})")
    typer.echo(f"parameters: {params['talker'] / 1e6:.1f}M talker + predictor, {params['codec'] / 1e6:.1f}M codec")
    typer.echo(
        f"talker:     {cfg.talker.stack.num_hidden_layers} layers, hidden {cfg.talker.stack.hidden_size}; "
        f"code predictor: {cfg.talker.predictor.num_hidden_layers} layers, hidden {cfg.talker.predictor.hidden_size}"
    )
    typer.echo(f"speakers:   {', '.join(cfg.speakers) or '(none: voice cloning or voice design)'}")
    typer.echo(f"voice:      {_VOICE_USE[cfg.model_type]}"
               + ("; --instruct for the style" if data["options"]["instruct"] and cfg.model_type == "custom_voice" else ""))
    typer.echo(f"languages:  {', '.join(cfg.languages)}")


_VOICE_USE = {
    "custom_voice": "--speaker NAME (built-in voices)",
    "base": '--ref-audio CLIP --ref-text "what it says" (or --x-vector-only), or --voice NAME (qwentts voice create)',
    "voice_design": '--instruct "a description of the voice"',
}


def download(
    repo_id: str = typer.Argument("Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice", help="Hugging Face repo id."),
    local_dir: Optional[Path] = typer.Option(None, "--dir", help="Put the files here instead of the Hugging Face cache."),
) -> None:
    """Fetch a model from the Hugging Face Hub (needs network; progress on stderr).

    Example: qwentts download Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice
    """
    from qwentts_cli.load.checkpoint import download as fetch

    path = fetch(repo_id, str(local_dir) if local_dir else None)
    typer.echo(path)
