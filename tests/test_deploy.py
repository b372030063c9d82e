"""The server deployment files (Dockerfile, compose.yaml, the systemd unit): docker has no
daemon here, so they are checked as text for what matters — nothing downloaded at run time, a
non-root user, the data volume, a clean stop."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_dockerfile_installs_everything_at_build_time() -> None:
    steps = instructions((ROOT / "Dockerfile").read_text())
    values = dict(steps)
    assert values["FROM"].startswith("python:3.11-slim")
    run = " ".join(rest for word, rest in steps if word == "RUN")
    assert "pip install" in run
    for library in ("libpango", "libharfbuzz", "fonts-"):
        assert library in run, f"WeasyPrint needs {library} installed at build time"
    # Nothing downloads when the container starts.
    start = json.loads(values["ENTRYPOINT"]) + json.loads(values["CMD"])
    assert start == ["kommo-analytics", "serve", "--host", "0.0.0.0", "--port", "8501"]
    assert not any(w in " ".join(start) for w in ("pip", "apt", "curl", "wget"))
    # A non-root user, the data folder a volume, the dashboard's port, a stop by SIGTERM.
    assert values["USER"] not in ("root", "0")
    assert json.loads(values["VOLUME"]) == ["/data"] and "DATA_DIR=/data" in values["ENV"]
    assert values["EXPOSE"] == "8501"
    assert values["STOPSIGNAL"] == "SIGTERM"
    # The health check asks the dashboard, not `health` (whose exit 1 is only a warning).
    assert (
        "_stcore/health" in values["HEALTHCHECK"]
        and "kommo-analytics health" not in values["HEALTHCHECK"]
    )


def test_the_image_does_not_take_the_local_env_or_data() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "data", ".venv"} <= set(ignored)


def test_compose_keeps_the_data_in_a_volume_and_reads_env() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["kommo-analytics"]
    assert service["env_file"] == ".env"
    assert "kommo-data:/data" in service["volumes"] and "kommo-data" in compose["volumes"]
    assert service["restart"] in ("unless-stopped", "always", "on-failure")
    assert service["ports"] == ["8501:8501"]
    assert "command" not in service and "entrypoint" not in service  # the image's own start


def test_the_systemd_unit_runs_serve_and_stops_it_cleanly() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((ROOT / "deploy" / "kommo-analytics.service").read_text())
    service = unit["Service"]
    assert service["ExecStart"].endswith("kommo-analytics serve --host 0.0.0.0 --port 8501")
    assert service["ExecStart"].startswith("/")  # systemd wants an absolute path
    for key in ("User", "WorkingDirectory", "EnvironmentFile", "TimeoutStopSec"):
        assert service[key]
    assert service["Restart"] == "on-failure" and service["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
