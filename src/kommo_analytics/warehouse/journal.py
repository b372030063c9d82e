"""DuckDB: what changed in the sync's private file since each served file was brought up to date.

Readers open one of two served files (``kommo.a.duckdb``, ``kommo.b.duckdb``) through the served
path, a symlink naming the current one. A publish brings the other one up to date from the private
file — only the tables and keys that changed — and points the symlink at it (``backends.py``).

What changed is the **journal**, kept in the private file (schema ``kommo_publish``): one entry
per change, ``(id, tbl, keys)``, written in the same transaction as the change or before it (an
entry for a change that then fails only costs work). ``tbl`` is ``schema.table``, or ``*`` for
"anything may have changed" (a whole copy); ``keys`` names the key columns of a keyed entry,
whose keys are in ``kommo_publish."k:schema.table"``; without keys the whole table is copied.

Nobody has to remember to write it: every write connection to the private file journals each
statement that writes a table as a whole-table entry (``JournaledConnection``), and a statement it
cannot place as ``*``. Only dlt writes past those connections; the loader journals its loads,
with their keys (``Warehouse.load``). A publish also compares the two files' catalogs and every
table's row count, and copies the whole file on any difference.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SCHEMA = "kommo_publish"
WHOLE_FILE = "*"
# A keyed entry with more keys than this is journaled as the whole table: a full sync rewrites
# every row, and one copy of the table is cheaper than a join with that many keys.
MAX_KEYS = 50_000

_NAME = r'(?:"[^"]+"|[A-Za-z_][\w$]*)'
_QUALIFIED = rf"({_NAME}(?:\s*\.\s*{_NAME}){{0,2}})"
# Statements that cannot change a table's rows (the catalog comparison of a publish covers views,
# schemas and indexes; transactions and settings change nothing stored).
_READS = re.compile(
    r"(SELECT|FROM|VALUES|PRAGMA|SHOW|DESCRIBE|SUMMARIZE|EXPLAIN|BEGIN|START|COMMIT|ROLLBACK|"
    r"END|ABORT|CHECKPOINT|FORCE\s+CHECKPOINT|SET|RESET|USE|ANALYZE|VACUUM|"
    r"CREATE\s+(OR\s+REPLACE\s+)?(TEMP\s+|TEMPORARY\s+)?VIEW|DROP\s+VIEW|"
    r"CREATE\s+SCHEMA|CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|COMMENT)\b",
    re.IGNORECASE,
)
_WRITES_TABLE = re.compile(
    r"(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE|TRUNCATE(?:\s+TABLE)?|COPY|"
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+)?TABLE(?:\s+IF\s+NOT\s+EXISTS)?|"
    r"DROP\s+TABLE(?:\s+IF\s+EXISTS)?|ALTER\s+TABLE(?:\s+IF\s+EXISTS)?)\s+" + _QUALIFIED,
    re.IGNORECASE,
)
_COUNTS_ROWS = re.compile(r"(DELETE|UPDATE)\b", re.IGNORECASE)
_TRANSACTION = re.compile(r"(BEGIN|START)\b", re.IGNORECASE)
_TRANSACTION_END = re.compile(r"(COMMIT|ROLLBACK|END|ABORT)\b", re.IGNORECASE)
_COMMENTS = re.compile(r"^(\s+|--[^\n]*\n?|/\*.*?\*/)+", re.DOTALL)
_DML_INSIDE = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|COPY|TRUNCATE|DROP|ALTER)\b", re.I)


@dataclass(frozen=True)
class Written:
    """What a statement may change: nothing (``table`` None and not ``whole_file``), one
    table (``schema.table``), or anything (``whole_file``)."""

    table: str | None = None
    whole_file: bool = False
    counts_rows: bool = False  # its result is the number of rows it changed


def classify(sql: str) -> Written:
    """What a statement on the private file may change, decided from its text (DuckDB SQL)."""
    text = _COMMENTS.sub("", sql)
    if text.upper().startswith("WITH"):
        # A CTE may lead a write; anything that might write counts as anything.
        return Written(whole_file=bool(_DML_INSIDE.search(text)))
    found = _WRITES_TABLE.match(text)
    if found:
        return Written(
            table=_normal_name(found.group(1)), counts_rows=bool(_COUNTS_ROWS.match(text))
        )
    if _READS.match(text):
        return Written()
    return Written(whole_file=True)


def _normal_name(name: str) -> str:
    parts = [p.strip().strip('"') for p in re.findall(_NAME, name)]
    if len(parts) == 1:
        parts.insert(0, "main")
    return ".".join(parts[-2:])


def ensure(con: Any, catalog: str | None = None) -> None:
    """The journal's tables in the private file (a no-op once there); ``catalog``: the name the
    private file is attached by, if it is not the connection's own."""
    at = f"{catalog}.{SCHEMA}" if catalog else SCHEMA
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {at}")
    # The last id given (not a sequence: DuckDB need not keep a sequence's progress made in a
    # transaction that wrote nothing else).
    con.execute(f"CREATE TABLE IF NOT EXISTS {at}.counter AS SELECT 0::BIGINT AS n")
    con.execute(f"CREATE TABLE IF NOT EXISTS {at}.journal (id BIGINT, tbl VARCHAR, keys VARCHAR)")
    # What the private file knows each served file holds: the last entry applied and the token
    # the file itself stores. A file that says anything else is copied whole.
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {at}.files (name VARCHAR, applied BIGINT, token VARCHAR)"
    )


