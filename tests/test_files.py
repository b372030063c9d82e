"""Private files: the data folder 0700 and every file the project writes in it 0600, whatever the
umask of the shell — including the files DuckDB and dlt create on their own."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kommo_analytics import files
from kommo_analytics.kommo.auth import TokenFile, TokenPair
from kommo_analytics.service import targets
from tests.sync.harness import account, duckdb_url, sync

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common shell default, under which files come out world-readable; restored after, since
    the umask belongs to the whole test process."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _modes(root: Path) -> dict[str, int]:
    found = {root.name: _mode(root)}
    for path in root.rglob("*"):
        if not path.is_symlink():  # a link's own mode means nothing: its file's counts
            found[str(path.relative_to(root.parent))] = _mode(path)
    return found


def _wrong(root: Path) -> dict[str, str]:
    return {
        name: oct(mode)
        for name, mode in _modes(root).items()
        if mode != (files.PRIVATE_DIR if (root.parent / name).is_dir() else files.PRIVATE_FILE)
    }


def test_a_sync_writes_only_private_files(tmp_path: Path, umask_022: None) -> None:
    url = duckdb_url(tmp_path)
    assert sync(account(seed=3), tmp_path, url).status == "ok"
    data, warehouse = tmp_path / "data", tmp_path / "warehouse"
    # What the sync leaves: the served and private DuckDB files (created by DuckDB; the served
    # path a link to one of two), the lock, dlt's pipeline folder.
    assert (warehouse / "kommo.duckdb").is_file() and (warehouse / "kommo.sync.duckdb").is_file()
    served = sorted(p.name for p in warehouse.glob("kommo.[ab].duckdb"))
    assert served
    assert (data / "dlt").is_dir()
    assert _wrong(data) == {}
    assert _wrong(warehouse) == {}
    assert files.exposed([data, warehouse]) == []

    # An earlier version left them world-readable: the next sync publishes private files.
    for path in warehouse.iterdir():
        path.chmod(0o644)
    assert sorted(p.name for p in files.exposed([warehouse])) == [
        *served,
        "kommo.sync.duckdb",
        "kommo.sync.duckdb.lock",
    ]
    assert sync(account(seed=3), tmp_path, url).status == "ok"
    assert files.exposed([warehouse / p for p in (*served, "kommo.sync.duckdb")]) == []


def test_kpi_targets_and_tokens_are_private(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "new" / "data"
    targets.save(data, {})
    pair = TokenPair("access", "refresh", time.time() + 60)
    tokens = TokenFile(data / "tokens.json")
    tokens.write(pair)
    with tokens.lock():
        pass
    assert _wrong(tmp_path / "new") == {}


def test_an_existing_folder_is_left_as_it_is_and_reported(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    (shared / "kommo.duckdb").write_text("x")
    (shared / "kommo.duckdb").chmod(0o644)
    (shared / "ok").write_text("x")
    (shared / "ok").chmod(0o600)
    files.private_dir(shared)
    assert _mode(shared) == 0o755
    found = files.exposed([shared])
    assert found == [shared, shared / "kommo.duckdb"]
    assert files.chmod_hint(found, [shared]) == (
        f"chmod 700 {shared} && chmod 600 {shared / 'kommo.duckdb'}"
    )
    assert files.chmod_hint(found, [shared], shown=1) == f"chmod -R go-rwx {shared}"


def test_a_path_with_spaces_is_quoted_for_the_shell(tmp_path: Path) -> None:
    odd = tmp_path / "my data"
    assert files.chmod_hint([odd], [tmp_path]) == f"chmod 600 '{odd}'"


def test_restrict_umask_only_tightens(umask_022: None) -> None:
    files.restrict_umask()
    current = os.umask(0o077)
    os.umask(current)
    assert current == 0o077


ROOT = Path(__file__).resolve().parent.parent
SECRET_PATHS = (
    ".env",
    ".env.production",
    "srv/data/kommo_tokens.json",
    "srv/data/kommo_tokens.json.lock",
    "srv/data/.kommo_tokens.json.x1.tmp",
    "srv/data/users.json",
    "srv/data/.users.json.lock",
    "srv/data/.users.json.77.tmp",
    "srv/data/kpi_targets.json",
    "srv/w/kommo.duckdb",
    "srv/w/kommo.sync.duckdb.wal",
    "srv/w/kommo.sync.duckdb.lock",
    "srv/w/.kommo.duckdb.123.tmp",
    "srv/data/dlt/kommo_0123abcd/state.json",
)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_gitignore_keeps_secrets_and_data_out_wherever_the_data_folder_is() -> None:
    def ignored(path: str) -> bool:
        check = ["git", "check-ignore", "--no-index", "-q", path]
        return subprocess.run(check, cwd=ROOT, check=False).returncode == 0

    assert [p for p in SECRET_PATHS if not ignored(p)] == []
    assert not ignored(".env.example")
    assert not ignored("examples/goals.csv")
