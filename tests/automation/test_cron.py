"""`kommo-analytics schedule`: tagged entries in the user's crontab, everything else untouched.

`crontab` is not installed here (nor on many servers): a fake one on PATH keeps the table in a
file, with the real command's behaviour for `-l` (exit 1 and "no crontab for <user>" when there
is none) and `-` (the table from standard input).
"""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import UTC, date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from kommo_analytics import logs
from kommo_analytics.automation import cron
from kommo_analytics.cli.main import app
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import Settings

runner = CliRunner()

FAKE_CRONTAB = """#!/bin/sh
table="$FAKE_CRONTAB_FILE"
case "$1" in
  -l) if [ -f "$table" ]; then cat "$table"; else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  -) cat > "$table" ;;
  *) echo "usage" >&2; exit 2 ;;
esac
"""

# The user's own table: a variable, a comment, two jobs, a blank line, no final newline trouble.
USER_TABLE = (
    "MAILTO=ana@example.com\n"
    "# my backups\n"
    "0 3 * * * /usr/local/bin/backup.sh --all  >/dev/null 2>&1\n"
    "\n"
    "*/5 * * * * echo 'still here' >> /tmp/heartbeat\n"
)


@pytest.fixture
def table(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "crontab"
    script.write_text(FAKE_CRONTAB)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    path = tmp_path / "crontab.txt"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CRONTAB_FILE", str(path))
    monkeypatch.setenv("DATA_DIR", str(clean_env / "data"))
    monkeypatch.setenv("ACCOUNT_TIMEZONE", "America/Sao_Paulo")
    return path


def ours(text: str) -> list[str]:
    return [line for line in text.splitlines() if "kommo-analytics" in line]


def test_install_twice_leaves_the_users_lines_untouched_and_one_set_of_ours(
    table: Path, clean_env: Path
) -> None:
    table.write_text(USER_TABLE)
    first = runner.invoke(app, ["schedule", "install"])
    assert first.exit_code == 0, first.output
    after_one = table.read_text()
    second = runner.invoke(app, ["schedule", "install"])
    assert second.exit_code == 0, second.output
    after_two = table.read_text()
    assert after_two == after_one
    assert after_two.startswith(USER_TABLE)  # byte for byte, before our block
    block = after_two[len(USER_TABLE) :]
    lines = block.splitlines()
    assert lines[0] == f"# >>> kommo-analytics {clean_env} >>>"
    assert lines[-1] == f"# <<< kommo-analytics {clean_env} <<<"
    jobs = [line for line in lines if not line.startswith("#")]
    assert len(jobs) == 4
    # Each starts in the project folder (so .env is read) and appends to the logs folder.
    log = clean_env / "data" / "logs" / "cron.log"
    assert all(f"cd {clean_env} && if test -n " in j and f">> {log} 2>&1" in j for j in jobs)
    assert (clean_env / "data" / "logs").is_dir()
    # An incremental sync runs the checks that need no API call itself; the whole `check`, with
    # its reconciliation requests, follows the daily full sync. Alerts follow both, failed or not.
    assert jobs[0].startswith("*/15 * * * * ") and " sync; " in jobs[0]
    assert " check; " not in jobs[0] and " alerts run; " in jobs[0]
    exe = jobs[0].split("{ ", 1)[1].split(" sync", 1)[0]
    assert f"{exe} sync --full && {exe} check; {exe} alerts run; }}" in jobs[1]
    assert " health; " in jobs[2] and " report weekly --send; " in jobs[3]
    # The command by its absolute path: cron's PATH has no .venv.
    command = jobs[0].split("{ ", 1)[1].split(" sync", 1)[0]
    assert command.startswith("/")


def test_remove_takes_out_only_ours_and_show_prints_ours(table: Path) -> None:
    table.write_text(USER_TABLE)
    assert runner.invoke(app, ["schedule", "install"]).exit_code == 0
    shown = runner.invoke(app, ["schedule", "show"])
    assert shown.exit_code == 0
    assert shown.stdout == table.read_text()[len(USER_TABLE) :]
    removed = runner.invoke(app, ["schedule", "remove"])
    assert removed.exit_code == 0 and "removed" in removed.stdout
    assert table.read_text() == USER_TABLE
    again = runner.invoke(app, ["schedule", "show"])
    assert "No kommo-analytics entries" in again.stdout


def test_install_without_a_crontab_creates_one_and_remove_without_ours_writes_nothing(
    table: Path,
) -> None:
    assert not table.exists()
    assert runner.invoke(app, ["schedule", "remove"]).exit_code == 0
    assert not table.exists()  # nothing of ours: the table was not written
    assert runner.invoke(app, ["schedule", "install"]).exit_code == 0
    assert table.read_text().startswith("# >>> kommo-analytics ")


def test_another_projects_block_is_left_alone(table: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-project"
    foreign = cron.block(other, ["0 * * * * cd /elsewhere && true"])
    table.write_text(USER_TABLE + foreign)
    assert runner.invoke(app, ["schedule", "install"]).exit_code == 0
    assert runner.invoke(app, ["schedule", "remove"]).exit_code == 0
    assert table.read_text() == USER_TABLE + foreign


def test_a_last_line_without_newline_is_kept_and_ends_before_our_tag() -> None:
    folder = Path("/srv/kommo")
    text = "0 1 * * * true"
    joined = cron.with_ours(text, cron.block(folder, ["x"]), folder)
    assert joined.startswith("0 1 * * * true\n# >>> kommo-analytics /srv/kommo >>>\n")
    assert cron.without_ours(joined, folder) == "0 1 * * * true\n"


def test_without_crontab_the_error_names_the_fix(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for command in ("install", "show", "remove"):
        result = runner.invoke(app, ["schedule", command])
        assert result.exit_code == 2, result.output
        assert "crontab command is not installed" in result.stderr
        assert "apt-get install cron" in result.stderr


@pytest.mark.parametrize(
    ("minutes", "fields"),
    [(15, "*/15 * * * *"), (1, "* * * * *"), (30, "*/30 * * * *"), (60, "0 * * * *"),
     (120, "0 */2 * * *")],
)  # fmt: skip
def test_intervals_cron_can_say(minutes: float, fields: str) -> None:
    assert cron.every(minutes, "SYNC_INTERVAL_MINUTES") == fields


@pytest.mark.parametrize(
    ("minutes", "offset", "fields"),
    [(15, 3, "3-59/15 * * * *"), (15, 15, "*/15 * * * *"), (15, 17, "2-59/15 * * * *"),
     (1, 5, "* * * * *"), (60, 2, "2 * * * *"), (120, 61, "1 */2 * * *")],
)  # fmt: skip
def test_intervals_start_later_by_an_offset(minutes: float, offset: int, fields: str) -> None:
    """Every 15 minutes from minute 3 is 3, 18, 33, 48: `3-59/15`; an offset of a whole
    interval is no offset; every minute cannot start later."""
    assert cron.every(minutes, "SYNC_INTERVAL_MINUTES", offset) == fields


def test_every_account_of_the_install_gets_its_own_entries(
    table: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two registered accounts (no account in .env): each job per account, with `--account`,
    its log in its own folder, the second's repeating jobs a minute after the first's."""
    monkeypatch.delenv("ACCOUNT_TIMEZONE")
    data = clean_env / "data"
    data.mkdir()
    (data / "accounts.toml").write_text(
        '[accounts.acme]\nbase_url = "https://acme.kommo.com"\n'
        '[accounts.beta]\nbase_url = "https://beta.kommo.com"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["schedule", "install"])
    assert result.exit_code == 0, result.output
    assert "(8 lines)" in result.stdout and "(beta: UTC)" in result.stdout
    lines = table.read_text().splitlines()
    assert lines.count("# account acme") == 1 and lines.count("# account beta") == 1
    jobs = [line for line in lines if not line.startswith("#")]
    assert len(jobs) == 8
    acme, beta = jobs[:4], jobs[4:]
    assert all(" --account acme " in j and "beta" not in j for j in acme)
    assert all(" --account beta " in j and "acme" not in j for j in beta)
    assert acme[0].startswith("*/15 * * * * ") and beta[0].startswith("1-59/15 * * * * ")
    assert acme[1].split()[:2] == beta[1].split()[:2]  # the daily time: each zone's, both UTC
    for name, own in (("acme", acme), ("beta", beta)):
        log = data / "accounts" / name / "logs" / "cron.log"
        assert all(f">> {log} 2>&1" in j for j in own)
        assert log.parent.is_dir()


@pytest.mark.parametrize("minutes", [45, 7, 0.5, 90])
def test_intervals_cron_cannot_say_name_the_setting(minutes: float) -> None:
    with pytest.raises(ConfigError, match="SYNC_INTERVAL_MINUTES"):
        cron.every(minutes, "SYNC_INTERVAL_MINUTES")


def test_account_times_are_converted_to_the_machines_zone() -> None:
    # São Paulo is UTC-3 (no daylight saving since 2019): 06:00 there is 09:00 UTC, and Monday
    # 23:00 there is Tuesday 02:00 UTC — the weekly entry moves to the next day.
    settings = Settings(full_sync_time="06:00", weekly_report_time="mon 23:00")
    made = cron.entries(
        settings,
        folder=Path("/srv/kommo"),
        command=["/srv/kommo/.venv/bin/kommo-analytics"],
        account_zone=ZoneInfo("America/Sao_Paulo"),
        system_zone=ZoneInfo("UTC"),
        today=date(2026, 11, 25),
    )
    assert made.lines[1].startswith("0 9 * * * ")
    assert made.lines[3].startswith("0 2 * * tue ")
    assert made.converted == (
        ("06:00", "America/Sao_Paulo", "09:00"),
        ("mon 23:00", "America/Sao_Paulo", "tue 02:00"),
    )


def test_a_percent_sign_in_a_path_is_escaped_for_cron() -> None:
    made = cron.entries(
        Settings(data_dir=Path("/srv/100%/data")),
        folder=Path("/srv/100%"),
        command=["/srv/100%/.venv/bin/kommo-analytics"],
        account_zone=ZoneInfo("UTC"),
        system_zone=ZoneInfo("UTC"),
        today=date(2026, 11, 25),
    )
    assert all("%" not in line.replace(r"\%", "") for line in made.lines)


def test_each_job_first_moves_a_cron_log_grown_past_the_limit_aside(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", log_max_bytes=10_000)
    made = cron.entries(settings, folder=tmp_path, command=["/bin/kommo-analytics"],
                        account_zone=UTC, system_zone=UTC, today=date(2026, 12, 7))  # fmt: skip
    # The job's shell text before its own commands: `cd … && <roll> { … }`.
    roll = made.lines[0].split(" && ", 1)[1].split(" { ", 1)[0]
    log = logs.log_file(settings.data_dir, "cron")
    log.parent.mkdir(parents=True)
    log.write_text("x" * 10_000)  # at the limit: kept where it is
    subprocess.run(["sh", "-c", roll], check=True)
    assert log.read_text() == "x" * 10_000 and not log.with_name("cron.log.1").exists()
    log.write_text("y" * 10_001)  # past it: moved aside, replacing an older one
    log.with_name("cron.log.1").write_text("old")
    subprocess.run(["sh", "-c", roll], check=True)
    assert not log.exists() and log.with_name("cron.log.1").read_text() == "y" * 10_001
    subprocess.run(["sh", "-c", roll], check=True)  # no log yet: nothing to do, no error
