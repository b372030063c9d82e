"""Channel rules: the contract's defaults clause by clause, user files, and strict validation."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kommo_analytics.errors import ConfigError
from kommo_analytics.model.channels import (
    DEFAULT_CHANNELS,
    DEFAULT_UTM_FIELDS,
    ChannelRules,
    parse_rules,
)

RULES = ChannelRules.default()
HUMAN = 7  # any created_by other than 0 is a person
ROBOT = 0


def channel(tags: list[str] | None = None, created_by: int | None = ROBOT, **fields: str) -> str:
    return RULES.classify(fields, tags or [], created_by)


def test_defaults_are_the_contract_channels_in_order() -> None:
    assert RULES.keys == DEFAULT_CHANNELS
    assert ChannelRules.load(None).keys == DEFAULT_CHANNELS
    assert RULES.rules[-1].fallback


def test_describe_reads_as_one_line() -> None:
    assert RULES.rules[0].describe() == (
        "GCLID, FBCLID or YCLID present, or utm_medium is cpc, ppc, paid, paid_social, "
        "paidsocial, cpm, display or ads"
    )
    assert RULES.rules[-1].describe() == "everything else"


# --- 1. paid --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"gclid": "Cj0KCQ"},  # a Google Ads click id alone is enough
        {"fbclid": "IwAR2"},  # likewise Meta's
        {"yclid": "123"},  # not a warehouse column today, but a rule may name it
        {"utm_medium": "cpc"},
        {"utm_medium": "paid_social"},
        {"utm_medium": "ADS"},  # comparisons ignore case
    ],
)
def test_paid(fields: dict[str, str]) -> None:
    assert channel(**fields) == "paid"


def test_a_click_id_beats_an_organic_medium() -> None:
    # paid is rule 1 and organic rule 3: the first matching rule wins.
    assert channel(gclid="x", utm_medium="organic") == "paid"


def test_an_empty_click_id_is_not_present() -> None:
    # Blank values are what the warehouse holds for "no value"; they must not count as present.
    assert channel(gclid="  ", utm_medium="seo") == "organic"


# --- 2. referral ----------------------------------------------------------------------------


@pytest.mark.parametrize("medium", ["referral", "indicacao", "indicação", "Referido"])
def test_referral_by_medium(medium: str) -> None:
    assert channel(utm_medium=medium) == "referral"


def test_referral_by_tag_case_insensitive_and_before_organic() -> None:
    # The tag matches despite the capital letter, and referral (rule 2) precedes organic (3).
    assert channel(tags=["VIP", "Indicação"], utm_medium="organic") == "referral"


def test_decomposed_accents_match_too() -> None:
    # A Mac may send "ç" as c + combining cedilla; it is still the same word.
    assert channel(tags=[unicodedata.normalize("NFD", "indicação")]) == "referral"


# --- 3. organic -----------------------------------------------------------------------------


@pytest.mark.parametrize("medium", ["organic", " SEO ", "Social"])  # case and spaces ignored
def test_organic(medium: str) -> None:
    assert channel(utm_medium=medium) == "organic"


# --- 4. outbound ----------------------------------------------------------------------------


def test_outbound_tag_even_from_a_robot() -> None:
    assert channel(tags=["Prospecção"], created_by=ROBOT) == "outbound"


def test_outbound_tag_beats_other() -> None:
    # utm_medium=email matches nothing above, but the tag (rule 4) comes before other (rule 5).
    assert channel(tags=["outbound"], utm_medium="email") == "outbound"


def test_human_without_utm_is_outbound() -> None:
    assert channel(created_by=HUMAN) == "outbound"


def test_human_with_a_utm_field_is_not_outbound() -> None:
    # Any UTM field means the lead came in from a campaign, not from a salesperson.
    assert channel(created_by=HUMAN, utm_source="newsletter") == "other"


# --- 5. other and 6. unknown ----------------------------------------------------------------


def test_utm_present_but_unmatched_is_other() -> None:
    assert channel(utm_medium="email", utm_source="mailchimp") == "other"


def test_referrer_counts_as_a_utm_field() -> None:
    # Documented choice in default_channels.toml: a referrer means a trackable web visit.
    assert channel(referrer="https://blog.example.com") == "other"
    assert channel(referrer="https://blog.example.com", created_by=HUMAN) == "other"


@pytest.mark.parametrize(
    "fields",
    [
        {"utm_referrer": "https://blog.example.com"},  # seen instead of REFERRER in a real account
        {"gclientid": "123.456"},  # analytics cookies are only set by a web visit
        {"_ym_uid": "1699"},
        {"from": "instagram"},
        {"openstat_source": "direct.yandex.ru"},
        {"roistat": "42"},
    ],
)
def test_referrer_like_tracking_codes_alone_are_other_never_unknown(
    fields: dict[str, str],
) -> None:
    assert channel(**fields) == "other"
    assert channel(created_by=HUMAN, **fields) == "other"


def test_an_account_specific_code_is_no_tracking_field_by_default() -> None:
    # Nobody can know what SOURCE_DOMAIN means in an account; a rules file may name it.
    assert channel(source_domain="blog.example.com") == "unknown"


@pytest.mark.parametrize("created_by", [ROBOT, None])
def test_robot_or_unknown_creator_without_utm_is_unknown(created_by: int | None) -> None:
    assert channel(created_by=created_by) == "unknown"


# --- user files -----------------------------------------------------------------------------


def test_a_user_file_replaces_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(
        """
