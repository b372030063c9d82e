"""Leads: when they arrive, from which channel, who owns them and how they move through stages.

All of it is vectorised over leads: loops run over days of history or over funnel *steps*, never
over leads. Stage positions are numbered per pipeline: 0 is the incoming stage, 1..K the regular
stages, and WON/LOST stand for 142/143.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kommo_analytics.emulator.generator import vocab
from kommo_analytics.emulator.generator.common import (
    DAY,
    HOUR,
    MINUTE,
    NEVER,
    STREAM_FUNNEL,
    STREAM_LEAD_IDS,
    STREAM_OWNERS,
    STREAM_REASSIGN,
    STREAM_TIMES,
    Arr,
    business_hours,
    increasing_ids,
    lognormal,
    pick,
    pick_rows,
    stream,
)
from kommo_analytics.emulator.generator.setup import Setup

WON = 100
LOST = 101
MAX_STEPS = 40

# Channels. A channel decides the tracking fields, whether the lead arrives through the
# incoming stage (unsorted) and how well it converts.
GOOGLE_ADS, FACEBOOK, INSTAGRAM, ORGANIC, EMAIL, REFERRAL, OUTBOUND, DIRECT, RENEWAL = range(9)
# share of new "Vendas" leads at the start of history and its yearly drift
SALES_MIX = np.array([0.24, 0.15, 0.08, 0.12, 0.05, 0.07, 0.10, 0.19, 0.0])
SALES_DRIFT = np.array([0.00, -0.03, 0.05, 0.01, -0.01, 0.0, -0.01, -0.01, 0.0])
PARTNER_MIX = np.array([0.0, 0.0, 0.0, 0.2, 0.0, 0.5, 0.3, 0.0, 0.0])
CHANNEL_CONV = np.array([1.0, 0.7, 0.75, 1.1, 1.2, 1.7, 0.6, 0.95, 1.0])
CHANNEL_TICKET = np.array([1.0, 0.8, 0.75, 1.05, 1.1, 1.3, 1.4, 0.9, 1.0])

# Unsorted categories
FORMS, CHATS, SIP, MAIL = range(4)

# Seasonality multipliers (pt-BR market): weak January, Carnival February, strong November.
MONTH_FACTOR = np.array([0.72, 0.80, 1.0, 1.0, 1.05, 0.95, 0.95, 1.05, 1.05, 1.10, 1.32, 0.85])
WEEKDAY_FACTOR = np.array([1.15, 1.2, 1.15, 1.1, 0.95, 0.32, 0.18])
HOUR_INBOUND = np.array([
    0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.6, 4.0, 4.6, 4.4, 3.2, 3.6, 4.3, 4.4, 4.1, 3.6,
    2.8, 2.2, 2.0, 1.8, 1.3, 0.8,
])  # fmt: skip
HOUR_OFFICE = np.array([
    0, 0, 0, 0, 0, 0, 0, 0.2, 2.0, 4.0, 4.5, 4.0, 1.5, 2.5, 4.2, 4.4, 4.0, 3.0, 1.2, 0.2, 0, 0, 0, 0,
])  # fmt: skip


@dataclass
class Moves:
    lead: Arr  # index into the lead arrays
    t: Arr
    src: Arr  # stage position before
    dst: Arr  # stage position after
    robot: Arr  # made by automation (created_by 0)
    author: Arr  # user index (or -1 for robots), filled once owners are known


@dataclass
class Leads:
    n: int
    ids: Arr
    created: Arr
    pipe: Arr
    channel: Arr
    inbound: Arr  # arrived through the incoming stage (has an unsorted row)
    category: Arr  # unsorted category, -1 if none
    robot_created: Arr
    owner0: Arr  # user index at creation
    conv: Arr
    # funnel outcome
    pos: Arr
    closed_at: Arr  # NEVER if open
    loss_reason: Arr  # index into vocab.LOSS_REASONS, -1 if none
    last_move: Arr
    n_moves: Arr
    reopened: Arr
    # reassignments (user indices; time NEVER = none)
    r1_t: Arr
    r1_to: Arr
    r1_by: Arr
    r2_t: Arr
    r2_to: Arr
    r2_by: Arr

    def owner_at(self, idx: Arr, t: Arr) -> Arr:
        return np.where(
            t >= self.r2_t[idx],
            self.r2_to[idx],
            np.where(t >= self.r1_t[idx], self.r1_to[idx], self.owner0[idx]),
        )

    @property
    def owner(self) -> Arr:
        return np.where(
            self.r2_t < NEVER, self.r2_to, np.where(self.r1_t < NEVER, self.r1_to, self.owner0)
        )


def creation_days(setup: Setup, n: int) -> Arr:
    """Local day numbers of lead creations, with growth and yearly/weekly seasonality."""
    rng = stream(setup.seed, STREAM_TIMES)
    offset = setup.profile.utc_offset
    first_day = (setup.start + offset) // DAY + 1
    last_day = (setup.now + offset) // DAY
    days = np.arange(first_day, last_day + 1)
    growth = rng.uniform(0.30, 0.60)
    years = (days - days[0]) / 365.25
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    weekday = (days + 3) % 7
    weight = (1 + growth) ** years * MONTH_FACTOR[months] * WEEKDAY_FACTOR[weekday]
    weight *= lognormal(rng, 1.0, 0.12, days.size)  # day-to-day noise
    return np.asarray(days[pick(rng, weight, n)], dtype=np.int64)


def time_of_day(setup: Setup, day: Arr, office: Arr, rng: np.random.Generator) -> Arr:
    """Unix times on the given local days: office-hours profile for leads typed in by people,
    an around-the-clock one for forms and chats. Times past `now` fold back into history."""
    n = day.size
    hour = np.where(office, pick(rng, HOUR_OFFICE, n), pick(rng, HOUR_INBOUND, n))
    t = day * DAY + hour * HOUR + rng.integers(0, HOUR, n) - setup.profile.utc_offset
    late = t >= setup.now
    # Today's leads that would land in the future move to earlier today (or yesterday).
    t[late] = setup.now - 1 - rng.integers(0, 20 * HOUR, int(late.sum()))
    result: Arr = np.maximum(t, setup.start + 1)
    return result.astype(np.int64)


def assign_owners(setup: Setup, pipe: Arr, t: Arr, rng: np.random.Generator) -> Arr:
    """A user for each lead among those active at time t, weighted by the pipeline's weights."""
    users = setup.users
    out = np.zeros(t.size, dtype=np.int64)
    for p in range(len(setup.pipelines)):
        sel = np.nonzero(pipe == p)[0]
        if sel.size == 0:
            continue
        active = (users.start[None, :] <= t[sel, None]) & (t[sel, None] < users.end[None, :])
        w = active * users.pipeline_weight[p][None, :]
        w[:, users.admin] += 1e-6  # the admin is always there
        out[sel] = pick_rows(rng, w)
    return out


