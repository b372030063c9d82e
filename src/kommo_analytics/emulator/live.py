"""Live mode: the account keeps changing while it is served.

Each tick applies a few realistic changes at the given time: new leads arrive, deals move, get
reassigned, deleted and restored, tasks get done. Every change bumps the changed entity's
`updated_at` to the tick time, so a record touched mid-crawl moves to the end of an
`updated_at` ordering (the pagination drift real clients must survive), and writes the matching
event. Changes are targeted UPDATEs/INSERTs by id, cheap even on the `large` account.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial
from typing import Any

import duckdb
import numpy as np

from kommo_analytics.emulator.generator import vocab
from kommo_analytics.emulator.generator.common import (
    HOUR,
    MINUTE,
    STREAM_LIVE,
    stream,
)
from kommo_analytics.emulator.generator.load import ulids
from kommo_analytics.emulator.generator.people import phone_parts
from kommo_analytics.emulator.generator.profiles import profile_of_currency
from kommo_analytics.emulator.sql import compose
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID

KINDS: tuple[str, ...] = (
    "new_lead", "stage_move", "reassignment", "deletion", "restore", "task_completed",
)  # fmt: skip
WEIGHTS = np.array([0.25, 0.35, 0.08, 0.05, 0.04, 0.23])
CALL = "outgoing_call"  # first answers to new leads, made a few ticks after they arrive

# The closed stages, as an SQL list.
_CLOSED = f"({WON_STATUS_ID}, {LOST_STATUS_ID})"

_COUNTERS = ("next_lead_id", "next_contact_id", "next_task_id", "next_note_id", "next_event_seq")


class LiveMutator:
    def __init__(self, store: AccountStore, seed: int) -> None:
        self.store = store
        self.seed = seed
        self.rng = stream(seed, STREAM_LIVE)
        cur = store.cursor()
        self.counters = {key: int(store.get_meta(key) or 0) for key in _COUNTERS}
        if not self.counters["next_event_seq"]:
            row = cur.execute("SELECT coalesce(max(seq), 0) + 1 FROM events").fetchone()
            self.counters["next_event_seq"] = int(row[0]) if row else 1
        for key, table in (("next_lead_id", "leads"), ("next_contact_id", "contacts"),
                           ("next_task_id", "tasks"), ("next_note_id", "notes")):  # fmt: skip
            if not self.counters[key]:
                sql = compose("SELECT coalesce(max(id), 0) + 1 FROM {table}", table=table)
                row = cur.execute(sql).fetchone()
                self.counters[key] = int(row[0]) if row else 1
        self.clock = int(store.get_meta("live_now") or store.get_meta("now") or 0)
        self.subdomain = store.get_meta("demo_subdomain") or "demo"
        # New leads are priced in the account's currency (generator/profiles.py).
        currency = cur.execute("SELECT currency FROM account").fetchone()
        self.profile = profile_of_currency(str(currency[0]) if currency else "BRL")
        self.domain = f"{self.subdomain}.{self.profile.domain}"

        # Open stages per pipeline in funnel order, incoming first.
        self.stages: dict[int, list[int]] = {}
        for pipeline_id, status_id in cur.execute(
            compose(
                "SELECT pipeline_id, id FROM statuses WHERE id NOT IN {closed} "
                "ORDER BY pipeline_id, sort, id",
                closed=_CLOSED,
            )
        ).fetchall():
            self.stages.setdefault(int(pipeline_id), []).append(int(status_id))
        main = cur.execute("SELECT id FROM pipelines ORDER BY NOT is_main, sort, id").fetchall()
        self.pipelines = [int(r[0]) for r in main if int(r[0]) in self.stages]
        users = cur.execute(
            "SELECT id, group_id, is_admin FROM users WHERE is_active ORDER BY id"
        ).fetchall()
        self.sellers = [(int(u), int(g or 0)) for u, g, admin in users if not admin] or [
            (int(u), int(g or 0)) for u, g, _ in users
        ]
        admins = [int(u) for u, _, admin in users if admin]
        self.admin = admins[0] if admins else self.sellers[0][0]
        self.loss_reasons = [int(r[0]) for r in cur.execute(
            "SELECT id FROM loss_reasons ORDER BY sort, id").fetchall()]  # fmt: skip
        self.pending_calls: list[tuple[int, int, int, int]] = []  # (due, lead, contact, user)

    # -- public -------------------------------------------------------------------------------

    def tick(self, now: int, changes: int = 5) -> dict[str, int]:
        """Apply `changes` random realistic changes at time `now` (Unix s), return counts by kind."""
        # Time never runs backwards inside the account: events stay ordered by seq and time.
        now = max(int(now), self.clock)
        self.clock = now
        counts = dict.fromkeys((*KINDS, CALL), 0)
        with self.store.write_lock:
            try:
                due = [c for c in self.pending_calls if c[0] <= now]
                self.pending_calls = [c for c in self.pending_calls if c[0] > now]
                for _, lead_id, contact_id, user_id in due:
                    call = partial(self._call, now=now, lead_id=lead_id, contact_id=contact_id,
                                   user_id=user_id)  # fmt: skip
                    counts[CALL] += int(self._transaction(call))
                for _ in range(changes):
                    u = self.rng.random() * WEIGHTS.sum()
                    kind = KINDS[int(np.searchsorted(np.cumsum(WEIGHTS), u))]
                    done = self._transaction(partial(self._apply, kind=kind, now=now))
                    if not done and kind != "new_lead":
                        # Nothing to act on (e.g. no deleted lead to restore): a lead arrives.
                        kind = "new_lead"
                        done = self._transaction(partial(self._apply, kind=kind, now=now))
                    counts[kind] += int(done)
            finally:
                self._save_counters()
        return counts

    # -- plumbing -----------------------------------------------------------------------------

    def _transaction(self, change: Callable[[duckdb.DuckDBPyConnection], bool]) -> bool:
        """Run one change in its own transaction; False if it found nothing to change."""
        cur = self.store.cursor()
        saved = dict(self.counters)
        cur.execute("BEGIN TRANSACTION")
        try:
            applied = bool(change(cur))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            self.counters = saved
            raise
        if not applied:
            self.counters = saved
        return applied

    def _save_counters(self) -> None:
        """Persist the id counters once per tick: the write lock is held for the whole tick, so
        nobody sees them between changes, and a new mutator continues where this one stopped."""
        items = [*self.counters.items(), ("live_now", self.clock)]
        placeholders = ", ".join("(?, ?)" for _ in items)
        params = [v for key, value in items for v in (key, str(value))]
        self.store.cursor().execute(f"INSERT OR REPLACE INTO meta VALUES {placeholders}", params)

    def _apply(self, cur: duckdb.DuckDBPyConnection, kind: str, now: int) -> bool:
        handler = {
            "new_lead": self._new_lead,
            "stage_move": self._stage_move,
            "reassignment": self._reassign,
            "deletion": self._delete,
            "restore": self._restore,
            "task_completed": self._complete_task,
        }[kind]
        return handler(cur, now)

    def _take(self, key: str, gap: int = 1) -> int:
        value = self.counters[key]
        self.counters[key] = value + (int(self.rng.integers(1, gap + 1)) if gap > 1 else 1)
        return value

    def _event(self, cur: duckdb.DuckDBPyConnection, now: int, kind: str, entity_id: int,
               entity_type: str, by: int, before: str = "[]", after: str = "[]") -> None:  # fmt: skip
        seq = self._take("next_event_seq")
        ms = np.array([now * 1000 + int(self.rng.integers(0, 1000))], dtype=np.int64)
        event_id = str(ulids(ms, np.array([seq], dtype=np.int64), self.rng)[0])
        cur.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [event_id, seq, kind, entity_id, entity_type, by, now, before, after],
        )

    def _pick(self, cur: duckdb.DuckDBPyConnection, table: str, columns: str, where: str,
              recent: float = 3.0) -> tuple[Any, ...] | None:  # fmt: skip
        """A random row matching `where`, biased towards recent ids (where the action is)."""
        bounds = cur.execute(
            compose("SELECT min(id), max(id) FROM {table}", table=table)
        ).fetchone()
        if bounds is None or bounds[0] is None:
            return None
        lo, hi = int(bounds[0]), int(bounds[1])
        pivot = hi - int((hi - lo) * self.rng.random() ** recent)
        for template in (
            "SELECT {columns} FROM {table} WHERE ({where}) AND id >= ? ORDER BY id LIMIT 1",
            "SELECT {columns} FROM {table} WHERE ({where}) AND id < ? ORDER BY id DESC LIMIT 1",
        ):
            sql = compose(template, columns=columns, table=table, where=where)
            row = cur.execute(sql, [pivot]).fetchone()
            if row is not None:
                return tuple(row)
        return None

    def _seller(self, exclude: int | None = None) -> tuple[int, int]:
        choices = [s for s in self.sellers if s[0] != exclude] or self.sellers
        return choices[int(self.rng.integers(len(choices)))]

    @staticmethod
    def _status_json(status_id: int, pipeline_id: int) -> str:
        return f'[{{"lead_status":{{"id":{status_id},"pipeline_id":{pipeline_id}}}}}]'

    # -- changes ------------------------------------------------------------------------------

    def _new_lead(self, cur: duckdb.DuckDBPyConnection, now: int) -> bool:
        rng = self.rng
        pipeline = self.pipelines[0] if rng.random() < 0.85 or len(self.pipelines) == 1 else (
            self.pipelines[1 + int(rng.integers(len(self.pipelines) - 1))])  # fmt: skip
        stages = self.stages[pipeline]
        owner, group = self._seller()
        inbound = rng.random() < 0.75
        lead_id = self._take("next_lead_id", 7)
        contact_id = self._take("next_contact_id", 5)
        first = vocab.FIRST_NAMES[int(rng.integers(len(vocab.FIRST_NAMES)))]
        last = vocab.LAST_NAMES[int(rng.integers(len(vocab.LAST_NAMES)))]
        person = f"{first} {last}"
        creator = 0 if inbound else owner
        channel = int(rng.integers(4)) if inbound else -1
        utm: list[str | None] = [None] * 8
        if channel == 0:
            gclid = (
                "Cj0KCQjw" + hashlib.md5(f"{self.seed}:lg:{lead_id}".encode()).hexdigest() + "_BwE"
            )
            utm = ["google", "cpc", vocab.GOOGLE_CAMPAIGNS[int(rng.integers(5))], None, None,
                   "https://www.google.com/", gclid, None]  # fmt: skip
        elif channel == 1:
            fbclid = "IwAR" + hashlib.md5(f"{self.seed}:lf:{lead_id}".encode()).hexdigest()
            utm = ["facebook", "paid_social", vocab.META_CAMPAIGNS[int(rng.integers(4))],
                   None, None, None, None, fbclid]  # fmt: skip
        elif channel == 2:
            utm = ["instagram", "social", None, None, None, None, None, None]
        name = (f"Formulário do site - {person}" if channel in (0, 2)
                else f"Facebook Lead Ads - {person}" if channel == 1
                else f"WhatsApp: {person}" if inbound else f"{person} - Prospecção")  # fmt: skip
        status = stages[0] if inbound else stages[min(1, len(stages) - 1)]
        step = self.profile.price_step
        median = 3800 * self.profile.price_factor
        price = (
            0 if inbound else int(round(float(rng.lognormal(np.log(median), 0.5)) / step) * step)
        )

        cur.execute(
            "INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, false, NULL, [])",
            [contact_id, person, first, last, owner, group, creator, creator, now, now],
        )
        closest = None
        if rng.random() < 0.5:
            task_id = self._take("next_task_id", 5)
            closest = now + int(rng.integers(1, 5)) * HOUR
            cur.execute(
                "INSERT INTO tasks VALUES (?, 0, 0, ?, ?, ?, ?, ?, 'leads', 0, false, 1, "
                "'Fazer primeiro contato', NULL, ?, NULL)",
                [task_id, now, now, owner, group, lead_id, closest],
            )
        cur.execute(
            "INSERT INTO leads VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, NULL, ?, false, "
            "NULL, NULL, 0, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, [])",
            [lead_id, name, price, owner, group, status, pipeline, creator, creator, now, now,
             closest, *utm],
        )  # fmt: skip
        cur.execute("INSERT INTO lead_contacts VALUES (?, ?, true)", [lead_id, contact_id])
        if inbound:
            uid = hashlib.md5(f"{self.seed}:u:{lead_id}".encode()).hexdigest()
            source = ("whatsapp-business", "WhatsApp Business", "chats") if channel == 3 else (
                "site-form", "Formulário do site", "forms")  # fmt: skip
            cur.execute(
                "INSERT INTO unsorted VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', NULL)",
                [uid, *source, pipeline, now, lead_id],
            )
        self._event(cur, now, "lead_added", lead_id, "lead", creator)
        if rng.random() < 0.7:
            delay = int(rng.lognormal(np.log(20 * MINUTE), 1.0))
            self.pending_calls.append((now + delay, lead_id, contact_id, owner))
        return True

    def _call(self, cur: duckdb.DuckDBPyConnection, now: int, lead_id: int, contact_id: int,
              user_id: int) -> bool:  # fmt: skip
        row = cur.execute(
            "SELECT responsible_user_id, group_id FROM leads WHERE id = ? AND NOT is_deleted",
            [lead_id],
        ).fetchone()
        if row is None:
            return False
        user_id, group = int(row[0]), int(row[1] or 0)
        note_id = self._take("next_note_id", 4)
        answered = self.rng.random() < 0.6
        duration = int(np.clip(self.rng.lognormal(np.log(170), 0.9), 12, 3600)) if answered else 0
        uniq = hashlib.md5(f"{self.seed}:ln:{note_id}".encode()).hexdigest()
        uniq = f"{uniq[:8]}-{uniq[8:12]}-4{uniq[13:16]}-a{uniq[17:20]}-{uniq[20:32]}"
        ddd, number = phone_parts(np.array([contact_id], dtype=np.int64), self.seed)
        digits = f"{int(number[0]):08d}"
        link = f"https://gravacoes.{self.domain}/rec/{uniq}.mp3" if answered else ""
        status, result = (4, "Conversa realizada") if answered else vocab.CALL_UNANSWERED[0]
        params = (
            f'{{"uniq":"{uniq}","duration":{duration},"source":"{vocab.CALL_SOURCES[0]}",'
            f'"link":"{link}","phone":"+55 {int(ddd[0])} 9{digits[:4]}-{digits[4:]}",'
            f'"call_status":{status},"call_result":"{result}"}}'
        )
        cur.execute(
            "INSERT INTO notes VALUES (?, 'leads', ?, ?, ?, ?, ?, ?, ?, 'call_out', ?)",
            [note_id, lead_id, user_id, user_id, now, now, user_id, group, params],
        )
        self._event(cur, now, "outgoing_call", lead_id, "lead", user_id,
                    after=f'[{{"note":{{"id":{note_id}}}}}]')  # fmt: skip
        return True

    def _stage_move(self, cur: duckdb.DuckDBPyConnection, now: int) -> bool:
        rng = self.rng
        reopen = rng.random() < 0.05
        where = f"NOT is_deleted AND status_id {'IN' if reopen else 'NOT IN'} {_CLOSED}"
        row = self._pick(cur, "leads", "id, status_id, pipeline_id, responsible_user_id", where)
        if row is None:
            return False
        lead_id, status, pipeline, owner = (int(v) for v in row)
        stages = self.stages.get(pipeline)
        if not stages or len(stages) < 2:
            return False
        last = len(stages) - 1
        if status in (WON_STATUS_ID, LOST_STATUS_ID):
            target = stages[last] if status == WON_STATUS_ID else stages[1]
        elif status == stages[0]:
            target = LOST_STATUS_ID if rng.random() < 0.1 else stages[1]
            cur.execute(
                "UPDATE unsorted SET status = ?, sorted_at = ? WHERE lead_id = ? AND status = 'pending'",
                ["declined" if target == LOST_STATUS_ID else "accepted", now, lead_id],
            )
        else:
            j = stages.index(status) if status in stages else 1
            r = rng.random()
            if r < 0.18:
                target = LOST_STATUS_ID
            elif r < 0.23 and j >= 2:
                target = stages[j - 1]
            elif r < 0.30 and j + 2 <= last:
                target = stages[j + 2]
            else:
                target = WON_STATUS_ID if j == last else stages[j + 1]
        by = 0 if rng.random() < 0.1 else owner
        closed = now if target in (WON_STATUS_ID, LOST_STATUS_ID) else None
        reason = None
        if target == LOST_STATUS_ID and self.loss_reasons and rng.random() < 0.85:
            reason = self.loss_reasons[int(rng.integers(len(self.loss_reasons)))]
        cur.execute(
            "UPDATE leads SET status_id = ?, closed_at = ?, loss_reason_id = ?, updated_at = ?, "
            "updated_by = ? WHERE id = ?",
            [target, closed, reason, now, by, lead_id],
        )
        self._event(cur, now, "lead_status_changed", lead_id, "lead", by,
                    self._status_json(status, pipeline), self._status_json(target, pipeline))  # fmt: skip
        return True

    def _reassign(self, cur: duckdb.DuckDBPyConnection, now: int) -> bool:
        row = self._pick(cur, "leads", "id, responsible_user_id",
                         f"NOT is_deleted AND status_id NOT IN {_CLOSED}")  # fmt: skip
        if row is None:
            return False
        lead_id, old = int(row[0]), int(row[1])
        new, group = self._seller(exclude=old)
        if new == old:
            return False
        cur.execute(
            "UPDATE leads SET responsible_user_id = ?, group_id = ?, updated_at = ?, updated_by = ? "
            "WHERE id = ?",
            [new, group, now, self.admin, lead_id],
        )
        self._event(cur, now, "entity_responsible_changed", lead_id, "lead", self.admin,
                    f'[{{"responsible_user":{{"id":{old}}}}}]',
                    f'[{{"responsible_user":{{"id":{new}}}}}]')  # fmt: skip
        return True

    def _delete(self, cur: duckdb.DuckDBPyConnection, now: int) -> bool:
        row = self._pick(cur, "leads", "id, responsible_user_id", "NOT is_deleted")
        if row is None:
            return False
        lead_id, owner = int(row[0]), int(row[1])
        by = owner if self.rng.random() < 0.7 else self.admin
        cur.execute(
            "UPDATE leads SET is_deleted = true, deleted_at = ?, updated_at = ?, updated_by = ? "
            "WHERE id = ?",
            [now, now, by, lead_id],
        )
        self._event(cur, now, "lead_deleted", lead_id, "lead", by)
        return True

    def _restore(self, cur: duckdb.DuckDBPyConnection, now: int) -> bool:
        row = self._pick(cur, "leads", "id, responsible_user_id", "is_deleted", recent=1.0)
        if row is None:
            return False
        lead_id, owner = int(row[0]), int(row[1])
        cur.execute(
            "UPDATE leads SET is_deleted = false, deleted_at = NULL, updated_at = ?, updated_by = ? "
            "WHERE id = ?",
            [now, owner, lead_id],
        )
        self._event(cur, now, "lead_restored", lead_id, "lead", owner)
        return True

    def _complete_task(self, cur: duckdb.DuckDBPyConnection, now: int) -> bool:
        row = self._pick(cur, "tasks", "id, entity_id, entity_type, responsible_user_id",
                         "NOT is_completed")  # fmt: skip
        if row is None:
            return False
        task_id, entity_id, entity_type, owner = row
        result = None
        if self.rng.random() < 0.45:
            result = vocab.TASK_RESULTS[int(self.rng.integers(len(vocab.TASK_RESULTS)))]
        cur.execute(
            "UPDATE tasks SET is_completed = true, completed_at = ?, updated_at = ?, "
            "updated_by = ?, result_text = ? WHERE id = ?",
            [now, now, owner, result, task_id],
        )
        self._event(cur, now, "task_completed", int(task_id), "task", int(owner))
        if entity_type in ("leads", "contacts") and entity_id is not None:
            # The entity's closest_task_at follows its open tasks; when it changes, so does the
            # entity's updated_at, or an incremental sync could never see the new value.
            cur.execute(
                compose(
                    """UPDATE {table} SET closest_task_at = o.t, updated_at = ?
                    FROM (SELECT min(complete_till) AS t FROM tasks
                          WHERE entity_type = ? AND entity_id = ? AND NOT is_completed) o
                    WHERE id = ? AND closest_task_at IS DISTINCT FROM o.t""",
                    table=entity_type,
                ),
                [now, entity_type, int(entity_id), int(entity_id)],
            )
        return True
