"""PHP-bracket query parsing and the typed accessors the emulator's endpoints use."""

from __future__ import annotations

import json

import pytest

from kommo_analytics.emulator.query import DEFAULT_LIMIT, IntRange, Query, QueryError, parse_query


def q(raw: str) -> Query:
    return Query(raw)


def issue(exc: pytest.ExceptionInfo[QueryError]) -> tuple[str, str]:
    first = exc.value.issues[0]
    return first.path, first.code


# -- structure ---------------------------------------------------------------------------------


def test_nested_ranges() -> None:
    assert parse_query("filter[created_at][from]=1&filter[created_at][to]=2") == {
        "filter": {"created_at": {"from": "1", "to": "2"}}
    }


def test_indexed_objects_become_a_list() -> None:
    raw = (
        "filter[statuses][0][pipeline_id]=7&filter[statuses][0][status_id]=142"
        "&filter[statuses][1][pipeline_id]=8&filter[statuses][1][status_id]=143"
    )
    assert parse_query(raw) == {
        "filter": {
            "statuses": [
                {"pipeline_id": "7", "status_id": "142"},
                {"pipeline_id": "8", "status_id": "143"},
            ]
        }
    }


def test_empty_brackets_append() -> None:
    assert parse_query("filter[type][]=a&filter[type][]=b") == {"filter": {"type": ["a", "b"]}}


def test_percent_encoded_brackets() -> None:
    assert parse_query("order%5Bupdated_at%5D=asc&with=contacts%2Closs_reason") == {
        "order": {"updated_at": "asc"},
        "with": "contacts,loss_reason",
    }


def test_scalar_then_list_and_last_value_wins() -> None:
    assert parse_query("filter[id]=5") == {"filter": {"id": "5"}}
    assert parse_query("filter[id][]=5") == {"filter": {"id": ["5"]}}
    # PHP semantics: a later plain key replaces an earlier one.
    assert parse_query("page=1&page=3") == {"page": "3"}


def test_malformed_key_is_kept_literally() -> None:
    assert parse_query("filter[id=5") == {"filter[id": "5"}


# -- typed accessors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["filter[id]=1,2", "filter[id][]=1&filter[id][]=2", "filter[id][0]=1&filter[id][1]=2"],
)
def test_int_lists_in_every_spelling(raw: str) -> None:
    assert q(raw).ints("filter", "id") == [1, 2]


def test_single_int_vs_list() -> None:
    assert q("filter[id]=5").ints("filter", "id") == [5]
    assert q("filter[id][]=5").ints("filter", "id") == [5]
    assert q("filter[id]=").ints("filter", "id") is None
    assert q("").ints("filter", "id") is None


def test_strings_comma_and_array() -> None:
    assert q("filter[type]=a,b").strings("filter", "type") == ["a", "b"]
    assert q("filter[type][]=a&filter[type][]=b").strings("filter", "type") == ["a", "b"]


def test_bad_int_is_a_validation_error() -> None:
    with pytest.raises(QueryError) as exc:
        q("filter[id]=x").ints("filter", "id")
    assert issue(exc) == ("filter[id]", "InvalidType")


def test_int_list_size_cap() -> None:
    with pytest.raises(QueryError) as exc:
        q("filter[entity_id]=" + ",".join(str(i) for i in range(11))).ints(
            "filter", "entity_id", max_items=10
        )
    assert issue(exc)[0] == "filter[entity_id]"


def test_ranges() -> None:
    assert q("filter[created_at][from]=1&filter[created_at][to]=2").int_range(
        "filter", "created_at"
    ) == IntRange(1, 2)
    assert q("filter[created_at][from]=1").int_range("filter", "created_at") == IntRange(1, None)
    assert q("filter[created_at]=5").int_range("filter", "created_at") == IntRange(5, 5, True)
    assert q("filter[created_at]=1,2").int_range(
        "filter", "created_at", comma_pair=True
    ) == IntRange(1, 2)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("filter[created_at][from]=yesterday", "filter[created_at][from]"),
        ("filter[created_at][since]=1", "filter[created_at][since]"),
        ("filter[created_at]=1,2", "filter[created_at]"),
    ],
)
def test_bad_ranges(raw: str, path: str) -> None:
    with pytest.raises(QueryError) as exc:
        q(raw).int_range("filter", "created_at")
    assert issue(exc)[0] == path


