"""A live `qwentts serve` on 127.0.0.1 and a free port, started per test module and always stopped."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from helpers import cli_env

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KEY = "test-key"


class Server:
    def __init__(self, model: Path, *args: str, env: dict | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qwentts_cli", "serve", "--model", str(model), "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(**(env or {})))
        self.lines: list[str] = []
        self.url = None
        found = threading.Event()

        def read_stderr():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                match = re.search(r"listening on (http://\S+)", line)
                if match:
                    self.url = match.group(1)
                    found.set()

        threading.Thread(target=read_stderr, daemon=True).start()
        if not found.wait(60):
            self.stop()
            raise RuntimeError("the server did not start:\n" + "\n".join(self.lines))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ready", headers=self.auth, timeout=5, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not get ready:\n" + "\n".join(self.lines))

    auth = {"Authorization": f"Bearer {KEY}"}

    def client(self) -> httpx.Client:
        """A client for this server only (no proxy from the environment: 127.0.0.1 is the only target)."""
        return httpx.Client(base_url=self.url, headers=self.auth, trust_env=False, timeout=120)

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def custom_server():
    server = Server(FIXTURES / "qwen3-tts-micro" / "model", "--api-key", KEY, "--slots", "4", "--max-queue", "16")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def base_server(tmp_path_factory):
    voices = tmp_path_factory.mktemp("voices")
    server = Server(FIXTURES / "qwen3-tts-micro-base" / "model", "--slots", "2", env={"QWENTTS_VOICES": str(voices)})
    server.voices = voices
    yield server
    server.stop()
