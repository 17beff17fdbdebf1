"""Prescribing rules: products, UK controlled drugs, Australian S8, validity dates, quantities in words."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from rxcore.actions import parse
from rxcore.errors import BadRequest
from rxcore.prescribing.requests import CreatePrescription, ItemLine
from rxcore.prescribing.rules import (
    Product,
    RuleViolation,
    add_period,
    au_schedule,
    check_items,
    check_patient,
    validity,
)
from rxcore.prescribing.words import number_to_words, quantity_text, words_to_number


def product(code="1", **facts) -> Product:
    base = dict(
        code=code,
        type="vmp",
        name=f"Medicine {code}",
        form="Tablet",
        legal_category="POM",
        cd_schedule=None,
        au_schedule=None,
        discontinued=False,
        invalid=False,
        available=True,
        retired=False,
    )
    return Product(**(base | facts))


def item(code="1", **fields):
    body = {"code": code, "dose": "One twice a day", "quantity": 28, "unit": "tablets"} | fields
    return parse(ItemLine, body).to_request()


def refused(type_, country, items, products, authority=None):
    with pytest.raises(RuleViolation) as info:
        check_items(country, items, products, authority)
    assert info.value.type == type_, info.value.message
    return info.value


ITEM = {"code": "1", "dose": "d", "quantity": 1, "unit": "u"}
REQUEST = {"clinicId": "c", "patientId": "p", "idempotencyKey": "k"}


def test_item_shape_is_checked():
    for bad in (
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": "lots"},
        {"quantity": True},
        {"dose": " "},
        {"unit": None},
        {"repeats": 13},
        {"repeats": 1.5},
        {"repeatIntervalDays": 0},
        {"quantityWords": 5},
    ):
        with pytest.raises(BadRequest) as info:
            parse(CreatePrescription, {**REQUEST, "items": [ITEM, ITEM, {**ITEM, **bad}]})
        assert info.value.type == "general_argument_invalid" and info.value.message.startswith("`items[2].")


def test_products_must_exist_be_vmp_or_amp_and_current():
    refused("medicine_not_found", "UK", [item("9")], {})
    refused("medicine_not_prescribable", "UK", [item()], {"1": product(type="vtm")})
    refused("medicine_not_prescribable", "UK", [item()], {"1": product(type="ampp")})
    refused("medicine_not_prescribable", "UK", [item()], {"1": product(discontinued=True)})
    refused("medicine_not_prescribable", "UK", [item()], {"1": product(invalid=True)})
    refused("medicine_not_prescribable", "UK", [item()], {"1": product(retired=True)})
    refused("medicine_not_prescribable", "UK", [item()], {"1": product(available=False)})
    refused("medicine_not_prescribable", "UK", [item()], {"1": product(cd_schedule="1")})
    assert check_items("UK", [item()], {"1": product(type="amp")}, None)[0].controlled is False


def test_uk_schedule_2_and_3_need_words_and_figures_a_dose_and_no_repeats():
    for schedule in ("2", "3"):
        cd = {"1": product(cd_schedule=schedule)}
        refused("controlled_drug_quantity_words_required", "UK", [item(daysSupply=14)], cd)
        refused("controlled_drug_quantity_words_mismatch", "UK", [item(quantityWords="twenty", daysSupply=14)], cd)
        refused(
            "controlled_drug_dose_required",
            "UK",
            [item(quantityWords="twenty-eight", dose="As directed", daysSupply=14)],
            cd,
        )
        refused(
            "controlled_drug_repeats_not_allowed",
            "UK",
            [item(quantityWords="twenty eight", repeats=1, daysSupply=14)],
            cd,
        )
        refused("controlled_drug_days_supply_required", "UK", [item(quantityWords="twenty-eight")], cd)
        refused("controlled_drug_supply_over_30_days", "UK", [item(quantityWords="twenty-eight", daysSupply=56)], cd)
        refused(
            "controlled_drug_form_required",
            "UK",
            [item(quantityWords="twenty-eight", daysSupply=14)],
            {"1": product(cd_schedule=schedule, form=None)},
        )
        ok = check_items("UK", [item(quantityWords="Twenty-Eight", daysSupply=14, dose="One as directed")], cd, None)[0]
        assert ok.controlled and ok.validity == (28, "days") and ok.first_dispense_days == (28, "days")
        justified = item(quantityWords="twenty-eight", daysSupply=56, clinicalJustification="stable palliative dose")
        assert check_items("UK", [justified], cd, None)[0].schedule == schedule


def test_uk_schedule_4_is_28_days_and_may_repeat_schedule_5_is_six_months():
    s4 = check_items("UK", [item(repeats=2, daysSupply=28)], {"1": product(cd_schedule="4")}, None)[0]
    assert s4.first_dispense_days == (28, "days") and s4.validity == (6, "months")
    s4_once = check_items("UK", [item(daysSupply=28)], {"1": product(cd_schedule="4")}, None)[0]
    assert s4_once.validity == (28, "days")
    s5 = check_items("UK", [item()], {"1": product(cd_schedule="5")}, None)[0]
    assert s5.validity == (6, "months") and s5.controlled
    assert check_items("UK", [item(quantityWords="twenty-eight")], {"1": product()}, None)[0].validity == (6, "months")
    refused("quantity_words_mismatch", "UK", [item(quantityWords="thirty")], {"1": product()})  # not a CD: issue 14.9
    repeat = check_items("UK", [item(repeats=5)], {"1": product()}, None)[0]
    assert repeat.first_dispense_days == (6, "months") and repeat.validity == (12, "months")


def test_au_s8_needs_authority_interval_words_and_to_be_alone():
    s8 = {"1": product(au_schedule="S8"), "2": product("2", au_schedule="S4")}
    good = item(quantityWords="twenty-eight", repeats=2, repeatIntervalDays=28)
    refused("s8_authority_required", "AU", [good], s8)
    refused("s8_repeat_interval_required", "AU", [item(quantityWords="twenty-eight", repeats=2)], s8, "P123")
    refused("controlled_drug_quantity_words_required", "AU", [item()], s8, "P123")
    refused(
        "controlled_drug_dose_required", "AU", [item(quantityWords="twenty-eight", dose="use as directed")], s8, "P1"
    )
    refused("s8_must_be_only_item", "AU", [good, item("2")], s8, "P123")
    checked = check_items("AU", [good], s8, "P123")[0]
    assert checked.schedule == "S8" and checked.validity == (6, "months") and checked.min_interval_days == 28
    s4 = check_items("AU", [item("2", repeats=5)], s8, None)[0]
    assert s4.validity == (12, "months") and s4.min_interval_days == 20  # PBS default for more than 4 repeats
    assert check_items("AU", [item("2", repeats=4)], s8, None)[0].min_interval_days == 0


def test_au_schedule_is_never_guessed_beyond_the_certain_cases():
    assert au_schedule(product(cd_schedule="2")) == "S8"
    assert au_schedule(product()) == "S4"
    assert au_schedule(product(cd_schedule="3")) is None  # temazepam S4 but buprenorphine S8
    assert au_schedule(product(legal_category="P")) is None
    assert au_schedule(product(cd_schedule="3", au_schedule="S8")) == "S8"
    refused("medicine_schedule_unknown", "AU", [item()], {"1": product(cd_schedule="3")})
    refused("medicine_not_prescribable", "AU", [item()], {"1": product(au_schedule="S9")})


def test_controlled_drugs_need_the_patients_address_and_au_dob():
    cd = check_items("UK", [item(quantityWords="twenty-eight", daysSupply=14)], {"1": product(cd_schedule="2")}, None)
    with pytest.raises(RuleViolation, match="address"):
        check_patient("UK", cd, {"address": " "})
    check_patient("UK", cd, {"address": "1 High St"})
    check_patient("UK", check_items("UK", [item()], {"1": product()}, None), {})
    s8 = check_items("AU", [item(quantityWords="twenty-eight")], {"1": product(au_schedule="S8")}, "A1")
    with pytest.raises(RuleViolation, match="date of birth"):
        check_patient("AU", s8, {"address": "1 Bay St"})


def test_validity_dates():
    assert add_period(date(2026, 8, 31), (6, "months")) == date(2027, 2, 28)
    assert add_period(date(2026, 3, 1), (28, "days")) == date(2026, 3, 29)
    items = check_items(
        "UK",
        [item(), item("2", quantityWords="twenty-eight", daysSupply=14)],
        {"1": product(), "2": product("2", cd_schedule="2")},
        None,
    )
    periods = [(item.first_dispense_days, item.validity) for item in items]
    v = validity(periods, date(2026, 3, 1), None)
    assert (v.appropriate_date, v.first_dispense_by, v.expires_on) == (
        date(2026, 3, 1),
        date(2026, 3, 28),
        date(2026, 3, 28),
    )
    later = validity(periods[:1], date(2026, 3, 1), date(2026, 4, 10))  # a start date moves the appropriate date
    assert later.appropriate_date == date(2026, 4, 10) and later.expires_on == date(2026, 10, 9)


@pytest.mark.parametrize(
    "words, number",
    [
        ("fifty-six", 56),
        ("Fifty six", 56),
        ("one hundred and twelve", 112),
        ("one hundred twelve", 112),
        ("twenty-eight", 28),
        ("seven", 7),
        ("zero", 0),
        ("one thousand two hundred and fifty", 1250),
        ("two hundred thousand", 200000),
        ("seven point five", Decimal("7.5")),
        ("ten point two five", Decimal("10.25")),
    ],
)
def test_words_to_number(words, number):
    assert words_to_number(words) == Decimal(number)
    assert words_to_number(number_to_words(Decimal(number))) == Decimal(number)


@pytest.mark.parametrize(
    "words",
    [
        "",
        "fifty-six tablets",
        "twenty thirty",
        "five five",
        "hundred",
        "fifteen five",
        "one hundred two hundred",
        "seven point",
        "56",
    ],
)
def test_words_that_are_not_numbers(words):
    assert words_to_number(words) is None


def test_number_to_words_style():
    assert number_to_words(56) == "fifty-six"
    assert number_to_words(112) == "one hundred and twelve"
    assert number_to_words(1005) == "one thousand and five"
    assert number_to_words(Decimal("2.50")) == "two point five"
    assert quantity_text(56.0, None, "tablets") == "56 (fifty-six) tablets"
    assert quantity_text(100, "One hundred", "mL") == "100 (One hundred) mL"
