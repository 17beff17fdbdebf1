"""Appwrite's event name expansion (src/Appwrite/Event/Event.php generateEvents + mirroring), pure.

A concrete event such as `databases.main.tables.posts.rows.r1.create` is expanded into every pattern a
listener may have written: each ID replaced or not by `*`, with and without the action, and every shorter
prefix ending in an ID. Database events are then mirrored between TablesDB and the legacy vocabulary
(tables/collections, rows/documents, columns/attributes) and the `tablesdb.` prefix. A function fires
when any of its `events` strings equals any generated name.
"""

from __future__ import annotations

import functools
from itertools import product

ACTIONS = {"create", "update", "delete", "upsert"}
_MIRROR = (("tables", "collections"), ("rows", "documents"), ("columns", "attributes"))


def _parse(name: str) -> tuple[list[tuple[str, str]], str | None, str | None]:
    """[(type, id), ...], action, attribute."""
    parts = name.split(".")
    pairs: list[tuple[str, str]] = []
    i = 0
    while i + 1 < len(parts) and parts[i] not in ACTIONS:
        pairs.append((parts[i], parts[i + 1]))
        i += 2
    action = parts[i] if i < len(parts) else None
    attribute = ".".join(parts[i + 1 :]) or None if action else None
    return pairs, action, attribute


def _expand(pairs: list[tuple[str, str]], tail: list[str]) -> list[str]:
    out = []
    for mask in product((False, True), repeat=len(pairs)):
        segments = []
        for (kind, value), wild in zip(pairs, mask, strict=True):
            segments += [kind, "*" if wild else value]
        out.append(".".join(segments + tail))
    return out


def generate(name: str) -> list[str]:
    pairs, action, attribute = _parse(name)
    if not pairs:
        return [name]
    patterns: list[tuple[list[tuple[str, str]], list[str]]] = []
    if action:
        if attribute and len(pairs) > 1:
            patterns.append((pairs, [action, attribute]))
        patterns.append((pairs, [action]))
        if attribute:
            patterns.append((pairs[:1], [action, attribute]))
    for size in range(len(pairs), 0, -1):
        patterns.append((pairs[:size], []))
    events: list[str] = []
    for pattern_pairs, tail in patterns:
        events.extend(_expand(pattern_pairs, tail))
    events = list(dict.fromkeys(events))
    return list(dict.fromkeys(events + [m for e in events for m in _mirrors(e)]))


def _mirrors(event: str) -> list[str]:
    parts = event.split(".")
    if parts[0] not in ("databases", "tablesdb") or len(parts) < 3:
        return []
    legacy = [dict((a, b) for a, b in _MIRROR).get(p, p) if i % 2 == 0 and i > 0 else p for i, p in enumerate(parts)]
    modern = [dict((b, a) for a, b in _MIRROR).get(p, p) if i % 2 == 0 and i > 0 else p for i, p in enumerate(parts)]
    out = {
        ".".join(["databases", *legacy[1:]]),
        ".".join(["databases", *modern[1:]]),
        ".".join(["tablesdb", *modern[1:]]),
    }
    out.discard(event)
    return sorted(out)


# Every word `generate` can put in a name besides the event's own segments.
_VOCABULARY = frozenset({"*", "databases", "tablesdb", *(word for pair in _MIRROR for word in pair)})


def event_words(name: str) -> frozenset[str]:
    """Every word `generate(name)` can put in a name: the event's own segments, `*` and the mirrored vocabulary."""
    return _VOCABULARY | frozenset(name.split("."))


@functools.lru_cache(maxsize=4096)
def _pattern_words(subscribed: tuple[str, ...]) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(pattern.split(".")) for pattern in subscribed)


def could_match(subscribed: list[str], words: frozenset[str]) -> bool:
    """False when no subscribed pattern can be among `generate(name)` (`words` = `event_words(name)`): a pattern with
    any other segment (another table's id) cannot match. A cheap test that spares generating a bulk write's names for
    every row when nobody listens; the event's words are computed once for all functions."""
    return any(pattern <= words for pattern in _pattern_words(tuple(subscribed)))


def matches(subscribed: list[str], generated: list[str]) -> bool:
    return not set(subscribed).isdisjoint(generated)
