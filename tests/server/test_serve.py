"""`qwentts serve` with real clients over real sockets (127.0.0.1, a free port): the official
`openai` SDK and httpx; every format, SSE, concurrency, faults, bad requests, voices, SIGTERM."""

from __future__ import annotations

import base64
import io
import json
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf

from conftest import golden_wav, load_case
from live_server import FIXTURES, KEY, Server, base_server, custom_server  # noqa: F401 (fixtures)

pytest.importorskip("openai")


def speech_body(name: str = "en_medium", **extra) -> dict:
    """The request that reproduces a golden case (greedy, its frame cap, no normalization)."""
    case = load_case(name)
    body = {"model": "tts-1", "input": case["text"], "voice": case["speaker"], "response_format": "pcm",
            "greedy": True, "max_frames": case["max_new_tokens"] - 1, "language": case["language"],
            "repetition_penalty": case.get("repetition_penalty", 1.05), "normalize": False}
    body.update(extra)
    return body


def pcm_samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768


S16_STEP = 1 / 32768


def lowpass(samples: np.ndarray, hz: int = 2000) -> np.ndarray:
    spectrum = np.fft.rfft(samples)
    spectrum[int(hz * len(samples) / 24000):] = 0
    return np.fft.irfft(spectrum, len(samples))


def metric(text: str, name: str, **labels) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name) and (not want or "{" + want + "}" in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_openai_sdk_gets_the_golden_audio(custom_server, tmp_path):
    from openai import OpenAI

    client = OpenAI(base_url=custom_server.url + "/v1", api_key=KEY,
                    http_client=httpx.Client(trust_env=False, timeout=120))
    extra = {k: v for k, v in speech_body().items() if k not in ("model", "input", "voice", "response_format")}
    case = load_case("en_medium")
    response = client.audio.speech.create(model="tts-1", voice=case["speaker"], input=case["text"],
                                          response_format="wav", extra_body=extra)
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    expected = golden_wav("en_medium")
    assert rate == 24000 and audio.shape == expected.shape
    assert np.abs(audio - expected).max() < 1e-4 + S16_STEP
    path = tmp_path / "streamed.wav"
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice=case["speaker"], input=case["text"],
                                                            response_format="wav", extra_body=extra) as streamed:
        streamed.stream_to_file(path)
    assert path.read_bytes() == response.content


def test_every_response_format_decodes_to_the_audio(custom_server):
    expected = golden_wav("ru_short")
    with custom_server.client() as http:
        bodies = {}
        for fmt in ("pcm", "wav", "flac", "mp3", "opus"):
            r = http.post("/v1/audio/speech", json=speech_body("ru_short", response_format=fmt))
            assert r.status_code == 200, r.text
            bodies[fmt] = r.content
    assert np.abs(pcm_samples(bodies["pcm"]) - expected).max() < 1e-4 + S16_STEP
    for fmt in ("wav", "flac"):  # lossless: the pcm samples exactly
        audio, rate = sf.read(io.BytesIO(bodies[fmt]), dtype="int16")
        assert rate == 24000 and audio.tobytes() == bodies["pcm"], fmt
    for fmt in ("mp3", "opus"):  # lossy: the same length (give or take the codec's padding), the same sound
        audio, rate = sf.read(io.BytesIO(bodies[fmt]), dtype="float32")
        assert rate == 24000 and abs(len(audio) - len(expected)) < 4000, fmt
        # Aligned by the codec's delay (at most 0.1 s), the band both keep (below 2 kHz: random-weight
        # audio is noise-like, and MP3 at 24 kHz drops much of the top) follows the original.
        n = len(expected) - 2400
        best = max(np.corrcoef(lowpass(audio[d : d + n]), lowpass(expected[:n]))[0, 1] for d in range(0, 2400, 8))
        assert best > 0.8, (fmt, best)


