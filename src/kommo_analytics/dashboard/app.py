"""The dashboard's Streamlit entrypoint: `streamlit run` this file (`kommo-analytics dashboard`).

It draws the shared sidebar, stores the resulting view for the pages, and runs the page the URL
names. Pages are files so that each has a URL (`/` for the leads, `/data-health`) that does not
depend on the language of its title. Only pages that are built are listed: the metrics pages arrive with
issue 4.
"""

from __future__ import annotations

import streamlit as st

from kommo_analytics.dashboard import filters, i18n
from kommo_analytics.dashboard.i18n import t


def main() -> None:
    # The tab title is the product's name, the same in every language.
    st.set_page_config(
        page_title=t("app.title", i18n.DEFAULT_LOCALE), page_icon=":bar_chart:", layout="wide"
    )
    view = filters.render_sidebar(filters.now_utc())
    st.session_state[filters.VIEW_KEY] = view
    pages = [
        # The default page is served at "/" whatever its url_path. Leads is the default until
        # the metrics overview exists; its url_path is what it will keep when that takes "/".
        st.Page(
            "app_pages/leads.py",
            title=t("nav.leads", view.locale),
            icon=":material/table_rows:",
            url_path="leads",
            default=True,
        ),
        st.Page(
            "app_pages/data_health.py",
            title=t("nav.data_health", view.locale),
            icon=":material/monitor_heart:",
            url_path="data-health",
        ),
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
