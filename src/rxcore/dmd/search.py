"""Finding a medicine to prescribe by what a prescriber types: "ibuprofen tab", "morphine oral", "paracetamol".

Appwrite's fulltext search matches *any* word and returns rows in table order, so "ibuprofen tab" listed
paracetamol first (issue 14.14). Here every word must match (the start of a word in the name: "tab" finds
"tablets"), results are ranked, and a generic name also finds its brands: searching "paracetamol" finds the VMP
"Paracetamol 500mg tablets" and, through it, the AMP "Panadol 500mg tablets". The ranking and matching are pure;
`search` does the reads: one fulltext query on the longest word (the rarest, so the fewest candidates), the other
words checked here, then the brands of the best generic matches."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from appwrite.query import Query

CANDIDATES = 1000  # rows read for the driving word (every type); more mean the query is too vague
BRANDS_OF = 10  # generic matches whose brands are added
FIELDS = ["$id", "code", "type", "name", "vmp_code", "form", "legal_category", "cd_schedule", "au_schedule",
          "controlled", "available", "retired", "discontinued", "invalid"]  # fmt: skip
HIDDEN = ("available", "retired", "discontinued", "invalid")
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def words(text: str) -> list[str]:
    """The query's words, lower-case, in order, without repeats ("Co-codamol 30/500" -> co, codamol, 30, 500)."""
    return list(dict.fromkeys(_WORD.findall(text.casefold())))


def matches(name: str, wanted: list[str]) -> bool:
    """Whether every wanted word starts some word of `name`."""
    tokens = _WORD.findall(name.casefold())
    return all(any(token.startswith(word) for token in tokens) for word in wanted)


def rank_key(row: dict[str, Any], wanted: list[str], via_generic: bool) -> tuple:
    """Smaller is better: a name that starts with the first word, a direct match before a brand found through its
    generic, the generic (VMP) before brands, earlier and tighter matches, shorter names, then alphabetical."""
    name = row["name"].casefold()
    tokens = _WORD.findall(name)
    first = next((i for i, token in enumerate(tokens) if wanted and token.startswith(wanted[0])), len(tokens))
    exact_words = sum(1 for word in wanted if word in tokens)
    return (
        0 if name.startswith(wanted[0]) else 1,
        1 if via_generic else 0,
        0 if row["type"] == "vmp" else 1,
        first,
        -exact_words,
        len(name),
        name,
    )


def _prescribable(row: dict[str, Any]) -> bool:
    if row["type"] not in ("vmp", "amp") or row.get("available") is False:
        return False
    return not (row.get("retired") or row.get("discontinued") or row.get("invalid"))


def search(list_rows: Callable[[list[str]], list[dict[str, Any]]], text: str, limit: int) -> dict[str, Any]:
    """The best `limit` prescribable products (VMPs and AMPs available now) for `text`, each marked with how it
    matched (`name`, or `generic` for a brand of a matching VMP). `list_rows(queries)` reads `medicines`."""
    wanted = words(text)
    if not wanted:
        return {"medicines": [], "truncated": False}
    driver = max(wanted, key=len)
    # Packs are left out with `notEqual`, which no index serves, so the word's fulltext matches drive the query:
    # with `equal` on type beside it, SQLite walked the type index (hundreds of thousands of entries) instead.
    # Availability and the rest are checked here.
    not_packs = [Query.not_equal("type", "vmpp"), Query.not_equal("type", "ampp"), Query.not_equal("type", "vtm")]
    candidates = list_rows([Query.search("name", driver), *not_packs, Query.select(FIELDS), Query.limit(CANDIDATES)])
    found = {r["$id"]: (r, False) for r in candidates if _prescribable(r) and matches(r["name"], wanted)}
    generics = sorted((r for r, _ in found.values() if r["type"] == "vmp"), key=lambda r: rank_key(r, wanted, False))
    codes = [r["$id"] for r in generics[:BRANDS_OF]]
    if codes:
        brands = list_rows([Query.equal("vmp_code", codes), Query.select(FIELDS), Query.limit(200)])
        for row in brands:
            if row["type"] == "amp" and _prescribable(row):
                found.setdefault(row["$id"], (row, True))
    ranked = sorted(found.values(), key=lambda pair: rank_key(pair[0], wanted, pair[1]))
    shown = [
        {k: row.get(k) for k in FIELDS if k not in HIDDEN} | {"matched": "generic" if via else "name"}
        for row, via in ranked[:limit]
    ]
    return {"medicines": shown, "truncated": len(candidates) >= CANDIDATES}
