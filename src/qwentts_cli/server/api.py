"""The HTTP face of `qwentts serve`: OpenAI's speech API, voices, health, readiness and metrics.

Routes:
  POST   /v1/audio/speech         OpenAI's fields (model, input, voice, instructions, response_format,
                                  speed, stream_format) plus ours (language, seed, greedy, max_frames,
                                  sampling settings, normalize); audio streams as it is decoded
  GET    /v1/models               the one model served
  GET    /v1/audio/voices         built-in or saved voices
  POST   /v1/audio/voices         multipart: name, file (the clip), text (its transcript) or x_vector_only
  DELETE /v1/audio/voices/{name}
  GET    /health  /ready  /metrics

Errors have OpenAI's shape, {"error": {"message", "type", "param", "code"}}: 400 for a bad
field, 401 without the key, 404 for an unknown model or voice, 413 for a body too large, 429
when the queue is full (with Retry-After), 503 while loading, 500 without internals.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import sys
import time

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qwentts_cli.errors import QwenTTSError, UnknownChoice
from qwentts_cli.server.encode import FORMATS, MEDIA_TYPES, SUPPORTED, Encoder
from qwentts_cli.server.metrics import Metrics
from qwentts_cli.server.service import SpeechFields, SpeechService, VoiceNotFound

# OpenAI's model names, accepted for the one model served (clients written for OpenAI send them).
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_FIELDS = {"model": str, "input": str, "voice": str, "instructions": str, "response_format": str,
                 "speed": (int, float), "stream_format": str}
EXTENSION_FIELDS = {"language": str, "seed": int, "greedy": bool, "max_frames": int, "temperature": (int, float),
                    "top_k": int, "top_p": (int, float), "repetition_penalty": (int, float),
                    "subtalker_temperature": (int, float), "subtalker_top_k": int, "subtalker_top_p": (int, float),
                    "normalize": bool}
# Library messages name parameters as <name>; the API says which JSON field.
FIELD_NAMES = {"speaker": "voice", "instruct": "instructions", "voice": "voice", "ref_audio": "voice"}
RETRY_AFTER_S = 2


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind, self.headers = (
            status, message, param, code, kind, headers)

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _field_name(name: str) -> str:
    return FIELD_NAMES.get(name, name)


def _library_error(e: QwenTTSError) -> ApiError:
    message = e.render(_field_name)
    match = re.search(r"<(\w+)>", e.message)  # the first field the message names
    param = _field_name(e.param if isinstance(e, UnknownChoice) else match.group(1)) if (
        match or isinstance(e, UnknownChoice)) else None
    if isinstance(e, VoiceNotFound):
        return ApiError(404, message, "voice", "voice_not_found")
    return ApiError(400, message, param)


def create_app(service: SpeechService, *, api_key: str | None = None, max_body_bytes: int = 1 << 20,
               max_upload_bytes: int = 32 << 20, cors: str | None = None, log=None) -> FastAPI:
    """The ASGI app over `service` (already loading in a thread, or loaded)."""
    app = FastAPI(title="qwentts", docs_url=None, redoc_url=None, openapi_url=None)
    metrics = Metrics()
    log = log or (lambda entry: print(json.dumps(entry, ensure_ascii=False), file=sys.stderr, flush=True))
    app.state.metrics = metrics

    if cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=[cors], allow_methods=["*"], allow_headers=["*"])

    app.add_middleware(Gate, api_key=api_key, max_body_bytes=max_body_bytes, max_upload_bytes=max_upload_bytes,
                       metrics=metrics, log=log)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return e.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        # Starlette's own (a malformed multipart body, an unknown route, a wrong method), in OpenAI's shape.
        return ApiError(e.status_code, str(e.detail), code="not_found" if e.status_code == 404 else None,
                        headers=getattr(e, "headers", None)).response()

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception):
        print(f"qwentts serve: internal error on {request.url.path}: {type(e).__name__}: {e}", file=sys.stderr)
        return ApiError(500, "internal error; see the server's log", kind="server_error").response()

    def require_ready() -> None:
        if service.error:
            raise ApiError(503, f"the model failed to load: {service.error}", kind="server_error")
        if not service.ready.is_set():
            raise ApiError(503, "the model is still loading; retry shortly", kind="server_error",
                           headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        require_ready()
        return {"status": "ready", "model": service.model_id, "slots": service.settings.slots,
                "load_s": round(service.load_s, 3)}

    @app.get("/metrics")
    async def prometheus():
        if service.scheduler is not None:
            metrics.queue.set(service.scheduler.waiting)
            metrics.active.set(service.scheduler.active)
        body, media = metrics.render()
        return Response(body, media_type=media)

    @app.get("/v1/models")
    async def models():
        require_ready()
        return {"object": "list", "data": [{"id": service.model_id, "object": "model", "created": 0,
                                            "owned_by": "qwentts"}]}

    @app.get("/v1/audio/voices")
    async def voices():
        require_ready()
        return {"object": "list", "voices": service.voices()}

    @app.post("/v1/audio/voices")
    async def create_voice(request: Request):
        require_ready()
        from qwentts_cli.server.voices import create_voice as create

        form = await request.form(max_files=1, max_fields=8, max_part_size=max_upload_bytes)
        try:
            entry = await anyio.to_thread.run_sync(create, service, form)
        except QwenTTSError as e:
            raise _voice_error(e) from None
        return JSONResponse(entry, status_code=201)

    @app.delete("/v1/audio/voices/{name}")
    async def delete_voice(name: str):
        require_ready()
        from qwentts_cli.server.voices import delete_voice as delete

        try:
            delete(service, name)
        except QwenTTSError as e:
            raise _voice_error(e) from None
        return {"name": name, "deleted": True}

    @app.post("/v1/audio/speech")
    async def speech(request: Request):
        require_ready()
        body = await request.body()
        if len(body) > max_body_bytes:
            raise ApiError(413, f"the request body is {len(body)} bytes; at most {max_body_bytes} are taken",
                           code="body_too_large")
        fields, fmt, sse = _speech_fields(body, service)
        from qwentts_cli.server.scheduler import QueueFull

        try:
            resolved, stream = await anyio.to_thread.run_sync(service.speech, fields)
        except QueueFull:
            raise ApiError(429, f"the server is busy ({service.settings.max_waiting} requests wait already); "
                           f"retry in {RETRY_AFTER_S} s", code="queue_full", kind="rate_limit_error",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from None
        except QwenTTSError as e:
            raise _library_error(e) from None
        started = time.perf_counter()
        chunks = service.audio(resolved, stream)
        encoder = Encoder(fmt, streamed=True)
        # The first chunk before any byte leaves: a piece's error becomes a status, not a cut stream.
        try:
            first = await anyio.to_thread.run_sync(_next_chunk, chunks)
        except QwenTTSError as e:
            stream.cancel()
            raise _library_error(e) from None
        except BaseException:  # the client went away before its first audio: free the slot
            stream.cancel()
            raise
        metrics.ttfa.observe(time.perf_counter() - started)
        return StreamingResponse(_body(chunks, first, encoder, sse, metrics, started, stream),
                                 media_type="text/event-stream" if sse else MEDIA_TYPES[fmt])

    return app


class Gate:
    """Plain ASGI middleware (it passes a client's disconnect straight through to the streaming
    body): the API key, the body-size limit on Content-Length, and one access-log line and one
    request count per request."""

    def __init__(self, app, *, api_key, max_body_bytes, max_upload_bytes, metrics, log):
        self.app, self.api_key, self.metrics, self.log = app, api_key, metrics, log
        self.max_body_bytes, self.max_upload_bytes = max_body_bytes, max_upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal = None
            if self.api_key and path != "/health" and not _authorized(headers, self.api_key):
                refusal = ApiError(401, "a valid API key is required: send `Authorization: Bearer KEY`",
                                   code="invalid_api_key", kind="authentication_error")
            else:
                length = headers.get("content-length", "")
                limit = self.max_upload_bytes if path == "/v1/audio/voices" else self.max_body_bytes
                if length.isdigit() and int(length) > limit:
                    refusal = ApiError(413, f"the request body is {length} bytes; at most {limit} are taken",
                                       code="body_too_large")
            if refusal is not None:
                await refusal.response()(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            self.metrics.requests.labels(path=_route(path), status=str(status[0])).inc()
            client = scope.get("client")
            self.log({"time": round(time.time(), 3), "method": scope["method"], "path": path, "status": status[0],
                      "ms": round(1000 * (time.perf_counter() - start), 1), "client": client[0] if client else None})


def _authorized(headers: dict, key: str) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


def _route(path: str) -> str:
    """A bounded label for metrics: a voice name in the path is not a label value."""
    return "/v1/audio/voices/{name}" if path.startswith("/v1/audio/voices/") else path


def _voice_error(e: QwenTTSError) -> ApiError:
    if isinstance(e, VoiceNotFound):
        return ApiError(404, e.render(_field_name), "name", "voice_not_found")
    return _library_error(e)


def _speech_fields(body: bytes, service: SpeechService) -> tuple[SpeechFields, str, bool]:
    """The request's JSON, checked field by field (names, types, ranges) -> (fields, format, sse)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"the body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    known = {**OPENAI_FIELDS, **EXTENSION_FIELDS}
    for name, value in data.items():
        if name not in known:
            raise ApiError(400, f"unknown field '{name}'; the fields are: {', '.join(known)}", name)
        kind = known[name]
        if value is None and name not in ("model", "input", "voice"):
            continue
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            expected = {str: "a string", int: "an integer", bool: "true or false"}.get(kind, "a number")
            raise ApiError(400, f"'{name}' must be {expected}, not {json.dumps(value)[:40]}", name)
    for name in ("model", "input", "voice"):
        if not data.get(name):
            raise ApiError(400, f"'{name}' is required", name)
    if data["model"] not in (service.model_id, *OPENAI_MODELS):
        raise ApiError(404, f"no model '{data['model']}'; this server serves '{service.model_id}' "
                       f"(OpenAI's {', '.join(OPENAI_MODELS)} name it too)", "model", "model_not_found")
    fmt = data.get("response_format") or "mp3"
    if fmt not in FORMATS:
        raise ApiError(400, f"unknown response_format '{fmt}'; use one of: {', '.join(SUPPORTED)}", "response_format")
    if fmt not in SUPPORTED:
        raise ApiError(400, f"response_format '{fmt}' has no encoder in this server; use one of: "
                       f"{', '.join(SUPPORTED)}", "response_format", "unsupported_format")
    speed = data.get("speed")
    if speed is not None and speed != 1.0:
        raise ApiError(400, f"speed {speed} is not supported: the model speaks at its own pace, and a time-stretch "
                       "would change the voice; send speed 1.0 (or leave it out)", "speed", "unsupported_speed")
    stream_format = data.get("stream_format") or "audio"
    if stream_format not in ("audio", "sse"):
        raise ApiError(400, f"unknown stream_format '{stream_format}'; use audio or sse", "stream_format")
    if not data["input"].strip():
        raise ApiError(400, "'input' is empty; give the text to speak", "input")
    for name, low, high in (("max_frames", 1, 1 << 16), ("seed", 0, 2**63 - 1), ("top_k", 0, 1 << 20)):
        value = data.get(name)
        if value is not None and not low <= value <= high:
            raise ApiError(400, f"'{name}' must be between {low} and {high}", name)
    values = {k: data[k] for k in EXTENSION_FIELDS if data.get(k) is not None}
    fields = SpeechFields(input=data["input"], voice=data["voice"], instructions=data.get("instructions") or None,
                          **values)
    return fields, fmt, stream_format == "sse"


def _next_chunk(chunks):
    return next(chunks, None)


async def _body(chunks, first, encoder: Encoder, sse: bool, metrics: Metrics, started: float, stream):
    """The response body: encoded chunks as they are decoded (SSE events with sse)."""
    frames = 0
    try:
        chunk = first
        while chunk is not None:
            frames += len(chunk.frames)
            data = encoder.push(chunk.samples)
            if data:
                yield _sse_delta(data) if sse else data
            chunk = await anyio.to_thread.run_sync(_next_chunk, chunks)
        data = encoder.close()
        if data:
            yield _sse_delta(data) if sse else data
        if sse:
            done = {"type": "speech.audio.done", "usage": {"input_tokens": 0, "output_tokens": frames,
                                                           "total_tokens": frames}}
            yield f"data: {json.dumps(done)}\n\n".encode()
        metrics.audio_seconds.inc(frames / 12.5)
        metrics.duration.observe(time.perf_counter() - started)
    finally:
        stream.cancel()  # a client that went away frees its slot at the next step
        await anyio.to_thread.run_sync(chunks.close)


def _sse_delta(data: bytes) -> bytes:
    event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
    return f"data: {json.dumps(event)}\n\n".encode()
