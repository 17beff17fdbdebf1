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


def test_a_long_prescription_repeats_its_header_and_patient_and_signs_the_last_page():
    """Issue 14.11: eight items take two pages; each page says whose and which prescription it is and `page x of y`;
    the signature and the codes close the last page; dates print DD/MM/YYYY (issue 14.12, in part)."""
    snapshot = _snapshot("Łucja", "Żółć-Nguyễn")
    first = snapshot["items"][0]
    snapshot["items"] = [first | {"line": n, "id": f"i{n}", "name": f"Medicine {n} tablets"} for n in range(1, 9)]
    document = pypdfium2.PdfDocument(pdf.render(snapshot, "ABCD " * 16))
    pages = [page.get_textpage().get_text_range() for page in document]
    assert len(pages) == 2
    for number, text in enumerate(pages, start=1):
        assert snapshot["number"] in text and "Żółć-Nguyễn" in text and f"Page {number} of 2" in text
    assert "Electronically signed" not in pages[0] and "Electronically signed" in pages[1]
    assert "Medicine 8 tablets" in pages[1] and "Medicine 1 tablets" in pages[0]
    assert "Date of birth: 01/01/1980" in pages[0] and "Date of prescribing: 10/03/2026" in pages[0]


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
