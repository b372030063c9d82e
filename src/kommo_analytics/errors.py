"""The project's one exception tree.

Every failure a person may see is a subclass of :class:`KommoAnalyticsError` and carries a
``hint``: what to do about it. The CLI and the dashboard only translate these for people; they
never decide on their own whether something is retriable.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass


class KommoAnalyticsError(Exception):
    """Base class: a problem with a message for people and a hint on how to fix it."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__

    def one_line(self) -> str:
        """The message and the hint on one line, as the CLI prints it."""
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(KommoAnalyticsError):
    """A setting is missing or wrong."""

    hint = "check your .env file or environment variables (see .env.example)"


class ApiError(KommoAnalyticsError):
    """A request to the Kommo API failed."""

    retriable: bool = False

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class RetriableApiError(ApiError):
    """A failure that may pass if the same request is sent again later (429, 5xx, network)."""

    retriable = True


class FatalApiError(ApiError):
    """A failure that no retry can fix (blocked IP, ended subscription, bad request)."""


class AuthError(FatalApiError):
    """The token is missing, expired or revoked, and could not be renewed."""

    hint = "run `kommo-analytics auth --code <code>` with a fresh authorization code, or set a new KOMMO_ACCESS_TOKEN"


class RateLimitedError(RetriableApiError):
    """HTTP 429: the per-second limit was hit. Every concurrent caller must slow down, not only
    the one that got it, or repeated 429s turn into Kommo's IP block (kommo-api.md §4)."""


class MalformedResponseError(RetriableApiError):
    """A 200 whose body is cut short or lacks the expected list: a garbled answer, worth asking
    again."""


class BlockedError(FatalApiError):
    """HTTP 403 with nginx's HTML page: Kommo has blocked this integration's IP (kommo-api.md §4)."""

    hint = (
        "once support has lifted the block, sync again with KOMMO_RATE_LIMIT_PER_SECOND at 7 or "
        "lower"
    )


class SubscriptionEndedError(FatalApiError):
    """HTTP 402: the account's paid or trial period has ended."""

    hint = "only an account admin can renew it; Kommo answers no API calls until then"


class TokenRejectedError(AuthError):
    """HTTP 401 from an API call. The client renews the token once before giving up with this."""


class EmulatorError(KommoAnalyticsError):
    """The emulator was asked for something it cannot do (bad fault spec, unknown scale)."""


class DeliveryError(KommoAnalyticsError):
    """A message (e-mail, webhook, Telegram) could not be delivered; what is already stored is
    untouched and the next attempt retries it."""

    hint = "check the alert and e-mail settings in .env (see .env.example)"


class WarehouseError(KommoAnalyticsError):
    """The warehouse database cannot be reached, or refused what the sync asked of it."""

    hint = "check DATABASE_URL and that the database server is running"


class NoSyncedDataError(WarehouseError):
    """The warehouse named by the settings has nothing synced into it yet (no DuckDB file)."""

    hint = "run `kommo-analytics sync` to copy your Kommo account, or `./scripts/demo.sh` for the demo account"


class MissingTableError(WarehouseError):
    """A statement read a table that the database's catalog does not list (yet): decided by
    asking the catalog, never by the driver's wording."""

    hint = "run `kommo-analytics sync` (it creates the tables and builds the model)"

    def __init__(self, message: str, *, tables: tuple[str, ...], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.tables = tables


class UnknownDatabaseError(WarehouseError):
    """The server answers, but the database DATABASE_URL names is not on it."""

    hint = "create it, or fix the database name in DATABASE_URL"


class QueryError(WarehouseError):
    """A statement the database refused; ``reason`` is the driver's first line."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class SyncError(KommoAnalyticsError):
    """A sync cannot start or go on (another sync running, inconsistent state)."""


class WriterBusyError(SyncError):
    """Another writer (a sync, a rebuild, an import, a backup) holds the warehouse's lock: not a
    failure of the one that found it taken, which may wait for its next turn."""


class BrokerError(KommoAnalyticsError):
    """The job queue's broker (BROKER_URL) cannot be reached or refused us."""


class DataDriftError(FatalApiError):
    """A page Kommo answered whose content no longer fits a column: a number became text, an id
    is missing. Storing it would write NULLs over good data, so the run stops before the page
    (and the commit it belongs to) is loaded."""

    hint = (
        "Kommo's API changed the format of this field; nothing from this page was stored and the "
        "data already in the warehouse is unchanged — update kommo-analytics, or report this "
        "message if you already run the newest version"
    )

    def __init__(
        self, message: str, *, field: str = "", value: object = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.field = field
        self.value = value

    def located(self, where: str) -> DataDriftError:
        """The same problem, told with the entity and page (or window) it was found in."""
        return DataDriftError(f"{where}: {self.message}", field=self.field, value=self.value)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input file; ``line`` as a spreadsheet numbers it (header = 1)."""

    line: int
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        value = f'"{self.value}" ' if self.value is not None else ""
        return f"{where}: {value}{self.message}"


class InputFileError(KommoAnalyticsError):
    """An input file was refused; ``problems`` lists every bad line (the CLI prints them)."""

    hint = "fix the lines listed and import the file again; no row of it was saved"

    def __init__(self, source: str, problems: Sequence[Problem], *, hint: str | None = None):
        count = len(problems)
        word = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {word}; nothing was imported", hint=hint)
        self.source = source
        self.problems: list[Problem] = list(problems)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised from, outermost first (httpx wraps httpcore, which
    wraps the OS's error; dlt wraps a driver's error twice)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def first_line(exc: BaseException) -> str:
    """A message cut to its first line, for people (the rest is driver or library detail)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
