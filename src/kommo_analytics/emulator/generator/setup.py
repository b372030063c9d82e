"""The account's dictionaries: account, users, groups, pipelines, fields, tags, sources.

Everything here depends on the seed only (not on the scale), so the `small` and `large` accounts
of one seed share their users, pipelines and custom-field ids.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import numpy as np

from kommo_analytics.emulator.generator import vocab
from kommo_analytics.emulator.generator.common import (
    DAY,
    NEVER,
    STREAM_SETUP,
    STREAM_TRACKING,
    Arr,
    lognormal,
    slug,
    stream,
)
from kommo_analytics.emulator.generator.profiles import BR, Profile
from kommo_analytics.kommo.entities import TRACKING_FIELD_CODES

HISTORY_DAYS = 791  # about 26 months


@dataclass(frozen=True)
class Pipeline:
    id: int
    name: str
    sort: int
    is_main: bool
    kind: str  # "sales", "renewal" or "partners": drives channels, owners and prices
    stage_ids: tuple[int, ...]  # open stages, the incoming (type 1) stage first
    stage_names: tuple[str, ...]
    dwell_hours: tuple[float, ...]  # median time spent in each open stage
    p_lost: tuple[float, ...]  # chance that a deal leaves each open stage as lost
    meeting_stage: int  # entering this open stage schedules a meeting
    proposal_stage: int  # entering this open stage schedules "send the proposal"
    price_median: float
    share: float  # of all leads


@dataclass
class Users:
    ids: Arr
    names: list[str]
    emails: list[str]
    group_ids: Arr
    is_admin: Arr
    is_active: Arr
    role_ids: list[int | None]
    start: Arr  # when the user began to receive leads
    end: Arr  # when they were deactivated (NEVER if still active)
    volume: Arr  # relative share of new leads
    win: Arr  # conversion multiplier
    response_minutes: Arr  # median first-response delay
    silence: Arr  # share of leads they never answer
    ticket: Arr  # price multiplier
    diligence: Arr  # share of tasks they complete
    pipeline_weight: Arr  # (pipelines × users) weights for new-lead assignment
    permanent: Arr  # never deactivated: the only possible targets of a reassignment
    admin: int  # index of the administrator


@dataclass
class Setup:
    seed: int
    now: int
    start: int
    account_id: int
    account_name: str
    subdomain: str
    account_created_at: int
    amojo_id: str
    account_uuid: str
    groups: list[tuple[int, str, str | None]]
    custom_task_type_id: int
    users: Users
    pipelines: list[Pipeline]
    loss_reason_ids: list[int]
    loss_reason_times: list[tuple[int, int]]
    tracking_field_ids: dict[str, int]
    # Tracking codes beyond the standard eight: vocab.EXTRA_TRACKING_CODES, then the account's own.
    extra_tracking_ids: dict[str, int]
    product_enum_ids: list[int]
    custom_fields: list[tuple[object, ...]] = field(default_factory=list)
    lead_tag_ids: list[int] = field(default_factory=list)
    contact_tag_ids: list[int] = field(default_factory=list)
    # (id, name, pipeline_id, external_id, origin_code, unsorted category)
    sources: list[tuple[int, str, int, str, str, str]] = field(default_factory=list)
    # The country, currency, time zone and price scale (profiles.py); Brazil by default.
    profile: Profile = BR

    @property
    def domain(self) -> str:
        """The account's own e-mail and web domain."""
        return f"{self.subdomain}.{self.profile.domain}"


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _names(rng: np.random.Generator, count: int) -> list[tuple[str, str]]:
    chosen: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    while len(chosen) < count:
        pair = (
            vocab.FIRST_NAMES[int(rng.integers(len(vocab.FIRST_NAMES)))],
            vocab.LAST_NAMES[int(rng.integers(len(vocab.LAST_NAMES)))],
        )
        if pair not in seen:
            seen.add(pair)
            chosen.append(pair)
    return chosen


