"""qwentts serve: an OpenAI-compatible speech server over the batched engine (api.py, service.py, scheduler.py)."""