def next_id(con: Any, catalog: str | None = None) -> int:
    """An id above every entry written so far (the sequence moves on: later entries are above
    it too)."""
    at = f"{catalog}.{SCHEMA}" if catalog else SCHEMA
    # SQL text: the journal's own schema and tables; values are parameters.
    sql = f"UPDATE {at}.counter SET n = n + 1 RETURNING n"  # nosec B608
    row = con.execute(sql).fetchone()
    return int(row[0])


def add(con: Any, table: str) -> int:
    """A whole-table entry (``*``: the whole file); its id."""
    ensure(con)
    entry = next_id(con)
    con.execute(f"INSERT INTO {SCHEMA}.journal VALUES (?, ?, NULL)", [entry, table])  # nosec B608
    return entry


def add_keys(con: Any, table: str, columns: Sequence[str], keys: Iterable[tuple[Any, ...]]) -> None:
    """A keyed entry: only the rows of ``table`` with these keys changed (or were removed)."""
    import pyarrow as pa

    wanted = list(keys)
    schema, name = table.split(".", 1)
    present = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    if len(wanted) > MAX_KEYS or not present or not present[0]:
        add(con, table)  # a table the first load creates: the catalog comparison copies it
        return
    ensure(con)
    quoted = ", ".join(f'"{c}"' for c in columns)
    keys_table = f'{SCHEMA}."k:{table}"'
    # SQL text: our schema, a declared table and its key columns; the keys come from a frame.
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {keys_table} AS "  # nosec B608
        f"SELECT 0::BIGINT AS entry, {quoted} FROM {_quote(table)} LIMIT 0"
    )
    entry = next_id(con)
    sql = f"INSERT INTO {SCHEMA}.journal VALUES (?, ?, ?)"  # nosec B608
    con.execute(sql, [entry, table, ",".join(columns)])
    frame = pa.table({c: [k[i] for k in wanted] for i, c in enumerate(columns)})
    con.register("_journal_keys", frame)
    try:
        con.execute(
            f"INSERT INTO {keys_table} SELECT {entry}, {quoted} FROM _journal_keys"  # nosec B608
        )
    finally:
        con.unregister("_journal_keys")


def _quote(table: str) -> str:
    return ".".join(f'"{p}"' for p in table.split(".", 1))


