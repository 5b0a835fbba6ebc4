"""Rule-based entities a responder acts on: ORDER (order/ticket/case ids), EMAIL, PRODUCT.

A blank spaCy English pipeline with an entity_ruler: no statistical model to download, deterministic,
and fast enough to run on every mention. spaCy is imported lazily.

ORDER spans are trimmed to the identifier itself ("order #123456" -> "123456"), because the id is what a
responder pastes into the order system. Masked emails in exported data (`__email__`) are not emails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# Entities are looked for in the first this-many characters; a mention is far shorter, and the cap keeps a
# pasted novel from stalling a batch. Offsets stay exact because only the tail is dropped.
MAX_ENTITY_CHARS = 20_000

_KEYWORDS = [
    "order", "ticket", "case", "ref", "reference", "confirmation", "booking", "reservation",
    "tracking", "invoice", "claim", "incident",
]  # fmt: skip
_CONNECTORS = ["number", "no", "num", "nr", "id", "#", ":", ".", "is", "was", "-"]
# After a keyword: one token of letters, digits and hyphens holding at least five digits, so "case 2017"
# (a year) or "order 2 pizzas" stays out.
_KEYWORD_ID = r"^(?=(?:\D*\d){5})[A-Za-z0-9][A-Za-z0-9-]*$"
_GLUED = r"^(?:" + "|".join(_KEYWORDS) + r")#(?=(?:\D*\d){5})[a-z0-9-]+$"
# Identifiers made of hyphen-joined digit groups (Amazon's 112-3456789-1234567) stay one token.
_HYPHENATED_ID = re.compile(r"^[A-Za-z]{0,4}\d+(?:-[A-Za-z0-9]*\d[A-Za-z0-9]*)+$")
_ID_TAIL = re.compile(r"#?([A-Za-z0-9][A-Za-z0-9-]*)$")


def _order_patterns() -> list[dict[str, Any]]:
    keyword_led: list[dict[str, Any]] = [
        {"LOWER": {"IN": _KEYWORDS}},
        {"LOWER": {"IN": _CONNECTORS}, "OP": "*"},
        {"TEXT": {"REGEX": _KEYWORD_ID}},
    ]
    patterns: list[list[dict[str, Any]]] = [
        keyword_led,
        [{"LOWER": {"REGEX": _GLUED}}],
        # Standalone shapes that are ids without any keyword: Amazon order numbers, and "#" glued to
        # six or more digits, optionally after a letter (#W12345678), which hashtags almost never are.
        [{"TEXT": {"REGEX": r"^\d{3}-\d{7}-\d{7}$"}}],
        [{"ORTH": "#", "SPACY": False}, {"TEXT": {"REGEX": r"^[A-Za-z]?\d{6,}$"}}],
    ]
    return [{"label": "ORDER", "pattern": p} for p in patterns]


class EntityExtractor:
    """Finds entities in raw mention text; offsets are character offsets into that text."""

    def __init__(self, products: Sequence[str] = ()) -> None:
        self.products = [p.strip() for p in products if p and p.strip()]
        self._nlp: Any = None

    def _pipeline(self) -> Any:
        if self._nlp is None:
            import spacy

            nlp: Any = spacy.blank("en")
            nlp.tokenizer.token_match = _HYPHENATED_ID.match
            ruler: Any = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
            patterns = _order_patterns()
            patterns.append({"label": "EMAIL", "pattern": [{"LIKE_EMAIL": True}]})
            patterns.extend({"label": "PRODUCT", "pattern": name} for name in self.products)
            ruler.add_patterns(patterns)
            self._nlp = nlp
        return self._nlp

    def warm_up(self) -> None:
        self._pipeline()

    def extract(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        nlp = self._pipeline()
        docs = nlp.pipe((t[:MAX_ENTITY_CHARS] for t in texts), batch_size=64)
        return [[_entity(ent) for ent in doc.ents] for doc in docs]


def _entity(ent: Any) -> dict[str, Any]:
    start, end, text = ent.start_char, ent.end_char, ent.text
    if ent.label_ == "ORDER":
        tail = _ID_TAIL.search(text)
        if tail is not None:
            start = end - len(tail.group(1))
            text = tail.group(1)
    return {"label": ent.label_, "text": text, "start": start, "end": end}
