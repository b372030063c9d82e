"""Where alerts go: e-mail (automation/mail.py), webhooks and, optionally, a Telegram bot.

A webhook's JSON is chosen by its host, because each service accepts only its own shape:

- Slack incoming webhooks (``hooks.slack.com``): ``{"text": ...}``.
- Microsoft Teams: a Workflows webhook ("Post to a channel when a webhook request is received";
  ``*.logic.azure.com``, ``*.powerplatform.com``, ``*.powerautomate.com``) accepts Adaptive Cards
  only, in a message envelope: ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": {AdaptiveCard}}]}``. The retiring
  Office 365 connector URLs (``*.webhook.office.com``, ``outlook.office.com``) accept that
  envelope too; the top-level ``text`` is kept for them, and a workflow ignores it.
- Discord (``discord.com``/``discordapp.com``): ``{"content": ...}``, at most 2,000 characters.
- Google Chat (``chat.googleapis.com``): ``{"text": ...}`` and nothing else (it rejects unknown
  fields).
- anything else: ``{"text", "subject", "source", "alerts": [...]}``, the text plus each alert's
  key, trigger, level, status and words, for a receiver that routes on them.

Webhook URLs and the bot token are secrets (whoever holds one can post): a channel is named by
:func:`mask`, and any error text is cleaned of them before it is shown or stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpx

from kommo_analytics.automation import mail
from kommo_analytics.automation.alerts.messages import Message
from kommo_analytics.errors import DeliveryError, KommoAnalyticsError
from kommo_analytics.settings import Settings

TIMEOUT_SECONDS: Final = 15.0
DISCORD_LIMIT: Final = 2000
TELEGRAM_LIMIT: Final = 4096

Format = Literal["slack", "teams", "discord", "google_chat", "generic"]


def webhook_format(url: str) -> Format:
    host = (urlsplit(url).hostname or "").lower()

    def under(*domains: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in domains)

    if under("hooks.slack.com"):
        return "slack"
    if under("webhook.office.com", "outlook.office.com", "logic.azure.com") or under(
        "powerplatform.com", "powerautomate.com"
    ):
        return "teams"
    if under("discord.com", "discordapp.com"):
        return "discord"
    if under("chat.googleapis.com"):
        return "google_chat"
    return "generic"


def mask(url: str) -> str:
    """A webhook URL as it may be shown: scheme, host and port, the path's secret elided."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