class JournaledConnection:
    """A write connection to the private file (the backend's ``Connection``, or a cursor of it)
    whose statements journal what they write: a whole-table entry before each statement that
    writes a table (removed again when it changed no row), ``*`` for one it cannot place."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._in_transaction = False
        self._covered: set[str] = set()  # tables whose changes are journaled by their keys
        # The result of a journaled statement, read before our COMMIT would replace it.
        self._pending: list[Any] | None = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        self._pending = None
        written = classify(sql)
        if (written.table is None or written.table in self._covered) and not written.whole_file:
            text = _COMMENTS.sub("", sql)
            result = self._inner.execute(sql, params)
            if _TRANSACTION.match(text):
                self._in_transaction = True
            elif _TRANSACTION_END.match(text):
                self._in_transaction = False
            return result
        return self._journaled(written, lambda: self._inner.execute(sql, params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        self._pending = None
        written = classify(sql)
        if written.table is None and not written.whole_file:
            return self._inner.executemany(sql, rows)
        return self._journaled(written, lambda: self._inner.executemany(sql, rows))

    def _journaled(self, written: Written, run: Any) -> Any:
        raw = self._inner.raw
        own = not self._in_transaction
        if own:
            raw.execute("BEGIN TRANSACTION")
        try:
            entry = add(raw, WHOLE_FILE if written.whole_file else str(written.table))
            run()
            try:
                pending = [tuple(r) for r in raw.fetchall()]
            except Exception:
                pending = []  # a statement without a result
            if written.counts_rows and pending and pending[0] and pending[0][0] == 0:
                raw.execute(f"DELETE FROM {SCHEMA}.journal WHERE id = ?", [entry])  # nosec B608
            if own:
                raw.execute("COMMIT")
        except BaseException:
            if own:
                raw.execute("ROLLBACK")
            raise
        self._pending = pending
        return self

    # The driver's own transaction calls, followed so that an entry joins the transaction.
    def begin(self) -> Any:
        result = self._inner.raw.begin()
        self._in_transaction = True
        return result

    def commit(self) -> Any:
        self._in_transaction = False
        return self._inner.raw.commit()

    def rollback(self) -> Any:
        self._in_transaction = False
        return self._inner.raw.rollback()

    def journal_keys(self, table: str, columns: Sequence[str], keys: Iterable[Any]) -> None:
        """The statements that follow on ``table`` (``schema.table``) change only the rows with
        these keys: one keyed entry, in the current transaction, instead of whole-table ones."""
        add_keys(self._inner.raw, table, columns, [tuple(k) for k in keys])
        self._covered.add(table)

    def fetchone(self) -> Any:
        if self._pending is not None:
            return self._pending.pop(0) if self._pending else None
        return self._inner.raw.fetchone()

    def fetchall(self) -> list[Any]:
        if self._pending is not None:
            rows, self._pending = self._pending, []
            return rows
        return list(self._inner.raw.fetchall())

    def cursor(self) -> JournaledConnection:
        # DuckDB's cursor is a second connection with a transaction of its own: journaled too.
        return JournaledConnection(self._inner.cursor())

    def __enter__(self) -> JournaledConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def journal_load(
    con: Any, entries: Mapping[str, tuple[Sequence[str], Iterable[tuple[Any, ...]]] | None]
) -> None:
    """Entries for a load another library writes (dlt), committed before it runs: per table,
    its key columns and the keys it writes, or None for the whole table."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table, keyed in entries.items():
            if keyed is None:
                add(con, table)
            else:
                add_keys(con, table, keyed[0], keyed[1])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def new_token() -> str:
    return secrets.token_hex(8)


def stamp(con: Any, applied: int, token: str) -> None:
    """Write into a whole copy of the private file, made a served file, which journal entry it
    holds up to and its token; the private file's journal and records, which mean nothing
    there, are dropped."""
    con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    con.execute(f"CREATE SCHEMA {SCHEMA}")
    con.execute(
        f"CREATE OR REPLACE TABLE {SCHEMA}.served AS SELECT ?::BIGINT AS applied, "
        "?::VARCHAR AS token",
        [applied, token],
    )


def record(
    con: Any,
    name: str,
    applied: int,
    token: str,
    names: Sequence[str],
    catalog: str | None = None,
) -> None:
    """In the private file (attached as ``catalog``, if not the connection's own): what served
    file ``name`` holds now; entries every served file (``names``) holds already are dropped."""
    at = f"{catalog}.{SCHEMA}" if catalog else SCHEMA
    ensure(con, catalog)
    con.execute("BEGIN TRANSACTION")
    try:
        # SQL text: the journal's own schema and tables; values are parameters.
        con.execute(f"DELETE FROM {at}.files WHERE name = ?", [name])  # nosec B608
        insert = f"INSERT INTO {at}.files VALUES (?, ?, ?)"  # nosec B608
        con.execute(insert, [name, applied, token])
        marks = ", ".join("?" for _ in names)
        rows = con.execute(
            f"SELECT name, applied FROM {at}.files WHERE name IN ({marks})",  # nosec B608
            list(names),
        ).fetchall()
        if len({r[0] for r in rows}) == len(names):
            done = min(int(r[1]) for r in rows)
            con.execute(f"DELETE FROM {at}.journal WHERE id <= ?", [done])  # nosec B608
            for (table,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = "  # nosec B608
                f"{'?' if catalog else 'current_database()'} AND schema_name = ? "
                "AND table_name LIKE 'k:%'",
                [catalog, SCHEMA] if catalog else [SCHEMA],
            ).fetchall():
                con.execute(f'DELETE FROM {at}."{table}" WHERE entry <= ?', [done])  # nosec B608
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


class Mismatch(Exception):
    """The applied file differs from the private one: copy it whole."""


