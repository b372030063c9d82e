"""Settings, read from the environment and from a `.env` file (pydantic-settings).

Every field is documented in `.env.example`. Names kept from the earlier system
(`KOMMO_CLIENT_ID`, `KOMMO_CLIENT_SECRET`, `KOMMO_REDIRECT_URI`, `KOMMO_ACCESS_TOKEN`) mean
the same thing here.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
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
    kommo_account: str | None = Field(
        default=None,
        description="Which account of the register a command works on (`--account`); default: "
        "the account of this file, else the register's first",
    )

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
    # --- Agencies: workers on a queue (automation/queue.py) ---
    broker_url: SecretStr | None = Field(
        default=None,
        description="redis://host:6379/0 or amqp://user:password@host:5672/: `serve` puts its "
        "jobs on this queue for `kommo-analytics worker` processes instead of running them",
    )
    limiter_url: SecretStr | None = Field(
        default=None,
        description="redis://host:6379/1: where workers share each account's request budget; "
        "default: BROKER_URL when it is a Redis one",
    )

    @model_validator(mode="after")
    def _workers_need_a_server(self) -> Settings:
        # Workers on several machines share one warehouse: a DuckDB file lets one process at a
        # time write it, on one machine (docs/architecture.md "Many accounts").
        if self.broker_url is not None and self.resolved_database_url.lower().startswith("duckdb"):
            raise ValueError(
                "BROKER_URL is set, so workers run the jobs, but the warehouse is a DuckDB file, "
                "which only one process of one machine can write; set DATABASE_URL to a "
                "PostgreSQL database (postgresql+psycopg://user:password@host:5432/kommo), or "
                "empty BROKER_URL to run every job inside `serve`"
            )
        if self.broker_url is not None and self.resolved_limiter_url is None:
            # Workers that talk to one account must share its 7 requests/second; only Redis
            # keeps that budget (kommo/ratelimit.py).
            raise ValueError(
                "BROKER_URL is not a Redis one, so the workers have nowhere to share each "
                "account's request budget; set LIMITER_URL to a Redis URL, e.g. "
                "redis://127.0.0.1:6379/1"
            )
        return self

    @property
    def resolved_limiter_url(self) -> str | None:
        """Where workers share each account's request budget (a Redis URL), if anywhere."""
        if self.limiter_url is not None:
            return self.limiter_url.get_secret_value()
        if self.broker_url is not None:
            broker = self.broker_url.get_secret_value()
            if broker.lower().startswith(("redis://", "rediss://")):
                # `?queue=` names the workers' queue (automation/queue.py); Redis itself
                # would refuse it as a connection option.
                parts = urlsplit(broker)
                kept = [(k, v) for k, v in parse_qsl(parts.query) if k != "queue"]
                return urlunsplit(parts._replace(query=urlencode(kept)))
        return None

    @model_validator(mode="after")
    def _saved_channel_rules(self) -> Settings:
        # Decided here, once, so that every reader of `channel_rules_file` — the build, the
        # model update, the sync's check, the CLI — uses the rules an admin saved in the app.
        if self.channel_rules_file is None:
            saved = self.data_dir / SAVED_CHANNEL_RULES
            if saved.is_file():
                self.channel_rules_file = saved
        return self

    # The install's own DATA_DIR when these settings are an account's of the register (whose
    # data_dir is its own folder): what every account shares lives there — the register, the
    # dashboard's users, exchange rates, the stage mapping.
    _install_dir: Path | None = PrivateAttr(default=None)
    _main_configured: bool | None = PrivateAttr(default=None)

    @property
    def main_configured(self) -> bool:
        """Whether .env (or the environment) configures an account of its own."""
        if self._main_configured is None:
            return self.has_any_kommo_setting
        return self._main_configured

    @property
    def install_dir(self) -> Path:
        return self._install_dir or self.data_dir

    @property
    def account_name(self) -> str:
        """The register's name of the account these settings are for."""
        return self.kommo_account or MAIN_ACCOUNT

    def for_account(self, name: str) -> Settings:
        """These settings for the account ``name`` of the register: its address and secrets, its
        own folder (tokens, goals, costs, rules, logs) and its own warehouse. ``MAIN_ACCOUNT`` is
        the account of .env and the environment: these settings as they are."""
        if name == MAIN_ACCOUNT:
            return self
        registered = read_register(self.install_dir)
        entry = registered.get(name)
        if entry is None:
            known = ", ".join(n for n in registered) or "none yet"
            raise ConfigError(
                f"there is no account named {name!r} (accounts: {known})",
                hint="see them with `kommo-analytics accounts list`, or add it with "
                "`kommo-analytics accounts add`",
            )
        folder = account_dir(self.install_dir, name)
        rules = self.channel_rules_file
        if rules is not None and rules == self.install_dir / SAVED_CHANNEL_RULES:
            rules = None  # the main account's saved rules are its own, not this account's
        if rules is None and (folder / SAVED_CHANNEL_RULES).is_file():
            rules = folder / SAVED_CHANNEL_RULES
        account = self.model_copy(
            update={
                "kommo_account": name,
                "data_dir": folder,
                "database_url": account_database_url(self.database_url, name),
                "kommo_base_url": entry.base_url,
                "kommo_access_token": _secret(folder / ACCESS_TOKEN_FILE),
                "kommo_client_id": entry.client_id,
                "kommo_client_secret": _secret(folder / CLIENT_SECRET_FILE),
                "kommo_redirect_uri": entry.redirect_uri,
                "kommo_auth_code": None,
                # Each account's days are its own: .env's overrides are the main account's.
                "account_timezone": None,
                "holidays_country": None,
                "channel_rules_file": rules,
            }
        )
        account._install_dir = self.install_dir
        account._main_configured = self.main_configured
        return account

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
    """Settings from env and `.env`, with a readable error instead of a pydantic trace: those
    of the account chosen by :func:`using_account`, else by ``KOMMO_ACCOUNT``, else of the
    default account (:func:`default_account`)."""
    try:
        base = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid setting — {problems}") from exc
    name = _CHOSEN_ACCOUNT.get() or base.kommo_account or default_account(base)
    return base.for_account(name)


