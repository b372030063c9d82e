"""The read service: the one way the CLI and the dashboard (and later forecasts, reports and
alerts) get data.

Callers hand it a warehouse target and a :class:`~kommo_analytics.service.scope.Scope` and get
typed results back; the SQL, the model's tables and the warehouse's connections stay below it.
``account`` (the account with its time zone decided once), ``reports`` (metric reports, chart
series, drill-down lead lists), ``leads`` (the Leads explorer), ``health`` (the Data health
reads and the warehouse probe), ``names`` (pipelines and sellers as people type them) and
``inputs`` (the writers: model rebuild, costs and goals imports).
"""
