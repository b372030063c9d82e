"""The writer's lock says who holds it: a second writer is told what runs (a sync, a backup, an
import…) and which process, not always "another sync"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kommo_analytics.errors import SyncError
from kommo_analytics.sync.lock import sync_lock


def test_a_second_writer_is_told_what_holds_the_lock_and_which_process(tmp_path: Path) -> None:
    lock = tmp_path / "data" / "sync.lock"
    with sync_lock(lock, "backup"):
        with pytest.raises(SyncError) as info, sync_lock(lock, "sync"):
            pass
        message = info.value.message
        assert message.startswith("a backup of this warehouse is running")
        assert f"(pid {os.getpid()} on " in message
        assert "UTC)" in message
        # The same kind of writer twice reads naturally too.
        with pytest.raises(SyncError) as info, sync_lock(lock, "backup"):
            pass
        assert info.value.message.startswith("another backup of this warehouse is running")
    # The note goes with the lock.
    assert not lock.with_name("sync.lock.holder").exists()


def test_without_a_readable_note_the_holder_is_another_writer(tmp_path: Path) -> None:
    lock = tmp_path / "data" / "sync.lock"
    with sync_lock(lock, "import"):
        lock.with_name("sync.lock.holder").write_text("{not json", encoding="utf-8")
        with pytest.raises(SyncError) as info, sync_lock(lock, "sync"):
            pass
    assert info.value.message == "another writer of this warehouse is running"
