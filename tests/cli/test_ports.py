"""A taken port is named with the option of the command that failed, not another command's."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app

runner = CliRunner()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else is listening on, for as long as the test runs."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def test_dashboard_on_a_taken_port_says_pass_another_port(clean_env: Path, taken_port: int) -> None:
    result = runner.invoke(app, ["dashboard", "--port", str(taken_port)])
    assert result.exit_code == 2
    assert f"127.0.0.1:{taken_port}" in result.stderr
    assert "--port" in result.stderr and "--dashboard-port" not in result.stderr


def test_demo_with_the_dashboards_port_taken_says_pass_another_dashboard_port(
    clean_env: Path, taken_port: int
) -> None:
    result = runner.invoke(app, ["demo", "--dashboard-port", str(taken_port)])
    assert result.exit_code == 2
    assert f"127.0.0.1:{taken_port}" in result.stderr
    assert "--dashboard-port" in result.stderr
    assert "--port" not in result.stderr.replace("--dashboard-port", "")
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_with_the_emulators_port_taken_says_pass_another_port(
    clean_env: Path, taken_port: int
) -> None:
    result = runner.invoke(app, ["demo", "--port", str(taken_port), "--no-dashboard"])
    assert result.exit_code != 0
    assert str(taken_port) in result.stderr
    assert "--port" in result.stderr and "--dashboard-port" not in result.stderr
