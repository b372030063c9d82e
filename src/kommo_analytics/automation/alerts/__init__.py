"""Alerts that reach people: triggers judged on the warehouse's facts, de-duplicated with a
cooldown and a "resolved" message, sent by e-mail, webhooks and Telegram.

- :mod:`.conditions` — what a trigger finds (a stable key, a level, catalogue keys);
- :mod:`.triggers` — the triggers, pure functions of facts;
- :mod:`.gather` — the facts, read through the read service;
- :mod:`.state` — what was sent (``DATA_DIR/alerts_state.json``) and what is news;
- :mod:`.messages` — the words, in ``REPORT_LANGUAGE``;
- :mod:`.channels` — e-mail, webhooks (Slack, Teams, Discord, Google Chat, generic), Telegram;
- :mod:`.engine` — :func:`evaluate_and_send` and :func:`send_test`.
"""

from kommo_analytics.automation.alerts.channels import Delivery, mask
from kommo_analytics.automation.alerts.engine import AlertOutcome, evaluate_and_send, send_test

__all__ = ["AlertOutcome", "Delivery", "evaluate_and_send", "mask", "send_test"]
