"""What is left to decide per lead once its history is known: trash, last update, price, product,
tags, tracking fields and the nearest open task."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kommo_analytics.emulator.generator import vocab
from kommo_analytics.emulator.generator.activity import Activity, Tasks
from kommo_analytics.emulator.generator.common import (
    DAY,
    NEVER,
    STREAM_LIFECYCLE,
    Arr,
    local_year_month,
    lognormal,
    pick,
    stream,
)
from kommo_analytics.emulator.generator.funnel import (
    CHANNEL_TICKET,
    CHATS,
    DIRECT,
    EMAIL,
    FACEBOOK,
    GOOGLE_ADS,
    INSTAGRAM,
    LOST,
    ORGANIC,
    OUTBOUND,
    REFERRAL,
    RENEWAL,
    WON,
    Leads,
    Moves,
)
from kommo_analytics.emulator.generator.setup import Setup


@dataclass
class LeadFields:
    deleted_at: Arr  # NEVER = not in the trash now
    delete_t: Arr  # when it was deleted (NEVER = never)
    delete_by: Arr
    restore_t: Arr  # NEVER = not restored
    restore_by: Arr
    updated_at: Arr
    updated_by: Arr  # user index, -1 = robot
    price: Arr
    price_null: Arr
    product: Arr  # index into vocab.PRODUCTS or -1
    quantity: Arr  # -1 = empty
    score: Arr  # -1 = NULL
    tag_mask: Arr  # (leads × len(vocab.LEAD_TAGS)) bool
    closest_task: Arr  # NEVER = NULL
    # tracking: small codes turned into strings by SQL (see load.py)
    has_utm: Arr
    instagram_paid: Arr
    campaign: Arr  # -1 none, -2 Black Friday, else index into the channel's list
    content: Arr
    term: Arr
    referrer: Arr  # bool
    gclid: Arr
    fbclid: Arr
    year: Arr
    month: Arr
    source: Arr  # index into setup.sources or -1
    name_style: Arr


def _last_touch(leads: Leads, moves: Moves, activity: Activity, tasks: Tasks) -> Arr:
    last = leads.last_move.copy()
    np.maximum.at(last, activity.lead, activity.t)
    linked = tasks.lead >= 0
    np.maximum.at(last, tasks.lead[linked], tasks.created[linked])
    done = linked & (tasks.completed_at < NEVER)
    np.maximum.at(last, tasks.lead[done], tasks.completed_at[done])
    for t in (leads.r1_t, leads.r2_t):
        last = np.maximum(last, np.where(t < NEVER, t, 0))
    return last


def build_fields(
    setup: Setup, leads: Leads, moves: Moves, activity: Activity, tasks: Tasks, act_end: Arr
) -> LeadFields:
    rng = stream(setup.seed, STREAM_LIFECYCLE)
    users = setup.users
    n, now = leads.n, setup.now
    owner = leads.owner

    # Trash: junk that got declined or lost early is deleted most; a quarter comes back.
    last = _last_touch(leads, moves, activity, tasks)
    declined = (leads.pos == LOST) & (leads.n_moves == 1) & leads.inbound
    p_del = np.where(declined, 0.08, np.where(leads.pos == LOST, 0.015, 0.006))
    delete_t = last + lognormal(rng, 3 * DAY, 1.0, n).astype(np.int64)
    deleted = (rng.random(n) < p_del) & (delete_t <= now)
    delete_t = np.where(deleted, delete_t, NEVER)
    restore_t = delete_t + lognormal(rng, DAY, 1.2, n).astype(np.int64) + 60
    restored = deleted & (rng.random(n) < 0.25) & (restore_t <= now)
    restore_t = np.where(restored, restore_t, NEVER)
    by = np.where(users.end[owner] > delete_t, owner, users.admin)
    by = np.where(rng.random(n) < 0.3, users.admin, by)
    restore_by = np.where(users.end[owner] > restore_t, owner, users.admin)

    # Last update: the latest of stage move, reassignment, trash and a plain field edit.
    edit = rng.random(n) < 0.3
    edit_t = leads.created + (rng.random(n) * np.maximum(act_end - leads.created, 0)).astype(
        np.int64
    )
    edit_t = np.where(edit, edit_t, 0)
    edit_by = leads.owner_at(np.arange(n), edit_t)
    last_mv = np.searchsorted(moves.lead, np.arange(n), side="right") - 1
    mv_by = np.where(leads.n_moves > 0, moves.author[np.maximum(last_mv, 0)], -1)
    creator = np.where(leads.robot_created, -1, leads.owner0)
    cands = np.stack([
        leads.created, np.where(leads.n_moves > 0, leads.last_move, 0),
        np.where(leads.r1_t < NEVER, leads.r1_t, 0), np.where(leads.r2_t < NEVER, leads.r2_t, 0),
        np.where(deleted, delete_t, 0), np.where(restored, restore_t, 0), edit_t,
    ])  # fmt: skip
    who = np.stack([creator, mv_by, leads.r1_by, leads.r2_by, by, restore_by, edit_by])
    latest = np.argmax(cands, axis=0)
    updated_at = cands[latest, np.arange(n)]
    updated_by = who[latest, np.arange(n)]

    # Products and prices.
    pipe_kind = np.array([p.kind for p in setup.pipelines])[leads.pipe]
    product = pick(rng, vocab.PRODUCT_WEIGHTS, n)
    product = np.where(pipe_kind == "renewal", pick(rng, (0.45, 0.4, 0.15), n), product)
    product = np.where(pipe_kind == "partners", pick(rng, (0, 0, 0.3, 0.4, 0.3), n), product)
    max_pos = np.zeros(n, dtype=np.int64)
    np.maximum.at(max_pos, moves.lead, np.where(moves.dst < WON, moves.dst, 0))
    qualified = (max_pos >= 2) | (leads.pos == WON)
    has_product = rng.random(n) < np.where(qualified, 0.9, 0.4)
    unit = np.array([price for _, price in vocab.PRODUCTS])[product]
    per_seat = product <= 2
    quantity = np.where(per_seat, rng.geometric(0.4, n), 1)
    has_qty = has_product & (rng.random(n) < 0.7)
    pipe_median = np.array([p.price_median for p in setup.pipelines])[leads.pipe]
    price = (
        pipe_median / 3_800.0 * unit * quantity**0.6 * CHANNEL_TICKET[leads.channel]
        * users.ticket[leads.owner0] * lognormal(rng, 1.0, 0.45, n)
    )  # fmt: skip
    # In the account's currency: the Brazilian figures scaled (profiles.py), then rounded.
    step = setup.profile.price_step
    price = (np.round(price * setup.profile.price_factor / step) * step).astype(np.int64)
    zero = rng.random(n) < np.where(qualified, 0.01, 0.12)
    price = np.where(zero, 0, price)
    # NULL price is an emulator choice to exercise nullable handling; the real API sends 0.
    price_null = rng.random(n) < 0.003

    # Tracking fields.
    ch = leads.channel
    year, month = local_year_month(leads.created, setup.profile.utc_offset)
    referral_utm = (ch == REFERRAL) & leads.inbound
    has_utm = np.isin(ch, [GOOGLE_ADS, FACEBOOK, INSTAGRAM, ORGANIC, EMAIL]) | referral_utm
    instagram_paid = (ch == INSTAGRAM) & (rng.random(n) < 0.55)
    black_friday = (
        (month == 11) & np.isin(ch, [GOOGLE_ADS, FACEBOOK, INSTAGRAM]) & (rng.random(n) < 0.6)
    )
    campaign = np.where(
        ch == GOOGLE_ADS,
        pick(rng, (0.3, 0.3, 0.1, 0.15, 0.15), n),
        rng.integers(0, len(vocab.META_CAMPAIGNS), n),
    )
    campaign = np.where(np.isin(ch, [GOOGLE_ADS, FACEBOOK]) | instagram_paid, campaign, -1)
    campaign = np.where(black_friday & (campaign >= 0), -2, campaign)
    content = np.where(
        (campaign != -1) & (rng.random(n) < 0.45), rng.integers(0, len(vocab.AD_CONTENTS), n), -1
    )
    term = np.where(
        (ch == GOOGLE_ADS) & (rng.random(n) < 0.4), rng.integers(0, len(vocab.GOOGLE_TERMS), n), -1
    )
    referrer = has_utm & (rng.random(n) < 0.35)
    gclid = (ch == GOOGLE_ADS) & (rng.random(n) < 0.85)
    fbclid = ((ch == FACEBOOK) | instagram_paid) & (rng.random(n) < 0.75)

    source = np.full(n, -1, dtype=np.int64)
    for i, src in enumerate(setup.sources):
        category = ("forms", "chats", "sip").index(src[5])
        source[(leads.category == category) & (rng.random(n) < 0.8)] = i

    tags = np.zeros((n, len(vocab.LEAD_TAGS)), dtype=bool)
    tags[:, vocab.TAG_REFERRAL] = (ch == REFERRAL) & (~leads.inbound | (rng.random(n) < 0.3))
    tags[:, vocab.TAG_OUTBOUND] = (ch == OUTBOUND) & (rng.random(n) < 0.4)
    tags[:, vocab.TAG_BLACK_FRIDAY] = black_friday
    tags[:, vocab.TAG_URGENT] = rng.random(n) < 0.03
    tags[:, vocab.TAG_EVENT] = (ch == OUTBOUND) & (rng.random(n) < 0.1)
    tags[:, vocab.TAG_WEBINAR] = (ch == EMAIL) & (rng.random(n) < 0.2)
    tags[:, vocab.TAG_WHATSAPP] = (leads.category == CHATS) & (ch == DIRECT) & (rng.random(n) < 0.5)
    tags[:, vocab.TAG_REPURCHASE] = (ch == RENEWAL) & (rng.random(n) < 0.3)

    open_task = (tasks.lead >= 0) & ~tasks.on_contact & (tasks.completed_at == NEVER)
    closest = np.full(n, NEVER, dtype=np.int64)
    np.minimum.at(closest, tasks.lead[open_task], tasks.deadline[open_task])

    score = np.where(rng.random(n) < 0.04, rng.integers(1, 101, n), -1)
    name_style = np.where(rng.random(n) < 0.08, 9, ch)  # 9: the default "Negócio #id"
    return LeadFields(
        deleted_at=np.where(deleted & ~restored, delete_t, NEVER),
        delete_t=delete_t,
        delete_by=by,
        restore_t=restore_t,
        restore_by=restore_by,
        updated_at=np.minimum(updated_at, now),
        updated_by=updated_by,
        price=price,
        price_null=price_null,
        product=np.where(has_product, product, -1),
        quantity=np.where(has_qty, quantity, -1),
        score=score,
        tag_mask=tags,
        closest_task=closest,
        has_utm=has_utm,
        instagram_paid=instagram_paid,
        campaign=campaign,
        content=content,
        term=term,
        referrer=referrer,
        gclid=gclid,
        fbclid=fbclid,
        year=year,
        month=month,
        source=source,
        name_style=name_style,
    )
