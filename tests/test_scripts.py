"""README command 1 and 2 (`scripts/demo.sh`, `scripts/test.sh`) as a new user runs them.

The scripts are copied beside a stand-in `.venv` whose `python`, `kommo-analytics`, `ruff` and
`mypy` only record how they were called: what is tested is the shell around them (arguments,
extras, messages), without installing anything.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"

RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$(dirname "$0")/../calls"
case "$*" in
    *"pip install"*"-e ."*) echo "Collecting httpx"; echo "Collecting duckdb";
        echo "Installing collected packages: httpx, duckdb" ;;
esac
exit 0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    for name in ("_venv.sh", "demo.sh", "test.sh"):
        shutil.copy2(SCRIPTS / name, tmp_path / "scripts" / name)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "kommo-analytics", "ruff", "mypy"):
        (bin_dir / name).write_text(RECORDER)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "activate").write_text(f'PATH="{bin_dir}:$PATH"\n')
    return tmp_path


def run(project: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(project / "scripts" / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def calls(project: Path) -> list[str]:
    return (project / ".venv" / "calls").read_text().splitlines()


def test_demo_passes_its_arguments_to_the_demo_command_not_to_pip(project: Path) -> None:
    result = run(project, "demo.sh", "--help")
    assert result.returncode == 0, result.stderr
    made = calls(project)
    assert "kommo-analytics demo --help" in made
    installs = [c for c in made if "pip install" in c and "-e" in c]
    assert installs and all(c.endswith("-e .") for c in installs), installs

    result = run(project, "demo.sh", "--no-dashboard", "--dashboard-port", "8600")
    assert result.returncode == 0, result.stderr
    assert calls(project)[-1] == "kommo-analytics demo --no-dashboard --dashboard-port 8600"


def test_the_first_run_says_it_is_installing_how_long_and_shows_progress(project: Path) -> None:
    result = run(project, "demo.sh", "--no-dashboard")
    assert result.returncode == 0, result.stderr
    assert "installing kommo-analytics and its dependencies" in result.stdout
    assert "first run only" in result.stdout and "minutes" in result.stdout
    assert "MB" in result.stdout
    # pip's own steps show up as progress instead of silence.
    assert "2 packages" in result.stdout
    assert "installing" in result.stdout.split("2 packages", 1)[1]
    # The second run installs nothing and says nothing about it.
    again = run(project, "demo.sh", "--no-dashboard")
    assert "installing" not in again.stdout


def test_the_checks_install_the_dev_extras(project: Path) -> None:
    result = run(project, "test.sh", "-x")
    assert result.returncode == 0, result.stderr
    made = calls(project)
    assert any(c.endswith("-e .[dev]") for c in made if "pip install" in c), made
    # The arguments after the command reach pytest, after the suite's own (the slowest listed).
    assert (
        "python -m pytest -n auto --dist loadscope --no-loadscope-reorder --durations=15 -x" in made
    )
    assert (project / ".venv" / ".installed-dev").exists()
