"""qwentts: a command-line speech synthesizer for the Qwen3-TTS 12Hz models.

Importing this package must stay cheap: no torch, no transformers. Heavy modules are
imported by the commands that need them.
"""

__version__ = "0.1.0"
