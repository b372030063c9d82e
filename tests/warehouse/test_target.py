"""DATABASE_URL: what it points at, and clear errors when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from kommo_analytics.errors import ConfigError
from kommo_analytics.warehouse.target import Kind, parse_database_url


def test_duckdb_url_gives_a_served_file_and_a_private_sync_file() -> None:
    target = parse_database_url("duckdb:///data/kommo.duckdb")
    assert target.kind is Kind.DUCKDB
    # Relative to the folder the command runs in, and said so: the paths are absolute.
    assert target.serving_path == Path.cwd() / "data" / "kommo.duckdb"
    assert target.sync_path == Path.cwd() / "data" / "kommo.sync.duckdb"
    assert target.url == f"duckdb:///{Path.cwd()}/data/kommo.duckdb"
    assert str(Path.cwd()) in target.display and str(Path.cwd()) in target.location
    assert parse_database_url("duckdb:////abs/w.duckdb").serving_path == Path("/abs/w.duckdb")


def test_a_duckdb_warehouses_key_does_not_change_with_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key names dlt's pipeline: an existing warehouse must keep the one it had."""
    import hashlib

    monkeypatch.chdir(tmp_path)
    target = parse_database_url("duckdb:///data/kommo.duckdb")
    before = hashlib.sha256(b"duckdb:///data/kommo.duckdb").hexdigest()[:12]
    assert target.key == before


def test_server_urls_hide_the_password_when_shown() -> None:
    target = parse_database_url("mysql+pymysql://bob:s3cret@db:3306/sales")
    assert target.kind is Kind.MYSQL and target.dataset == "sales"
    assert "s3cret" not in target.display
    pg = parse_database_url("postgresql://bob:s3cret@db/sales")
    assert pg.kind is Kind.POSTGRES and pg.url.startswith("postgresql+psycopg://")
    assert "s3cret" not in pg.display


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("sqlite:///x.db", "unsupported scheme"),
        ("duckdb:///", "names no DuckDB file"),
        ("mysql+mysqldb://u@h/db", "driver 'mysqldb'"),
        ("mysql+pymysql://u@h:3306/", "names no MySQL/MariaDB database"),
        ("postgresql+psycopg2://u@h/db", "driver 'psycopg2'"),
        ("postgresql://u@h", "names no PostgreSQL database"),
    ],
)
def test_a_wrong_url_is_refused_with_what_to_write(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_database_url(url)
    assert fragment in info.value.one_line()
    assert "DATABASE_URL" in info.value.one_line() or "://" in info.value.one_line()
