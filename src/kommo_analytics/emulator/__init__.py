"""A faithful emulator of the Kommo API v4 (read side, OAuth, limits and faults).

Use it as a server (`kommo-analytics emulator`) or in-process::

    store = build_account(seed=1, scale="small")
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1000))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kommo.test")
"""