# Tables up to this many rows are compared row by row after an apply, not only counted: the
# dictionaries, bookkeeping, model dimensions and inputs — where a change a journal missed would
# otherwise go unseen.
COMPARE_ROWS = 20_000


# The name the private file is attached by while a served file is brought up to date.
SOURCE = "src"

# A whole-table entry re-creates its table through DuckDB (every column decompressed and
# compressed again), slower per byte than the kernel's copy of the whole file: at a million leads
# a rebuilt model (about a third of the file's rows) took 48 s to apply against 34 s for the
# whole copy (docs/benchmarks.md, *A million leads — publishing*). When whole-table entries
# reach this share of the private file's rows (and at least WHOLE_MIN_ROWS), the file is copied.
WHOLE_SHARE = 0.2
WHOLE_MIN_ROWS = 100_000
# Below this size the private file is copied whole: an apply opens both files, compares their
# catalogs and every small table row by row, and checkpoints — 0.59 s against a 0.19 s copy for
# a 25 MB warehouse (the small account), 0.30 s against 0.64 s at 210 MB (medium), measured.
APPLY_MIN_BYTES = 128 * 1024 * 1024


def apply(con: Any, name: str, *, token: str, skip_schemas: Sequence[str]) -> int:
    """Bring the served file ``con`` has open read-write (``name``) up to date with the private
    file attached as :data:`SOURCE`: every journal entry since the one the file holds, in one
    transaction, then stamp it. The id it now holds up to; 0 (nothing changed) when it must be
    copied whole instead: a file the private file's records do not vouch for, a ``*`` entry, a
    difference left after the apply."""
    import duckdb

    at = f"{SOURCE}.{SCHEMA}"
    ensure(con, SOURCE)
    records = {
        str(n): (int(a), str(t))
        for n, a, t in con.execute(f"SELECT name, applied, token FROM {at}.files").fetchall()  # nosec B608
    }
    own = str(con.execute("SELECT current_database()").fetchone()[0])
    try:
        sql = f'SELECT applied, token FROM "{own}".{SCHEMA}.served'  # nosec B608
        served = con.execute(sql).fetchone()
    except duckdb.CatalogException:
        return 0  # copied by an earlier version, or never stamped
    if served is None or records.get(name) != (int(served[0]), str(served[1])):
        return 0
    after, upto = int(served[0]), next_id(con, SOURCE)
    entries = con.execute(
        f"SELECT id, tbl, keys FROM {at}.journal WHERE id > ? AND id < ? ORDER BY id",  # nosec B608
        [after, upto],
    ).fetchall()
    if any(tbl == WHOLE_FILE for _, tbl, _ in entries):
        return 0
    whole = {str(tbl) for _, tbl, keys in entries if keys is None}
    if whole and _mostly_rewritten(con, whole):
        log.info("%d tables rewritten whole: copying the whole file instead", len(whole))
        return 0
    con.execute("BEGIN TRANSACTION")
    try:
        _apply_entries(con, own, entries, after, upto, skip_schemas)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{own}".{SCHEMA}')
        con.execute(
            f'CREATE OR REPLACE TABLE "{own}".{SCHEMA}.served AS SELECT ?::BIGINT AS applied, '
            "?::VARCHAR AS token",
            [upto, token],
        )
        con.execute("COMMIT")
    except Mismatch as exc:
        con.execute("ROLLBACK")
        log.warning("%s: copying the whole file instead", exc)
        return 0
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return upto


def _mostly_rewritten(con: Any, whole: set[str]) -> bool:
    """Whether the tables of whole-table entries hold enough of the private file's rows that a
    whole copy is cheaper than re-creating them (see :data:`WHOLE_SHARE`)."""
    sizes = {
        f"{schema}.{table}": int(rows or 0)
        for schema, table, rows in con.execute(
            "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
            "WHERE database_name = ?",
            [SOURCE],
        ).fetchall()
    }
    rewritten = sum(rows for name, rows in sizes.items() if name in whole)
    return rewritten >= WHOLE_MIN_ROWS and rewritten >= WHOLE_SHARE * sum(sizes.values())


def _tables(con: Any, catalog: str, skip: Sequence[str]) -> dict[tuple[str, str], list[Any]]:
    """Every table of a catalog with its columns and types in order."""
    rows = con.execute(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND NOT internal ORDER BY schema_name, table_name, column_index",
        [catalog],
    ).fetchall()
    tables: dict[tuple[str, str], list[Any]] = {}
    for schema, table, column, type_ in rows:
        if schema not in skip:
            tables.setdefault((schema, table), []).append((column, type_))
    views = {
        (schema, name)
        for schema, name in con.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = ? "
            "AND NOT internal",
            [catalog],
        ).fetchall()
    }
    return {k: v for k, v in tables.items() if k not in views}


