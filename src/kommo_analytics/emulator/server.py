"""Serving the emulator on a real socket from a background thread (demo, tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp

from kommo_analytics.errors import EmulatorError

START_CEILING_SECONDS = 120.0


@contextmanager
def serve_in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``port=0`` picks a free port)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EmulatorError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="stop the other process using that port (maybe an emulator) or pick another port",
        ) from None
    bound = sock.getsockname()[1]
    # The emulator writes its own Date header from its (possibly simulated) clock.
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, date_header=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    # Waits on uvicorn's own "started" flag; the ceiling only catches a server that hangs, so it
    # is far beyond a start on a loaded machine (a few cores shared by many processes).
    deadline = time.monotonic() + START_CEILING_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise EmulatorError(
                f"the emulator did not start on {host}:{bound}"
                + ("" if thread.is_alive() else " (its server thread ended)"),
                hint="look for uvicorn's error above; if the machine is overloaded, try again",
            )
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