@pytest.mark.parametrize(
    ("text", "value"), [("1", True), ("0", False), ("true", True), ("FALSE", False)]
)
def test_booleans(text: str, value: bool) -> None:
    assert q(f"filter[is_completed]={text}").boolean("filter", "is_completed") is value


def test_bad_boolean() -> None:
    with pytest.raises(QueryError):
        q("filter[is_completed]=yes").boolean("filter", "is_completed")


def test_items_for_indexed_and_unindexed_objects() -> None:
    assert q("filter[statuses][0][status_id]=1").items("filter", "statuses") == [{"status_id": "1"}]
    assert q("filter[statuses][status_id]=1").items("filter", "statuses") == [{"status_id": "1"}]


# -- page, limit, with, order ------------------------------------------------------------------


def test_page_and_limit_defaults_and_caps() -> None:
    assert q("").page() == 1
    assert q("").limit(250) == DEFAULT_LIMIT
    assert q("limit=300").limit(250) == 250
    assert q("limit=101").limit(100, over_limit_fallback=50) == 50
    assert q("limit=100").limit(100, over_limit_fallback=50) == 100


@pytest.mark.parametrize("raw", ["limit=abc", "limit=0", "page=x", "page=0", "limit[]=5"])
def test_bad_page_or_limit(raw: str) -> None:
    with pytest.raises(QueryError) as exc:
        query = q(raw)
        query.page()
        query.limit(250)
    assert issue(exc)[0] in ("page", "limit")


def test_with_keeps_only_allowed_values() -> None:
    assert q("with=contacts,loss_reason,bogus").with_(("contacts", "loss_reason")) == {
        "contacts",
        "loss_reason",
    }


def test_order() -> None:
    assert q("order[updated_at]=asc").order(("updated_at", "id")) == ("updated_at", "asc")
    assert q("order[id]=DESC").order(("updated_at", "id")) == ("id", "desc")
    assert q("").order(("id",)) is None


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("order[price]=asc", "order[price]"),
        ("order[id]=sideways", "order[id]"),
        ("order=id", "order"),
        ("order[id]=asc&order[updated_at]=asc", "order"),
    ],
)
def test_bad_order(raw: str, path: str) -> None:
    with pytest.raises(QueryError) as exc:
        q(raw).order(("id", "updated_at"))
    assert issue(exc) == (path, "NotSupportedChoice")


def test_validation_problem_shape() -> None:
    with pytest.raises(QueryError) as exc:
        q("limit=abc").limit(250)
    response = exc.value.response()
    assert response.status_code == 400
    assert response.media_type == "application/problem+json"
    body = json.loads(bytes(response.body))
    assert body["status"] == 400
    assert body["title"] and body["detail"] and body["type"]
    assert body["validation-errors"][0]["request_id"] == "0"
    assert body["validation-errors"][0]["errors"][0]["path"] == "limit"


# -- link re-encoding --------------------------------------------------------------------------


def test_encode_replaces_page_in_place() -> None:
    query = q("page=2&limit=2&with=contacts,loss_reason&order[updated_at]=asc")
    assert query.encode(3) == ("page=3&limit=2&with=contacts,loss_reason&order%5Bupdated_at%5D=asc")


def test_encode_appends_missing_page() -> None:
    query = q("filter[type]=lead_status_changed&limit=100")
    assert query.encode(1) == "filter%5Btype%5D=lead_status_changed&limit=100&page=1"
    assert q("").encode(2) == "page=2"


def test_names_keep_their_commas() -> None:
    query = q("filter[name]=Silva,%20Jo%C3%A3o&filter[type]=a,b")
    assert query.strings("filter", "name", split=False) == ["Silva, João"]
    assert query.strings("filter", "type") == ["a", "b"]
