"""Is a port free to serve on? Asked before a long job starts, not after a minute of it."""

from __future__ import annotations

import errno
import socket

from kommo_analytics.errors import ConfigError


def check_port_free(host: str, port: int, *, serving: str, option: str = "--port") -> None:
    """Raise a ConfigError when ``serving`` (e.g. "the dashboard") cannot listen on host:port;
    ``option`` is the calling command's own name for this port (`demo` has two of them)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As the servers bind: a port whose old connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"cannot serve {serving} on {host}:{port}: the port is already in use",
                    hint=f"pass another {option}, or stop what is using that one",
                ) from None
            raise ConfigError(
                f"cannot serve {serving} on {host}:{port}: {exc.strerror or exc}",
                hint=f"pass another {option}, or check the address",
            ) from None