# --- The accounts register -------------------------------------------------------------------
# An agency's accounts, beside the one of .env (docs/architecture.md "Many accounts"). The
# register is read here, with the settings, because every command's settings depend on which
# account it works on; it is written by `service/accounts.py`.

# The account of .env and the environment, first of every list.
MAIN_ACCOUNT: Final = "main"
REGISTER_FILE: Final = "accounts.toml"
ACCOUNTS_FOLDER: Final = "accounts"
ACCESS_TOKEN_FILE: Final = "access_token"  # nosec B105 — a file name, not a secret
CLIENT_SECRET_FILE: Final = "oauth_client_secret"  # nosec B105 — a file name
# Safe as a folder name and inside a database name on every warehouse kind.
ACCOUNT_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,29}")

_CHOSEN_ACCOUNT: ContextVar[str | None] = ContextVar("kommo_analytics_account", default=None)


@dataclass(frozen=True)
class RegisteredAccount:
    """One account of the register; its secrets are files in its folder, never here."""

    name: str
    base_url: str
    display_name: str | None = None
    auth: Literal["token", "oauth"] = "token"
    client_id: str | None = None
    redirect_uri: str | None = None
    # As Kommo reported them at `accounts add` / `accounts test`.
    timezone: str | None = None
    currency: str | None = None
    added_at: str | None = None

    @property
    def label(self) -> str:
        return self.display_name or self.name


def check_account_name(name: str) -> str:
    if name == MAIN_ACCOUNT or not ACCOUNT_NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} cannot name an account",
            hint="use 1 to 30 lower-case letters, digits or _, starting with a letter (and not "
            f"{MAIN_ACCOUNT!r}, the account of .env), e.g. acme_brasil",
        )
    return name


def account_dir(install_dir: Path, name: str) -> Path:
    return install_dir / ACCOUNTS_FOLDER / name


def register_path(install_dir: Path) -> Path:
    return install_dir / REGISTER_FILE


def read_register(install_dir: Path) -> dict[str, RegisteredAccount]:
    """The registered accounts by name, in the order they were added; {} without a register."""
    path = register_path(install_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(
            f"cannot read the accounts register {path}: {exc.strerror or exc}",
            hint="check that this user may read it",
        ) from exc
    try:
        document = tomllib.loads(text)
        table = document.get("accounts", {})
        accounts = {
            name: RegisteredAccount(name=check_account_name(name), **fields)
            for name, fields in table.items()
        }
    except (tomllib.TOMLDecodeError, TypeError, AttributeError, ConfigError) as exc:
        raise ConfigError(
            f"the accounts register {path} is damaged ({exc})",
            hint="restore it from a backup, or remove the broken entry and add the account "
            "again with `kommo-analytics accounts add`",
        ) from exc
    return accounts


def account_names(settings: Settings) -> list[str]:
    """Every account of the install: the one of .env first (when it has one), then the
    register's, in the order they were added."""
    names = [MAIN_ACCOUNT] if settings.main_configured else []
    return names + list(read_register(settings.install_dir))


def default_account(settings: Settings) -> str:
    """The account a command works on when none is chosen: the one of .env when it has one (a
    single-account install never meets the register), else the register's first."""
    if settings.main_configured:
        return MAIN_ACCOUNT
    registered = read_register(settings.install_dir)
    return next(iter(registered), MAIN_ACCOUNT)


@contextmanager
def using_account(name: str | None) -> Iterator[None]:
    """Every :func:`load_settings` inside the block (in this thread or task) is for ``name``:
    the dashboard's account switcher, a worker's job."""
    token = _CHOSEN_ACCOUNT.set(name)
    try:
        yield
    finally:
        _CHOSEN_ACCOUNT.reset(token)


def account_database_url(database_url: str | None, name: str) -> str | None:
    """The warehouse of account ``name``, derived from the install's DATABASE_URL: a DuckDB file
    in the account's folder, or on a server a database of its own (``kommo`` → ``kommo_acme``).
    None (the default DuckDB file, which then lies in the account's folder) stays None."""
    if database_url is None:
        return None
    if database_url.lower().startswith("duckdb:///"):
        path = Path(database_url[len("duckdb:///") :])
        return f"duckdb:///{path.parent / ACCOUNTS_FOLDER / name / path.name}"
    parts = urlsplit(database_url)
    database = parts.path.strip("/")
    if not database:
        return database_url  # parse_database_url names what is missing
    return urlunsplit(
        (parts.scheme, parts.netloc, f"/{database}_{name}", parts.query, parts.fragment)
    )


def _secret(path: Path) -> SecretStr | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="check that this user may read it (it is kept readable by its owner only)",
        ) from exc
    return SecretStr(text) if text else None
