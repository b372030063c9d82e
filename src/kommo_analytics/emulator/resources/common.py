"""What every resource handler shares: the request context, SQL filter building, paging and
HAL rendering.

Handlers are plain (sync) functions: Starlette runs them in its threadpool, and each takes its
own DuckDB cursor, because a DuckDB connection must not be shared between threads.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import duckdb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kommo_analytics.emulator.config import Quirks
from kommo_analytics.emulator.http import base_url, hal_json, no_content
from kommo_analytics.emulator.query import IntRange, Query, QueryError, path_name, to_int
from kommo_analytics.emulator.sql import compose
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.kommo.entities import API_PREFIX, Entity

# Past this offset DuckDB's LIMIT/OFFSET arithmetic would overflow; nothing lives there anyway.
_MAX_OFFSET = 2**62

Row = dict[str, Any]
Json = dict[str, Any]


@dataclass
class Ctx:
    """One request: its parsed query, a private cursor and the URLs links are built on."""

    request: Request
    query: Query
    cur: duckdb.DuckDBPyConnection
    api: str  # scheme://host/api/v4 as the client addressed us
    account_id: int
    now: int
    quirks: Quirks = field(default_factory=Quirks)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        result = self.cur.execute(sql, list(params))
        names = [column[0] for column in result.description or ()]
        return [dict(zip(names, values, strict=True)) for values in result.fetchall()]

    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: Sequence[object] = ()) -> Any:
        row = self.cur.execute(sql, list(params)).fetchone()
        return None if row is None else row[0]

    def path_int(self, name: str) -> int:
        value = self.request.path_params[name]
        return int(value)

    def href(self, path: str) -> str:
        return f"{self.api}{path}"

    def links(self, path: str) -> Json:
        return {"self": {"href": self.href(path)}}

    def stub(self, path: str, id_: int) -> Json:
        """A related entity inside `_embedded`: ``{id, _links}`` (docs/kommo-api.md §3)."""
        return {"id": id_, "_links": self.links(f"{path}/{id_}")}

    def self_href(self, query: str | None = None) -> str:
        """This request's own URL on the client's host, optionally with another query."""
        encoded = self.query.encode() if query is None else query
        path = f"{base_url(self.request)}{self.request.url.path}"
        return f"{path}?{encoded}" if encoded else path


Handler = Callable[[Ctx], Response]


# The account id never changes for a store; it is read once (a query per request adds up).
_ACCOUNT_IDS: weakref.WeakKeyDictionary[AccountStore, int] = weakref.WeakKeyDictionary()


def _account_id(store: AccountStore, cur: duckdb.DuckDBPyConnection) -> int:
    cached = _ACCOUNT_IDS.get(store)
    if cached is not None:
        return cached
    row = cur.execute("SELECT id FROM account ORDER BY id LIMIT 1").fetchone()
    if row is None:
        return 0  # not cached: a test may insert the account later
    _ACCOUNT_IDS[store] = int(row[0])
    return int(row[0])


def endpoint(state: EmulatorState, handler: Handler) -> Callable[[Request], Response]:
    def run(request: Request) -> Response:
        try:
            query = Query(request.url.query)
            # Live mode mutates the store under this lock; holding it for the few milliseconds a
            # page takes means a page and its embedded lookups see the same version of the data.
            with state.store.write_lock:
                cur = state.store.cursor()
                try:
                    ctx = Ctx(
                        request=request,
                        query=query,
                        cur=cur,
                        api=f"{base_url(request)}{API_PREFIX}",
                        account_id=_account_id(state.store, cur),
                        now=int(state.clock()),
                        quirks=state.config.quirks,
                    )
                    return handler(ctx)
                finally:
                    cur.close()
        except QueryError as exc:
            return exc.response()

    return run


def get(state: EmulatorState, path: str, handler: Handler) -> Route:
    return Route(f"{API_PREFIX}{path}", endpoint(state, handler), methods=["GET"])


# -- filtering ---------------------------------------------------------------------------------


class Where:
    """A conjunction of SQL predicates with their parameters. Column names come only from the
    handlers' whitelists; every client value travels as a parameter."""

    def __init__(self, *clauses: str) -> None:
        self.clauses: list[str] = list(clauses)
        self.params: list[object] = []

    def add(self, clause: str, *params: object) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def any_of(self, column: str, values: Sequence[object]) -> None:
        if len(values) == 1:
            self.add(f"{column} = ?", values[0])
        else:
            self.add(f"{column} = ANY(?)", list(values))

    def between(self, column: str, bounds: IntRange, *, single: Single) -> None:
        if bounds.single and single is Single.EXACT:
            self.add(f"{column} = ?", bounds.lo)
            return
        if bounds.lo is not None:
            self.add(f"{column} >= ?", bounds.lo)
        if bounds.hi is not None and not bounds.single:
            self.add(f"{column} <= ?", bounds.hi)

    def sql(self) -> str:
        return " AND ".join(f"({clause})" for clause in self.clauses) or "TRUE"


