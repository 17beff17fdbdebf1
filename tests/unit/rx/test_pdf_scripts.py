"""Prescription PDFs print names in every script a clinic meets (issue 14.10): the text extracted from the PDF is
the text that was put in, with no missing glyphs."""

from __future__ import annotations

import pypdfium2
import pytest

from rxcore.prescribing import canonical, pdf

NAMES = [("Łucja", "Żółć-Nguyễn"), ("Ελένη", "Παπαδοπούλου"), ("Анна", "Иванова"), ("Søren", "Ørsted-Ñúñez")]


def _snapshot(given: str, family: str) -> dict:
    prescription = {
        "$id": "p1", "number": "06E2F3-A81001-00001J", "clinic_id": "c", "patient_id": "pt", "prescriber_id": "u",
        "country": "UK", "authority_number": None, "appropriate_date": "2026-03-10", "first_dispense_by": "2026-09-09",
        "expires_on": "2026-09-09",
    }  # fmt: skip
    items = [
        {"$id": "i1", "line": 1, "medicine_code": "1", "name": "Amoxicillin 500mg capsules", "dose": "One capsule",
         "quantity": 21.0, "unit": "capsules", "quantity_words": None, "repeats": 0, "min_interval_days": 0,
         "schedule": None, "form": "Capsule", "supplies_allowed": 1, "controlled": False}
    ]  # fmt: skip
    clinic = {"name": "Riverside Online Clinic", "ods_code": "A81001", "address": "1 River Street, Leeds"}
    prescriber = {"name": "Dr Zoë Ødegård", "registration_body": "GMC", "registration_number": "1234567"}
    patient = {"given_name": given, "family_name": family, "date_of_birth": "1980-01-01", "nhs_number": "9990000018"}
    texts = {"i1": "21 (twenty-one) capsules"}
    return canonical.snapshot(prescription, items, clinic, prescriber, patient, texts, "2026-03-10T12:00:00.000+00:00")


@pytest.mark.parametrize("given,family", NAMES)
def test_names_in_any_script_print_as_written(given, family):
    document = pypdfium2.PdfDocument(pdf.render(_snapshot(given, family), "ABCD " * 16))
    text = document[0].get_textpage().get_text_range()
    assert given in text and family in text and "Dr Zoë Ødegård" in text, text[:400]
    assert "\ufffd" not in text and "■" not in text


def _pages_of(snapshot: dict) -> list[str]:
    return [page.get_textpage().get_text_range() for page in pypdfium2.PdfDocument(pdf.render(snapshot, "ABCD " * 16))]


def test_a_long_prescription_repeats_its_header_and_patient_and_signs_the_last_page():
    """Issue 14.11: eight items take three pages (three a page at most: PBS, and UK good practice); each page says
    whose and which prescription it is and `page x of y`, and cancels its unused space; the signature and the codes
    close the last page; dates print DD/MM/YYYY (issue 14.12)."""
    snapshot = _snapshot("Łucja", "Żółć-Nguyễn")
    first = snapshot["items"][0]
    snapshot["items"] = [first | {"line": n, "id": f"i{n}", "name": f"Medicine {n} tablets"} for n in range(1, 9)]
    pages = _pages_of(snapshot)
    assert len(pages) == 3
    for number, text in enumerate(pages, start=1):
        assert snapshot["number"] in text and "Żółć-Nguyễn" in text and f"Page {number} of 3" in text
    assert [sum(f"Medicine {n} tablets" in text for n in range(1, 9)) for text in pages] == [3, 3, 2]
    assert "No more items on this page." in pages[0] and "No more items on this prescription." in pages[2]
    assert "Electronically signed" not in pages[0] + pages[1] and "Electronically signed" in pages[2]
    assert "Medicine 8 tablets" in pages[2] and "Medicine 1 tablets" in pages[0]
    assert "Date of birth: 01/01/1980" in pages[0] and "Date of prescribing: 10/03/2026" in pages[0]


