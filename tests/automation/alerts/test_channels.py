"""Each webhook host gets the JSON it accepts; Telegram goes to a local Bot API; secrets are
masked in every name and error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from kommo_analytics.automation.alerts import channels, state
from kommo_analytics.automation.alerts.conditions import Condition, Level, Line
from kommo_analytics.automation.alerts.messages import Message, compose, trial_message
from kommo_analytics.automation.alerts.state import Kind, decide
from kommo_analytics.settings import Settings
from tests.automation.alerts.conftest import Receiver

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MESSAGE = trial_message("en")


@pytest.mark.parametrize(
    ("url", "fmt"),
    [
        ("https://hooks.slack.com/services/T0/B0/xyz", "slack"),
        ("https://acme.webhook.office.com/webhookb2/abc/IncomingWebhook/def", "teams"),
        ("https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual", "teams"),
        ("https://default1.environment.api.powerplatform.com/powerautomate/x", "teams"),
        ("https://discord.com/api/webhooks/1/abc", "discord"),
        ("https://discordapp.com/api/webhooks/1/abc", "discord"),
        ("https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t", "google_chat"),
        ("https://example.com/hooks/alerts", "generic"),
        ("https://hooks.slack.com.evil.example/x", "generic"),  # a look-alike is not Slack
    ],
)
def test_the_format_is_chosen_by_the_urls_host(url: str, fmt: str) -> None:
    assert channels.webhook_format(url) == fmt


def test_each_format_has_the_shape_its_service_accepts() -> None:
    text = f"{MESSAGE.subject}\n\n{MESSAGE.text}"
    assert channels.payload("slack", MESSAGE) == {"text": text}
    assert channels.payload("google_chat", MESSAGE) == {"text": text}  # nothing else: it refuses
    assert channels.payload("discord", MESSAGE) == {"content": text}
    teams = channels.payload("teams", MESSAGE)
    assert teams["type"] == "message" and teams["text"] == text
    [attachment] = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert [b["text"] for b in card["body"]] == [MESSAGE.subject, MESSAGE.items[0].text]
    generic = channels.payload("generic", MESSAGE)
    assert generic["text"] == text and generic["source"] == "kommo-analytics"
    assert generic["alerts"][0]["status"] == "test"


def test_discord_text_is_cut_to_its_2000_character_limit() -> None:
    long = Message("S", "x" * 5000, ())
    assert len(channels.payload("discord", long)["content"]) == 2000


def test_a_webhook_is_named_without_its_secret_path() -> None:
    url = "https://hooks.slack.com/services/T0/B0/supersecret"
    assert channels.mask(url) == "https://hooks.slack.com/…"
    assert "supersecret" not in channels.WebhookChannel(url).name


def test_a_refusing_webhook_fails_with_the_status_and_a_hint_not_the_url(
    receiver: Receiver,
) -> None:
    receiver.status = 404
    url = f"{receiver.base}/hook/very-secret-path-123"
    result = channels.WebhookChannel(url).deliver(MESSAGE)
    assert not result.ok and result.error is not None and result.hint is not None
    assert "HTTP 404" in result.error and "revoked" in result.hint
    assert "very-secret-path-123" not in f"{result.channel} {result.error} {result.hint}"


def _telegram(receiver: Receiver, token: str = "123456:ABC-secret-token") -> Settings:
    return Settings(
        telegram_bot_token=SecretStr(token),
        telegram_chat_id="-1001",
        telegram_api_url=receiver.base,
        _env_file=None,  # type: ignore[call-arg]
    )


def test_telegram_posts_to_the_bot_api_sendmessage(receiver: Receiver) -> None:
    settings = _telegram(receiver)
    [result] = [c.deliver(MESSAGE) for c in channels.configured(settings)]
    assert result.ok and result.channel == "telegram"
    [(path, body)] = receiver.calls
    assert path == "/bot123456:ABC-secret-token/sendMessage"
    assert body["chat_id"] == "-1001" and body["text"].startswith(MESSAGE.subject)


def test_a_telegram_refusal_names_the_fix_and_never_the_token(receiver: Receiver) -> None:
    receiver.reply = {"ok": False, "description": "Bad Request: chat not found"}
    result = channels.TelegramChannel(_telegram(receiver)).deliver(MESSAGE)
    assert not result.ok and "chat not found" in (result.error or "")
    assert "TELEGRAM_CHAT_ID" in (result.hint or "")
    receiver.status, receiver.reply = 401, {"ok": False, "description": "Unauthorized"}
    result = channels.TelegramChannel(_telegram(receiver)).deliver(MESSAGE)
    assert not result.ok and "secret-token" not in f"{result.error} {result.hint}"


def test_telegram_with_half_its_settings_fails_saying_which_is_missing() -> None:
    settings = Settings(telegram_chat_id="-1001", _env_file=None)  # type: ignore[call-arg]
    [channel] = channels.configured(settings)
    result = channel.deliver(MESSAGE)
    assert not result.ok and "TELEGRAM_BOT_TOKEN is not set" in (result.error or "")


def test_an_unreachable_channel_does_not_stop_the_next(receiver: Receiver) -> None:
    settings = Settings(
        alert_webhook_urls=SecretStr(f"http://127.0.0.1:1/dead-secret-x,{receiver.base}/ok-hook"),
        _env_file=None,  # type: ignore[call-arg]
    )
    results = [c.deliver(MESSAGE) for c in channels.configured(settings)]
    assert [r.ok for r in results] == [False, True]
    assert len(receiver.calls) == 1


def test_an_invalid_webhook_setting_is_refused_without_echoing_it() -> None:
    from kommo_analytics.errors import ConfigError
    from kommo_analytics.settings import load_settings

    with pytest.raises(ConfigError) as caught:
        load_settings(alert_webhook_urls="not-a-url-secret", _env_file=None)
    assert "not-a-url-secret" not in str(caught.value)


# -- state ----------------------------------------------------------------------------------------


def _condition(key: str, level: Level = Level.WARNING, trigger: str = "sync_failed") -> Condition:
    return Condition(key, trigger, level, Line("alert.sync_failed.title"))


def test_decide_sends_new_once_repeats_after_the_cooldown_and_escalations_at_once() -> None:
    cooldown = timedelta(hours=6)
    notices, after = decide({}, [_condition("a")], NOW, cooldown, evaluated=["sync_failed"])
    assert [n.kind for n in notices] == [Kind.NEW]
    later = NOW + timedelta(hours=1)
    notices, after = decide(after, [_condition("a")], later, cooldown, evaluated=["sync_failed"])
    assert notices == []
    # A warning become critical is news at once, inside the cooldown.
    worse = [_condition("a", Level.CRITICAL)]
    notices, after = decide(after, worse, later, cooldown, evaluated=["sync_failed"])
    assert [n.kind for n in notices] == [Kind.NEW]
    notices, after = decide(after, worse, later + cooldown, cooldown, evaluated=["sync_failed"])
    assert [n.kind for n in notices] == [Kind.REPEAT]
    assert notices[0].first_seen == NOW


def test_a_trigger_that_could_not_be_read_neither_resolves_nor_resends() -> None:
    cooldown = timedelta(hours=6)
    _, after = decide({}, [_condition("a")], NOW, cooldown, evaluated=["sync_failed"])
    notices, kept = decide(after, [], NOW + timedelta(hours=1), cooldown, evaluated=[])
    assert notices == [] and kept == after
    notices, cleared = decide(
        kept, [], NOW + timedelta(hours=2), cooldown, evaluated=["sync_failed"]
    )
    assert [n.kind for n in notices] == [Kind.RESOLVED] and cleared == {}


def test_the_state_file_is_private_and_round_trips(tmp_path: Path) -> None:
    _, after = decide({}, [_condition("a")], NOW, timedelta(hours=6), evaluated=["sync_failed"])
    state.save(tmp_path, after)
    assert state.load(tmp_path) == after
    assert state.state_path(tmp_path).stat().st_mode & 0o777 == 0o600
    state.state_path(tmp_path).write_text("{not json")
    from kommo_analytics.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot be read") as caught:
        state.load(tmp_path)
    assert "delete it" in caught.value.hint


def test_several_notices_make_one_message_critical_news_first() -> None:
    cooldown = timedelta(hours=6)
    conditions = [_condition("w"), _condition("c", Level.CRITICAL)]
    notices, _ = decide({}, conditions, NOW, cooldown, evaluated=["sync_failed"])
    message = compose(notices, "en")
    assert message.subject == "[Kommo Analytics] 2 alerts — Critical: The sync failed"
    assert [i.key for i in message.items] == ["c", "w"]
