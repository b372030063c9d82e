"""Log files: each secret shape masked, private rotating files shared with the sync's log, and
`kommo-analytics logs`."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from kommo_analytics import logs
from kommo_analytics.cli.main import app
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import loader

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    saved = set(logs._secrets)
    yield
    logs._secrets.clear()
    logs._secrets.update(saved)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOi.J9x-y_z", "eyJhbGciOi.J9x-y_z"),
        ("GET /oauth?access_token=abc123XYZ&page=2", "abc123XYZ"),
        ('{"refresh_token": "def456", "expires_in": 86400}', "def456"),
        ("login failed: password=hunter22 for ana", "hunter22"),
        ("KOMMO_CLIENT_SECRET=s3cr3tvalue", "s3cr3tvalue"),
        ("smtp_password: 'pa55word'", "pa55word"),
        ("connecting to postgresql+psycopg://kommo:Pa%40ss@db:5432/kommo", "Pa%40ss"),
        ("mysql+pymysql://root:toor@127.0.0.1/kommo", "toor"),
    ],
)
def test_each_secret_shape_is_masked(text: str, secret: str) -> None:
    masked = logs.mask(text)
    assert secret not in masked
    assert logs.MASK in masked


def test_what_is_not_a_secret_is_left_alone() -> None:
    line = "sync leads: done, 149 rows, 1 requests; see https://acme.kommo.com/leads/detail/7"
    assert logs.mask(line) == line


def test_the_values_of_every_secret_setting_are_masked() -> None:
    settings = Settings(
        kommo_access_token=SecretStr("long-lived-token-value"),
        smtp_password=SecretStr("mail-pass-value"),
        kommo_client_secret=SecretStr("oauth-secret-value"),
    )
    values = logs.secret_values(settings)
    assert sorted(values) == ["long-lived-token-value", "mail-pass-value", "oauth-secret-value"]
    logs.register_secrets(values)
    masked = logs.mask("token long-lived-token-value then mail-pass-value; oauth-secret-value")
    assert masked == "token *** then ***; ***"


def test_the_file_handler_masks_arguments_and_tracebacks(tmp_path: Path) -> None:
    logs.register_secrets(["tok-9f8e7d6c"])
    path = tmp_path / "logs" / "serve.log"
    handler = logs.file_handler(path, max_bytes=10_000, backups=2)
    log = logging.getLogger("test.logs.masking")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("calling with %s", "tok-9f8e7d6c")
        try:
            raise RuntimeError("refused Bearer tok-9f8e7d6c")
        except RuntimeError:
            log.exception("it failed")
    finally:
        log.removeHandler(handler)
        handler.close()
    text = path.read_text()
    assert "tok-9f8e7d6c" not in text
    assert "calling with ***" in text and "RuntimeError: refused Bearer ***" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_files_rotate_at_the_configured_size(tmp_path: Path) -> None:
    path = tmp_path / "serve.log"
    handler = logs.file_handler(path, max_bytes=1_000, backups=2)
    log = logging.getLogger("test.logs.rotation")
    log.addHandler(handler)
    log.propagate = False
    try:
        for i in range(100):  # about 60 bytes a line: 6,000 bytes, six times the size
            log.warning("line %03d %s", i, "x" * 10)
    finally:
        log.removeHandler(handler)
        handler.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serve.log", "serve.log.1", "serve.log.2"]
    assert all(p.stat().st_size <= 1_000 for p in tmp_path.iterdir())


def test_the_sync_log_is_written_by_the_same_masking_handler(tmp_path: Path) -> None:
    path = loader.log_path(tmp_path)
    assert path == logs.log_file(tmp_path, "sync")
    loader.keep_load_logs_in(path)
    dlt_log = logging.getLogger("dlt")
    try:
        dlt_log.error("load failed at postgresql://u:hidden@db/x")
        handlers = [h for h in dlt_log.handlers if isinstance(h, logs.PrivateRotatingFile)]
        assert len(handlers) == 1
        assert any(isinstance(f, logs.SecretMask) for f in handlers[0].filters)
    finally:
        for h in list(dlt_log.handlers):
            h.close()
    assert "hidden" not in path.read_text() and "u:***@db" in path.read_text()


@pytest.fixture
def data_dir(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = clean_env / "data"
    monkeypatch.setenv("DATA_DIR", str(folder))
    return folder


def test_logs_shows_the_last_lines_masked(data_dir: Path) -> None:
    folder = data_dir / "logs"
    folder.mkdir(parents=True)
    lines = [f"line {i}" for i in range(1, 81)] + ["crontab said access_token=zzzz9999"]
    (folder / "cron.log").write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["logs", "--file", "cron", "-n", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["line 79", "line 80", "crontab said access_token=***"]


def test_logs_default_is_fifty_lines_of_serve(data_dir: Path) -> None:
    folder = data_dir / "logs"
    folder.mkdir(parents=True)
    (folder / "serve.log").write_text("".join(f"{i}\n" for i in range(120)))
    result = runner.invoke(app, ["logs"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [str(i) for i in range(70, 120)]


def test_a_missing_log_names_the_ones_there(data_dir: Path) -> None:
    (data_dir / "logs").mkdir(parents=True)
    (data_dir / "logs" / "sync.log").write_text("x\n")
    result = runner.invoke(app, ["logs"])
    assert result.exit_code == 2
    assert "serve.log" in result.stderr and "Logs there: sync" in result.stderr


def test_tail_reads_a_large_file_from_its_end(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"".join(b"%06d\n" % i for i in range(200_000)))  # 1.4 MB
    assert logs.tail(path, 2) == ["199998", "199999"]
    assert logs.tail(path, 0) == []
    assert path.stat().st_size > 64 * 1024  # more than one block read from the end
