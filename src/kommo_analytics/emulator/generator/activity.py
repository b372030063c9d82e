"""Communication events, notes and tasks around the leads.

Sellers answer new leads after a delay that depends on the seller (minutes for some, days for
others, never for a few leads), then calls, chat messages, e-mails and SMS go back and forth while
the deal is alive. Stages schedule meetings and proposals; follow-ups pile up; most tasks get
done, some late, some never.
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
    STREAM_ACTIVITY,
    STREAM_LIFETIME,
    STREAM_SHAPES,
    STREAM_TASKS,
    Arr,
    business_hours,
    increasing_ids,
    lognormal,
    pick,
    stream,
)
from kommo_analytics.emulator.generator.funnel import CHATS, OUTBOUND, WON, Leads, Moves
from kommo_analytics.emulator.generator.setup import Setup

# Activity event kinds (also their event type names, see events.py).
INCOMING_CALL, OUTGOING_CALL, INCOMING_CHAT, OUTGOING_CHAT = 0, 1, 2, 3
INCOMING_MAIL, OUTGOING_MAIL, OUTGOING_SMS = 4, 5, 6
ACTIVITY_TYPES = (
    "incoming_call", "outgoing_call", "incoming_chat_message", "outgoing_chat_message",
    "incoming_mail", "outgoing_mail", "outgoing_sms",
)  # fmt: skip
OUTGOING = np.array([False, True, False, True, False, True, True])
EXTRA_MIX = np.array([0.10, 0.22, 0.30, 0.22, 0.05, 0.07, 0.04])

# Note kinds
NOTE_CALL_IN, NOTE_CALL_OUT, NOTE_SMS_OUT, NOTE_COMMON, NOTE_SERVICE, NOTE_MAIL = range(6)
NOTE_TYPES = ("call_in", "call_out", "sms_out", "common", "service_message", "amomail_message")

# Task kinds (also decide the task type)
TASK_FOLLOW_UP, TASK_MEETING, TASK_PROPOSAL = 0, 1, 2


@dataclass
class Activity:
    """Communication events; entity is the lead or, when on_contact, its main contact."""

    lead: Arr
    t: Arr
    kind: Arr
    on_contact: Arr
    author: Arr  # user index, -1 = system
    note: Arr  # index into Notes for calls and SMS, -1 otherwise


@dataclass
class Notes:
    ids: Arr
    lead: Arr
    on_contact: Arr
    kind: Arr
    t: Arr
    updated: Arr
    author: Arr  # user index (-1 = robot)
    owner: Arr
    duration: Arr  # calls: seconds, 0 if not answered
    call_code: Arr  # calls: index of the outcome (see load.py); commons/SMS: text index


@dataclass
class Tasks:
    ids: Arr
    lead: Arr  # lead index; -1 = not linked
    on_contact: Arr
    kind: Arr
    text: Arr  # index into the text list of its kind
    created: Arr
    creator: Arr  # user index, -1 = robot
    owner: Arr
    deadline: Arr
    duration: Arr
    completed_at: Arr  # NEVER if open
    result: Arr  # index into vocab.TASK_RESULTS or -1


def activity_end(setup: Setup, leads: Leads) -> Arr:
    """Until when people still work a lead: a little past its close, or while it is open and not
    forgotten; never past the moment its last owner left the company."""
    rng = stream(setup.seed, STREAM_LIFETIME)
    tail = lognormal(rng, 15 * DAY, 0.8, leads.n).astype(np.int64)
    end = np.where(leads.closed_at < NEVER, leads.closed_at + DAY // 2, leads.last_move + tail)
    end = np.minimum(end, setup.users.end[leads.owner] - 1)
    result: Arr = np.minimum(end, setup.now)
    return result


def build_activity(setup: Setup, leads: Leads, act_end: Arr) -> tuple[Activity, Notes]:
    rng = stream(setup.seed, STREAM_ACTIVITY)
    users = setup.users
    offset = setup.profile.utc_offset
    n = leads.n
    idx = np.arange(n)
    owner0 = leads.owner0

    # First response to a new lead.
    manual = ~leads.robot_created
    delay = lognormal(rng, users.response_minutes[owner0] * MINUTE, 0.9, n)
    delay = np.where(manual, rng.exponential(10 * MINUTE, n) + 30, delay)
    t1 = business_hours(rng, leads.created + delay.astype(np.int64) + 30, offset=offset)
    answered = manual | (rng.random(n) >= users.silence[owner0])
    first_ok = answered & (t1 <= np.minimum(act_end + DAY, setup.now))
    k1 = np.where(
        leads.category == CHATS,
        pick(rng, (0.15, 0.85, 0.0, 0.0), n),
        pick(rng, (0.55, 0.32, 0.08, 0.05), n),
    )
    first_kind = np.array([OUTGOING_CALL, OUTGOING_CHAT, OUTGOING_MAIL, OUTGOING_SMS])[k1]
    first_kind = np.where(manual & (leads.channel == OUTBOUND), OUTGOING_CALL, first_kind)
    f_idx = idx[first_ok]

    # Later back-and-forth, more for deals that went further and lived longer.
    life_days = np.maximum(act_end - leads.created, 0) / DAY
    lam = 0.36 * (0.5 + 0.55 * np.minimum(leads.n_moves, 6)) * np.minimum(1 + life_days / 20, 3)
    count = rng.poisson(lam)
    e_idx = np.repeat(idx, count)
    span = np.maximum(act_end[e_idx] - leads.created[e_idx], MINUTE)
    e_t = leads.created[e_idx] + 60 + (rng.random(e_idx.size) * span).astype(np.int64)
    e_kind = pick(rng, EXTRA_MIX, e_idx.size)
    e_t = np.where(OUTGOING[e_kind], business_hours(rng, e_t, 0.1, offset=offset), e_t)

    lead = np.concatenate([f_idx, e_idx])
    t = np.concatenate([t1[first_ok], e_t])
    kind = np.concatenate([first_kind[first_ok], e_kind])
    keep = t <= setup.now
    lead, t, kind = lead[keep], t[keep], kind[keep]
    m = lead.size
    is_chat = (kind == INCOMING_CHAT) | (kind == OUTGOING_CHAT)
    is_call = (kind == INCOMING_CALL) | (kind == OUTGOING_CALL)
    # Chat events usually land on the contact (docs/kommo-api.md §9.9), calls sometimes.
    on_contact = np.where(is_chat, rng.random(m) < 0.75, is_call & (rng.random(m) < 0.35))
    owner = leads.owner_at(lead, t)
    # The owner may have left by now: a colleague (the current owner) answers instead.
    gone = users.end[owner] <= t
    owner = np.where(gone, leads.owner[lead], owner)
    author = np.where(OUTGOING[kind] | is_call, owner, -1)

    # Notes: one per call and per SMS, plus free-text notes by sellers.
    noted = np.nonzero(is_call | (kind == OUTGOING_SMS))[0]
    c_count = rng.poisson(0.08 * (1 + np.minimum(leads.n_moves, 5)), n)
    c_lead = np.repeat(idx, c_count)
    c_span = np.maximum(act_end[c_lead] - leads.created[c_lead], MINUTE)
    c_t = business_hours(
        rng,
        leads.created[c_lead] + 120 + (rng.random(c_lead.size) * c_span).astype(np.int64),
        offset=offset,
    )
    c_ok = c_t <= setup.now
    c_lead, c_t = c_lead[c_ok], c_t[c_ok]
    c_owner = leads.owner_at(c_lead, c_t)
    c_owner = np.where(users.end[c_owner] <= c_t, leads.owner[c_lead], c_owner)

    nk = np.where(kind[noted] == INCOMING_CALL, NOTE_CALL_IN, np.where(
        kind[noted] == OUTGOING_CALL, NOTE_CALL_OUT, NOTE_SMS_OUT))  # fmt: skip
    answered_call = np.where(
        nk == NOTE_CALL_IN, rng.random(noted.size) < 0.88, rng.random(noted.size) < 0.6
    )
    duration = np.where(
        answered_call & (nk != NOTE_SMS_OUT),
        np.clip(lognormal(rng, 170.0, 0.9, noted.size), 12, 3_600).astype(np.int64),
        0,
    )
    # Call outcome code: 0..len(ANSWERED)-1 answered, then the unanswered statuses.
    n_ans = len(vocab.CALL_RESULTS_ANSWERED)
    code = np.where(
        duration > 0,
        rng.integers(0, n_ans, noted.size),
        n_ans + pick(rng, (0.55, 0.2, 0.15, 0.1), noted.size),
    )
    code = np.where(nk == NOTE_SMS_OUT, rng.integers(0, len(vocab.SMS_TEXTS), noted.size), code)

    all_lead = np.concatenate([lead[noted], c_lead])
    all_t = np.concatenate([t[noted], c_t])
    all_kind = np.concatenate([nk, np.full(c_lead.size, NOTE_COMMON)])
    all_contact = np.concatenate([on_contact[noted], rng.random(c_lead.size) < 0.15])
    all_author = np.concatenate([owner[noted], c_owner])
    all_duration = np.concatenate([duration, np.zeros(c_lead.size, np.int64)])
    all_code = np.concatenate([code, rng.integers(0, len(vocab.COMMON_NOTES), c_lead.size)])
    order = np.argsort(all_t, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    note_of_event = np.full(m, -1, dtype=np.int64)
    note_of_event[noted] = rank[: noted.size]

    n_notes = order.size
    n_t = all_t[order]
    edited = (all_kind[order] == NOTE_COMMON) & (rng.random(n_notes) < 0.1)
    n_updated = np.where(
        edited,
        np.minimum(n_t + lognormal(rng, 2 * HOUR, 1.0, n_notes).astype(np.int64), setup.now),
        n_t,
    )
    notes = Notes(
        ids=increasing_ids(rng, 40_000_000 + int(rng.integers(0, 20_000_000)), n_notes, 4),
        lead=all_lead[order],
        on_contact=all_contact[order],
        kind=all_kind[order],
        t=n_t,
        updated=n_updated,
        author=all_author[order],
        owner=all_author[order],
        duration=all_duration[order],
        call_code=all_code[order],
    )
    activity = Activity(lead=lead, t=t, kind=kind, on_contact=on_contact, author=author,
                        note=note_of_event)  # fmt: skip
    return activity, notes


def add_service_and_mail_notes(
    setup: Setup, leads: Leads, activity: Activity, notes: Notes
) -> tuple[Activity, Notes, Arr]:
    """Add the notes integrations write: a `service_message` when an integration creates a
    lead, and an `amomail_message` for every e-mail. Returns the activity (its note indices
    follow the new order), the notes and, per lead, the index of its creation note (-1 for none),
    which its `lead_added` event points to.

    Note ids grow with creation time, as Kommo's do, so all notes are numbered again in time
    order.
    """
    rng = stream(setup.seed, STREAM_SHAPES)
    # UNCERTAIN (docs/kommo-api.md §7.7): which leads' `lead_added` carries a note is not
    # documented; the likeliest are leads an integration created (forms, chats, telephony, e-mail).
    created = np.nonzero(leads.inbound & (rng.random(leads.n) < 0.7))[0]
    mail = np.nonzero(np.isin(activity.kind, [INCOMING_MAIL, OUTGOING_MAIL]))[0]
    # Kommo's mail client files a message under the contact as often as under the deal.
    mail_on_contact = activity.on_contact[mail] | (rng.random(mail.size) < 0.4)
    # Service notes: the text by the lead's unsorted category. Mail: the subject, shifted by the
    # number of subjects for outgoing mail, so load.py knows the direction from the code alone.
    code = np.concatenate([
        np.maximum(leads.category[created], 0),
        rng.integers(0, len(vocab.MAIL_SUBJECTS), mail.size)
        + np.where(activity.kind[mail] == OUTGOING_MAIL, len(vocab.MAIL_SUBJECTS), 0),
    ])  # fmt: skip
    n_old, n_new = notes.ids.size, created.size + mail.size
    t = np.concatenate([notes.t, leads.created[created], activity.t[mail]])
    order = np.argsort(t, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)

    def merged(old: Arr, *new: Arr) -> Arr:
        return np.concatenate([old, *new])[order]

    base = int(notes.ids[0]) - 1 if n_old else 40_000_000
    all_notes = Notes(
        ids=increasing_ids(rng, base, order.size, 4),
        lead=merged(notes.lead, created, activity.lead[mail]),
        on_contact=merged(notes.on_contact, np.zeros(created.size, bool), mail_on_contact),
        kind=merged(notes.kind, np.full(created.size, NOTE_SERVICE), np.full(mail.size, NOTE_MAIL)),
        t=t[order],
        updated=merged(notes.updated, leads.created[created], activity.t[mail]),
        author=merged(notes.author, np.full(created.size, -1), activity.author[mail]),
        owner=merged(notes.owner, leads.owner0[created], leads.owner[activity.lead[mail]]),
        duration=merged(notes.duration, np.zeros(n_new, np.int64)),
        call_code=merged(notes.call_code, code),
    )
    note = np.where(activity.note >= 0, rank[np.maximum(activity.note, 0)], -1)
    creation_note = np.full(leads.n, -1, dtype=np.int64)
    creation_note[created] = rank[n_old : n_old + created.size]
    moved = Activity(lead=activity.lead, t=activity.t, kind=activity.kind,
                     on_contact=activity.on_contact, author=activity.author, note=note)  # fmt: skip
    return moved, all_notes, creation_note


def _deadline(rng: np.random.Generator, t: Arr, median: float, offset: int) -> Arr:
    """Deadlines on the 5-minute grid in business hours, a third of them "end of day"."""
    due = business_hours(
        rng, t + lognormal(rng, median, 0.8, t.size).astype(np.int64), 0.0, offset=offset
    )
    due = due // 300 * 300
    local = due + offset
    end_of_day = local - local % DAY + DAY - 1 - offset
    due = np.where(rng.random(t.size) < 0.33, end_of_day, due)
    result: Arr = np.maximum(due, t + 15 * MINUTE)
    return result


def build_tasks(setup: Setup, leads: Leads, moves: Moves, act_end: Arr) -> Tasks:
    rng = stream(setup.seed, STREAM_TASKS)
    users = setup.users
    offset = setup.profile.utc_offset
    n, now = leads.n, setup.now
    idx = np.arange(n)
    pipes = setup.pipelines
    meeting_stage = np.array([p.meeting_stage for p in pipes])
    proposal_stage = np.array([p.proposal_stage for p in pipes])

    parts: list[
        tuple[Arr, Arr, Arr, Arr, Arr, Arr]
    ] = []  # lead, kind, created, robot, deadline, dur

    # An automation opens a first follow-up for new inbound leads.
    first = np.nonzero(leads.robot_created & (rng.random(n) < 0.7))[0]
    f_t = leads.created[first] + rng.integers(1, 90, first.size)
    parts.append((first, np.full(first.size, TASK_FOLLOW_UP), f_t,
                  rng.random(first.size) < 0.65, _deadline(rng, f_t, 3 * HOUR, offset),
                  np.zeros(first.size, np.int64)))  # fmt: skip

    forward = (moves.dst < WON) & (moves.dst > moves.src)
    mpipe = leads.pipe[moves.lead]
    meet = np.nonzero(
        forward & (moves.dst == meeting_stage[mpipe]) & (rng.random(moves.t.size) < 0.8)
    )[0]
    m_t = moves.t[meet] + rng.integers(10, 600, meet.size)
    parts.append((moves.lead[meet], np.full(meet.size, TASK_MEETING), m_t,
                  np.zeros(meet.size, bool), _deadline(rng, m_t, 2.5 * DAY, offset),
                  rng.choice(np.array([1800, 2700, 3600]), meet.size)))  # fmt: skip
    prop = meet[rng.random(meet.size) < 0.5]
    p_t = moves.t[prop] + rng.integers(600, 4 * HOUR, prop.size)
    parts.append((moves.lead[prop], np.full(prop.size, TASK_PROPOSAL), p_t,
                  rng.random(prop.size) < 0.1, _deadline(rng, p_t, 1.5 * DAY, offset),
                  np.zeros(prop.size, np.int64)))  # fmt: skip
    chase = np.nonzero(
        forward & (moves.dst == proposal_stage[mpipe]) & (rng.random(moves.t.size) < 0.7)
    )[0]
    c_t = moves.t[chase] + rng.integers(10, 600, chase.size)
    parts.append((moves.lead[chase], np.full(chase.size, TASK_FOLLOW_UP), c_t,
                  rng.random(chase.size) < 0.4, _deadline(rng, c_t, 3 * DAY, offset),
                  np.zeros(chase.size, np.int64)))  # fmt: skip

    # Routine follow-ups during the life of the deal.
    life = np.maximum(act_end - leads.created, 0)
    count = rng.poisson(0.2 * np.minimum(1 + life / (15 * DAY), 3))
    r_lead = np.repeat(idx, count)
    r_t = business_hours(
        rng,
        leads.created[r_lead] + (rng.random(r_lead.size) * life[r_lead]).astype(np.int64),
        offset=offset,
    )
    parts.append((r_lead, np.full(r_lead.size, TASK_FOLLOW_UP), r_t,
                  rng.random(r_lead.size) < 0.15, _deadline(rng, r_t, 2 * DAY, offset),
                  np.zeros(r_lead.size, np.int64)))  # fmt: skip

    # Deals alive today have their next step scheduled (some of it already overdue).
    alive = np.nonzero((leads.pos < WON) & (act_end >= now - 20 * DAY) & (rng.random(n) < 0.6))[0]
    a_t = np.maximum(
        act_end[alive] - rng.integers(0, 6 * DAY, alive.size), leads.created[alive] + 60
    )
    parts.append((alive, np.full(alive.size, TASK_FOLLOW_UP), a_t,
                  np.zeros(alive.size, bool), _deadline(rng, a_t, 3 * DAY, offset),
                  np.zeros(alive.size, np.int64)))  # fmt: skip

    lead, kind, created, robot, deadline, duration = (
        np.concatenate(x) for x in zip(*parts, strict=True)
    )
    keep = created <= now
    lead, kind, created, robot = lead[keep], kind[keep], created[keep], robot[keep]
    deadline, duration = deadline[keep], duration[keep]
    m = lead.size

    owner = leads.owner_at(lead, np.minimum(deadline, now))
    creator = np.where(robot, -1, leads.owner_at(lead, created))
    creator = np.where((creator >= 0) & (users.end[np.maximum(creator, 0)] <= created), -1, creator)

    # Completion: on time, late, or never; nobody completes after leaving the company.
    done_p = users.diligence[owner] * np.where(leads.pos[lead] < WON, 1.0, 0.97)
    done = rng.random(m) < done_p
    on_time = rng.random(m) < 0.62
    fraction = rng.uniform(0.05, 1.0, m)
    when = np.where(
        on_time,
        created + (fraction * (deadline - created)).astype(np.int64),
        deadline + lognormal(rng, 20 * HOUR, 1.1, m).astype(np.int64),
    )
    early = deadline > now
    done &= np.where(early, rng.random(m) < 0.25, True)
    when = np.where(early, created + (rng.random(m) * (now - created)).astype(np.int64), when)
    when = np.maximum(when, created + MINUTE)
    done &= (when <= now) & (when < users.end[owner])
    completed_at = np.where(done, when, NEVER)

    text_sizes = np.array(
        [
            len(vocab.TASK_TEXTS_FOLLOW_UP),
            len(vocab.TASK_TEXTS_MEETING),
            len(vocab.TASK_TEXTS_PROPOSAL),
        ]
    )
    text = (rng.random(m) * text_sizes[kind]).astype(np.int64)
    text = np.where((kind == TASK_FOLLOW_UP) & robot, 0, text)  # the automation's wording
    result = np.where(
        done & (rng.random(m) < 0.45), rng.integers(0, len(vocab.TASK_RESULTS), m), -1
    )
    on_contact = (kind == TASK_FOLLOW_UP) & (rng.random(m) < 0.05)

    # A few internal tasks tied to nothing.
    k = max(1, m // 400)
    u_owner = rng.integers(1, len(users.ids), k)
    u_created = setup.start + (rng.random(k) * (now - setup.start)).astype(np.int64)
    u_created = np.maximum(u_created, users.start[u_owner] + HOUR)
    u_ok = (u_created < users.end[u_owner]) & (u_created < now)
    u_owner, u_created = u_owner[u_ok], u_created[u_ok]
    u_deadline = _deadline(rng, u_created, 1 * DAY, offset)
    u_done_at = np.maximum(u_deadline - rng.integers(0, HOUR, u_owner.size), u_created + MINUTE)
    u_done = (u_done_at <= now) & (u_done_at < users.end[u_owner])

    lead = np.concatenate([lead, np.full(u_owner.size, -1)])
    kind = np.concatenate([kind, np.full(u_owner.size, TASK_MEETING)])
    text = np.concatenate([text, np.full(u_owner.size, 2)])  # "Reunião de alinhamento"
    created = np.concatenate([created, u_created])
    creator = np.concatenate([creator, u_owner])
    owner = np.concatenate([owner, u_owner])
    deadline = np.concatenate([deadline, u_deadline])
    duration = np.concatenate([duration, np.full(u_owner.size, 3600)])
    completed_at = np.concatenate([completed_at, np.where(u_done, u_done_at, NEVER)])
    result = np.concatenate([result, np.full(u_owner.size, -1)])
    on_contact = np.concatenate([on_contact, np.zeros(u_owner.size, bool)])

    order = np.argsort(created, kind="stable")
    return Tasks(
        ids=increasing_ids(rng, 70_000_000 + int(rng.integers(0, 10_000_000)), order.size, 5),
        lead=lead[order],
        on_contact=on_contact[order],
        kind=kind[order],
        text=text[order],
        created=created[order],
        creator=creator[order],
        owner=owner[order],
        deadline=deadline[order],
        duration=duration[order],
        completed_at=completed_at[order],
        result=result[order],
    )
