"""The database fixtures every warehouse test relies on give a real, writable, private database."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest


@pytest.mark.server
def test_mariadb_fixture_gives_a_private_writable_database(mariadb_url: str) -> None:
    import pymysql

    parts = urlsplit(mariadb_url)
    con = pymysql.connect(
        host=parts.hostname, port=parts.port, user=parts.username, database=parts.path[1:]
    )
    with con.cursor() as cur:
        cur.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(50))")
        cur.execute("INSERT INTO t VALUES (1, 'São Paulo')")
        cur.execute("SELECT name FROM t WHERE id = 1")
        assert cur.fetchone() == ("São Paulo",)
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == (("t",),)
    con.close()


@pytest.mark.server
def test_postgres_fixture_gives_a_private_writable_database(postgres_url: str) -> None:
    import psycopg

    parts = urlsplit(postgres_url)
    with psycopg.connect(
        host=parts.hostname, port=parts.port, user=parts.username, dbname=parts.path[1:]
    ) as con:
        con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO t VALUES (1, 'São Paulo')")
        assert con.execute("SELECT name FROM t WHERE id = 1").fetchone() == ("São Paulo",)
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        assert tables == [("t",)]


def test_missing_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """With KOMMO_TEST_REQUIRE_SERVERS=1 an unreachable server is a failure, not a skip."""
    from tests import conftest

    monkeypatch.setattr(conftest, "REQUIRE_SERVERS", True)
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        conftest.server_unavailable("MariaDB at 127.0.0.1:1", ConnectionRefusedError("refused"))
    monkeypatch.setattr(conftest, "REQUIRE_SERVERS", False)
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        conftest.server_unavailable("MariaDB at 127.0.0.1:1", ConnectionRefusedError("refused"))
