"""The Kommo API v4 read endpoints the emulator serves (docs/kommo-api.md §7).

Each module renders one family of endpoints from the account store with SQL: filters, order and
LIMIT/OFFSET run in DuckDB and only the requested page is turned into JSON. These routes do no
auth; the protocol layer wraps the whole app.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from kommo_analytics.emulator.resources import (
    account,
    contacts,
    dictionaries,
    events,
    leads,
    notes,
    tasks,
)
from kommo_analytics.emulator.state import EmulatorState


def routes(state: EmulatorState) -> list[BaseRoute]:
    # Fixed paths under /leads (pipelines, notes, ...) come before `/leads/{id:int}`; the int
    # converter already keeps them apart, the order only makes that obvious.
    return [
        *account.routes(state),
        *dictionaries.routes(state),
        *notes.routes(state),
        *leads.routes(state),
        *contacts.routes(state),
        *events.routes(state),
        *tasks.routes(state),
    ]