class _Redact(logging.Filter):
    """httpx logs every request's full URL at INFO: the webhook's secret path, the bot token.
    This filter on its logger replaces the secrets of the channels built in this process."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _clean(message, sorted(self.secrets, key=len, reverse=True))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_REDACT = _Redact()
logging.getLogger("httpx").addFilter(_REDACT)


def _secret(*values: str) -> None:
    _REDACT.secrets.update(v for v in values if len(v) >= 8)


def _clean(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= 8:  # a bare "/" path is no secret, and replacing it would garble
            text = text.replace(secret, "***")
    return text


def payload(fmt: Format, message: Message) -> dict[str, Any]:
    """The JSON body for a webhook of format ``fmt``."""
    text = f"{message.subject}\n\n{message.text}"
    if fmt == "slack":
        return {"text": text}
    if fmt == "google_chat":
        return {"text": text}
    if fmt == "discord":
        return {"content": text if len(text) <= DISCORD_LIMIT else text[: DISCORD_LIMIT - 1] + "…"}
    if fmt == "teams":
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "wrap": True}
        ]
        body += [
            {"type": "TextBlock", "text": item.text, "wrap": True, "separator": True}
            for item in message.items
        ]
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        }
        return {
            "type": "message",
            "text": text,
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }
    return {
        "text": text,
        "subject": message.subject,
        "source": "kommo-analytics",
        "alerts": [
            {
                "key": i.key,
                "trigger": i.trigger,
                "level": i.level,
                "status": i.status,
                "title": i.title,
                "text": i.text,
            }
            for i in message.items
        ],
    }


@dataclass(frozen=True)
class Delivery:
    """How sending to one channel went; ``channel`` is safe to show (no secret)."""

    channel: str
    ok: bool
    error: str | None = None
    hint: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"channel": self.channel, "ok": self.ok, "error": self.error, "hint": self.hint}


class Channel:
    name: str

    def send(self, message: Message) -> None:
        raise NotImplementedError

    def deliver(self, message: Message) -> Delivery:
        """Send, turning any failure into a failed :class:`Delivery` (never raises a project
        error: one channel failing must not stop the others)."""
        try:
            self.send(message)
        except KommoAnalyticsError as exc:
            return Delivery(self.name, False, exc.message, exc.hint)
        return Delivery(self.name, True)


class EmailChannel(Channel):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = "email"

    def send(self, message: Message) -> None:
        mail.send_mail(self.settings, self.settings.alert_recipients, message.subject, message.text)


def _post(channel: str, url: str, body: dict[str, Any], secrets: Sequence[str]) -> httpx.Response:
    try:
        response = httpx.post(url, json=body, timeout=TIMEOUT_SECONDS)
    except httpx.TimeoutException:
        raise DeliveryError(
            f"{channel}: no answer within {TIMEOUT_SECONDS:g} s",
            hint="check that this machine can reach the service, then `kommo-analytics alerts "
            "test`",
        ) from None
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"{channel}: cannot connect ({_clean(type(exc).__name__ + ': ' + str(exc), secrets)})",
            hint="check the URL's host and this machine's network access",
        ) from None
    if response.status_code >= 400:
        answer = _clean(
            response.text.strip().splitlines()[0][:200] if response.text.strip() else "", secrets
        )
        raise DeliveryError(
            f"{channel}: refused with HTTP {response.status_code}"
            + (f" ({answer})" if answer else ""),
            hint=_status_hint(response.status_code),
        )
    return response


def _status_hint(status: int) -> str:
    if status in (401, 403, 404, 410):
        return "the URL is wrong, revoked or deleted: create a new one and update .env"
    if status == 400:
        return "the service refused the message's format; report this with the service's name"
    if status == 429:
        return "the service is rate limiting; the next evaluation retries"
    return "the service failed; the next evaluation retries"


class WebhookChannel(Channel):
    def __init__(self, url: str) -> None:
        self.url = url
        _secret(url, urlsplit(url).path)
        self.format = webhook_format(url)
        self.name = f"webhook {self.format} {mask(url)}"

    def send(self, message: Message) -> None:
        _post(
            self.name, self.url, payload(self.format, message), [self.url, urlsplit(self.url).path]
        )


class TelegramChannel(Channel):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = "telegram"

    def send(self, message: Message) -> None:
        token = self.settings.telegram_bot_token
        chat = self.settings.telegram_chat_id
        if token is None or not chat:
            missing = "TELEGRAM_CHAT_ID" if token is not None else "TELEGRAM_BOT_TOKEN"
            raise DeliveryError(
                f"telegram: {missing} is not set",
                hint="set both TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID, or neither",
            )
        secret = token.get_secret_value()
        _secret(secret)
        base = self.settings.telegram_api_url.rstrip("/")
        text = f"{message.subject}\n\n{message.text}"
        if len(text) > TELEGRAM_LIMIT:
            text = text[: TELEGRAM_LIMIT - 1] + "…"
        response = _post(
            self.name,
            f"{base}/bot{secret}/sendMessage",
            {"chat_id": chat, "text": text, "disable_web_page_preview": True},
            [secret],
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            description = answer.get("description") if isinstance(answer, dict) else None
            raise DeliveryError(
                f"telegram: the Bot API did not accept the message ({description or 'no reason given'})",
                hint="check TELEGRAM_CHAT_ID, and that the bot was added to that chat",
            )


def configured(settings: Settings) -> list[Channel]:
    """Every channel the settings name: e-mail when ALERT_EMAILS is set, each webhook, and
    Telegram when either of its settings is (the other missing is then its failure)."""
    found: list[Channel] = []
    if settings.alert_recipients:
        found.append(EmailChannel(settings))
    found += [WebhookChannel(url) for url in settings.alert_webhooks]
    if settings.telegram_bot_token is not None or settings.telegram_chat_id:
        found.append(TelegramChannel(settings))
    return found