def build_leads(setup: Setup, n: int) -> tuple[Leads, Moves]:
    rng = stream(setup.seed, STREAM_FUNNEL)
    day = creation_days(setup, n)
    pipes = setup.pipelines
    kinds = np.array([p.kind for p in pipes])
    pipe = pick(rng, np.array([p.share for p in pipes]), n)

    years = (day * DAY - setup.start) / (365.25 * DAY)
    mix = np.clip(SALES_MIX[None, :] + SALES_DRIFT[None, :] * years[:, None], 0.0, None)
    channel = pick_rows(rng, mix)
    partners = kinds[pipe] == "partners"
    channel[partners] = pick(rng, PARTNER_MIX, int(partners.sum()))
    channel[kinds[pipe] == "renewal"] = RENEWAL
    referral_manual = (channel == REFERRAL) & (rng.random(n) < 0.5)
    inbound = ~np.isin(channel, [OUTBOUND, RENEWAL]) & ~referral_manual

    created = time_of_day(setup, day, ~inbound, rng)
    order = np.argsort(created, kind="stable")
    created, pipe, channel, inbound = created[order], pipe[order], channel[order], inbound[order]
    id_base = 10_000_000 + int(stream(setup.seed, STREAM_LEAD_IDS).integers(0, 12_000_000))
    ids = increasing_ids(rng, id_base, n, 7)

    category = np.full(n, -1, dtype=np.int64)
    u = rng.random(n)
    category[inbound] = FORMS
    category[inbound & (channel == INSTAGRAM) & (u < 0.6)] = CHATS
    category[inbound & (channel == EMAIL) & (u < 0.2)] = MAIL
    direct = inbound & (channel == DIRECT)
    category[direct] = np.where(u[direct] < 0.65, CHATS, SIP)
    robot_created = inbound | ((channel == RENEWAL) & (rng.random(n) < 0.7))

    owner0 = assign_owners(setup, pipe, created, stream(setup.seed, STREAM_OWNERS))
    conv = CHANNEL_CONV[channel] * setup.users.win[owner0]

    leads = Leads(
        n=n, ids=ids, created=created, pipe=pipe, channel=channel, inbound=inbound,
        category=category, robot_created=robot_created, owner0=owner0, conv=conv,
        pos=np.where(inbound, 0, 1).astype(np.int64), closed_at=np.full(n, NEVER, np.int64),
        loss_reason=np.full(n, -1, np.int64), last_move=created.copy(),
        n_moves=np.zeros(n, np.int64), reopened=np.zeros(n, bool),
        r1_t=np.full(n, NEVER, np.int64), r1_to=owner0.copy(), r1_by=np.zeros(n, np.int64),
        r2_t=np.full(n, NEVER, np.int64), r2_to=owner0.copy(), r2_by=np.zeros(n, np.int64),
    )  # fmt: skip
    moves = _simulate(setup, leads, rng)
    _reassign(setup, leads, stream(setup.seed, STREAM_REASSIGN))
    moves.author = np.where(moves.robot, -1, leads.owner_at(moves.lead, moves.t))
    return leads, moves


