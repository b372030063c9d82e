"""The dashboard's Streamlit entrypoint: `streamlit run` this file (`kommo-analytics dashboard`).

It draws the shared sidebar, stores the resulting view for the pages, and runs the page the URL
names. Pages are files so that each has a URL (`/` for the overview, `/funnel`) that does not
depend on the language of its title.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from kommo_analytics import files
from kommo_analytics.dashboard import accounts, auth, consolidation, data, filters, theme
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.settings import using_account
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
    # A single-account install stays as it was; the consolidated totals are whole accounts'.
    if not access.sees_whole_account or not consolidation.is_multi_account():
        hidden.add("all-accounts")

    def page(path: str, key: str, icon: str, url: str, default: bool = False) -> Any:
        return st.Page(path, title=t(key, locale), icon=icon, url_path=url, default=default)

    every = {
        "": [page("app_pages/overview.py", "nav.overview", ":material/dashboard:", "overview",
                  default=True),
             page("app_pages/all_accounts.py", "nav.all_accounts", ":material/hub:",
                  "all-accounts")],
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


# Streamlit writes "Press Enter to apply" (and a character count) under a text box while one
# types, in English whatever the language: hidden, the search boxes' placeholders say it instead.
# On a phone (Streamlit stacks every column below 640 px, one card per screen line): KPI cards
# two to a row, with a smaller figure so that a compact amount still fits; nothing wider than the
# screen makes the page scroll sideways (a wide table or chart scrolls inside itself).
STYLES = """<style>
[data-testid="InputInstructions"] { display: none; }
@media (max-width: 640px) {
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]) {
    flex-flow: row wrap !important;
    gap: 0.5rem !important;
  }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"])
    > [data-testid="stColumn"] {
    flex: 1 1 calc(50% - 0.25rem) !important;
    width: calc(50% - 0.25rem) !important;
    min-width: calc(50% - 0.25rem) !important;
  }
  [data-testid="stMetricValue"] { font-size: 1.35rem !important; }
  [data-testid="stMain"] { overflow-x: hidden; }
}
</style>"""


def look() -> None:
    """The product's logo in the sidebar and the phone layout; colours and font are the theme
    `kommo-analytics dashboard` starts Streamlit with (dashboard/theme.py)."""
    st.logo(str(theme.LOGO), icon_image=str(theme.ICON), size="large")
    st.html(STYLES)  # styles only: Streamlit adds them to the page without an element


def widget_texts(locale: Locale) -> None:
    """The file uploader's own words, which Streamlit 1.67 has in English only and no option to
    change: its button ("Upload") and its limit line ("200MB per file • CSV") are replaced, in
    the reader's language, by text drawn from the catalogue (the label above it names the file)."""
    limit = t("widget.upload_limit", locale,
              size=i18n.number(int(st.get_option("server.maxUploadSize")), locale))  # fmt: skip

    def css_text(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"')

    zone = '[data-testid="stFileUploaderDropzone"]'
    st.html(
        "<style>"
        f'{zone} button [data-testid="stMarkdownContainer"] p {{ font-size: 0; }}'
        f'{zone} button [data-testid="stMarkdownContainer"] p::after {{'
        f' content: "{css_text(t("widget.upload", locale))}"; font-size: 1rem; }}'
        f'[data-testid="stFileUploaderDropzoneInstructions"] span {{ font-size: 0; }}'
        f'[data-testid="stFileUploaderDropzoneInstructions"] span::after {{'
        f' content: "{css_text(limit)}"; font-size: 0.875rem; }}'
        "</style>"
    )


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
    look()
    # Before anything reads the warehouse: a viewer who must sign in sees only the form.
    access = auth.require_access(keep_requested_page)
    # The sidebar's language as it will decide it (filters._seed): the switcher comes first.
    locale = i18n.normalise_locale(st.session_state.get(filters.K_LANG)
                                   or st.query_params.get(filters.P_LANG))  # fmt: skip
    try:
        chosen = accounts.switcher(locale)
    except KommoAnalyticsError as exc:  # a damaged accounts register: said, nothing shown
        data.show_error(exc, locale)
        st.stop()
    # Every settings read of this run — the warehouse, the data folder, goals, costs, channel
    # rules, the sync's buttons — is the chosen account's (None: the process's, as always).
    with using_account(chosen):
        access = auth.on_account(access, chosen or data.process_account())
        run_page(access)


def run_page(access: auth.Access) -> None:
    view = filters.render_sidebar(filters.now_utc(), access.allowed_sellers)
    st.session_state[filters.VIEW_KEY] = view
    locale = view.locale
    widget_texts(locale)
    auth.sidebar(access, locale)
    if access.allowed_sellers == ():
        # Scope.seller_ids() refuses an empty reach; say what to ask for instead of erroring.
        st.warning(t("auth.no_sellers_linked", locale))
        st.stop()
    st.navigation(pages(access, locale)).run()


if __name__ == "__main__":
    main()