def _pipelines(rng: np.random.Generator) -> list[Pipeline]:
    three = bool(rng.random() < 0.6)
    pipe_base = 7_000_000 + int(rng.integers(0, 2_000_000))
    status_next = 60_000_000 + int(rng.integers(0, 25_000_000))

    def ids(count: int) -> tuple[int, ...]:
        nonlocal status_next
        out = []
        for _ in range(count):
            status_next += int(rng.integers(1, 40))
            out.append(status_next)
        return tuple(out)

    incoming = "Leads de entrada"
    second = "Qualificação" if rng.random() < 0.5 else "Reunião agendada"
    sales_names = (incoming, "Contato inicial", second, "Proposta enviada", "Negociação")
    renewal_names = (incoming, "Contato de renovação", "Proposta de renovação", "Negociação")
    partner_names = (incoming, "Primeiro contato", "Avaliação", "Contrato em análise")
    sales_share = 0.80 if three else 0.86
    pipes = [
        Pipeline(
            id=pipe_base + int(rng.integers(1, 50)),
            name="Vendas",
            sort=1,
            is_main=True,
            kind="sales",
            stage_ids=ids(len(sales_names)),
            stage_names=sales_names,
            dwell_hours=(1.5, 30.0, 60.0, 120.0, 96.0),
            p_lost=(0.08, 0.52, 0.36, 0.28, 0.30),
            meeting_stage=2,
            proposal_stage=3,
            price_median=3_800.0,
            share=sales_share,
        )
    ]
    renewal_id = pipes[0].id + int(rng.integers(100, 5_000))
    pipes.append(
        Pipeline(
            id=renewal_id,
            name="Renovação",
            sort=2,
            is_main=False,
            kind="renewal",
            stage_ids=ids(len(renewal_names)),
            stage_names=renewal_names,
            dwell_hours=(2.0, 48.0, 96.0, 72.0),
            p_lost=(0.03, 0.15, 0.10, 0.12),
            meeting_stage=1,
            proposal_stage=2,
            price_median=2_600.0,
            share=0.14,
        )
    )
    if three:
        pipes.append(
            Pipeline(
                id=renewal_id + int(rng.integers(100, 5_000)),
                name="Parcerias",
                sort=3,
                is_main=False,
                kind="partners",
                stage_ids=ids(len(partner_names)),
                stage_names=partner_names,
                dwell_hours=(4.0, 48.0, 168.0, 240.0),
                p_lost=(0.06, 0.50, 0.35, 0.25),
                meeting_stage=2,
                proposal_stage=3,
                price_median=8_500.0,
                share=0.06,
            )
        )
    return pipes


def _users(rng: np.random.Generator, setup_start: int, now: int, pipes: list[Pipeline],
           groups: list[tuple[int, str, str | None]], domain: str) -> Users:  # fmt: skip
    sellers = int(rng.integers(8, 16))
    n = sellers + 1  # index 0 is the administrator
    names = _names(rng, n)
    base = 5_000_000 + int(rng.integers(0, 4_000_000))
    ids = base + np.cumsum(rng.integers(1, 60_000, n))
    emails = []
    for first, last in names:
        emails.append(f"{slug(first)}.{slug(last)}@{domain}")

    start = np.full(n, setup_start - 60 * DAY, dtype=np.int64)
    end = np.full(n, NEVER, dtype=np.int64)
    order = rng.permutation(np.arange(1, n))
    leavers = order[: int(rng.integers(2, 4))]
    hires = order[len(leavers) : len(leavers) + int(rng.integers(2, 4))]
    span = now - setup_start
    end[leavers] = setup_start + (rng.uniform(0.2, 0.75, leavers.size) * span).astype(np.int64)
    start[hires] = setup_start + (rng.uniform(0.15, 0.85, hires.size) * span).astype(np.int64)
    permanent = end == NEVER

    group_ids = np.zeros(n, dtype=np.int64)
    non_default = [g[0] for g in groups if g[0] != 0]
    for i in range(1, n):
        r = rng.random()
        if len(non_default) == 2:
            group_ids[i] = non_default[0] if r < 0.6 else non_default[1]
        else:
            group_ids[i] = non_default[0] if r < 0.75 else 0

    volume = lognormal(rng, 1.0, 0.45, n)
    volume[0] = 0.08  # the admin takes a lead now and then
    win = lognormal(rng, 1.0, 0.28, n)
    response = np.clip(lognormal(rng, 25.0, 1.0, n), 2.0, 2_000.0)
    response[int(order[-1])] *= 25.0  # every team has someone who answers after days
    silence = rng.uniform(0.02, 0.14, n)
    ticket = lognormal(rng, 1.0, 0.2, n)
    if len(non_default) == 2:
        ticket[group_ids == non_default[1]] *= 1.3  # field sales close the bigger deals
    diligence = rng.uniform(0.72, 0.95, n)

    weights = np.zeros((len(pipes), n), dtype=np.float64)
    perm_sellers = [i for i in range(1, n) if permanent[i]]
    for p, pipe in enumerate(pipes):
        if pipe.kind == "sales":
            weights[p] = volume
        else:
            # Renewals and partnerships belong to a couple of long-standing people.
            k = 2 if pipe.kind == "renewal" else 1 + int(rng.random() < 0.5)
            picks = rng.choice(perm_sellers, size=min(k, len(perm_sellers)), replace=False)
            weights[p, picks] = volume[picks] + 0.5
            weights[p, 0] = 0.05
    role_base = 700_000 + int(rng.integers(0, 200_000))
    roles: list[int | None] = [None] + [role_base + int(rng.integers(0, 2)) for _ in range(sellers)]
    is_admin = np.zeros(n, dtype=bool)
    is_admin[0] = True
    return Users(
        ids=ids.astype(np.int64),
        names=[f"{first} {last}" for first, last in names],
        emails=emails,
        group_ids=group_ids,
        is_admin=is_admin,
        is_active=end > now,
        role_ids=roles,
        start=start,
        end=end,
        volume=volume,
        win=win,
        response_minutes=response,
        silence=silence,
        ticket=ticket,
        diligence=diligence,
        pipeline_weight=weights,
        permanent=permanent,
        admin=0,
    )