def _stage_tables(setup: Setup) -> tuple[Arr, Arr, Arr]:
    width = max(len(p.stage_ids) for p in setup.pipelines)
    dwell = np.ones((len(setup.pipelines), width))
    p_lost = np.zeros((len(setup.pipelines), width))
    last = np.zeros(len(setup.pipelines), dtype=np.int64)
    for i, p in enumerate(setup.pipelines):
        dwell[i, : len(p.stage_ids)] = p.dwell_hours
        p_lost[i, : len(p.stage_ids)] = p.p_lost
        last[i] = len(p.stage_ids) - 1
    return dwell, p_lost, last


def _simulate(setup: Setup, leads: Leads, rng: np.random.Generator) -> Moves:
    """Walk every lead through its pipeline, one step per iteration for all live leads at once.

    Each step draws the next outcome (lost, stall, won directly, back one stage, skip a stage,
    forward) and a log-normal dwell time. A move that would land after `now` does not happen:
    the lead is still in that stage today, which is why recent leads are mostly open.
    """
    users = setup.users
    dwell, p_lost, last = _stage_tables(setup)
    speed = (users.response_minutes / 25.0) ** 0.3
    now = setup.now
    pos, t = leads.pos, leads.created.copy()
    reopen_to = np.full(leads.n, -1, dtype=np.int64)
    parts: list[tuple[Arr, ...]] = []
    alive = np.arange(leads.n)
    for _ in range(MAX_STEPS):
        if alive.size == 0:
            break
        a = alive
        m = a.size
        p, j, k = leads.pipe[a], pos[a], last[leads.pipe[a]]
        closed = j >= WON
        jj = np.where(closed, 0, j)
        c = leads.conv[a]
        pl = np.where(jj == 0, p_lost[p, 0], np.clip(p_lost[p, jj] / c, 0.03, 0.9))
        pstall = np.where(jj == 0, 0.004, 0.03)
        pwon = np.where((jj >= 1) & (jj < k), 0.012 * c, 0.0)
        pback = np.where(jj >= 2, 0.05, 0.0)
        pskip = np.where(jj + 2 <= k, 0.07, 0.0)
        cum = np.cumsum(np.stack([pl, pstall, pwon, pback, pskip]), axis=0)
        outcome = (rng.random(m)[None, :] >= cum).sum(axis=0)  # 5 = forward
        dst = np.select(
            [outcome == 0, outcome == 2, outcome == 3, outcome == 4, jj == k],
            [LOST, WON, jj - 1, jj + 2, WON],
            jj + 1,
        )
        dst = np.where(closed, reopen_to[a], dst)
        stall = (outcome == 1) & ~closed

        owner = leads.owner0[a]
        med_h = dwell[p, jj] * speed[owner]
        med_h = np.where(jj == 0, users.response_minutes[owner] / 60.0, med_h)
        med_h = np.where(outcome == 0, med_h * 1.4, med_h)
        med_h = np.where(closed, 20 * 24.0, med_h)
        robot_p = np.select(
            [closed, jj == 0, dst == WON, dst == LOST, dst < jj], [0.05, 0.25, 0.12, 0.04, 0.0], 0.1
        )
        robot = rng.random(m) < robot_p
        med_h = np.where(robot & (jj == 0) & ~closed, 2.0 / 60.0, med_h)
        dt = np.maximum(lognormal(rng, med_h * HOUR, 0.9, m), MINUTE).astype(np.int64)
        t_new = t[a] + dt
        t_new = np.where(robot, t_new, business_hours(rng, t_new, offset=setup.profile.utc_offset))
        t_new = np.maximum(t_new, t[a] + 1)
        happen = ~stall & (t_new <= now)

        h = a[happen]
        parts.append(
            (h, t_new[happen], np.where(closed, j, jj)[happen], dst[happen], robot[happen])
        )
        pos[h] = dst[happen]
        t[h] = t_new[happen]
        leads.n_moves[h] += 1
        leads.last_move[h] = t_new[happen]

        closing = (dst[happen] >= WON) & ~closed[happen]
        hc = h[closing]
        leads.closed_at[hc] = t_new[happen][closing]
        reopening = h[closed[happen]]
        leads.closed_at[reopening] = NEVER
        reopen_to[reopening] = -1
        # A few deals come back: a lost one revives, a won one falls through at payment.
        p_re = np.where(dst[happen][closing] == LOST, 0.028, 0.014)
        again = (rng.random(hc.size) < p_re) & ~leads.reopened[hc]
        back = hc[again]
        leads.reopened[back] = True
        came_from = (np.where(closed, j, jj)[happen][closing])[again]
        reopen_to[back] = np.where(
            pos[back] == LOST, np.clip(came_from, 1, None), last[leads.pipe[back]]
        )
        still_open = h[dst[happen] < WON]
        alive = np.concatenate([still_open, back])
        alive.sort()

    lead, mt, src, dst_all, robot_all = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((mt, lead))
    moves = Moves(
        lead=lead[order], t=mt[order], src=src[order], dst=dst_all[order],
        robot=robot_all[order], author=np.zeros(order.size, np.int64),
    )  # fmt: skip
    _loss_reasons(leads, moves, rng)
    return moves


