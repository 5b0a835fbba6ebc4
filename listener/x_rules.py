"""Filtered-stream rules derived from the configured brands, and keeping X's rule set in step with them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from listener.config import BrandSettings
from listener.health import printable
from listener.terms import QueryError, compile_query

log = logging.getLogger(__name__)

MAX_RULE_LENGTH = 512
TAG_PREFIX = "brand:"


class RuleError(ValueError):
    """A brand's configuration cannot be turned into valid X rules; the message says which term and why."""


@dataclass(frozen=True)
class WantedRule:
    value: str
    tag: str


def brand_tag(brand: BrandSettings | str) -> str:
    return TAG_PREFIX + (brand if isinstance(brand, str) else brand.name)


def brand_of_tag(tag: str | None) -> str | None:
    if tag is None or not tag.startswith(TAG_PREFIX):
        return None
    return tag[len(TAG_PREFIX) :] or None


def _clause(term: str, brand: str) -> str:
    try:
        term = compile_query(term.strip()).x_rule()
    except QueryError as exc:
        raise RuleError(f"brand {brand!r}: the term {term!r} is not valid: {exc}") from exc
    plain = term.startswith('"') and term.endswith('"') and term.count('"') == 2
    # A term with spaces is an AND (or an OR) of its own: keep it one alternative among the brand's others.
    return term if plain or " " not in term else f"({term})"


def brand_rules(brand: BrandSettings) -> list[WantedRule]:
    """Mentions of and posts from the brand's X accounts, and its terms, ORed into rules of <= 512 chars."""
    clauses: list[str] = []
    for handle in brand.handles("x"):
        clauses += [f"@{handle}", f"from:{handle}"]
    clauses += [_clause(term, brand.name) for term in brand.terms if term.strip()]
    tag = brand_tag(brand)
    rules: list[WantedRule] = []
    current = ""
    for clause in dict.fromkeys(clauses):
        if len(clause) > MAX_RULE_LENGTH:
            raise RuleError(
                f"brand {brand.name!r}: the term {clause[:40]!r}... is longer than X's {MAX_RULE_LENGTH}"
            )
        joined = f"{current} OR {clause}" if current else clause
        if len(joined) > MAX_RULE_LENGTH:
            rules.append(WantedRule(current, tag))
            joined = clause
        current = joined
    if current:
        rules.append(WantedRule(current, tag))
    return rules


def wanted_rules(brands: Iterable[BrandSettings]) -> list[WantedRule]:
    return [rule for brand in brands for rule in brand_rules(brand)]


@dataclass
class RuleSync:
    added: list[WantedRule] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def sync_rules(
    client: Any, wanted: list[WantedRule], *, before_call: Callable[[], None] = lambda: None
) -> RuleSync:
    """Make X's rules match `wanted`: add what is missing, delete our rules that config no longer has.

    `client` is a tweepy StreamingClient returning dicts. Rules whose tag is not ours (no `brand:` prefix)
    belong to someone else sharing the app and are left alone. A value X already has under another tag is
    deleted and re-added, because X keys rules by value and the tag is what routes a tweet to its brand.
    `before_call` runs before each request (the rate-limit budget's pause)."""
    import tweepy

    result = RuleSync()
    before_call()
    current: list[dict[str, Any]] = client.get_rules().get("data") or []
    want = {(rule.value, rule.tag) for rule in wanted}
    have = {(rule["value"], rule.get("tag")) for rule in current}
    for rule in current:
        key = (rule["value"], rule.get("tag"))
        if key in want:
            result.kept.append(rule)
        elif brand_of_tag(rule.get("tag")) is not None or rule["value"] in {value for value, _ in want}:
            result.deleted.append(rule)
    if result.deleted:
        before_call()
        response = client.delete_rules([rule["id"] for rule in result.deleted])
        result.errors += [str(error) for error in response.get("errors", [])]
    missing = [rule for rule in wanted if (rule.value, rule.tag) not in have]
    if missing:
        before_call()
        response = client.add_rules([tweepy.StreamRule(value=rule.value, tag=rule.tag) for rule in missing])
        refused = {error.get("value") for error in response.get("errors", [])}
        result.added = [rule for rule in missing if rule.value not in refused]
        result.errors += [_describe(error) for error in response.get("errors", [])]
    for error in result.errors:
        log.error("X refused a stream rule: %s", printable(error))
    return result


def _describe(error: dict[str, Any]) -> str:
    details = "; ".join(str(detail) for detail in error.get("details", []))
    return f"{error.get('title', 'error')}: {error.get('value', '')!r} {details}".strip()