class Single(Enum):
    """What a single value means where a ``[from]/[to]`` range is also accepted."""

    EXACT = "exact"  # price: that value
    SINCE = "since"  # timestamps: from that moment on


class Kind(Enum):
    INTS = "ints"  # int or list of ints
    STRINGS = "strings"  # string, comma list or list of strings
    TEXTS = "texts"  # string or list of strings; commas belong to the value (names)
    RANGE = "range"  # [from]/[to] or a single value (see Single)
    BOOL = "bool"  # 1/0/true/false


@dataclass(frozen=True)
class Filter:
    kind: Kind
    column: str  # SQL column or expression, from code only
    single: Single = Single.SINCE
    max_items: int | None = None


def apply_filters(query: Query, where: Where, spec: Mapping[str, Filter]) -> None:
    """Turn ``filter[<name>]`` parameters into predicates.

    UNCERTAIN (docs/kommo-api.md §7): filter keys an endpoint does not know are ignored, not
    refused; Kommo documents no error for them.
    """
    section = query.section("filter")
    for name, rule in spec.items():
        if name not in section:
            continue
        path = ("filter", name)
        if rule.kind is Kind.INTS:
            ints = query.ints(*path, max_items=rule.max_items)
            if ints is not None:
                where.any_of(rule.column, ints)
        elif rule.kind in (Kind.STRINGS, Kind.TEXTS):
            strings = query.strings(*path, split=rule.kind is Kind.STRINGS)
            if strings is not None:
                if rule.max_items is not None and len(strings) > rule.max_items:
                    raise QueryError.invalid(
                        path_name(path), f"At most {rule.max_items} values.", "Count"
                    )
                where.any_of(rule.column, strings)
        elif rule.kind is Kind.RANGE:
            bounds = query.int_range(*path)
            if bounds is not None:
                where.between(rule.column, bounds, single=rule.single)
        else:
            flag = query.boolean(*path)
            if flag is not None:
                where.add(f"{rule.column} = ?", flag)


