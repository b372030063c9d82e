"""The Streamlit dashboard: a shared sidebar of filters and one module per page.

`app.py` is the entrypoint (`kommo-analytics dashboard` runs it); pages live in `app_pages/`.
The dashboard reads the warehouse only through `warehouse.reader`, one connection per query, and
caches results (never connections), so it never blocks a sync writing the warehouse.
"""

# The warehouse URL `kommo-analytics dashboard --db` hands to the Streamlit process. Defined here,
# not in `data.py`, so that the CLI can name it without importing Streamlit.
ENV_DATABASE_URL = "KOMMO_DASHBOARD_DATABASE_URL"