def _loss_reasons(leads: Leads, moves: Moves, rng: np.random.Generator) -> None:
    lost = np.nonzero(leads.pos == LOST)[0]
    if lost.size == 0:
        return
    # The source stage of each lead's last move: moves are sorted by (lead, time).
    last_idx = np.searchsorted(moves.lead, lost, side="right") - 1
    src = moves.src[last_idx]
    early = pick(rng, vocab.LOSS_WEIGHTS_EARLY, lost.size)
    late = pick(rng, vocab.LOSS_WEIGHTS_LATE, lost.size)
    reason = np.where(src <= 1, early, late)
    declined = (src == 0) & (rng.random(lost.size) < 0.7)
    reason[declined] = vocab.LOSS_DECLINED
    reason[rng.random(lost.size) < 0.12] = -1  # the seller skipped the reason
    leads.loss_reason[lost] = reason


def _reassign(setup: Setup, leads: Leads, rng: np.random.Generator) -> None:
    """Hand some leads to another seller. Leads still in play when their owner leaves go to a
    colleague at that moment; a few others change hands at random times, some twice."""
    users = setup.users
    n, now = leads.n, setup.now
    leave = users.end[leads.owner0]
    # Whatever is still in play when its owner leaves goes to a colleague at that moment; deals
    # closed before stay with the deactivated user, as in a real account.
    forced = (leave < now) & ~(leads.closed_at < leave)
    rand = ~forced & (rng.random(n) < 0.06)
    span_end = np.minimum(np.maximum(leads.last_move, leads.created + HOUR), now)
    r1_t = np.where(
        forced,
        leave,
        leads.created + (rng.random(n) * (span_end - leads.created)).astype(np.int64),
    )
    r1 = forced | rand
    r1_t = np.where(r1, np.maximum(r1_t, leads.created + 1), NEVER)
    r1_t = np.where(r1_t > now, NEVER, r1_t)
    r1 = r1_t < NEVER
    idx = np.nonzero(r1)[0]
    leads.r1_t[idx] = r1_t[idx]
    leads.r1_to[idx] = _new_owner(setup, leads, idx, r1_t[idx], leads.owner0[idx], rng)
    by_admin = forced[idx] | (rng.random(idx.size) < 0.5)
    leads.r1_by[idx] = np.where(by_admin, users.admin, leads.owner0[idx])

    second = idx[rng.random(idx.size) < 0.15]
    end2 = np.maximum(span_end[second], leads.r1_t[second] + HOUR)
    r2_t = leads.r1_t[second] + (rng.random(second.size) * (end2 - leads.r1_t[second])).astype(
        np.int64
    )
    ok = r2_t <= now
    second, r2_t = second[ok], r2_t[ok]
    leads.r2_t[second] = r2_t
    leads.r2_to[second] = _new_owner(setup, leads, second, r2_t, leads.r1_to[second], rng)
    leads.r2_by[second] = np.where(rng.random(second.size) < 0.5, users.admin, leads.r1_to[second])
    # Unchanged owners are not reassignments.
    same1 = leads.r1_to == leads.owner0
    leads.r1_t[same1] = NEVER
    same2 = (leads.r2_to == leads.r1_to) | (leads.r1_t == NEVER)
    leads.r2_t[same2] = NEVER


def _new_owner(
    setup: Setup, leads: Leads, idx: Arr, t: Arr, old: Arr, rng: np.random.Generator
) -> Arr:
    users = setup.users
    pipe = leads.pipe[idx]
    active = (users.start[None, :] <= t[:, None]) & users.permanent[None, :]
    w = active * users.pipeline_weight[pipe] + 1e-9
    w[:, users.admin] += 1e-4
    w[np.arange(idx.size), old] = 0.0
    return pick_rows(rng, w)
