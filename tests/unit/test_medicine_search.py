"""Medicine search ranking (rxcore/dmd/search.py), with the catalogue read by a small stand-in that honours the
queries the search sends (fulltext by word prefix, equal, select, limit)."""

from __future__ import annotations

import json

from rxcore.dmd.search import matches, search, words

ROWS = [
    {"$id": "p1", "type": "vmp", "name": "Paracetamol 500mg tablets", "vmp_code": None},
    {"$id": "p2", "type": "amp", "name": "Panadol 500mg tablets", "vmp_code": "p1"},
    {"$id": "p3", "type": "amp", "name": "Paracetamol 500mg tablets (Accord)", "vmp_code": "p1"},
    {"$id": "i1", "type": "vmp", "name": "Ibuprofen 200mg tablets", "vmp_code": None},
    {"$id": "i2", "type": "vmp", "name": "Ibuprofen 100mg/5ml oral suspension sugar free", "vmp_code": None},
    {"$id": "i3", "type": "amp", "name": "Nurofen 200mg tablets", "vmp_code": "i1"},
    {"$id": "m1", "type": "vmp", "name": "Morphine 10mg/5ml oral solution", "vmp_code": None},
    {"$id": "m2", "type": "vmp", "name": "Morphine 10mg modified-release tablets", "vmp_code": None},
    {"$id": "a1", "type": "vmp", "name": "Amoxicillin 500mg capsules", "vmp_code": None},
    {"$id": "x1", "type": "vmp", "name": "Ibuprofen 400mg tablets", "vmp_code": None, "retired": True},
    {"$id": "v1", "type": "vtm", "name": "Ibuprofen", "vmp_code": None},
]
for row in ROWS:
    row.setdefault("available", True)


def list_rows(queries: list[str]) -> list[dict]:
    out = ROWS
    limit = 25
    for raw in queries:
        q = json.loads(raw)
        method, attribute, values = q["method"], q.get("attribute"), q.get("values", [])
        if method == "search":
            out = [r for r in out if matches(r[attribute], [values[0].casefold()])]
        elif method == "equal":
            out = [r for r in out if r.get(attribute) in values]
        elif method == "notEqual":
            out = [r for r in out if r.get(attribute) not in values]
        elif method == "limit":
            limit = values[0]
    return out[:limit]


def names(text: str, limit: int = 10) -> list[str]:
    return [m["name"] for m in search(list_rows, text, limit)["medicines"]]


def test_every_word_must_match_and_the_best_comes_first():
    assert names("ibuprofen tab") == ["Ibuprofen 200mg tablets"] + ["Nurofen 200mg tablets"]
    assert names("morphine oral") == ["Morphine 10mg/5ml oral solution"]
    assert names("tab ibuprofen")[0] == "Ibuprofen 200mg tablets", "word order does not matter for matching"


def test_a_generic_name_finds_its_brands_after_the_generic():
    found = search(list_rows, "paracetamol", 10)["medicines"]
    assert [m["name"] for m in found][:2] == ["Paracetamol 500mg tablets", "Paracetamol 500mg tablets (Accord)"]
    panadol = next(m for m in found if m["name"] == "Panadol 500mg tablets")
    assert panadol["matched"] == "generic"
    assert names("panadol") == ["Panadol 500mg tablets"]


def test_retired_vtms_and_nothing_are_left_out():
    assert "Ibuprofen 400mg tablets" not in names("ibuprofen")
    assert "Ibuprofen" not in names("ibuprofen"), "a VTM is not prescribable"
    assert names("zzz") == [] and names("   ") == []
    assert words("Co-codamol 30/500 tabs") == ["co", "codamol", "30", "500", "tabs"]
