"""Settings, for admins only: the KPI targets the overview's cards are coloured against, the
sales goals, the marketing costs and the channel rules — each a tab, opened by the address's
``tab`` parameter so another page's "add them" link lands on the right one."""

from __future__ import annotations

import streamlit as st

from kommo_analytics.dashboard import auth, filters, settings_tabs
from kommo_analytics.dashboard.goals import P_TAB
from kommo_analytics.text.i18n import t


def render() -> None:
    auth.refuse_unless_settings()
    view = filters.current_view()
    locale = view.locale
    st.title(t("settings.heading", locale))
    st.caption(t("settings.heading_caption", locale))
    shown = settings_tabs.tabs()
    labels = {tab: t(f"settings.tab.{tab}", locale) for tab in shown}
    key = f"settings.tabs.{locale}"
    # Read once, then dropped: the address should not keep naming a tab the reader left. The
    # tab asked for is selected through the widget's state, not its default: a default that
    # changed on the next run (a button pressed in that tab) would make it another widget, back
    # on the first tab, and the pressed button would never run.
    asked = st.query_params.get(P_TAB)
    if asked is not None:
        del st.query_params[P_TAB]
        if asked in labels:
            st.session_state[key] = labels[asked]
    # Only the open tab runs: the goals grid and the rules preview read the warehouse.
    tabs = st.tabs(list(labels.values()), default=labels["targets"], key=key,
                   on_change="rerun")  # fmt: skip
    for tab, container in zip(shown, tabs, strict=True):
        if container.open is False:
            continue
        with container:
            settings_tabs.render(view, tab)


if __name__ == "__main__":
    render()
