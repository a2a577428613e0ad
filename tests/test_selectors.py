from __future__ import annotations

from dataclasses import dataclass

import pytest

from squall.core.errors import InventoryError
from squall.core.inventory import Selector, parse_selector


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    cluster: str
    tags: tuple[str, ...] = ()


@pytest.fixture
def fleet() -> list[Target]:
    return [
        Target("web-eu-1", "10.0.1.1", "web-eu", ("web", "canary")),
        Target("web-eu-2", "10.0.1.2", "web-eu", ("web",)),
        Target("web-us-1", "10.0.2.1", "web-us", ("web", "canary")),
        Target("db-eu-1", "db1.example.com", "db-eu", ("db", "Primary")),
        Target("db-eu-2", "db2.example.com", "db-eu", ("db",)),
    ]


def selected(selector: str, nodes: list[Target]) -> list[str]:
    return [node.name for node in parse_selector(selector).select(nodes)]


def test_all_selects_every_node(fleet: list[Target]) -> None:
    assert selected("all", fleet) == [node.name for node in fleet]


def test_cluster_term_matches_cluster_names_by_glob(fleet: list[Target]) -> None:
    assert selected("cluster:web-eu", fleet) == ["web-eu-1", "web-eu-2"]
    assert selected("cluster:*-eu", fleet) == ["web-eu-1", "web-eu-2", "db-eu-1", "db-eu-2"]


def test_tag_term_matches_any_of_a_nodes_tags(fleet: list[Target]) -> None:
    assert selected("tag:canary", fleet) == ["web-eu-1", "web-us-1"]
    assert selected("tag:can*", fleet) == ["web-eu-1", "web-us-1"]


def test_host_term_matches_node_name_or_address(fleet: list[Target]) -> None:
    assert selected("host:web-us-1", fleet) == ["web-us-1"]
    assert selected("host:10.0.1.*", fleet) == ["web-eu-1", "web-eu-2"]
    assert selected("host:db2.example.com", fleet) == ["db-eu-2"]


def test_plain_terms_are_united(fleet: list[Target]) -> None:
    assert selected("cluster:web-us,tag:db", fleet) == ["web-us-1", "db-eu-1", "db-eu-2"]


def test_ampersand_term_keeps_only_nodes_it_matches(fleet: list[Target]) -> None:
    assert selected("tag:web,&cluster:*-eu", fleet) == ["web-eu-1", "web-eu-2"]
    assert selected("tag:web,&cluster:*-eu,&tag:canary", fleet) == ["web-eu-1"]


def test_bang_term_removes_nodes_it_matches(fleet: list[Target]) -> None:
    assert selected("tag:web,!tag:canary", fleet) == ["web-eu-2"]


def test_selector_of_only_narrowing_terms_starts_from_every_node(fleet: list[Target]) -> None:
    assert selected("!tag:web", fleet) == ["db-eu-1", "db-eu-2"]
    assert selected("&cluster:db-eu,!host:db-eu-1", fleet) == ["db-eu-2"]


def test_exclusion_wins_over_union_whatever_the_order(fleet: list[Target]) -> None:
    assert selected("!tag:canary,tag:web", fleet) == selected("tag:web,!tag:canary", fleet)
    assert selected("host:web-eu-1,!host:web-eu-1", fleet) == []


def test_globs_are_case_sensitive(fleet: list[Target]) -> None:
    assert selected("tag:Primary", fleet) == ["db-eu-1"]
    assert selected("tag:primary", fleet) == []
    assert selected("cluster:WEB-*", fleet) == []


def test_globs_support_single_characters_and_character_sets(fleet: list[Target]) -> None:
    assert selected("host:web-??-1", fleet) == ["web-eu-1", "web-us-1"]
    assert selected("host:db-eu-[!1]", fleet) == ["db-eu-2"]


def test_selection_keeps_the_order_nodes_were_given_in(fleet: list[Target]) -> None:
    reversed_fleet = list(reversed(fleet))
    assert selected("tag:db,cluster:web-eu", reversed_fleet) == [
        "db-eu-2",
        "db-eu-1",
        "web-eu-2",
        "web-eu-1",
    ]


def test_whitespace_around_terms_is_ignored(fleet: list[Target]) -> None:
    assert selected("  tag:web , ! tag:canary ,& cluster:web-eu ", fleet) == ["web-eu-2"]


def test_matches_answers_for_a_single_node(fleet: list[Target]) -> None:
    selector = parse_selector("cluster:db-*,!tag:Primary")
    assert [selector.matches(node) for node in fleet] == [False, False, False, False, True]


def test_selectors_with_the_same_text_are_equal() -> None:
    assert parse_selector("tag:web") == Selector("tag:web")
    assert str(parse_selector("tag:web,!host:x")) == "tag:web,!host:x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the selector is empty"),
        ("   ", "the selector is empty"),
        ("tag:web,,tag:db", "term 2: the term is empty"),
        ("tag:web,", "term 2: the term is empty"),
        ("web", "term 1: unknown term kind 'web'"),
        ("tag:web,group:db", "term 2: unknown term kind 'group'"),
        ("Cluster:web", "term 1: unknown term kind 'Cluster'"),
        ("cluster:", "term 1: 'cluster:' has no value"),
        ("!host:", "term 1: '!host:' has no value"),
        ("&", "term 1: '&' has nothing after the prefix"),
        ("!!tag:web", "term 1: '!!tag:web' has more than one prefix"),
        ("all:web", "term 1: 'all' takes no value"),
        ("cluster:web eu", "term 1: 'cluster:web eu' contains whitespace"),
    ],
)
def test_malformed_selector_is_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InventoryError) as raised:
        parse_selector(text)
    assert message in str(raised.value)


def test_unknown_term_kind_message_lists_the_valid_kinds() -> None:
    with pytest.raises(InventoryError) as raised:
        parse_selector("group:web")
    assert str(raised.value).endswith("expected all, cluster:GLOB, tag:GLOB or host:GLOB")