def _views(con: Any, catalog: str, skip: Sequence[str]) -> dict[tuple[str, str], str]:
    return {
        (schema, name): str(sql)
        for schema, name, sql in con.execute(
            "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE database_name = ? "
            "AND NOT internal AND NOT temporary",
            [catalog],
        ).fetchall()
        if schema not in skip
    }


def _q(*parts: str) -> str:
    return ".".join(f'"{p}"' for p in parts)


def _apply_entries(
    con: Any, own: str, entries: Sequence[Any], after: int, upto: int, skip: Sequence[str]
) -> None:
    theirs = _tables(con, SOURCE, skip)
    mine = _tables(con, own, skip)
    whole: set[tuple[str, str]] = set()
    keyed: dict[tuple[str, str], list[str]] = {}
    for _, tbl, keys in entries:
        schema, _, table = str(tbl).partition(".")
        if keys is None:
            whole.add((schema, table))
        else:
            keyed[(schema, table)] = str(keys).split(",")
    whole |= {t for t, columns in theirs.items() if mine.get(t) != columns}
    mine_views, their_views = _views(con, own, skip), _views(con, SOURCE, skip)
    for (schema, name), sql in mine_views.items():
        if their_views.get((schema, name)) != sql:
            con.execute(f"DROP VIEW {_q(own, schema, name)}")
    for schema, table in sorted(mine.keys() - theirs.keys()):
        con.execute(f"DROP TABLE {_q(own, schema, table)}")
    for schema, table in sorted(whole & theirs.keys()):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(own, schema)}")
        con.execute(f"DROP TABLE IF EXISTS {_q(own, schema, table)}")
        # SQL text: names from the two catalogs.
        con.execute(
            f"CREATE TABLE {_q(own, schema, table)} AS SELECT * FROM {_q(SOURCE, schema, table)}"  # nosec B608
        )
    for (schema, table), columns in sorted(keyed.items()):
        if (schema, table) in whole or (schema, table) not in theirs:
            continue
        keys = f"{_q(SOURCE, SCHEMA, f'k:{schema}.{table}')}"
        match_own = " AND ".join(f"t.{_q(c)} = k.{_q(c)}" for c in columns)
        match_src = " AND ".join(f"s.{_q(c)} = k.{_q(c)}" for c in columns)
        listed = ", ".join(_q(c) for c in columns)
        # SQL text: names from the catalogs and our journal; the bounds are integers.
        wanted = f"SELECT DISTINCT {listed} FROM {keys} WHERE entry > {after} AND entry < {upto}"  # nosec B608
        # SQL text: names from the catalogs and our journal; the bounds are integers.
        con.execute(
            f"DELETE FROM {_q(own, schema, table)} t USING ({wanted}) k WHERE {match_own}"  # nosec B608
        )
        con.execute(
            f"INSERT INTO {_q(own, schema, table)} SELECT s.* FROM {_q(SOURCE, schema, table)} s "  # nosec B608
            f"WHERE EXISTS (SELECT 1 FROM ({wanted}) k WHERE {match_src})"
        )
    for (schema, name), sql in their_views.items():
        if mine_views.get((schema, name)) != sql:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(own, schema)}")
            con.execute(f"USE {_q(own, schema)}")
            try:
                con.execute(sql)
            finally:
                con.execute(f"USE {_q(own, 'main')}")
    _verify(con, own, theirs)


def _verify(con: Any, own: str, theirs: Mapping[tuple[str, str], Any]) -> None:
    """Row counts of every table equal, and small tables equal row for row."""
    for schema, table in theirs:
        a, b = _q(own, schema, table), _q(SOURCE, schema, table)
        # SQL text: names from the catalogs.
        counts = con.execute(
            f"SELECT (SELECT count(*) FROM {a}), (SELECT count(*) FROM {b})"  # nosec B608
        ).fetchone()
        if counts[0] != counts[1]:
            raise Mismatch(f"{schema}.{table}: {counts[0]} rows, {counts[1]} in the private file")
        if counts[0] <= COMPARE_ROWS:
            differ = con.execute(
                f"SELECT count(*) FROM ((SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) "  # nosec B608
                f"UNION ALL (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}))"
            ).fetchone()
            if differ[0]:
                raise Mismatch(f"{schema}.{table}: {differ[0]} rows differ from the private file")
