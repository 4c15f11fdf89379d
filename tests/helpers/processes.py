"""Long-running openssl processes (s_server, s_client) for end-to-end tests: started,
read without blocking, and always killed and reaped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

TIMEOUT = 10.0  # seconds; any single network step taking longer is a failure, not a hang


class Proc:
    """A running openssl command whose combined output a background thread collects."""

    def __init__(self, argv: list[str]) -> None:
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._data = b""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        while chunk := os.read(self.popen.stdout.fileno(), 65536):
            with self._lock:
                self._data += chunk

    @property
    def text(self) -> str:
        with self._lock:
            return self._data.decode(errors="replace")

    def wait_for(self, needle: str, timeout: float = TIMEOUT) -> bool:
        """Whether `needle` shows up in the output before the deadline or the process's end."""
        deadline = time.monotonic() + timeout
        while needle not in self.text and time.monotonic() < deadline:
            if self.popen.poll() is not None:
                self._reader.join(TIMEOUT)  # everything it wrote has been read
                break
            time.sleep(0.02)
        return needle in self.text

    def send(self, data: bytes) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(data)
        self.popen.stdin.flush()

    def close_input(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None and not stream.closed:
                stream.close()


Spawn = Callable[..., Proc]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """spawn(*openssl_args) -> Proc; every process is killed and reaped after the test."""
    exe = shutil.which("openssl")
    if exe is None:
        pytest.fail("openssl is required for the end-to-end tests")
    procs: list[Proc] = []

    def start(*args: str | Path) -> Proc:
        procs.append(Proc([exe, *map(str, args)]))
        return procs[-1]

    try:
        yield start
    finally:
        for proc in procs:
            proc.stop()


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
