"""Waiting for a server the tests started: on its own readiness, never on a fixed time.

A busy machine (CI, or several people sharing a few cores) can take many times longer than an
idle one to start a process; a fixed sleep is either too short there or wasted here. So every
wait polls the thing itself and gives up only after a generous ceiling, saying what it waited
for and what the process wrote.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable

import pytest

# Far beyond what a start takes on a loaded machine; only a hung process reaches it.
START_CEILING_SECONDS = 180.0


def free_port() -> int:
    """A port nothing listens on now (the OS picks it), for a child process to serve on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_for_http(
    url: str,
    process: subprocess.Popen[bytes] | subprocess.Popen[str] | None = None,
    output: Callable[[], str] = lambda: "",
    ceiling: float = START_CEILING_SECONDS,
) -> None:
    """Poll `url` (a health endpoint) until it answers 200. Fails at once if `process` exits,
    or after `ceiling` seconds, with `output()` (the process's log) in the message."""
    deadline = time.monotonic() + ceiling
    while not answers(url):
        if process is not None and process.poll() is not None:
            pytest.fail(f"the server exited (code {process.returncode}) before {url} answered:\n"
                        f"{output()}")  # fmt: skip
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer within {ceiling:.0f} s:\n{output()}")
        time.sleep(0.1)
