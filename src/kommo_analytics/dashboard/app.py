"""The dashboard's Streamlit entrypoint: `streamlit run` this file (`kommo-analytics dashboard`).

It draws the shared sidebar, stores the resulting view for the pages, and runs the page the URL
names. Pages are files so that each has a URL (`/` for the overview, `/funnel`) that does not
depend on the language of its title.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from kommo_analytics import files
from kommo_analytics.dashboard import auth, filters
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t


def pages(access: auth.Access, locale: Locale) -> dict[str, list[Any]]:
    """The navigation: every page, less those the viewer's role may not use (each of those
    also refuses by itself, should a URL name it)."""
    hidden = set()
    if not access.sees_whole_account:
        hidden.add("data-health")
    if not access.can_edit_settings:
        hidden.add("settings")

    def page(path: str, key: str, icon: str, url: str, default: bool = False) -> Any:
        return st.Page(path, title=t(key, locale), icon=icon, url_path=url, default=default)

    every = {
        "": [page("app_pages/overview.py", "nav.overview", ":material/dashboard:", "overview",
                  default=True)],
        t("nav.section.modules", locale): [
            page("app_pages/intake.py", "nav.intake", ":material/input:", "leads-and-origin"),
            page("app_pages/funnel.py", "nav.funnel", ":material/filter_alt:", "funnel"),
            page("app_pages/activities.py", "nav.activities", ":material/call:", "activities"),
            page("app_pages/sales.py", "nav.sales", ":material/payments:", "sales"),
            page("app_pages/performance.py", "nav.performance", ":material/leaderboard:",
                 "performance"),
            page("app_pages/forecast.py", "nav.forecast", ":material/trending_up:", "forecast"),
        ],
        t("nav.section.more", locale): [
            page("app_pages/leads.py", "nav.leads", ":material/table_rows:", "leads"),
            page("app_pages/definitions.py", "nav.definitions", ":material/menu_book:",
                 "definitions"),
            page("app_pages/data_health.py", "nav.data_health", ":material/monitor_heart:",
                 "data-health"),
            page("app_pages/settings.py", "nav.settings", ":material/tune:", "settings"),
        ],
    }  # fmt: skip
    return {section: [p for p in group if p.url_path not in hidden]
            for section, group in every.items()}  # fmt: skip


def keep_requested_page(locale: Locale) -> None:
    """While the sign-in form is shown, register the pages without drawing or running any, so
    the URL keeps the page a link named and the viewer lands on it once signed in."""
    st.navigation(pages(auth.Access(), locale), position="hidden")


def main() -> None:
    # Started with `streamlit run` directly too: the KPI targets and imports it writes stay private.
    files.restrict_umask()
    # The tab title is the product's name, the same in every language.
    st.set_page_config(
        page_title=t("app.title", i18n.DEFAULT_LOCALE), page_icon=":bar_chart:", layout="wide"
    )
    # Before anything reads the warehouse: a viewer who must sign in sees only the form.
    access = auth.require_access(keep_requested_page)
    view = filters.render_sidebar(filters.now_utc(), access.allowed_sellers)
    st.session_state[filters.VIEW_KEY] = view
    locale = view.locale
    auth.sidebar(access, locale)
    if access.allowed_sellers == ():
        # Scope.seller_ids() refuses an empty reach; say what to ask for instead of erroring.
        name = access.user.username if access.user is not None else ""
        st.warning(t("auth.no_sellers_linked", locale,
                     command=f"kommo-analytics users link {name} <Kommo user>"))  # fmt: skip
        st.stop()
    st.navigation(pages(access, locale)).run()


if __name__ == "__main__":
    main()