def _custom_fields(rng: np.random.Generator) -> tuple[
    list[tuple[object, ...]], dict[str, int], list[int]
]:  # fmt: skip
    rows: list[tuple[object, ...]] = []
    next_id = 500_000 + int(rng.integers(0, 400_000))
    next_enum = 800_000 + int(rng.integers(0, 1_000_000))

    def enums(values: tuple[str, ...], *, keyed: bool = False) -> tuple[str, list[int]]:
        """The enums as served: a list, or (`keyed`) an object keyed by index, as Kommo's
        documentation shows them on some fields (a PHP array that lost its list shape)."""
        nonlocal next_enum
        items, ids = [], []
        for i, value in enumerate(values, start=1):
            next_enum += 1
            ids.append(next_enum)
            items.append({"id": next_enum, "value": value, "sort": i})
        served: object = {str(i): item for i, item in enumerate(items)} if keyed else items
        return json.dumps(served, ensure_ascii=False, separators=(",", ":")), ids

    tracking: dict[str, int] = {}
    for sort, code in enumerate(TRACKING_FIELD_CODES):
        next_id += 1
        tracking[code] = next_id
        # (id, entity_type, name, code, type, sort, is_api_only, is_predefined, is_deletable, enums)
        rows.append((next_id, "leads", code.lower(), code, "tracking_data", 100 + sort,
                     False, True, False, None))  # fmt: skip
    next_id += int(rng.integers(50, 3_000))
    product_json, product_ids = enums(tuple(name for name, _ in vocab.PRODUCTS))
    rows.append(
        (next_id, "leads", "Produto", None, "select", 500, False, False, True, product_json)
    )
    next_id += int(rng.integers(1, 30))
    rows.append((next_id, "leads", "Quantidade", None, "numeric", 501, False, False, True, None))
    keyed = False
    for sort, (name, kind, values) in enumerate(vocab.EXTRA_LEAD_FIELDS, start=502):
        next_id += int(rng.integers(1, 30))
        # UNCERTAIN (docs/kommo-api.md §7.11 documents a list): every other field with enums serves
        # them keyed by index; the product field, which the leads resolve, keeps its list.
        keyed = not keyed if values else keyed
        field_enums = enums(values, keyed=keyed)[0] if values else None
        rows.append((next_id, "leads", name, None, kind, sort, False, False, True, field_enums))
    contact_fields = (
        ("Telefone", "PHONE", "multitext", ("WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER")),
        ("E-mail", "EMAIL", "multitext", ("WORK", "PRIV", "OTHER")),
        ("Cargo", "POSITION", "text", None),
    )
    for sort, (name, code, kind, values) in enumerate(contact_fields, start=1):
        next_id += int(rng.integers(1, 30))
        field_enums = enums(values)[0] if values else None
        rows.append((next_id, "contacts", name, code, kind, sort, False, True, False, field_enums))
    return rows, tracking, product_ids


