"""Contacts and companies behind the leads.

Most leads bring a new contact; some reuse an earlier one (the same person filling a form again,
a renewal of an earlier won customer), so a contact can have several leads. Business leads come
with a company.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kommo_analytics.emulator.generator import vocab
from kommo_analytics.emulator.generator.common import (
    DAY,
    HOUR,
    STREAM_PEOPLE,
    Arr,
    increasing_ids,
    stream,
)
from kommo_analytics.emulator.generator.funnel import RENEWAL, WON, Leads
from kommo_analytics.emulator.generator.setup import Setup


@dataclass
class People:
    # contacts (indexed in creation order = id order)
    contact_ids: Arr
    contact_created: Arr
    contact_updated: Arr
    contact_creator: Arr  # user index, -1 = robot
    contact_owner: Arr
    contact_first: Arr  # index into vocab.FIRST_NAMES
    contact_last: Arr  # index into vocab.LAST_NAMES
    contact_last2: Arr  # second surname or -1
    contact_company: Arr  # company index or -1
    contact_tag_mask: Arr  # (contacts × len(vocab.CONTACT_TAGS)) bool
    # companies
    company_ids: Arr
    company_created: Arr
    company_updated: Arr
    company_creator: Arr
    company_owner: Arr
    company_kind: Arr
    company_core: Arr
    company_suffix: Arr
    # links
    lead_contact: Arr  # main contact index of each lead
    lead_company: Arr  # company index of each lead or -1
    extra_lead: Arr  # second (non-main) contact links: lead index ...
    extra_contact: Arr  # ... and contact index


def _roots(parent: Arr) -> Arr:
    """Follow parent pointers (always to a smaller index) to the lead that created the contact."""
    root = parent.copy()
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def build_people(setup: Setup, leads: Leads) -> People:
    rng = stream(setup.seed, STREAM_PEOPLE)
    n = leads.n
    idx = np.arange(n)
    parent = idx.copy()

    # Repeated form submissions: the same person comes back a little later.
    repeat = leads.inbound & (rng.random(n) < 0.10)
    back = np.minimum(rng.geometric(1 / 60, n), idx)
    repeat &= back > 0
    parent[repeat] = idx[repeat] - back[repeat]

    # Renewals go back to a customer won about a year earlier.
    renew = np.nonzero((leads.channel == RENEWAL) & (rng.random(n) < 0.85))[0]
    won = np.nonzero((leads.pos == WON) & (leads.channel != RENEWAL))[0]
    if won.size and renew.size:
        limit = np.searchsorted(leads.created[won], leads.created[renew] - 300 * DAY)
        has = limit > 0
        choice = (rng.random(renew.size) * np.maximum(limit, 1)).astype(np.int64)
        parent[renew[has]] = won[choice[has]]
    root = _roots(parent)

    new = root == idx
    owners = leads.owner0
    creator = np.where(leads.robot_created, -1, owners)
    new_idx = np.nonzero(new)[0]
    c_created = leads.created[new_idx] - rng.integers(0, 4, new_idx.size)

    # Companies: most partner leads and a third of sales leads are businesses.
    business_p = np.where(leads.channel == RENEWAL, 0.45, 0.3)
    business_p = np.where(leads.pipe == len(setup.pipelines) - 1, business_p + 0.2, business_p)
    has_company = rng.random(new_idx.size) < business_p[new_idx]
    comp_of_new = np.full(new_idx.size, -1, dtype=np.int64)
    comp_of_new[has_company] = np.arange(int(has_company.sum()))
    comp_lead = new_idx[has_company]
    n_comp = comp_lead.size

    # Second contacts (a colleague) for some business leads.
    lead_company_idx = np.full(n, -1, dtype=np.int64)
    lead_company_idx[new_idx] = comp_of_new
    lead_company_idx = lead_company_idx[root]
    second = np.nonzero((lead_company_idx >= 0) & (rng.random(n) < 0.06))[0]
    s_created = np.minimum(
        leads.created[second] + (rng.exponential(2 * DAY, second.size)).astype(np.int64) + 60,
        setup.now - 1,
    )

    # All contacts, ordered by creation so that ids grow with time.
    created = np.concatenate([c_created, s_created])
    origin = np.concatenate([new_idx, second])  # the lead each contact came with
    company = np.concatenate([comp_of_new, lead_company_idx[second]])
    order = np.argsort(created, kind="stable")
    created, origin, company = created[order], origin[order], company[order]
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    n_contacts = created.size
    contact_ids = increasing_ids(rng, 20_000_000 + int(rng.integers(0, 10_000_000)), n_contacts, 5)

    lead_contact = np.empty(n, dtype=np.int64)
    lead_contact[new_idx] = rank[: new_idx.size]
    lead_contact = lead_contact[root]
    extra_contact = rank[new_idx.size :]

    # A contact is touched again whenever another lead of theirs arrives, and edited sometimes.
    last_link = np.zeros(n_contacts, dtype=np.int64)
    np.maximum.at(last_link, lead_contact, leads.created)
    updated = np.maximum(created, last_link)
    edit = rng.random(n_contacts) < 0.3
    gap = np.maximum(setup.now - updated, 0)
    updated = np.where(
        edit, updated + (rng.random(n_contacts) ** 3 * gap).astype(np.int64), updated
    )

    tags = np.zeros((n_contacts, len(vocab.CONTACT_TAGS)), dtype=bool)
    tags[:, 0] = (company >= 0) & (rng.random(n_contacts) < 0.15)  # decisor
    customer = np.zeros(n_contacts, dtype=bool)
    customer[lead_contact[leads.pos == WON]] = True
    tags[:, 1] = customer & (rng.random(n_contacts) < 0.7)  # cliente
    tags[:, 2] = customer & (rng.random(n_contacts) < 0.05)  # vip
    tags[:, 3] = rng.random(n_contacts) < 0.04  # newsletter

    last = rng.integers(0, len(vocab.LAST_NAMES), n_contacts)
    # A second surname for some ("Souza Lima"), never the same one twice.
    other = (last + rng.integers(1, len(vocab.LAST_NAMES), n_contacts)) % len(vocab.LAST_NAMES)
    last2 = np.where(rng.random(n_contacts) < 0.15, other, -1)

    # Companies, also in creation order (a company is created just before its first contact).
    comp_created = leads.created[comp_lead] - rng.integers(5, 30, n_comp)
    comp_order = np.argsort(comp_created, kind="stable")
    comp_rank = np.empty(n_comp, dtype=np.int64)
    comp_rank[comp_order] = np.arange(n_comp)
    company = np.where(company >= 0, comp_rank[np.maximum(company, 0)], -1)
    lead_company = np.where(lead_company_idx >= 0, comp_rank[np.maximum(lead_company_idx, 0)], -1)
    comp_lead = comp_lead[comp_order]
    comp_created = comp_created[comp_order]
    comp_updated = comp_created + np.where(
        rng.random(n_comp) < 0.25,
        (rng.random(n_comp) ** 2 * np.maximum(setup.now - comp_created, 0)).astype(np.int64),
        rng.integers(0, HOUR, n_comp),
    )
    comp_updated = np.minimum(comp_updated, setup.now)

    return People(
        contact_ids=contact_ids,
        contact_created=created,
        contact_updated=np.minimum(updated, setup.now),
        contact_creator=creator[origin],
        contact_owner=owners[origin],
        contact_first=rng.integers(0, len(vocab.FIRST_NAMES), n_contacts),
        contact_last=last,
        contact_last2=last2,
        contact_company=company,
        contact_tag_mask=tags,
        company_ids=increasing_ids(rng, 30_000_000 + int(rng.integers(0, 10_000_000)), n_comp, 9),
        company_created=comp_created,
        company_updated=comp_updated,
        company_creator=creator[comp_lead],
        company_owner=owners[comp_lead],
        company_kind=rng.integers(0, len(vocab.COMPANY_KINDS), n_comp),
        company_core=rng.integers(0, len(vocab.COMPANY_CORES), n_comp),
        company_suffix=rng.integers(0, len(vocab.COMPANY_SUFFIXES), n_comp),
        lead_contact=lead_contact,
        lead_company=lead_company,
        extra_lead=second,
        extra_contact=extra_contact,
    )


def phone_parts(contact_ids: Arr, seed: int) -> tuple[Arr, Arr]:
    """(area code, 8 digits after the leading 9) of a contact's mobile, derived from its id so
    that every call with the same contact shows the same number."""
    h = contact_ids.astype(np.uint64) * np.uint64(2_654_435_761) + np.uint64(seed % 1_000_003)
    h ^= h >> np.uint64(13)
    ddd = np.asarray(vocab.PHONE_DDDS)[(h % np.uint64(len(vocab.PHONE_DDDS))).astype(np.int64)]
    digits = ((h >> np.uint64(7)) % np.uint64(100_000_000)).astype(np.int64)
    return ddd.astype(np.int64), digits