def test_sse_events_carry_the_same_audio(custom_server):
    with custom_server.client() as http:
        plain = http.post("/v1/audio/speech", json=speech_body("ru_short")).content
        with http.stream("POST", "/v1/audio/speech", json=speech_body("ru_short", stream_format="sse")) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            events = [json.loads(line[len("data: "):]) for line in r.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["output_tokens"] > 0
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == plain


def test_chunked_bytes_arrive_before_the_end(custom_server):
    with custom_server.client() as http:
        with http.stream("POST", "/v1/audio/speech", json=speech_body("en_medium")) as r:
            assert r.headers.get("transfer-encoding") == "chunked"
            chunks = [c for c in r.iter_raw() if c]
    assert len(chunks) > 1  # streamed as decoded, not one body at the end


def test_sixteen_clients_at_once_each_get_what_they_get_alone(custom_server):
    cases = ["ru_short", "en_medium", "auto_dialect", "ru_streaming_text"]
    requests = []
    for i in range(16):  # short (4-7 frames): what counts is that they overlap
        name = cases[i % 4]
        if i % 3 == 0:  # sampled, seeded rows among the greedy ones
            requests.append(speech_body(name, greedy=False, seed=100 + i, max_frames=4 + i // 4))
        else:
            requests.append(speech_body(name, max_frames=4 + i // 4, voice=("ryan", "vivian")[i % 2]))
    with custom_server.client() as http:
        before = metric(http.get("/metrics").text, "qwentts_requests_total", path="/v1/audio/speech", status="200")
        alone = [http.post("/v1/audio/speech", json=body).content for body in requests]

        def post(body):
            with custom_server.client() as own:
                return own.post("/v1/audio/speech", json=body)

        with ThreadPoolExecutor(16) as pool:
            together = list(pool.map(post, requests))
        text = http.get("/metrics").text
    assert [r.status_code for r in together] == [200] * 16
    for i, (r, body) in enumerate(zip(together, alone)):
        assert r.content == body, f"request {i}"
    assert metric(text, "qwentts_requests_total", path="/v1/audio/speech", status="200") == before + 32
    assert metric(text, "qwentts_audio_seconds_total") > 0
    assert metric(text, "qwentts_time_to_first_audio_seconds_count") >= 32


def test_a_client_that_goes_away_frees_its_slot(custom_server):
    long_text = " ".join([load_case("en_medium")["text"]] * 3)
    with custom_server.client() as http:
        with http.stream("POST", "/v1/audio/speech",
                         json={"model": "tts-1", "input": long_text, "voice": "ryan", "response_format": "pcm"}) as r:
            next(r.iter_raw())  # the first audio, then hang up
        deadline = time.monotonic() + 20
        while metric(http.get("/metrics").text, "qwentts_active_slots") > 0:
            assert time.monotonic() < deadline, "the slot was never freed"
            time.sleep(0.05)
        assert http.post("/v1/audio/speech", json=speech_body("ru_short")).status_code == 200


def wait_for(check, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_flood_past_the_queue_gets_429s_and_the_server_stays_up():
    # One slot and one place in the queue. A long streamed request holds the slot and a second
    # waits in the queue, both seen on /metrics before the flood, so each of six more is turned
    # away whatever this machine's speed (a flood of short requests alone races them: a fast
    # request can end before the next connection arrives, and then nothing is ever full).
    server = Server(FIXTURES / "qwen3-tts-micro" / "model", "--slots", "1", "--max-queue", "1")
    short = {"model": "tts-1", "input": "Hello there, this is a sentence.", "voice": "ryan",
             "response_format": "pcm", "max_frames": 30, "greedy": True}
    hold = {"model": "tts-1", "input": " ".join([load_case("en_medium")["text"]] * 40), "voice": "ryan",
            "response_format": "pcm"}  # about a minute of audio: it runs until it is hung up on

    def post(_=None):
        with httpx.Client(base_url=server.url, trust_env=False, timeout=120) as own:
            return own.post("/v1/audio/speech", json=short)

    pool = ThreadPoolExecutor(7)
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=120) as http:
            def gauge(name):
                return metric(http.get("/metrics").text, name)

            with http.stream("POST", "/v1/audio/speech", json=hold) as held:
                audio = held.iter_raw()  # kept: a dropped iterator closes the connection
                next(audio)  # it is generating in the only slot
                queued = pool.submit(post)
                wait_for(lambda: gauge("qwentts_queue_depth") == 1, "the second request never queued")
                flood = list(pool.map(post, range(6)))
                assert gauge("qwentts_active_slots") == 1 and gauge("qwentts_queue_depth") == 1
            # Hung up on: the slot frees and the queued request runs.
            assert [r.status_code for r in flood] == [429] * 6
            busy = flood[0]
            assert busy.headers["retry-after"] == "2" and busy.json()["error"]["code"] == "queue_full"
            first = queued.result(timeout=120)
            assert first.status_code == 200 and len(first.content) > 0
            assert http.get("/health").json() == {"status": "ok"}
            again = post()
            assert again.status_code == 200 and again.content == first.content  # greedy: the same audio
    finally:
        pool.shutdown(wait=True)
        assert server.stop() == 0


@pytest.mark.parametrize("body, status, param, needle", [
    (b"{not json", 400, None, "not JSON"),
    (b"[1, 2]", 400, None, "JSON object"),
    ({"model": "tts-1", "input": "Hi", "voice": "ryan", "seed": "seven"}, 400, "seed", "integer"),
    ({"model": "tts-1", "input": "Hi", "voice": "ryan", "greedy": 1}, 400, "greedy", "true or false"),
    ({"model": "tts-1", "input": "Hi", "voice": "alloy"}, 404, "voice", "no voice 'alloy'"),
    ({"model": "whisper-1", "input": "Hi", "voice": "ryan"}, 404, "model", "no model 'whisper-1'"),
    ({"model": "tts-1", "input": "   ", "voice": "ryan"}, 400, "input", "empty"),
    ({"model": "tts-1", "input": "...", "voice": "ryan"}, 400, "input", "nothing to speak"),
    ({"model": "tts-1", "input": "x" * 5000, "voice": "ryan"}, 400, "input", "at most 4096"),
    ({"model": "tts-1", "voice": "ryan"}, 400, "input", "required"),
    ({"model": "tts-1", "input": "Hi", "voice": "ryan", "speed": 1.5}, 400, "speed", "not supported"),
    ({"model": "tts-1", "input": "Hi", "voice": "ryan", "response_format": "aac"}, 400, "response_format", "mp3"),
    ({"model": "tts-1", "input": "Hi", "voice": "ryan", "response_format": "ogg"}, 400, "response_format", "unknown"),
    ({"model": "tts-1", "input": "Hi", "voice": "ryan", "language": "klingon"}, 400, "language", "klingon"),
    ({"model": "tts-1", "input": "Hi", "voice": "ryan", "colour": "red"}, 400, "colour", "unknown field"),
    ({"model": "tts-1", "input": "Hi", "voice": "ryan", "max_frames": 0}, 400, "max_frames", "between"),
])
def test_bad_requests_get_openai_shaped_errors(custom_server, body, status, param, needle):
    with custom_server.client() as http:
        if isinstance(body, bytes):
            r = http.post("/v1/audio/speech", content=body, headers={"Content-Type": "application/json"})
        else:
            r = http.post("/v1/audio/speech", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert needle in error["message"] and error["param"] == param
    assert "Traceback" not in r.text


def test_keys_and_body_limits(custom_server):
    body = speech_body("ru_short")
    with httpx.Client(base_url=custom_server.url, trust_env=False, timeout=60) as http:
        assert http.post("/v1/audio/speech", json=body).status_code == 401
        wrong = http.post("/v1/audio/speech", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        assert http.get("/v1/models").status_code == 401 and http.get("/metrics").status_code == 401
        assert http.get("/health").status_code == 200  # the one open endpoint
        big = http.post("/v1/audio/speech", content=b"x" * (2 << 20), headers=custom_server.auth)
        assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
        missing = http.get("/v1/nothing", headers=custom_server.auth)
        assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}
        models = http.get("/v1/models", headers=custom_server.auth).json()
        assert models["data"][0]["id"] == "model" and models["object"] == "list"
        voices = http.get("/v1/audio/voices", headers=custom_server.auth).json()["voices"]
        assert {"name": "ryan", "type": "builtin"} in voices


def test_voices_are_made_used_and_removed_over_http(base_server):
    ref = FIXTURES / "qwen3-tts-micro-base" / "refs" / "en_ref.wav"
    with httpx.Client(base_url=base_server.url, trust_env=False, timeout=120) as http:
        assert http.get("/v1/audio/voices").json()["voices"] == []
        made = http.post("/v1/audio/voices", data={"name": "anna", "text": "Hello there, this is my voice."},
                         files={"file": ("ref.wav", ref.read_bytes(), "audio/wav")})
        assert made.status_code == 201, made.text
        assert made.json()["mode"] == "icl" and (base_server.voices / "anna.voice").is_file()
        again = http.post("/v1/audio/voices", data={"name": "anna", "x_vector_only": "true"},
                          files={"file": ("ref.wav", ref.read_bytes(), "audio/wav")})
        assert again.status_code == 400 and "replace=true" in again.json()["error"]["message"]
        evil = http.post("/v1/audio/voices", data={"name": "../evil", "x_vector_only": "true"},
                         files={"file": ("ref.wav", ref.read_bytes(), "audio/wav")})
        assert evil.status_code == 400 and "not a voice name" in evil.json()["error"]["message"]
        junk = http.post("/v1/audio/voices", data={"name": "junk", "x_vector_only": "true"},
                         files={"file": ("ref.wav", b"not audio", "audio/wav")})
        assert junk.status_code == 400 and "cannot read" in junk.json()["error"]["message"]
        garbled = http.post("/v1/audio/voices", content=b"--x\r\nnot a part",
                            headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert garbled.status_code == 400 and "error" in garbled.json()
        assert http.get("/v1/audio/voices").json()["voices"] == [{"name": "anna", "type": "saved"}]
        said = http.post("/v1/audio/speech", json={"model": "model", "input": "Hello.", "voice": "anna",
                                                   "response_format": "pcm", "max_frames": 5, "greedy": True})
        assert said.status_code == 200 and len(said.content) == 5 * 1920 * 2
        assert http.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hi", "voice": "bob"}).status_code == 404
        assert http.delete("/v1/audio/voices/anna").status_code == 200
        assert not (base_server.voices / "anna.voice").exists()
        gone = http.delete("/v1/audio/voices/anna")
        assert gone.status_code == 404 and gone.json()["error"]["param"] == "name"


def test_sigterm_finishes_the_request_in_flight_and_exits_0():
    server = Server(FIXTURES / "qwen3-tts-micro" / "model", "--drain-seconds", "30")
    try:
        body = {"model": "tts-1", "input": "Hello there, this sentence is still being spoken.", "voice": "ryan",
                "response_format": "pcm", "max_frames": 50, "greedy": True, "repetition_penalty": 1.0}
        result = {}
        with httpx.Client(base_url=server.url, trust_env=False, timeout=120) as http:
            expected = http.post("/v1/audio/speech", json=body).content  # greedy: what the drained one must be

        def post():
            with httpx.Client(base_url=server.url, trust_env=False, timeout=120) as http:
                with http.stream("POST", "/v1/audio/speech", json=body) as r:
                    result["status"] = r.status_code
                    result["body"] = b"".join(r.iter_raw())

        worker = threading.Thread(target=post)
        worker.start()
        time.sleep(0.3)  # the request is in flight (it takes about a second here)
        code = server.stop(signal.SIGTERM)
        worker.join(60)
        assert code == 0, "\n".join(server.lines)
        assert result["status"] == 200 and result["body"] == expected and len(expected) > 0
        assert any(re.search(r'"path": "/v1/audio/speech", "status": 200', line) for line in server.lines)
    finally:
        server.stop(signal.SIGKILL)
