"""Medicine search for prescribing (prescription-create `search_medicines`) on the platform server: every word
must match, the best first, brands found through their generic; practitioners only."""

from __future__ import annotations

import pytest

from tests.support.rx_world import MEDICINES, _medicine, sctid

pytestmark = pytest.mark.e2e
EXTRA = {
    "ibuprofen": _medicine(sctid(9101), "vmp", "Ibuprofen 200mg tablets", "Tablet", "GSL"),
    "ibuprofen_liquid": _medicine(sctid(9102), "vmp", "Ibuprofen 100mg/5ml oral suspension", "Oral suspension"),
    "nurofen": _medicine(
        sctid(9103), "amp", "Nurofen 200mg tablets (Reckitt)", "Tablet", "GSL", vmp_code=sctid(9101)
    ),  # fmt: skip
    "panadol": _medicine(
        sctid(9104), "amp", "Panadol 500mg tablets (Haleon)", "Tablet", "P", vmp_code=MEDICINES["paracetamol"]["code"]
    ),  # fmt: skip
}


@pytest.fixture(scope="module")
def catalogue(rx):
    for row in EXTRA.values():
        if rx.tables.get("medicines", row["code"]) is None:
            rx.tables.create("medicines", row["code"], row)
    return rx


def find(rx, who: str, query: str) -> tuple[int, dict]:
    return rx.execute(who, "prescription-create", {"action": "search_medicines", "query": query})


def test_ibuprofen_tab_finds_ibuprofen_tablets_first_and_their_brand(catalogue):
    code, found = find(catalogue, "prescriber", "ibuprofen tab")
    names = [m["name"] for m in found["medicines"]]
    assert code == 200 and names == ["Ibuprofen 200mg tablets", "Nurofen 200mg tablets (Reckitt)"], names
    assert "Paracetamol 500mg tablets" not in names


def test_morphine_oral_and_a_generic_finding_its_brand(catalogue):
    code, found = find(catalogue, "pharmacist", "morphine modified")
    assert [m["name"] for m in found["medicines"]] == ["Morphine sulfate 10mg modified-release tablets"]
    code, found = find(catalogue, "prescriber", "paracetamol")
    assert [(m["name"], m["matched"]) for m in found["medicines"]] == [
        ("Paracetamol 500mg tablets", "name"), ("Panadol 500mg tablets (Haleon)", "generic")]  # fmt: skip
    code, found = find(catalogue, "prescriber", "oldbrand")
    assert found["medicines"] == [], "discontinued products are not offered"


def test_only_practitioners_search(catalogue):
    catalogue.user("search_patient", "Not A Clinician") if "search_patient" not in catalogue.people else None
    code, answer = find(catalogue, "search_patient", "ibuprofen")
    assert (code, answer["type"]) == (403, "practitioner_not_authorised")
    assert find(catalogue, "prescriber", "")[0] == 400