utm_fields = ["utm_source", "utm_medium"]   # referrer does not count here

[[channel]]
key = "google_ads"
label = "Google Ads"
any_present = ["GCLID"]
utm_source = ["google"]

[[channel]]
key = "field_sales"
human_without_utm = true

[[channel]]
key = "rest"
fallback = true
""",
        encoding="utf-8",
    )
    rules = ChannelRules.load(path)
    assert rules.keys == ("google_ads", "field_sales", "rest")  # no default key left
    assert rules.source == str(path)
    assert rules.classify({"gclid": "x"}, [], None) == "google_ads"
    assert rules.classify({"utm_source": " Google"}, [], None) == "google_ads"
    # fbclid is paid by default, but this file has no such rule.
    assert rules.classify({"fbclid": "x"}, [], None) == "rest"
    # With utm_fields leaving out referrer, a human lead with only a referrer is field sales.
    assert rules.classify({"referrer": "https://x"}, [], HUMAN) == "field_sales"
    assert rules.rules[1].label == "Field sales"  # default label made from the key


def test_a_rule_may_name_any_tracking_code() -> None:
    rules = parse_rules(
        """
utm_fields = ["utm_source", "source_domain"]

[[channel]]
key = "blog"
fields = { source_domain = ["Blog.example.com"], _ym_counter = ["99"] }

[[channel]]
key = "yandex"
any_present = ["YCLID", "openstat_ad"]

[[channel]]
key = "web"
any_utm = true