def test_schedule_2_and_3_drugs_and_australian_s8_or_authority_items_get_pages_of_their_own():
    """Issue 14.12: items whose rules are checked line by line are not mixed with others (UK CD Schedule 2/3;
    Australia: Schedule 8, and one authority item a script)."""
    snapshot = _snapshot("Sam", "Citizen")
    plain = snapshot["items"][0]
    morphine = plain | {"line": 2, "id": "i2", "name": "Morphine 10mg tablets", "schedule": "2", "controlled": True}
    diazepam = plain | {"line": 3, "id": "i3", "name": "Diazepam 5mg tablets", "schedule": "4", "controlled": True}
    snapshot["items"] = [plain, morphine, diazepam]
    uk = _pages_of(snapshot)
    assert len(uk) == 2 and "Morphine" not in uk[0] and "Diazepam" in uk[0] and "Morphine 10mg" in uk[1]
    assert "Amoxicillin" not in uk[1]

    thc = plain | {"line": 2, "id": "i2", "name": "THC 10mg/mL oral liquid", "schedule": "S8", "controlled": True}
    cbd = plain | {"line": 3, "id": "i3", "name": "CBD 100mg/mL oral liquid", "schedule": "S4", "controlled": False}
    au = snapshot | {"country": "AU", "items": [plain, thc, cbd]}
    pages = _pages_of(au)
    assert len(pages) == 2 and "THC 10mg" in pages[1] and "CBD 100mg" in pages[0] and "CBD 100mg" not in pages[1]
    authority = au | {"authority_number": "A1234567", "items": [plain, cbd]}
    assert len(_pages_of(authority)) == 2


def test_the_prescribers_own_address_and_phone_and_the_days_supply_are_printed_without_overlap():
    """Issue 14.12: the prescriber's address and telephone (when recorded) and an item's days' supply. A prescriber
    block that long pushes the patient row down instead of running into it."""
    snapshot = _snapshot("Sam", "Citizen")
    numbers = ["PBS prescriber number 2425739", "Medicare provider number 4024742F", "HPI-I 8003611234567893"]
    contact = {"address": "Suite 4, 120 Collins Street, Melbourne VIC 3000", "phone": "+61 3 9000 0000"}
    snapshot["prescriber"] |= {"numbers": numbers} | contact
    snapshot["items"][0]["days_supply"] = 7
    page = pypdfium2.PdfDocument(pdf.render(snapshot, "ABCD " * 16))[0]
    text = page.get_textpage().get_text_range()
    assert "Suite 4, 120 Collins Street" in text and "Tel +61 3 9000 0000" in text and "Days' supply: 7" in text
    textpage = page.get_textpage()
    phone = textpage.search("Tel +61").get_next()
    patient = textpage.search("PATIENT").get_next()
    phone_box = textpage.get_charbox(phone[0])
    patient_box = textpage.get_charbox(patient[0])
    assert phone_box[1] > patient_box[3], "the phone line sits above the patient row"


DENTISTS = [("GDC 81234", "Dentist"), ("AHPRA DEN0001234567", "Dental practitioner")]


@pytest.mark.parametrize("registration,kind", DENTISTS)
def test_a_dentists_controlled_drug_says_for_dental_treatment_only(registration, kind):
    """Issue 14.12: a dentist writes "for dental treatment only" on a controlled drug (MDR 2001 reg 15(1)(d); ACT)."""
    snapshot = _snapshot("Sam", "Citizen")
    plain = snapshot["items"][0]
    diazepam = plain | {"line": 2, "id": "i2", "name": "Diazepam 5mg tablets", "schedule": "4", "controlled": True}
    snapshot["items"] = [plain, diazepam]
    snapshot["prescriber"]["registration"] = registration
    text = _pages_of(snapshot)[0]
    assert f"{kind} · {registration}" in text
    assert text.count("For dental treatment only") == 1  # the controlled item only
    assert text.index("For dental treatment only") > text.index("Diazepam 5mg tablets")
    snapshot["prescriber"]["registration"] = "GMC 1234567"
    assert "For dental treatment only" not in _pages_of(snapshot)[0]
