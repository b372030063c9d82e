"""Settings, read from the environment and from a `.env` file (pydantic-settings).

Every field is documented in `.env.example`. Names kept from the earlier system
(`KOMMO_CLIENT_ID`, `KOMMO_CLIENT_SECRET`, `KOMMO_REDIRECT_URI`, `KOMMO_ACCESS_TOKEN`) mean
the same thing here.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kommo_analytics.errors import ConfigError
from kommo_analytics.text.languages import Locale
from kommo_analytics.workdays import parse_country

DEFAULT_DATA_DIR = Path("data")
# The channel rules saved on the dashboard's Settings page, in DATA_DIR: used when
# CHANNEL_RULES_FILE names no file.
SAVED_CHANNEL_RULES: Final = "channel_rules.toml"
# The alert triggers by name (automation/alerts/triggers.py), in the order they are evaluated.
ALERT_TRIGGERS: Final = (
    "sync_failed",
    "data_stale",
    "token_expiring",
    "quality_errors",
    "goal_at_risk",
    "stuck_deals",
    "lead_volume",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `.env.example` copied as it is leaves every value empty: that means "not set".
        env_ignore_empty=True,
    )

    kommo_base_url: str | None = Field(
        default=None, description="Your account's address, e.g. https://acme.kommo.com"
    )
    kommo_access_token: SecretStr | None = Field(
        default=None, description="A long-lived token from a private integration"
    )
    kommo_client_id: str | None = None
    kommo_client_secret: SecretStr | None = None
    kommo_redirect_uri: str | None = None
    kommo_auth_code: SecretStr | None = None
    kommo_rate_limit_per_second: float = Field(default=7.0, gt=0, le=50)

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = Field(
        default=None, description="duckdb:///path, mysql+pymysql://…, postgresql+psycopg://…"
    )

    account_timezone: str | None = Field(
        default=None,
        description="IANA time zone for day/week/month buckets; default: the account's own",
    )
    holidays_country: str | None = Field(
        default=None,
        description="ISO 3166 code (optionally with a subdivision, e.g. BR-SP) whose public "
        "holidays are not working days; default: the account's own country",
    )
    channel_rules_file: Path | None = Field(
        default=None, description="A TOML file of channel rules replacing the shipped defaults"
    )
    response_sla_hours: float = Field(default=2.0, gt=0, le=24 * 30)
    dashboard_session_minutes: int = Field(
        default=60, gt=0, le=7 * 24 * 60, description="Idle minutes before a dashboard sign-out"
    )
    health_stale_warning_hours: float = Field(
        default=2.0, gt=0, description="A stream older than this is a warning in `health`"
    )
    health_stale_critical_hours: float = Field(
        default=24.0, gt=0, description="A stream older than this is critical in `health`"
    )
    # --- E-mail, shared by alerts and the weekly report (automation/mail.py) ---
    report_language: Locale = Field(
        default="pt-BR", description="Language of alerts, e-mails and the weekly report"
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail")
    smtp_port: int | None = Field(
        default=None, gt=0, lt=65536, description="Default: 587 (starttls), 465 (tls), 25 (none)"
    )
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = Field(default=None, description="Sender address of every e-mail")
    alert_emails: str | None = Field(default=None, description="Comma-separated alert recipients")
    report_emails: str | None = Field(
        default=None, description="Comma-separated weekly report recipients (default: ALERT_EMAILS)"
    )
    # --- Alerts (automation/alerts/) ---
    alert_webhook_urls: SecretStr | None = Field(
        default=None,
        description="Comma-separated webhook URLs (Slack, Teams, Discord, Google Chat or any "
        "JSON receiver); secrets: they are never logged whole",
    )
    telegram_bot_token: SecretStr | None = Field(default=None, description="A Telegram bot's token")
    telegram_chat_id: str | None = Field(default=None, description="The Telegram chat to post to")
    telegram_api_url: str = Field(
        default="https://api.telegram.org", description="Telegram's Bot API (tests: a local one)"
    )
    alert_cooldown_hours: float = Field(
        default=6.0, gt=0, description="A condition still true is re-sent after this many hours"
    )
    alert_triggers: str | None = Field(
        default=None,
        description="Comma-separated triggers to evaluate (default: all of them)",
    )
    alert_channel_min_daily_leads: float = Field(
        default=5.0,
        gt=0,
        description="A channel's daily leads are watched only when its median day has this many",
    )
    # --- Running unattended: `serve`, `schedule`, logs (automation/serve.py, cron.py, logs.py) ---
    sync_interval_minutes: float = Field(
        default=15, gt=0, le=24 * 60, description="Minutes between incremental syncs"
    )
    full_sync_time: str = Field(
        default="06:00", description="HH:MM of the daily full sync, in the account's time zone"
    )
    health_interval_minutes: float = Field(
        default=15, gt=0, le=24 * 60, description="Minutes between health checks"
    )
    weekly_report_time: str = Field(
        default="mon 08:00", description="Day and HH:MM of the weekly report, account's zone"
    )
    log_max_bytes: int = Field(
        default=5_000_000, ge=10_000, description="Size at which a log file is rotated"
    )
    log_backups: int = Field(default=5, ge=1, le=100, description="Rotated log files kept")

    @model_validator(mode="after")
    def _saved_channel_rules(self) -> Settings:
        # Decided here, once, so that every reader of `channel_rules_file` — the build, the
        # model update, the sync's check, the CLI — uses the rules an admin saved in the app.
        if self.channel_rules_file is None:
            saved = self.data_dir / SAVED_CHANNEL_RULES
            if saved.is_file():
                self.channel_rules_file = saved
        return self

    @property
    def channel_rules_to_save(self) -> Path:
        """Where the Settings page writes the channel rules: the file in use when one is named,
        else ``DATA_DIR/channel_rules.toml``."""
        return self.channel_rules_file or self.data_dir / SAVED_CHANNEL_RULES

    @field_validator("full_sync_time")
    @classmethod
    def _check_full_sync_time(cls, value: str) -> str:
        hour, minute = parse_clock(value, "FULL_SYNC_TIME")
        return f"{hour:02d}:{minute:02d}"

    @field_validator("weekly_report_time")
    @classmethod
    def _check_weekly_report_time(cls, value: str) -> str:
        day, hour, minute = parse_weekly(value, "WEEKLY_REPORT_TIME")
        return f"{day} {hour:02d}:{minute:02d}"

    @field_validator("account_timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        if not value:
            return None
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (KeyError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone; use an IANA name such as America/Sao_Paulo"
            ) from None
        return value

    @field_validator("holidays_country")
    @classmethod
    def _check_holidays_country(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        try:
            country, subdivision = parse_country(value)
        except ConfigError as exc:
            raise ValueError(f"{exc.message}; {exc.hint}") from None
        return f"{country}-{subdivision}" if subdivision else country

    @field_validator("kommo_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"KOMMO_BASE_URL must look like https://<subdomain>.kommo.com, got {value!r}"
            )
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def resolved_smtp_port(self) -> int:
        return self.smtp_port or {"starttls": 587, "tls": 465, "none": 25}[self.smtp_security]

    @property
    def alert_recipients(self) -> tuple[str, ...]:
        return _addresses(self.alert_emails)

    @property
    def report_recipients(self) -> tuple[str, ...]:
        return _addresses(self.report_emails) or self.alert_recipients

    @field_validator("alert_emails", "report_emails")
    @classmethod
    def _check_emails(cls, value: str | None) -> str | None:
        wrong = [a for a in _addresses(value) if "@" not in a.strip("@")]
        if wrong:
            raise ValueError(
                f"not an e-mail address: {', '.join(wrong)}; separate addresses with commas"
            )
        return value

    @property
    def alert_webhooks(self) -> tuple[str, ...]:
        """The webhook URLs (secrets: show them only through ``automation.alerts.mask``)."""
        if self.alert_webhook_urls is None:
            return ()
        return _addresses(self.alert_webhook_urls.get_secret_value())

    @field_validator("alert_webhook_urls")
    @classmethod
    def _check_webhooks(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for url in _addresses(value.get_secret_value()):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                # The URL itself is a secret: name only its position.
                raise ValueError(
                    "every ALERT_WEBHOOK_URLS entry must be an http(s) URL; separate them "
                    "with commas"
                )
        return value

    @field_validator("alert_triggers")
    @classmethod
    def _check_triggers(cls, value: str | None) -> str | None:
        names = _addresses(value)
        wrong = [n for n in names if n not in ALERT_TRIGGERS]
        if wrong:
            raise ValueError(
                f"unknown alert trigger(s) {', '.join(wrong)}; choose among "
                f"{', '.join(ALERT_TRIGGERS)}"
            )
        return value or None

    @property
    def enabled_alert_triggers(self) -> tuple[str, ...]:
        return _addresses(self.alert_triggers) or ALERT_TRIGGERS

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"duckdb:///{self.data_dir / 'kommo.duckdb'}"

    @property
    def has_kommo_credentials(self) -> bool:
        return self.kommo_account_error() is None

    @property
    def has_any_kommo_setting(self) -> bool:
        """Some Kommo account setting is given, complete or not."""
        return any(
            value is not None
            for value in (
                self.kommo_base_url,
                self.kommo_access_token,
                self.kommo_client_id,
                self.kommo_client_secret,
                self.kommo_redirect_uri,
            )
        )

    def kommo_account_error(self) -> ConfigError | None:
        """None when a Kommo account is fully configured, else the error naming what is missing.

        A person who set half of the settings needs the other half named, not to be told that
        nothing is configured.
        """
        if not self.has_any_kommo_setting:
            return ConfigError(
                "no Kommo account is configured",
                hint="set KOMMO_BASE_URL and KOMMO_ACCESS_TOKEN (or KOMMO_CLIENT_ID, "
                "KOMMO_CLIENT_SECRET and KOMMO_REDIRECT_URI, then run `kommo-analytics auth "
                "--code <code>`) in .env — or try `kommo-analytics demo`",
            )
        oauth = {
            "KOMMO_CLIENT_ID": self.kommo_client_id,
            "KOMMO_CLIENT_SECRET": self.kommo_client_secret,
            "KOMMO_REDIRECT_URI": self.kommo_redirect_uri,
        }
        has_token = self.kommo_access_token is not None
        if not has_token and any(value is not None for value in oauth.values()):
            missing = [name for name, value in oauth.items() if value is None]
            if missing:
                return ConfigError(
                    f"the OAuth keys are incomplete: {', '.join(missing)} not set",
                    hint="copy them from your integration's Keys and scopes tab in Kommo into "
                    "your .env, then run `kommo-analytics auth --code <code>` — or set "
                    "KOMMO_ACCESS_TOKEN instead",
                )
        elif not has_token:
            return ConfigError(
                "KOMMO_BASE_URL is set but no token is: KOMMO_ACCESS_TOKEN is not set",
                hint="set KOMMO_ACCESS_TOKEN to a long-lived token from your integration's Keys "
                "and scopes tab, or set KOMMO_CLIENT_ID, KOMMO_CLIENT_SECRET and "
                "KOMMO_REDIRECT_URI and run `kommo-analytics auth --code <code>`",
            )
        if self.kommo_base_url is None:
            given = "KOMMO_ACCESS_TOKEN" if has_token else "the OAuth keys"
            return ConfigError(
                f"{given} {'is' if has_token else 'are'} set but KOMMO_BASE_URL is not",
                hint="set KOMMO_BASE_URL to your account's address, e.g. "
                "https://<subdomain>.kommo.com",
            )
        return None


WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_clock(value: str, setting: str) -> tuple[int, int]:
    """``"06:00"`` → (6, 0); a ValueError naming ``setting`` and the expected form otherwise."""
    text = value.strip()
    hour_text, sep, minute_text = text.partition(":")
    if (
        sep
        and hour_text.isdigit()
        and minute_text.isdigit()
        and len(minute_text) == 2
        and 0 <= int(hour_text) <= 23
        and 0 <= int(minute_text) <= 59
    ):
        return int(hour_text), int(minute_text)
    raise ValueError(
        f"{setting} must be a time of day as HH:MM on a 24-hour clock, e.g. 06:00, got {value!r}"
    )


def parse_weekly(value: str, setting: str) -> tuple[str, int, int]:
    """``"mon 08:00"`` → ("mon", 8, 0); a ValueError naming ``setting`` otherwise."""
    parts = value.split()
    word = parts[0].lower() if parts else ""
    day = word[:3]
    if len(parts) != 2 or word not in (*WEEKDAYS, *_DAY_NAMES):
        raise ValueError(
            f"{setting} must be a weekday and a time, e.g. mon 08:00 (days: "
            f"{', '.join(WEEKDAYS)}), got {value!r}"
        )
    hour, minute = parse_clock(parts[1], setting)
    return day, hour, minute


def _addresses(value: str | None) -> tuple[str, ...]:
    return tuple(a.strip() for a in (value or "").split(",") if a.strip())


# Variables the project reads outside ``Settings`` that share a prefix with a setting: the
# dashboard's warehouse URL (handed from `kommo-analytics dashboard` to its Streamlit process),
# the setup script's extras, and the test suite's switches.
OTHER_VARIABLES: Final = frozenset(
    {"KOMMO_DASHBOARD_DATABASE_URL", "KOMMO_VENV_EXTRAS", "KOMMO_UPDATE_SNAPSHOTS"}
)
OTHER_PREFIXES: Final = ("KOMMO_TEST_",)


@dataclass(frozen=True)
class UnknownSetting:
    """A variable that looks like a setting and is none: most likely a typo, silently ignored
    otherwise (``DATABASE_ULR`` would send the sync to the default DuckDB file)."""

    name: str
    source: str  # the .env file's name, or "environment"
    suggestion: str | None  # the closest known name, when one is close


def known_settings(model: type[BaseSettings] = Settings) -> frozenset[str]:
    """Every variable name ``Settings`` reads: from the model itself, so a new field counts."""
    names = {name.upper() for name in model.model_fields}
    for field_info in model.model_fields.values():
        if isinstance(field_info.alias, str):
            names.add(field_info.alias.upper())
    return frozenset(names)


def setting_prefixes(model: type[BaseSettings] = Settings) -> tuple[str, ...]:
    """The first words of the settings' names (``KOMMO_``, ``DATABASE_``, …): a variable starting
    with one of them is meant for us."""
    return tuple(sorted({name.split("_", 1)[0] + "_" for name in known_settings(model)}))


def unknown_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> list[UnknownSetting]:
    """Names in ``.env`` or the environment that start like a setting and are not one; never
    raises (an unreadable .env is reported by loading the settings)."""
    from dotenv import dotenv_values

    known = known_settings()
    prefixes = setting_prefixes()
    environ = os.environ if environ is None else environ
    configured = Settings.model_config.get("env_file")
    path = env_file if env_file is not None else Path(str(configured or ".env"))
    sources: list[tuple[str, list[str]]] = []
    try:
        if path.is_file():
            sources.append((path.name, list(dotenv_values(path, encoding="utf-8"))))
    except (OSError, UnicodeDecodeError):
        pass
    sources.append(("environment", list(environ)))
    found: dict[str, UnknownSetting] = {}
    for source, names in sources:
        for raw in names:
            name = raw.upper()
            if (
                name in found
                or name in known
                or name in OTHER_VARIABLES
                or name.startswith(OTHER_PREFIXES)
                or not name.startswith(prefixes)
            ):
                continue
            close = difflib.get_close_matches(name, sorted(known), n=1)
            found[name] = UnknownSetting(name, source, close[0] if close else None)
    return list(found.values())


def load_settings(**overrides: object) -> Settings:
    """Settings from env and `.env`, with a readable error instead of a pydantic trace."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid setting — {problems}") from exc