[[channel]]
key = "rest"
fallback = true
""",
        source="mine.toml",
    )
    assert rules.classify({"SOURCE_DOMAIN": " blog.example.com"}, [], None) == "blog"
    assert rules.classify({"_ym_counter": "99"}, [], None) == "blog"
    assert rules.classify({"openstat_ad": "x"}, [], None) == "yandex"
    assert rules.classify({"source_domain": "shop.example.com"}, [], None) == "web"
    assert rules.classify({"gclid": "x"}, [], None) == "rest"
    assert rules.rules[0].describe() == ("source_domain is blog.example.com, or _ym_counter is 99")
    frame = pd.DataFrame(
        {
            "source_domain": ["BLOG.example.com", "shop.example.com", None, None],
            "openstat_ad": [None, None, "ad1", None],
        }
    )
    assert rules.classify_frame(frame).tolist() == ["blog", "web", "yandex", "rest"]
    # What the rules look at, for showing which tracking codes no rule uses.
    assert rules.used_fields == frozenset(
        {"utm_source", "source_domain", "_ym_counter", "yclid", "openstat_ad"}
    )


def test_the_default_rules_use_every_known_tracking_code() -> None:
    assert {"yclid", "gclid", "fbclid", "utm_referrer", "gclientid", "from"} <= RULES.used_fields
    assert "source_domain" not in RULES.used_fields


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('fields = ["x"]', "fields must be a table"),
        ('fields = { "bad code" = ["x"] }', 'field "bad code" is not a tracking code'),
        ("fields = { utm_medium = [] }", "utm_medium is an empty list"),
        ("fields = {}", "fields is an empty table"),
        ('any_present = ["not a code"]', 'field "not a code" is not a tracking code'),
    ],
)
def test_bad_tracking_code_conditions_are_refused(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules(f'[[channel]]\nkey = "x"\n{text}\n' + _FALLBACK, source="mine.toml")
    assert expected in info.value.message
    assert info.value.hint


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        ChannelRules.load(tmp_path / "nope.toml")


_FALLBACK = '[[channel]]\nkey = "unknown"\nfallback = true\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '[[channel]]\nkey = "paid"\nutm_medum = ["cpc"]\n' + _FALLBACK,
            'rule 1 ("paid"): unknown setting "utm_medum" (did you mean "utm_medium"?)',
            id="unknown-key",
        ),
        pytest.param(
            '[[channel]]\nutm_medium = ["cpc"]\n' + _FALLBACK, "rule 1: has no key", id="no-key"
        ),
        pytest.param(
            '[[channel]]\nkey = "paid"\nany_utm = true\n'
            '[[channel]]\nkey = "paid"\nutm_medium = ["cpc"]\n' + _FALLBACK,
            'rule 2 ("paid"): key "paid" is already used by rule 1',
            id="duplicate-key",
        ),
        pytest.param(
            '[[channel]]\nkey = "paid"\nany_utm = true\n',
            'rule 1 ("paid"): the last rule must be the fallback',
            id="no-fallback",
        ),
        pytest.param(
            _FALLBACK + '[[channel]]\nkey = "paid"\nany_utm = true\n',
            'rule 1 ("unknown"): is the fallback (fallback = true) but is not the last rule',
            id="fallback-not-last",
        ),
        pytest.param(
            '[[channel]]\nkey = "paid"\nutm_medium = "cpc"\n' + _FALLBACK,
            'rule 1 ("paid"): utm_medium must be a list of texts, not a text',
            id="string-not-list",
        ),
        pytest.param(
            '[[channel]]\nkey = "paid"\ntags = ["ok", 3]\n' + _FALLBACK,
            'rule 1 ("paid"): tags contains 3, which is not a non-empty text',
            id="number-in-list",
        ),
        pytest.param(
            '[[channel]]\nkey = "paid"\nany_utm = "yes"\n' + _FALLBACK,
            'rule 1 ("paid"): any_utm must be true or false, not "yes"',
            id="text-not-bool",
        ),
        pytest.param(
            '[[channel]]\nkey = "Paid Ads"\nany_utm = true\n' + _FALLBACK,
            'rule 1 ("Paid Ads"): key "Paid Ads" is not a valid channel key',
            id="bad-key",
        ),
        pytest.param(
            '[[channel]]\nkey = "paid"\nutm_medium = []\n' + _FALLBACK,
            'rule 1 ("paid"): utm_medium is an empty list',
            id="empty-list",
        ),
        pytest.param(
            '[[channel]]\nkey = "paid"\n' + _FALLBACK,
            'rule 1 ("paid"): has no condition',
            id="no-condition",
        ),
        pytest.param(
            '[[channel]]\nkey = "unknown"\nfallback = true\nany_utm = true\n',
            'rule 1 ("unknown"): is the fallback, which matches everything, but also has',
            id="fallback-with-conditions",
        ),
        pytest.param(
            '[channel]\nkey = "unknown"\nfallback = true\n',
            "must each start with [[channel]]",
            id="single-brackets",
        ),
        pytest.param(
            'utm_field = ["gclid"]\n' + _FALLBACK, 'unknown setting "utm_field"', id="top"
        ),
        pytest.param("", "no channel rules", id="empty"),
        pytest.param('[[channel]]\nkey = "paid\n', "not a valid TOML file", id="syntax"),
    ],
)
def test_a_bad_rules_file_names_file_rule_and_problem(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules(text, source="my_channels.toml")
    assert info.value.message.startswith("my_channels.toml: ")
    assert expected in info.value.message
    assert info.value.hint  # every error says how to fix it


# --- vectorised classification ----------------------------------------------------------------


def _random_frame(n: int, seed: int) -> pd.DataFrame:
    """Leads mixing every case the rules distinguish, with odd spellings and nulls."""
    rng = np.random.default_rng(seed)

    def pick(values: list[object]) -> list[object]:
        return [values[i] for i in rng.integers(0, len(values), n)]

    mediums: list[object] = [None, "", " ", "cpc", " CPC ", "organic", "Seo", "indicação"]
    mediums += ["referral", "email", "social", np.nan, "paidsocial", "newsletter"]
    tags: list[object] = [None, [], ["vip"], ["Outbound"], ["indicacao", "vip"], ("Referido",)]
    tags += [["prospecção"], [" PROSPECCION "], np.array(["referral"], dtype=object), [None]]
    frame = pd.DataFrame(
        {
            "utm_medium": pick(mediums),
            "utm_source": pick([None, None, "google", "", "fb"]),
            "gclid": pick([None] * 8 + ["Cj0", " "]),
            "referrer": pick([None] * 5 + ["https://x.example"]),
            "yclid": pick([None] * 9 + ["y1"]),
            "utm_referrer": pick([None] * 7 + ["https://r.example"]),
            "gclientid": pick([None] * 9 + [" 1.2 "]),
            "source_domain": pick([None] * 5 + ["x.example"]),
            # no fbclid column at all: it must count as null
            "tags": pick(tags),
            "created_by": pick([0, 0, 5, 12, None]),
        },
        # A repeated, non-default index: the result must line up with it, not with positions.
        index=rng.integers(0, n // 2, n),
    )
    return frame


def _row_by_row(rules: ChannelRules, frame: pd.DataFrame) -> list[str]:
    tracking = [c for c in frame.columns if c not in ("tags", "created_by")]
    out = []
    for record in frame.to_dict("records"):
        tags = record["tags"]
        created_by = record["created_by"]
        out.append(
            rules.classify(
                {c: record[c] for c in tracking},
                [] if tags is None else list(tags),
                None if pd.isna(created_by) else int(created_by),
            )
        )
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_classify_frame_agrees_with_classify_row_by_row(seed: int) -> None:
    frame = _random_frame(3000, seed)
    result = RULES.classify_frame(frame)
    assert result.index.equals(frame.index)
    assert result.tolist() == _row_by_row(RULES, frame)
    # The random frame must really exercise every channel, or the agreement proves little.
    assert set(result) == set(DEFAULT_CHANNELS)


def test_classify_frame_without_tags_or_creator_columns() -> None:
    frame = pd.DataFrame({"utm_medium": ["cpc", "email", None]}, index=[10, 20, 30])
    # Without created_by nobody counts as human, so the UTM-less lead is unknown, not outbound.
    assert RULES.classify_frame(frame).to_dict() == {10: "paid", 20: "other", 30: "unknown"}
    assert RULES.classify_frame(frame.iloc[:0]).empty


def test_classify_frame_handles_a_million_rows() -> None:
    # How long it takes is measured by benchmarks/channel_rules.py: a wall-clock limit here
    # would fail on a busy machine without anything being wrong.
    base = _random_frame(1000, 3)
    frame = pd.concat([base] * 1000, ignore_index=True)
    result = RULES.classify_frame(frame)
    assert len(result) == 1_000_000
    # Same leads repeated: the counts are the small frame's counts times 1000.
    assert result.value_counts().to_dict() == {
        k: v * 1000 for k, v in RULES.classify_frame(base).value_counts().to_dict().items()
    }


def test_the_default_file_lists_the_same_utm_fields_as_leaving_the_line_out() -> None:
    # Its comment promises that leaving utm_fields out changes nothing.
    assert sorted(RULES.utm_fields) == sorted(DEFAULT_UTM_FIELDS)