def order_by(
    query: Query, allowed: Sequence[str], default: str, *, tie: str = "id",
    columns: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    """The ORDER BY clause: the client's ``order[<field>]`` (whitelisted) or ``default``, always
    ending in a unique column so that pages never overlap or skip rows."""
    chosen = query.order(allowed)
    if chosen is None:
        return default
    field, direction = chosen
    column = (columns or {}).get(field, field)
    if column == tie:
        return f"{tie} {direction.upper()}"
    return f"{column} {direction.upper()}, {tie} {direction.upper()}"


def in_ids(column: str, ids: Sequence[int]) -> tuple[str, list[object]]:
    """A membership test for a page's related ids, as one list parameter: on DuckDB this beats
    both ``IN (?, ?, ...)`` with 250 placeholders and ``= ANY(?)`` (slow on small tables)."""
    return f"list_contains(?, {column})", [sorted(set(ids))]


# -- paging ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    number: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.limit

    @property
    def beyond_reach(self) -> bool:
        return self.offset > _MAX_OFFSET


def page_of(query: Query, entity: Entity, *, over_limit_fallback: int | None = None) -> Page:
    max_size = entity.max_page_size or entity.page_size
    assert max_size is not None, f"{entity.name} is not paged"
    return Page(query.page(), query.limit(max_size, over_limit_fallback=over_limit_fallback))


def fetch_page(
    ctx: Ctx, *, columns: str, table: str, where: Where, order: str, page: Page
) -> list[Row]:
    """One page, filtered, ordered and cut in SQL: a big table is never materialised here.

    Two steps, because DuckDB's top-N carries every selected column through the sort: first the
    page's row ids (narrow, so even deep OFFSETs stay cheap), then the wide rows by row id. Both
    run under the store lock, so row ids cannot move in between.
    """
    if page.beyond_reach:
        return []
    row_ids = [
        row[0]
        for row in ctx.cur.execute(
            compose(
                "SELECT rowid FROM {table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                table=table,
                where=where.sql(),
                order=order,
            ),
            [*where.params, page.limit, page.offset],
        ).fetchall()
    ]
    if not row_ids:
        return []
    position = {row_id: index for index, row_id in enumerate(row_ids)}
    rows = ctx.rows(
        compose(
            "SELECT rowid AS _rowid, {columns} FROM {table} WHERE rowid = ANY(?)",
            columns=columns,
            table=table,
        ),
        [row_ids],
    )
    rows.sort(key=lambda row: position[row.pop("_rowid")])
    return rows


def page_links(ctx: Ctx, page: Page, count: int) -> Json:
    """`self`, `next` when the page is full, `first`/`prev` after page 1.

    UNCERTAIN (docs/kommo-api.md §5): `next` whenever the page is full, so a client following it
    after an exactly-full last page meets the 204; `first` only after page 1, as in
    §11.1/§11.3/§11.4.
    """
    links: Json = {"self": {"href": ctx.self_href(ctx.query.encode(page.number))}}
    if count >= page.limit:
        links["next"] = {"href": ctx.self_href(ctx.query.encode(page.number + 1))}
    if page.number > 1:
        links["first"] = {"href": ctx.self_href(ctx.query.encode(1))}
        links["prev"] = {"href": ctx.self_href(ctx.query.encode(page.number - 1))}
    return links


def repeat_list_query(ctx: Ctx, items: list[Json], path: str, page: Page) -> None:
    """Give each item of a list page the page's own query on its `self` link.

    UNCERTAIN (docs/kommo-api.md §3 says only that every entity has `_links.self.href`): real lead
    and contact lists repeat the list request's query (`?page=…&limit=…`) on their items' links;
    single entities, embedded stubs and the other endpoints keep plain links.
    """
    query = ctx.query.encode(page.number)
    for item in items:
        item["_links"] = {"self": {"href": f"{ctx.href(path)}/{item['id']}?{query}"}}


def collection(
    ctx: Ctx, key: str | None, items: list[Json], page: Page, *, head: Json | None = None,
    numbered: bool = True,
) -> Response:  # fmt: skip
    """A paged list, or 204 with an empty body when the page is empty (docs/kommo-api.md §5).

    `numbered=False`, or the `pages_without_page` quirk, leaves `_page` out, as some endpoints
    and some accounts do; clients must page by `_links.next` alone.
    """
    if not items:
        return no_content()
    assert key is not None
    body: Json = dict(head or {})
    body.pop("_page", None)
    if numbered and not ctx.quirks.pages_without_page:
        body["_page"] = page.number
    body["_links"] = page_links(ctx, page, len(items))
    body["_embedded"] = {key: items}
    return hal_json(body)


def dictionary(ctx: Ctx, key: str | None, items: list[Json]) -> Response:
    """A small list returned whole with `_total_items` (pipelines, statuses, loss reasons)."""
    if not items:
        return no_content()
    assert key is not None
    return hal_json(
        {
            "_total_items": len(items),
            "_links": {"self": {"href": ctx.self_href()}},
            "_embedded": {key: items},
        }
    )


def entity_or_204(item: Json | None) -> Response:
    """A single entity; a missing one answers 204.

    UNCERTAIN (docs/kommo-api.md §5): clients treat 204 as "not found" for `GET /leads/{id}`; the
    same is assumed for the other paged entities. Dictionaries answer 404 problems instead.
    """
    return no_content() if item is None else hal_json(item)


def tags_by_id(ctx: Ctx, tag_lists: Iterable[Sequence[int] | None]) -> dict[int, Json]:
    ids = sorted({tag for tags in tag_lists for tag in (tags or ())})
    if not ids:
        return {}
    clause, params = in_ids("id", ids)
    rows = ctx.rows(
        compose("SELECT id, name, color FROM tags WHERE {clause}", clause=clause), params
    )
    return {
        row["id"]: {"id": row["id"], "name": row["name"], "color": row["color"]} for row in rows
    }


def render_tags(tags: Sequence[int] | None, known: Mapping[int, Json]) -> list[Json]:
    return [known[tag] for tag in tags or () if tag in known]


def stage_pairs(query: Query, *keys: str) -> list[int] | None:
    """``filter[…][i][pipeline_id|status_id]`` items as a flat ``[pipeline, status, …]`` list.

    Stage ids other than 142/143 are unique only within their pipeline, so both are required:
    Kommo's SDK never sends half an item, and the emulator refuses one rather than guess.
    """
    items = query.items(*keys)
    if items is None:
        return None
    prefix = keys[0] + "".join(f"[{key}]" for key in keys[1:])
    pairs: list[int] = []
    for index, item in enumerate(items):
        path = f"{prefix}[{index}]"
        pipeline_id = to_int(item.get("pipeline_id"), f"{path}[pipeline_id]")
        status_id = to_int(item.get("status_id"), f"{path}[status_id]")
        if pipeline_id is None or status_id is None:
            raise QueryError.invalid(
                path, "Both pipeline_id and status_id are required.", "NotBlank"
            )
        pairs.extend((pipeline_id, status_id))
    return pairs
