"""Views named as in the earlier MySQL system, so its users keep their SQL.

They live in the database's default schema (DuckDB ``main``, PostgreSQL ``public``, the URL's
database on MySQL), so ``SELECT … FROM leads_metrics`` works unqualified, and read the model.
Deleted leads are left out, as everywhere else. Column names are the earlier system's, some in
Portuguese (``vendedor`` = seller, ``vendas`` = sales, ``receita`` = revenue).

One difference is the database's, not ours: PostgreSQL divides integers as integers, so the earlier
``COUNT(…) / COUNT(…) * 100`` gives 0 there; write ``100.0 * COUNT(…) / COUNT(…)`` instead.
"""

from __future__ import annotations

from typing import Any

from kommo_analytics.model.schema import M, model_qualified
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import Target

VIEWS = (
    "leads_metrics",
    "sales_metrics",
    "funnel_history",
    "commercial_activities",
    "performance_vendedores",
    "monthly_forecasts",
)


# The model tables the views read.
_MODEL_TABLES = (
    "dim_pipelines", "dim_stages", "dim_users", "fact_activities", "fact_leads",
    "fact_stage_stays", "fact_tasks", "forecast_snapshots", "input_goals",
)  # fmt: skip


def view_name(target: Target, view: str) -> str:
    return backend_for(target).view_name(view)


def definitions(target: Target) -> dict[str, str]:
    backend = backend_for(target)
    # What the views' text is filled with: the model's tables by name, the backend's type names
    # and casts, and fixed predicates. All of it is the code's own; nothing comes from a user.
    parts = {name: model_qualified(target, name) for name in _MODEL_TABLES}
    parts.update(
        text=backend.text_cast,
        timestamp=backend.type_name(M.TIMESTAMP),
        double=backend.type_name(M.DOUBLE),
        boolean=backend.bool_cast,
        not_deleted="l.is_deleted = FALSE",
        won="CASE WHEN l.outcome = 'won' THEN 1 ELSE 0 END",
        lost="CASE WHEN l.outcome = 'lost' THEN 1 ELSE 0 END",
    )
    return {view: template.format(**parts) for view, template in _TEMPLATES.items()}


# The views' SQL, with ``{name}`` where a model table, a type or a fixed predicate goes.
_TEMPLATES = {
    "leads_metrics": """
            SELECT l.lead_id, l.outcome AS status, CAST(l.created_local AS DATE) AS created_date,
                   l.channel AS primary_source, l.utm_source, l.utm_medium, l.utm_campaign,
                   l.utm_content, l.utm_term, l.price AS lead_value,
                   l.response_hours AS response_time_hours, l.pipeline_id, l.status_id,
                   l.responsible_user_id
            FROM {fact_leads} l
            WHERE {not_deleted}""",
    "sales_metrics": """
            SELECT l.lead_id, u.name AS vendedor, l.responsible_user_id, l.outcome AS status,
                   l.price AS sale_price,
                   CASE WHEN l.outcome <> 'open' THEN l.cycle_days END AS sales_cycle_days,
                   l.closed_at,
                   CASE WHEN l.outcome = 'lost' THEN COALESCE(l.loss_reason, 'not specified')
                   END AS loss_reason,
                   l.pipeline_id
            FROM {fact_leads} l
            LEFT JOIN {dim_users} u ON u.user_id = l.responsible_user_id
            WHERE {not_deleted}""",
    "funnel_history": """
            SELECT s.lead_id, s.seq, s.pipeline_id, p.name AS pipeline_name, s.status_id,
                   st.name AS stage_name, s.entered_at, s.left_at,
                   s.hours AS hours_in_stage, s.next_status_id, s.moved_by
            FROM {fact_stage_stays} s
            JOIN {fact_leads} l ON l.lead_id = s.lead_id
            LEFT JOIN {dim_pipelines} p ON p.pipeline_id = s.pipeline_id
            LEFT JOIN {dim_stages} st
                   ON st.pipeline_id = s.pipeline_id AND st.status_id = s.status_id
            WHERE {not_deleted}""",
    "commercial_activities": """
            SELECT CAST(t.task_id AS {text}) AS activity_id,
                   CONCAT('task_', t.kind) AS activity_type,
                   t.responsible_user_id AS user_id, u.name AS vendedor, t.lead_id,
                   t.created_at, t.complete_till AS due_at, t.is_completed AS completed,
                   t.completed_at, t.on_time, CAST(NULL AS {double}) AS duration_minutes
            FROM {fact_tasks} t
            LEFT JOIN {dim_users} u ON u.user_id = t.responsible_user_id
            WHERE t.lead_deleted = FALSE
            UNION ALL
            SELECT a.event_id, CONCAT(a.medium, '_', a.direction), a.created_by, u.name,
                   a.lead_id, a.created_at, CAST(NULL AS {timestamp}),
                   CAST(NULL AS {boolean}), CAST(NULL AS {timestamp}),
                   CAST(NULL AS {boolean}), a.call_seconds / 60.0
            FROM {fact_activities} a
            LEFT JOIN {dim_users} u ON u.user_id = a.created_by
            WHERE a.lead_deleted = FALSE""",
    "performance_vendedores": """
            SELECT u.user_id, u.name AS vendedor,
                   COUNT(l.lead_id) AS total_leads,
                   SUM({won}) AS vendas,
                   SUM({lost}) AS perdidas,
                   SUM(CASE WHEN l.outcome = 'won' THEN COALESCE(l.price, 0) ELSE 0 END)
                       AS receita,
                   100.0 * SUM({won}) / NULLIF(SUM({won}) + SUM({lost}), 0) AS win_rate
            FROM {dim_users} u
            LEFT JOIN {fact_leads} l
                   ON l.responsible_user_id = u.user_id AND {not_deleted}
            GROUP BY u.user_id, u.name""",
    # One row per stored snapshot and month. ``goal``: the month's imported goals summed
    # (the company's goal); ``actual``: the month's won revenue (sales.revenue), only once
    # the month has closed, i.e. once a later month has been forecast as the current one
    # (portable: no backend's clock or time zone is involved).
    "monthly_forecasts": """
            SELECT f.month, f.revenue_p10 AS p10, f.revenue_p50 AS p50, f.revenue_p90 AS p90,
                   g.goal,
                   CASE WHEN f.month < (SELECT MAX(c.month) FROM {forecast_snapshots} c
                                        WHERE c.made_on >= c.month)
                        THEN COALESCE(w.revenue, 0) END AS actual,
                   f.as_of AS made_at
            FROM {forecast_snapshots} f
            LEFT JOIN (SELECT month, SUM(revenue_goal) AS goal FROM {input_goals}
                       GROUP BY month) g ON g.month = f.month
            LEFT JOIN (SELECT EXTRACT(YEAR FROM closed_local) AS y,
                              EXTRACT(MONTH FROM closed_local) AS mo,
                              SUM(COALESCE(price, 0)) AS revenue
                       FROM {fact_leads}
                       WHERE outcome = 'won' AND is_deleted = FALSE
                       GROUP BY EXTRACT(YEAR FROM closed_local), EXTRACT(MONTH FROM closed_local)
                      ) w ON w.y = EXTRACT(YEAR FROM f.month) AND w.mo = EXTRACT(MONTH FROM f.month)""",
}


def create_views(con: Any, target: Target) -> None:
    backend = backend_for(target)
    cur = backend.cursor(con)
    for view, sql in definitions(target).items():
        for statement in backend.create_view_sql(view, sql):
            cur.execute(statement)
    backend.commit_ddl(con)
