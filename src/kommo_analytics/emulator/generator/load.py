"""Writing the generated arrays into the store.

Numbers travel as Arrow columns registered on the DuckDB connection; text (names, JSON values,
tracking fields) is assembled by DuckDB from small integer codes in one INSERT ... SELECT per
table, so no Python code runs per row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from kommo_analytics.emulator.generator import vocab
from kommo_analytics.emulator.generator.activity import (
    ACTIVITY_TYPES,
    INCOMING_CHAT,
    NOTE_CALL_IN,
    NOTE_CALL_OUT,
    NOTE_COMMON,
    NOTE_MAIL,
    NOTE_SERVICE,
    NOTE_SMS_OUT,
    NOTE_TYPES,
    OUTGOING_CHAT,
    OUTGOING_SMS,
    Activity,
    Notes,
    Tasks,
)
from kommo_analytics.emulator.generator.common import (
    NEVER,
    STREAM_EVENTS,
    STREAM_LEAD_EXTRAS,
    Arr,
    release_memory,
    sql_list,
    stream,
)
from kommo_analytics.emulator.generator.funnel import (
    EMAIL,
    FACEBOOK,
    FORMS,
    GOOGLE_ADS,
    INSTAGRAM,
    LOST,
    ORGANIC,
    WON,
    Leads,
    Moves,
)
from kommo_analytics.emulator.generator.lifecycle import LeadFields
from kommo_analytics.emulator.generator.people import People, phone_parts
from kommo_analytics.emulator.generator.setup import Setup
from kommo_analytics.emulator.sql import compose, generated
from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID

# Event kinds: the order of EVENT_TYPES; activity kinds follow ACTIVITY_TYPES from index 3.
EVENT_TYPES: tuple[str, ...] = (
    "lead_added", "lead_status_changed", "entity_responsible_changed", *ACTIVITY_TYPES,
    "task_completed", "lead_deleted", "lead_restored",
)  # fmt: skip
EV_ADDED, EV_STATUS, EV_RESPONSIBLE = 0, 1, 2
EV_ACTIVITY = 3
EV_TASK_DONE = EVENT_TYPES.index("task_completed")
EV_DELETED = EVENT_TYPES.index("lead_deleted")
EV_RESTORED = EVENT_TYPES.index("lead_restored")
ENTITY_TYPES = ("lead", "contact", "task")
EVENT_CHUNK = 1_000_000
CROCKFORD = np.frombuffer(b"0123456789abcdefghjkmnpqrstvwxyz", dtype=np.uint8)


@contextmanager
def registered(
    con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, Any]
) -> Iterator[None]:
    con.register(name, pa.table(columns))
    try:
        yield
    finally:
        con.unregister(name)


def nullable(values: Arr, null: Arr) -> pa.Array:
    return pa.array(values.astype(np.int64), mask=null, type=pa.int64())


def id_list(mask: Arr, ids: Sequence[int]) -> pa.Array:
    """A BIGINT[] column from a (rows × choices) membership matrix."""
    rows, cols = np.nonzero(mask)
    offsets = np.zeros(mask.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=mask.shape[0]), out=offsets[1:])
    values = pa.array(np.asarray(ids, dtype=np.int64)[cols], type=pa.int64())
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values)


def ulids(ms: Arr, seq: Arr, rng: np.random.Generator) -> pa.Array:
    """ULID-like ids: 10 base32 characters of milliseconds, then 80 bits of which 40 are random
    and 40 a bijective scramble of `seq`, so ids are unique by construction and sort by time."""
    n = ms.size
    mat = np.empty((n, 26), dtype=np.uint8)
    t = ms.astype(np.uint64)
    for k in range(10):
        mat[:, 9 - k] = CROCKFORD[((t >> np.uint64(5 * k)) & np.uint64(31)).astype(np.intp)]
    rand = rng.integers(0, 1 << 40, n, dtype=np.int64).astype(np.uint64)
    mask40 = np.uint64((1 << 40) - 1)
    mixed = (seq.astype(np.uint64) * np.uint64(0x9E3779B97F) + np.uint64(0x5DEECE66D)) & mask40
    for k in range(8):
        mat[:, 17 - k] = CROCKFORD[((rand >> np.uint64(5 * k)) & np.uint64(31)).astype(np.intp)]
        mat[:, 25 - k] = CROCKFORD[((mixed >> np.uint64(5 * k)) & np.uint64(31)).astype(np.intp)]
    offsets = np.arange(0, 26 * (n + 1), 26, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat.reshape(-1)))


def _insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[object]]
) -> None:
    """A few dictionary rows in one statement (executemany costs milliseconds per row)."""
    if not rows:
        return
    width = len(rows[0])
    row_sql = "(" + ", ".join("?" * width) + ")"
    params = [value for row in rows for value in row]
    values = ", ".join([row_sql] * len(rows))
    con.execute(compose("INSERT INTO {table} VALUES {values}", table=table, values=values), params)


def _uuid_sql(hex_expr: str) -> str:
    """A UUID-formatted string from a 32-character hex expression."""
    h = hex_expr
    return (
        f"substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-4' || substr({h}, 14, 3) || '-a' "
        f"|| substr({h}, 18, 3) || '-' || substr({h}, 21, 12)"
    )


def _phone_sql(ddd: str, digits: str) -> str:
    d = f"lpad(CAST({digits} AS VARCHAR), 8, '0')"
    return f"'+55 ' || {ddd} || ' 9' || substr({d}, 1, 4) || '-' || substr({d}, 5, 4)"


class Writer:
    def __init__(self, con: duckdb.DuckDBPyConnection, setup: Setup) -> None:
        self.con = con
        self.setup = setup
        users = setup.users
        self._user_ids = np.concatenate([users.ids, np.zeros(1, np.int64)])
        self._groups = np.concatenate([users.group_ids, np.zeros(1, np.int64)])
        width = max(len(p.stage_ids) for p in setup.pipelines)
        self._status = np.zeros((len(setup.pipelines), max(width, LOST + 1)), dtype=np.int64)
        for i, p in enumerate(setup.pipelines):
            self._status[i, : len(p.stage_ids)] = p.stage_ids
            self._status[i, WON] = WON_STATUS_ID
            self._status[i, LOST] = LOST_STATUS_ID
        self._pipe_ids = np.array([p.id for p in setup.pipelines], dtype=np.int64)

    def uid(self, index: Arr) -> Arr:
        """User ids from user indices; -1 (robot) becomes 0."""
        return self._user_ids[np.where(index >= 0, index, -1)]

    def group(self, index: Arr) -> Arr:
        return self._groups[np.where(index >= 0, index, -1)]

    def status(self, pipe: Arr, pos: Arr) -> Arr:
        return self._status[pipe, pos]

    # -- dictionaries -------------------------------------------------------------------------

    def dictionaries(self) -> None:
        s, con, users = self.setup, self.con, self.setup.users
        zone = s.profile
        con.execute(
            "INSERT INTO account VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'disabled', "
            "true, true, false, false, 1, ?, ?, 11, ?, ?, "
            "'d/m/Y H:i', 'd/m/Y', 'H:i', 'd/m/Y', 'H:i')",
            [s.account_id, s.account_name, s.subdomain, s.account_created_at, int(users.ids[0]),
             s.now - 12 * 86_400, int(users.ids[0]), int(users.ids[0]), zone.country, zone.currency,
             zone.currency_symbol, s.amojo_id, s.account_uuid, zone.timezone, zone.offset_text],
        )  # fmt: skip
        _insert_rows(con, "users_groups", s.groups)
        _insert_rows(con, "task_types", [
            (1, "Follow-up", "FOLLOW_UP", None, None), (2, "Reunião", "MEETING", None, None),
            (s.custom_task_type_id, "Enviar proposta", None, "#ffc8c8", 5),
        ])  # fmt: skip
        _insert_rows(con, "users", [
            (int(users.ids[i]), users.names[i], users.emails[i], "pt", bool(users.is_admin[i]),
             False, bool(users.is_active[i]), int(users.group_ids[i]), users.role_ids[i])
            for i in range(len(users.ids))
        ])  # fmt: skip
        _insert_rows(con, "pipelines", [
            (p.id, p.name, p.sort, p.is_main, True, False) for p in s.pipelines
        ])  # fmt: skip
        rows: list[tuple[object, ...]] = []
        for p in s.pipelines:
            for j, (sid, name) in enumerate(zip(p.stage_ids, p.stage_names, strict=True)):
                if j == 0:
                    rows.append((sid, p.id, name, 10, 1, "#c1c1c1", False))
                else:
                    color = vocab.STAGE_COLORS[(j - 1 + p.sort) % len(vocab.STAGE_COLORS)]
                    rows.append((sid, p.id, name, 10 + 10 * j, 0, color, True))
            rows.append((WON_STATUS_ID, p.id, "Venda ganha", 10_000, 0, "#CCFF66", False))
            rows.append((LOST_STATUS_ID, p.id, "Venda perdida", 11_000, 0, "#D5D8DB", False))
        _insert_rows(con, "statuses", rows)
        _insert_rows(con, "loss_reasons", [
            (rid, name, i + 1, created, updated) for i, (rid, name, (created, updated)) in enumerate(
                zip(s.loss_reason_ids, vocab.LOSS_REASONS, s.loss_reason_times, strict=True))
        ])  # fmt: skip
        _insert_rows(con, "custom_fields", s.custom_fields)
        tag_rows: list[tuple[object, ...]] = [
            (tid, "leads", name, vocab.TAG_COLORS[i % len(vocab.TAG_COLORS)])
            for i, (tid, name) in enumerate(zip(s.lead_tag_ids, vocab.LEAD_TAGS, strict=True))
        ]
        tag_rows += [(tid, "contacts", name, None)
                     for tid, name in zip(s.contact_tag_ids, vocab.CONTACT_TAGS, strict=True)]  # fmt: skip
        _insert_rows(con, "tags", tag_rows)
        _insert_rows(con, "sources", [src[:5] for src in s.sources])

    # -- people -------------------------------------------------------------------------------

    def people(self, people: People, leads: Leads, tasks: Tasks) -> None:
        p = people
        # closest_task_at of a contact: its nearest open task deadline.
        closest = np.full(p.contact_ids.size, NEVER, dtype=np.int64)
        sel = (tasks.lead >= 0) & tasks.on_contact & (tasks.completed_at == NEVER)
        np.minimum.at(closest, p.lead_contact[tasks.lead[sel]], tasks.deadline[sel])
        del leads
        with registered(self.con, "g_companies", {
            "id": p.company_ids, "kind": p.company_kind, "core": p.company_core,
            "suffix": p.company_suffix, "owner": self.uid(p.company_owner),
            "grp": self.group(p.company_owner), "creator": self.uid(p.company_creator),
            "created_at": p.company_created, "updated_at": p.company_updated,
        }):  # fmt: skip
            self.con.execute(
                generated(
                    """
                INSERT INTO companies SELECT id,
                    {company_kinds}[kind + 1] || ' '
                        || {company_cores}[core + 1]
                        || CASE WHEN suffix = {no_suffix} THEN ''
                           ELSE ' ' || {company_suffixes}[suffix + 1] END,
                    owner, grp, creator, creator, created_at, updated_at, NULL, false
                FROM g_companies""",
                    company_kinds=sql_list(vocab.COMPANY_KINDS),
                    company_cores=sql_list(vocab.COMPANY_CORES),
                    no_suffix=vocab.COMPANY_SUFFIXES.index(""),
                    company_suffixes=sql_list(vocab.COMPANY_SUFFIXES),
                )
            )
        company_id = nullable(
            p.company_ids[np.maximum(p.contact_company, 0)] if p.company_ids.size else
            np.zeros(p.contact_ids.size, np.int64), p.contact_company < 0,
        )  # fmt: skip
        with registered(self.con, "g_contacts", {
            "id": p.contact_ids, "first": p.contact_first, "last": p.contact_last,
            "last2": p.contact_last2, "owner": self.uid(p.contact_owner),
            "grp": self.group(p.contact_owner), "creator": self.uid(p.contact_creator),
            "created_at": p.contact_created, "updated_at": p.contact_updated,
            "closest": nullable(closest, closest == NEVER),
            "company_id": company_id,
            "tag_ids": id_list(p.contact_tag_mask, self.setup.contact_tag_ids),
        }):  # fmt: skip
            self.con.execute(
                generated(
                    """
                INSERT INTO contacts SELECT id, fn || ' ' || ln, fn, ln, owner, grp, creator,
                    creator, created_at, updated_at, closest, false, company_id, tag_ids
                FROM (SELECT *, {first_names}[first + 1] AS fn,
                        {last_names}[last + 1]
                        || CASE WHEN last2 < 0 THEN ''
                           ELSE ' ' || {last_names}[last2 + 1] END AS ln
                      FROM g_contacts)""",
                    first_names=sql_list(vocab.FIRST_NAMES),
                    last_names=sql_list(vocab.LAST_NAMES),
                )
            )

    # -- leads --------------------------------------------------------------------------------

    def leads(self, leads: Leads, fields: LeadFields, people: People) -> None:
        s, f = self.setup, fields
        owner = leads.owner
        contact = people.lead_contact
        company = people.lead_company
        reason = np.asarray(s.loss_reason_ids, dtype=np.int64)[np.maximum(leads.loss_reason, 0)]
        products = np.asarray(s.product_enum_ids, dtype=np.int64)[np.maximum(f.product, 0)]
        source_ids = np.asarray([src[0] for src in s.sources], dtype=np.int64)
        has_co = people.company_ids.size > 0
        comp_ids = people.company_ids if has_co else np.zeros(1, np.int64)
        co_kind = people.company_kind if has_co else np.zeros(1, np.int64)
        co_core = people.company_core if has_co else np.zeros(1, np.int64)
        company_at = np.maximum(company, 0)
        extras = stream(s.seed, STREAM_LEAD_EXTRAS)
        # UNCERTAIN (docs/kommo-api.md §12.8): real accounts send `labor_cost` as null as well as 0.
        labor_null = extras.random(leads.n) < 0.3
        partner_pipe = np.array([p.kind == "partners" for p in s.pipelines])[leads.pipe]
        name_style = np.where(partner_pipe & (f.name_style != 9), 10, f.name_style)
        cols = {
            "id": leads.ids,
            "price": nullable(f.price, f.price_null),
            "owner": self.uid(owner),
            "grp": self.group(owner),
            "status": self.status(leads.pipe, leads.pos),
            "pipeline": self._pipe_ids[leads.pipe],
            "reason": nullable(reason, (leads.pos != LOST) | (leads.loss_reason < 0)),
            "source": nullable(source_ids[np.maximum(f.source, 0)], f.source < 0),
            "creator": self.uid(np.where(leads.robot_created, -1, leads.owner0)),
            "updater": self.uid(f.updated_by),
            "created_at": leads.created,
            "updated_at": f.updated_at,
            "closed_at": nullable(leads.closed_at, leads.closed_at == NEVER),
            "closest": nullable(f.closest_task, f.closest_task == NEVER),
            "is_deleted": f.deleted_at < NEVER,
            "deleted_at": nullable(f.deleted_at, f.deleted_at == NEVER),
            "score": nullable(f.score, f.score < 0),
            "labor": nullable(np.zeros(leads.n, np.int64), labor_null),
            "ch": leads.channel,
            "category": leads.category,
            "has_utm": f.has_utm,
            "ig_paid": f.instagram_paid,
            "campaign": f.campaign,
            "content": f.content,
            "term": f.term,
            "referrer": f.referrer,
            "gclid": f.gclid,
            "fbclid": f.fbclid,
            "year": f.year,
            "month": f.month,
            "product": f.product,
            "product_enum": nullable(products, f.product < 0),
            "quantity": nullable(f.quantity, f.quantity < 0),
            "company_id": nullable(comp_ids[company_at], company < 0),
            "tag_ids": id_list(f.tag_mask, s.lead_tag_ids),
            "style": name_style,
            "fn": people.contact_first[contact],
            "ln": people.contact_last[contact],
            "ln2": people.contact_last2[contact],
            "co_kind": np.where(company >= 0, co_kind[company_at], -1),
            "co_core": co_core[company_at],
        }  # fmt: skip
        seed = int(s.seed)
        partner = f"{sql_list(vocab.PARTNER_SITES)}[(id % {len(vocab.PARTNER_SITES)}) + 1]"
        click = (
            "replace(replace(rtrim(to_base64(unhex(md5('{seed}:{tag}:' || id) || "
            "md5('{seed}:{tag}2:' || id))), '='), '+', '-'), '/', '_')"
        )
        gclid_expr = "'Cj0KCQjw' || " + click.format(seed=seed, tag="g") + " || '_BwE'"
        fbclid_expr = "'IwAR' || " + click.format(seed=seed, tag="f")
        product_names = sql_list([name for name, _ in vocab.PRODUCTS])
        with registered(self.con, "g_leads", cols):
            self.con.execute(
                generated(
                    """
                INSERT INTO leads SELECT id,
                    CASE style
                        WHEN 9 THEN 'Negócio #' || id
                        WHEN 10 THEN 'Parceria - ' || who
                        WHEN 0 THEN 'Formulário do site - ' || cname
                        WHEN 3 THEN 'Formulário do site - ' || cname
                        WHEN 1 THEN 'Facebook Lead Ads - ' || cname
                        WHEN 2 THEN CASE WHEN category = 1 THEN 'Instagram Direct: ' ELSE 'Instagram - ' END || cname
                        WHEN 4 THEN CASE WHEN category = 3 THEN 'E-mail: ' ELSE 'Newsletter - ' END || cname
                        WHEN 5 THEN 'Indicação - ' || who
                        WHEN 6 THEN who || ' - ' || coalesce({product_names}[product + 1], 'Prospecção')
                        WHEN 7 THEN CASE WHEN category = 1 THEN 'WhatsApp: ' ELSE 'Ligação recebida - ' END || cname
                        ELSE 'Renovação ' || who || ' ' || year
                    END,
                    price, owner, grp, status, pipeline, reason, source, creator, updater,
                    created_at, updated_at, closed_at, closest, is_deleted, deleted_at, score, labor,
                    CASE WHEN has_utm THEN CASE ch WHEN 0 THEN 'google' WHEN 1 THEN 'facebook'
                        WHEN 2 THEN 'instagram' WHEN 3 THEN 'google' WHEN 4 THEN 'newsletter'
                        ELSE {partner} END END,
                    CASE WHEN has_utm THEN CASE ch WHEN 0 THEN 'cpc' WHEN 1 THEN 'paid_social'
                        WHEN 2 THEN CASE WHEN ig_paid THEN 'paid_social' ELSE 'social' END
                        WHEN 3 THEN 'organic' WHEN 4 THEN 'email' ELSE 'referral' END END,
                    CASE WHEN NOT has_utm THEN NULL
                        WHEN campaign = -2 THEN 'black_friday_' || year
                        WHEN campaign >= 0 AND ch = 0 THEN {google_campaigns}[campaign + 1]
                        WHEN campaign >= 0 THEN {meta_campaigns}[campaign + 1]
                        WHEN ch = 4 THEN 'newsletter_' || lpad(CAST(month AS VARCHAR), 2, '0') || '_' || year
                        WHEN ch = 5 THEN 'programa_indicacao' END,
                    CASE WHEN has_utm AND content >= 0 THEN {ad_contents}[content + 1] END,
                    CASE WHEN has_utm AND term >= 0 THEN {google_terms}[term + 1] END,
                    CASE WHEN referrer THEN CASE ch WHEN 0 THEN 'https://www.google.com/'
                        WHEN 1 THEN 'https://l.facebook.com/' WHEN 2 THEN 'https://l.instagram.com/'
                        WHEN 3 THEN 'https://www.google.com.br/' WHEN 4 THEN 'https://mail.google.com/'
                        ELSE 'https://' || {partner} || '/' END END,
                    CASE WHEN gclid THEN {gclid_expr} END,
                    CASE WHEN fbclid THEN {fbclid_expr} END,
                    product_enum, quantity, company_id, tag_ids
                FROM (SELECT *, CASE WHEN co_kind >= 0
                                THEN {company_kinds}[co_kind + 1] || ' '
                                    || {company_cores}[co_core + 1]
                                ELSE cname END AS who
                      FROM (SELECT *, {first_names}[fn + 1] || ' '
                                || {last_names}[ln + 1]
                                || CASE WHEN ln2 < 0 THEN ''
                                   ELSE ' ' || {last_names}[ln2 + 1] END AS cname
                            FROM g_leads))""",
                    product_names=product_names,
                    google_campaigns=sql_list(vocab.GOOGLE_CAMPAIGNS),
                    meta_campaigns=sql_list(vocab.META_CAMPAIGNS),
                    ad_contents=sql_list(vocab.AD_CONTENTS),
                    google_terms=sql_list(vocab.GOOGLE_TERMS),
                    partner=partner,
                    gclid_expr=gclid_expr,
                    fbclid_expr=fbclid_expr,
                    company_kinds=sql_list(vocab.COMPANY_KINDS),
                    company_cores=sql_list(vocab.COMPANY_CORES),
                    first_names=sql_list(vocab.FIRST_NAMES),
                    last_names=sql_list(vocab.LAST_NAMES),
                )
            )

        with registered(self.con, "g_channels", {"id": leads.ids, "ch": leads.channel}):
            self._extra_tracking(leads, fields, extras)

        main = pa.table({"lead_id": leads.ids, "contact_id": people.contact_ids[contact],
                         "is_main": np.ones(leads.n, bool)})  # fmt: skip
        extra = pa.table({"lead_id": leads.ids[people.extra_lead],
                          "contact_id": people.contact_ids[people.extra_contact],
                          "is_main": np.zeros(people.extra_lead.size, bool)})  # fmt: skip
        for name, table in (("g_main", main), ("g_extra", extra)):
            self.con.register(name, table)
            self.con.execute(compose("INSERT INTO lead_contacts SELECT * FROM {name}", name=name))
            self.con.unregister(name)

    def _extra_tracking(self, leads: Leads, f: LeadFields, rng: np.random.Generator) -> None:
        """The tracking codes beyond the eight lead columns, into `lead_tracking`. UTM_REFERRER
        comes on some leads instead of REFERRER: their referrer moves out of the column."""
        s, n, ch = self.setup, leads.n, leads.channel
        codes = list(s.extra_tracking_ids)
        web = f.has_utm
        forms = leads.category == FORMS
        openstat = web & (rng.random(n) < 0.02)
        masks = {
            "UTM_REFERRER": f.referrer & (rng.random(n) < 0.3),
            "YCLID": np.isin(ch, [GOOGLE_ADS, ORGANIC]) & (rng.random(n) < 0.03),
            "GCLIENTID": web & (rng.random(n) < 0.5),
            "ROISTAT": web & (rng.random(n) < 0.05),
            "_YM_UID": web & (rng.random(n) < 0.08),
            "OPENSTAT_SERVICE": openstat,
            "OPENSTAT_CAMPAIGN": openstat,
            "FROM": forms & (rng.random(n) < 0.2),
        }
        for code in codes[len(masks) :]:
            masks[code] = forms & (rng.random(n) < 0.4)
        picked = [np.nonzero(masks[code])[0] for code in codes]
        index = np.concatenate(picked)
        kind = np.concatenate([np.full(p.size, k, np.int64) for k, p in enumerate(picked)])
        ids = sql_list([str(s.extra_tracking_ids[code]) for code in codes])
        site = f"www.{s.domain}"
        digits = "CAST(('0x' || substr(md5('{seed}:{tag}:' || id), 1, 13))::BIGINT AS VARCHAR)"

        def number(tag: str) -> str:
            return digits.format(seed=s.seed, tag=tag)

        values = {
            "UTM_REFERRER": "referrer",
            "YCLID": number("y"),
            "GCLIENTID": f"substr({number('ga')}, 1, 10) || '.' || created_at",
            "ROISTAT": f"substr({number('r')}, 1, 6)",
            "_YM_UID": f"created_at || substr({number('ym')}, 1, 9)",
            "OPENSTAT_SERVICE": "'direct.yandex.ru'",
            "OPENSTAT_CAMPAIGN": f"substr({number('os')}, 1, 8)",
            "FROM": (
                f"CASE ch WHEN {GOOGLE_ADS} THEN 'google.com.br' WHEN {FACEBOOK} THEN 'facebook.com'"
                f" WHEN {INSTAGRAM} THEN 'instagram.com' WHEN {EMAIL} THEN 'mail.google.com'"
                f" ELSE '{site}' END"
            ),
            "SOURCE_PAGE": f"'https://{site}' || {sql_list(vocab.LANDING_PATHS)}[id % "
            f"{len(vocab.LANDING_PATHS)} + 1]",
            "SOURCE_DOMAIN": f"'{site}'",
            "LANDING_PAGE": f"'https://{site}' || {sql_list(vocab.LANDING_PATHS)}[(id // 3) % "
            f"{len(vocab.LANDING_PATHS)} + 1]",
            "FORM_NAME": f"{sql_list(vocab.FORM_NAMES)}[id % {len(vocab.FORM_NAMES)} + 1]",
            "CLIENT_ID": _uuid_sql(f"md5('{s.seed}:cid:' || id)"),
            "UTM_ID": f"substr({number('u')}, 1, 7)",
        }
        value_sql = (
            "CASE k "
            + " ".join(f"WHEN {k} THEN {values[code]}" for k, code in enumerate(codes))
            + " END"
        )
        with registered(self.con, "g_tracking", {"lead_id": leads.ids[index], "k": kind}):
            self.con.execute(
                generated(
                    """
                INSERT INTO lead_tracking SELECT id, CAST({ids}[k + 1] AS BIGINT), {value_sql}
                FROM (SELECT g.k, l.id, l.created_at, l.referrer, c.ch
                      FROM g_tracking g JOIN leads l ON l.id = g.lead_id
                      JOIN g_channels c ON c.id = g.lead_id)""",
                    ids=ids,
                    value_sql=value_sql,
                )
            )
        self.con.execute(
            "UPDATE leads SET referrer = NULL WHERE id IN "
            "(SELECT lead_id FROM lead_tracking WHERE field_id = ?)",
            [s.extra_tracking_ids["UTM_REFERRER"]],
        )

    # -- tasks, notes -------------------------------------------------------------------------

    def tasks(self, tasks: Tasks, leads: Leads, people: People) -> None:
        s = self.setup
        linked = tasks.lead >= 0
        li = np.maximum(tasks.lead, 0)
        entity = np.where(
            tasks.on_contact, people.contact_ids[people.lead_contact[li]], leads.ids[li]
        )
        done = tasks.completed_at < NEVER
        type_ids = np.array([1, 2, s.custom_task_type_id], dtype=np.int64)
        with registered(self.con, "g_tasks", {
            "id": tasks.ids, "creator": self.uid(tasks.creator),
            "updater": self.uid(np.where(done, tasks.owner, tasks.creator)),
            "created_at": tasks.created,
            "updated_at": np.where(done, tasks.completed_at, tasks.created),
            "owner": self.uid(tasks.owner), "grp": self.group(tasks.owner),
            "entity_id": nullable(entity, ~linked), "on_contact": tasks.on_contact,
            "linked": linked, "duration": tasks.duration, "done": done,
            "type_id": type_ids[tasks.kind], "kind": tasks.kind, "text": tasks.text,
            "result": tasks.result, "deadline": tasks.deadline,
            "completed_at": nullable(tasks.completed_at, ~done),
        }):  # fmt: skip
            self.con.execute(
                generated(
                    """
                INSERT INTO tasks SELECT id, creator, updater, created_at, updated_at, owner, grp,
                    entity_id,
                    CASE WHEN NOT linked THEN NULL WHEN on_contact THEN 'contacts' ELSE 'leads' END,
                    duration, done, type_id,
                    CASE kind WHEN 0 THEN {task_texts_follow_up}[text + 1]
                        WHEN 1 THEN {task_texts_meeting}[text + 1]
                        ELSE {task_texts_proposal}[text + 1] END,
                    CASE WHEN result >= 0 THEN {task_results}[result + 1] END,
                    deadline, completed_at
                FROM g_tasks""",
                    task_texts_follow_up=sql_list(vocab.TASK_TEXTS_FOLLOW_UP),
                    task_texts_meeting=sql_list(vocab.TASK_TEXTS_MEETING),
                    task_texts_proposal=sql_list(vocab.TASK_TEXTS_PROPOSAL),
                    task_results=sql_list(vocab.TASK_RESULTS),
                )
            )

    def notes(self, notes: Notes, leads: Leads, people: People) -> None:
        s = self.setup
        contact = people.lead_contact[notes.lead]
        entity = np.where(notes.on_contact, people.contact_ids[contact], leads.ids[notes.lead])
        ddd, digits = phone_parts(people.contact_ids[contact], s.seed)
        n_sources = 1 + s.seed % 2
        first_source = s.seed % len(vocab.CALL_SOURCES)
        src_pick = (first_source + (notes.ids % n_sources)) % len(vocab.CALL_SOURCES)
        n_ans = len(vocab.CALL_RESULTS_ANSWERED)
        statuses = "[" + ", ".join(str(code) for code, _ in vocab.CALL_UNANSWERED) + "]"
        unanswered = sql_list([text for _, text in vocab.CALL_UNANSWERED])
        phone = _phone_sql("ddd", "digits")
        uniq = _uuid_sql(f"md5('{s.seed}:n:' || id)")
        link_host = f"https://gravacoes.{s.domain}/rec/"
        line = f"+5511{30_000_000 + s.seed % 10_000_000:08d}"
        services = sql_list([service for service, _ in vocab.SERVICE_NOTES])
        service_texts = sql_list([text for _, text in vocab.SERVICE_NOTES])
        n_subjects = len(vocab.MAIL_SUBJECTS)
        with registered(self.con, "g_notes", {
            "id": notes.ids, "on_contact": notes.on_contact, "entity_id": entity,
            "author": self.uid(notes.author), "created_at": notes.t, "updated_at": notes.updated,
            "owner": self.uid(notes.owner), "grp": self.group(notes.owner), "kind": notes.kind,
            "owner_i": notes.owner,
            "duration": notes.duration, "code": notes.call_code, "ddd": ddd, "digits": digits,
            "src": src_pick, "fn": people.contact_first[contact], "ln": people.contact_last[contact],
        }):  # fmt: skip
            self.con.execute(
                generated(
                    """
                INSERT INTO notes SELECT id,
                    CASE WHEN on_contact THEN 'contacts' ELSE 'leads' END, entity_id, author, author,
                    created_at, updated_at, owner, grp, {note_types}[kind + 1],
                    CASE
                    WHEN kind IN ({NOTE_CALL_IN}, {NOTE_CALL_OUT}) THEN
                        '{{"uniq":"' || uniq || '","duration":' || duration || ',"source":"'
                        || CASE WHEN line THEN '{line}' ELSE {call_sources}[src + 1] END
                        || '","link":' || CASE WHEN line THEN 'null'
                           WHEN duration > 0 THEN '"{link_host}' || uniq || '.mp3"' ELSE '""' END
                        || ',"phone":"' || {phone} || '","call_status":'
                        || CASE WHEN code < {n_ans} THEN 4 ELSE {statuses}[code - {n_ans} + 1] END
                        || ',"call_result":"'
                        || CASE WHEN code < {n_ans} THEN {call_results_answered}[code + 1]
                           ELSE {unanswered}[code - {n_ans} + 1] END || '"}}'
                    WHEN kind = {NOTE_SMS_OUT} THEN
                        '{{"text":' || CAST(to_json({sms_texts}[code + 1]) AS VARCHAR)
                        || ',"phone":"' || {phone} || '"}}'
                    WHEN kind = {NOTE_COMMON} THEN
                        '{{"text":' || CAST(to_json({common_notes}[code + 1]) AS VARCHAR)
                        || '}}'
                    WHEN kind = {NOTE_SERVICE} THEN
                        '{{"service":' || CAST(to_json({services}[code + 1]) AS VARCHAR)
                        || ',"text":' || CAST(to_json({service_texts}[code + 1]) AS VARCHAR) || '}}'
                    WHEN kind = {NOTE_MAIL} THEN CAST(to_json({{
                        'thread_id': 1000000 + id % 9000000, 'message_id': id,
                        'private': false, 'income': code < {n_subjects},
                        'from': CASE WHEN code < {n_subjects} THEN client ELSE seller END,
                        'to': CASE WHEN code < {n_subjects} THEN seller ELSE client END,
                        'subject': {mail_subjects}[code % {n_subjects} + 1],
                        'content_summary': {mail_subjects}[code % {n_subjects} + 1]
                            || ' - ' || client.name,
                        'attach_cnt': CAST(id % 3 = 0 AS INTEGER)}}) AS VARCHAR)
                    END
                FROM (SELECT *, {uniq} AS uniq,
                        -- UNCERTAIN (docs/kommo-api.md §7.8): some telephony integrations put the
                        -- line's number in `source` and send no recording link at all.
                        (id // 7 + {seed}) % 4 = 0 AS line,
                        {{'email': strip_accents(lower(fname || '.' || lname)) || '@gmail.com',
                          'name': fname || ' ' || lname}} AS client,
                        {{'email': {user_emails}[owner_i + 1],
                          'name': {user_names}[owner_i + 1]}} AS seller
                      FROM (SELECT *, {first_names}[fn + 1] AS fname,
                              {last_names}[ln + 1] AS lname FROM g_notes))""",
                    note_types=sql_list(NOTE_TYPES),
                    NOTE_CALL_IN=NOTE_CALL_IN,
                    NOTE_CALL_OUT=NOTE_CALL_OUT,
                    line=line,
                    call_sources=sql_list(vocab.CALL_SOURCES),
                    link_host=link_host,
                    statuses=statuses,
                    call_results_answered=sql_list(vocab.CALL_RESULTS_ANSWERED),
                    unanswered=unanswered,
                    n_ans=n_ans,
                    NOTE_SMS_OUT=NOTE_SMS_OUT,
                    sms_texts=sql_list(vocab.SMS_TEXTS),
                    phone=phone,
                    NOTE_COMMON=NOTE_COMMON,
                    common_notes=sql_list(vocab.COMMON_NOTES),
                    NOTE_SERVICE=NOTE_SERVICE,
                    services=services,
                    service_texts=service_texts,
                    NOTE_MAIL=NOTE_MAIL,
                    mail_subjects=sql_list(vocab.MAIL_SUBJECTS),
                    n_subjects=n_subjects,
                    uniq=uniq,
                    seed=s.seed,
                    user_emails=sql_list(list(s.users.emails)),
                    user_names=sql_list(list(s.users.names)),
                    first_names=sql_list(vocab.FIRST_NAMES),
                    last_names=sql_list(vocab.LAST_NAMES),
                )
            )

    # -- unsorted -----------------------------------------------------------------------------

    def unsorted(self, leads: Leads, moves: Moves) -> None:
        s = self.setup
        inc = np.nonzero(leads.inbound)[0]
        first = np.searchsorted(moves.lead, inc)  # moves are sorted by (lead, time)
        moved = leads.n_moves[inc] > 0
        fi = np.minimum(first, max(moves.lead.size - 1, 0))
        declined = moved & (moves.dst[fi] == LOST)
        status = np.where(~moved, 2, np.where(declined, 1, 0))
        sorted_at = np.where(moved, moves.t[fi], NEVER)
        with registered(self.con, "g_unsorted", {
            "lead_id": leads.ids[inc], "category": leads.category[inc], "ch": leads.channel[inc],
            "pipeline_id": self._pipe_ids[leads.pipe[inc]], "created_at": leads.created[inc],
            "status": status, "sorted_at": nullable(sorted_at, ~moved),
        }):  # fmt: skip
            self.con.execute(
                generated(
                    """
                INSERT INTO unsorted SELECT md5('{seed}:u:' || lead_id),
                    CASE category WHEN 0 THEN 'site-form' WHEN 1 THEN
                        CASE WHEN ch = 2 THEN 'instagram-direct' ELSE 'whatsapp-business' END
                        WHEN 2 THEN 'pabx-virtual' ELSE 'contato@{domain}' END,
                    CASE category
                        WHEN 0 THEN CASE ch WHEN 1 THEN 'Facebook Lead Ads'
                            WHEN 2 THEN 'Formulário do Instagram' ELSE 'Formulário do site' END
                        WHEN 1 THEN CASE WHEN ch = 2 THEN 'Instagram Direct' ELSE 'WhatsApp Business' END
                        WHEN 2 THEN 'Telefonia' ELSE 'E-mail comercial' END,
                    (['forms', 'chats', 'sip', 'mail'])[category + 1], pipeline_id, created_at,
                    lead_id, (['accepted', 'declined', 'pending'])[status + 1], sorted_at
                FROM g_unsorted""",
                    seed=s.seed,
                    domain=s.domain,
                )
            )

    # -- events -------------------------------------------------------------------------------

    def events(
        self, leads: Leads, moves: Moves, activity: Activity, notes: Notes, tasks: Tasks,
        fields: LeadFields, people: People, creation_note: Arr,
    ) -> int:  # fmt: skip
        """Write all events in time order; returns the next free `seq`. `creation_note` is, per
        lead, the index of the note its `lead_added` event points to (-1: none)."""
        rng = stream(self.setup.seed, STREAM_EVENTS)
        zero = np.zeros(0, dtype=np.int64)
        parts: list[tuple[int, Arr, Arr, int, Arr, Arr, Arr, Arr, Arr]] = []
        # (kind, entity id, entity type, created_by, created_at, a, b, c, priority) per part
        n = leads.n
        parts.append((EV_ADDED, leads.ids, np.zeros(n, np.int64), 0,
                      self.uid(np.where(leads.robot_created, -1, leads.owner0)), leads.created,
                      np.where(creation_note >= 0, notes.ids[np.maximum(creation_note, 0)], 0),
                      zero, zero))  # fmt: skip
        pipe = leads.pipe[moves.lead]
        parts.append((EV_STATUS, leads.ids[moves.lead], np.zeros(moves.lead.size, np.int64), 2,
                      self.uid(moves.author), moves.t, self.status(pipe, moves.src),
                      self.status(pipe, moves.dst), self._pipe_ids[pipe]))  # fmt: skip
        for t, to, who, frm in (
            (leads.r1_t, leads.r1_to, leads.r1_by, leads.owner0),
            (leads.r2_t, leads.r2_to, leads.r2_by, leads.r1_to),
        ):
            sel = np.nonzero(t < NEVER)[0]
            parts.append((EV_RESPONSIBLE, leads.ids[sel], np.zeros(sel.size, np.int64), 1,
                          self.uid(who[sel]), t[sel], self.uid(frm[sel]), self.uid(to[sel]),
                          np.zeros(sel.size, np.int64)))  # fmt: skip
        a = activity
        contact_ids = people.contact_ids[people.lead_contact[a.lead]]
        note_ids = np.where(a.note >= 0, notes.ids[np.maximum(a.note, 0)], 0)
        parts.append((-1, np.where(a.on_contact, contact_ids, leads.ids[a.lead]),
                      a.on_contact.astype(np.int64), 3, self.uid(a.author), a.t,
                      note_ids, a.kind + EV_ACTIVITY, zero))  # fmt: skip
        done = np.nonzero(tasks.completed_at < NEVER)[0]
        parts.append((EV_TASK_DONE, tasks.ids[done], np.full(done.size, 2, np.int64), 3,
                      self.uid(tasks.owner[done]), tasks.completed_at[done], zero, zero, zero))  # fmt: skip
        dele = np.nonzero(fields.delete_t < NEVER)[0]
        parts.append((EV_DELETED, leads.ids[dele], np.zeros(dele.size, np.int64), 4,
                      self.uid(fields.delete_by[dele]), fields.delete_t[dele], zero, zero, zero))  # fmt: skip
        rest = np.nonzero(fields.restore_t < NEVER)[0]
        parts.append((EV_RESTORED, leads.ids[rest], np.zeros(rest.size, np.int64), 5,
                      self.uid(fields.restore_by[rest]), fields.restore_t[rest], zero, zero, zero))  # fmt: skip

        kinds, ent, etype, by, at, va, vb, vc, prio = [], [], [], [], [], [], [], [], []
        for kind, eid, et, pr, cb, t, x, y, z in parts:
            m = eid.size
            if kind == -1:  # activity: the kind travels in `y`
                kinds.append(y.astype(np.int8))
                vb.append(np.zeros(m, np.int64))
            else:
                kinds.append(np.full(m, kind, np.int8))
                vb.append(y if y.size else np.zeros(m, np.int64))
            ent.append(eid)
            etype.append(et.astype(np.int8))
            by.append(cb)
            at.append(t)
            va.append(x if x.size else np.zeros(m, np.int64))
            vc.append(z if z.size else np.zeros(m, np.int64))
            prio.append(np.full(m, pr, np.int64))
        created_at = np.concatenate(at)
        order = np.argsort(created_at * 8 + np.concatenate(prio), kind="stable")
        del prio
        columns = {
            "kind": np.concatenate(kinds), "entity_id": np.concatenate(ent),
            "etype": np.concatenate(etype), "created_by": np.concatenate(by),
            "created_at": created_at, "a": np.concatenate(va), "b": np.concatenate(vb),
            "c": np.concatenate(vc),
        }  # fmt: skip
        del kinds, ent, etype, by, at, va, vb, vc
        seed = int(self.setup.seed)
        chat = f"({INCOMING_CHAT + EV_ACTIVITY}, {OUTGOING_CHAT + EV_ACTIVITY})"
        note_kinds = ", ".join(str(k + EV_ACTIVITY) for k in (0, 1, OUTGOING_SMS))
        sql = generated(
            """
            INSERT INTO events SELECT id, seq, {event_types}[kind + 1], entity_id,
                {entity_types}[etype + 1], created_by, created_at,
                CASE kind
                    WHEN {EV_STATUS} THEN '[{{"lead_status":{{"id":' || a || ',"pipeline_id":' || c || '}}}}]'
                    WHEN {EV_RESPONSIBLE} THEN '[{{"responsible_user":{{"id":' || a || '}}}}]'
                    ELSE '[]' END,
                CASE
                    WHEN kind = {EV_STATUS} THEN '[{{"lead_status":{{"id":' || b || ',"pipeline_id":' || c || '}}}}]'
                    WHEN kind = {EV_RESPONSIBLE} THEN '[{{"responsible_user":{{"id":' || b || '}}}}]'
                    WHEN kind IN ({note_kinds}) THEN '[{{"note":{{"id":' || a || '}}}}]'
                    -- UNCERTAIN (docs/kommo-api.md §7.7): the reference gives `lead_added` the note
                    -- shape; a lead created by hand has no note, so its list stays empty.
                    WHEN kind = {EV_ADDED} AND a > 0 THEN '[{{"note":{{"id":' || a || '}}}}]'
                    WHEN kind IN {chat} THEN '[{{"message":{{"id":"' || {message_id} || '"}}}}]'
                    ELSE '[]' END
            FROM g_events""",
            event_types=sql_list(EVENT_TYPES),
            entity_types=sql_list(ENTITY_TYPES),
            EV_STATUS=EV_STATUS,
            EV_RESPONSIBLE=EV_RESPONSIBLE,
            note_kinds=note_kinds,
            EV_ADDED=EV_ADDED,
            chat=chat,
            message_id=_uuid_sql(f"md5('{seed}:m:' || seq)"),
        )
        # In slices, so that the Arrow staging copy of a large account stays small.
        for lo in range(0, order.size, EVENT_CHUNK):
            part = order[lo : lo + EVENT_CHUNK]
            seq = np.arange(lo + 1, lo + part.size + 1, dtype=np.int64)
            at_part = columns["created_at"][part]
            ms = at_part * 1000 + rng.integers(0, 1000, part.size)
            chunk = {name: values[part] for name, values in columns.items()}
            with registered(self.con, "g_events", {"id": ulids(ms, seq, rng), "seq": seq, **chunk}):
                self.con.execute(sql)
            del chunk
            release_memory()
        return int(order.size) + 1