def _extra_tracking_fields(seed: int, fields: list[tuple[object, ...]]) -> dict[str, int]:
    """Append the tracking fields beyond the standard eight to `fields`: the common extra codes
    and two or three of the account's own. From a stream of their own, so the other fields keep
    their ids."""
    rng = stream(seed, STREAM_TRACKING)
    pool = vocab.ACCOUNT_TRACKING_CODES
    own = [pool[i] for i in sorted(rng.choice(len(pool), int(rng.integers(2, 4)), replace=False))]
    next_id = max(int(str(row[0])) for row in fields)
    ids: dict[str, int] = {}
    for sort, code in enumerate((*vocab.EXTRA_TRACKING_CODES, *own), start=100 + 8):
        next_id += int(rng.integers(1, 30))
        ids[code] = next_id
        fields.append((next_id, "leads", code.lower(), code, "tracking_data", sort,
                       False, code not in own, code in own, None))  # fmt: skip
    return ids


def build_setup(seed: int, now: int, profile: Profile = BR) -> Setup:
    rng = stream(seed, STREAM_SETUP)
    start = now - HISTORY_DAYS * DAY
    prefix = vocab.ACCOUNT_PREFIXES[int(rng.integers(len(vocab.ACCOUNT_PREFIXES)))]
    core = vocab.ACCOUNT_CORES[int(rng.integers(len(vocab.ACCOUNT_CORES)))]
    suffix = vocab.ACCOUNT_SUFFIXES[int(rng.integers(len(vocab.ACCOUNT_SUFFIXES)))]
    # Another country's account has its own legal suffix, and its country in its subdomain, so
    # that accounts of several profiles never share an address. The draws above stay the same.
    suffix = profile.company_suffix or suffix
    subdomain = slug(prefix + core) + ("" if profile is BR else profile.country.lower())
    account_created = start - int(rng.integers(30, 400)) * DAY

    group_base = 300_000 + int(rng.integers(0, 600_000))
    groups: list[tuple[int, str, str | None]] = [(0, "Equipe principal", None)]
    n_groups = int(rng.integers(1, 3))  # besides the default group
    for i in range(n_groups):
        group_base += int(rng.integers(1, 500))
        groups.append((group_base, vocab.GROUP_NAMES[i], _uuid(rng)))

    pipes = _pipelines(rng)
    users = _users(rng, start, now, pipes, groups, f"{subdomain}.{profile.domain}")

    loss_base = 9_000_000 + int(rng.integers(0, 3_000_000))
    loss_ids = [int(x) for x in loss_base + np.cumsum(rng.integers(1, 9, len(vocab.LOSS_REASONS)))]
    loss_times = []
    for _ in loss_ids:
        created = account_created + int(rng.integers(1, 20)) * DAY
        loss_times.append((created, created + int(rng.integers(0, 3)) * DAY))

    fields, tracking, product_ids = _custom_fields(rng)
    extra_tracking = _extra_tracking_fields(seed, fields)
    tag_base = 40_000 + int(rng.integers(0, 500_000))
    lead_tags = [tag_base + 3 * i for i in range(len(vocab.LEAD_TAGS))]
    contact_tags = [tag_base + 100 + 3 * i for i in range(len(vocab.CONTACT_TAGS))]

    src_base = 10_000 + int(rng.integers(0, 90_000))
    main = pipes[0].id
    sources = [
        (src_base, "Formulário do site", main, "site-form", "website", "forms"),
        (src_base + 1, "WhatsApp Business", main, "whatsapp-business", "waba", "chats"),
        (src_base + 2, "Telefonia", main, "pabx-virtual", "sip", "sip"),
    ]
    return Setup(
        seed=seed,
        now=now,
        start=start,
        account_id=30_000_000 + int(rng.integers(0, 9_000_000)),
        account_name=f"{prefix} {core} {suffix}",
        subdomain=subdomain,
        account_created_at=account_created,
        amojo_id=_uuid(rng),
        account_uuid=_uuid(rng),
        groups=groups,
        custom_task_type_id=2_000_000 + int(rng.integers(0, 900_000)),
        users=users,
        pipelines=pipes,
        loss_reason_ids=loss_ids,
        loss_reason_times=loss_times,
        tracking_field_ids=tracking,
        extra_tracking_ids=extra_tracking,
        product_enum_ids=product_ids,
        custom_fields=fields,
        lead_tag_ids=lead_tags,
        contact_tag_ids=contact_tags,
        sources=sources,
        profile=profile,
    )
