"""Identifier checks against the test vectors in ../shared/reference/identifiers-and-rules.md (section 10)."""

from __future__ import annotations

from datetime import date

import pytest

from rxcore.checkdigits import luhn_valid, mod37_2_char, nhs_mod11_digit
from rxcore.identifiers import InvalidIdentifier
from rxcore.identifiers.au import (
    medicare_card_current,
    medicare_expiry,
    normalise_dva_number,
    normalise_healthcare_identifier,
    normalise_medicare,
    normalise_provider_number,
    pbs_prescriber_number,
)
from rxcore.identifiers.phone import is_mobile, normalise_mobile, normalise_phone
from rxcore.identifiers.uk import (
    eps_prescription_id,
    format_nhs_number,
    normalise_eps_prescription_id,
    normalise_nhs_number,
    normalise_ods_code,
    normalise_postcode,
    normalise_registration,
)


@pytest.mark.parametrize(
    "number",
    ["9434765919", "4010232137", "6541003238", "6716689966", "1234567881", "943 476 5919", "943-476-5919",
     "9990000018", "9990000026", "9997654323", "9000000009"],
)  # fmt: skip
def test_nhs_number_valid(number):
    assert normalise_nhs_number(number) == number.replace(" ", "").replace("-", "")


@pytest.mark.parametrize(
    "number, reason",
    [
        ("9434765918", "check digit"),
        ("9876544321", "check digit"),
        ("9991234560", "check digit"),  # the stem gives 10: no digit can make it valid
        ("1234567890", "check digit"),
        ("0000000001", "check digit"),
        ("943476591", "10 digits"),
        ("94347659190", "10 digits"),
        ("0000000000", "repeated"),
        ("1111111111", "repeated"),
        ("94347659I9", "10 digits"),
    ],
)
def test_nhs_number_invalid(number, reason):
    with pytest.raises(InvalidIdentifier, match=reason):
        normalise_nhs_number(number)


def test_nhs_mod11_worked_example_and_display():
    assert nhs_mod11_digit("943476591") == 9
    assert nhs_mod11_digit("999123456") is None
    assert format_nhs_number("9434765919") == "943 476 5919"


@pytest.mark.parametrize(
    "raw, expected",
    [(" ec1a 1bb ", "EC1A 1BB"), ("sw1a1aa", "SW1A 1AA"), ("M1 1AE", "M1 1AE"), ("B33 8TH", "B33 8TH"),
     ("CR2 6XH", "CR2 6XH"), ("DN55 1PT", "DN55 1PT"), ("W1A 0AX", "W1A 0AX"), ("E1W 1AA", "E1W 1AA"),
     ("GIR 0AA", "GIR 0AA")],
)  # fmt: skip
def test_postcode_valid(raw, expected):
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize("raw", ["QA1 1AA", "AB1 1CI", "AI1 1AA", "SW1A 1A", "ZZ99 9ZZ", "BFPO 1", "", "SW1A 1AAA"])
def test_postcode_invalid(raw):
    with pytest.raises(InvalidIdentifier):
        normalise_postcode(raw)


def test_nhs_pseudo_postcodes_only_when_asked():
    with pytest.raises(InvalidIdentifier):
        normalise_postcode("ZZ99 3VZ")
    assert normalise_postcode("zz993vz", allow_pseudo=True) == "ZZ99 3VZ"


@pytest.mark.parametrize(
    "body, value",
    [("GMC", "1234567"), ("GPhC", "2033467"), ("NMC", "12A3456E"), ("NMC", "71a2998e"), ("HCPC", "PH095159"),
     ("AHPRA", "MED0000932846"), ("AHPRA", "NMW0001234567")],
)  # fmt: skip
def test_registration_valid(body, value):
    assert normalise_registration(body, value) == value.upper()


@pytest.mark.parametrize(
    "body, value",
    [("GMC", "123456"), ("GMC", "C1234567"), ("GPhC", "20334678"), ("NMC", "12A3456"), ("AHPRA", "MED000093284"),
     ("AHPRA", "MED 0000932846"), ("HCPC", "P095159"), ("XYZ", "1234567")],
)  # fmt: skip
def test_registration_invalid(body, value):
    with pytest.raises(InvalidIdentifier):
        normalise_registration(body, value)


def test_ods_codes():
    for code in ("A81001", "K81003001", "FVR79", "FW844", "V03462", "y01234"):
        assert normalise_ods_code(code) == code.upper()
    for code in ("A8", "1234567", "A81001/X", "ABCDEFGHIJ"):
        with pytest.raises(InvalidIdentifier):
            normalise_ods_code(code)


@pytest.mark.parametrize(
    "pid",
    ["83C40E-A23856-00123W", "A1B2C3-A83008-000016", "7D9625-A83008-2A6E3E", "000000-0Y1234-000003",
     "A1B2C3-A83008-0004F+"],
)  # fmt: skip
def test_eps_id_valid(pid):
    assert normalise_eps_prescription_id(pid) == pid


@pytest.mark.parametrize(
    "pid",
    ["DC2C66-A1B2C3-23407B", "A1B2C3-A83008-00001X", "83C40E-A23856-00123w", "83C40EA2385600123W"],
)
def test_eps_id_invalid(pid):
    with pytest.raises(InvalidIdentifier):
        normalise_eps_prescription_id(pid)


def test_eps_id_generation_pads_ods_wraps_sequence_and_checks():
    assert eps_prescription_id("83C40E", "A23856", 0x123) == "83C40E-A23856-00123W"
    assert eps_prescription_id("000000", "Y1234", 0) == "000000-0Y1234-000003"
    assert eps_prescription_id("A1B2C3", "A83008", 0x100004F) == "A1B2C3-A83008-0004F+"  # wraps after FFFFF
    assert mod37_2_char("83C40EA2385600123") == "W"
    with pytest.raises(InvalidIdentifier):
        eps_prescription_id("A1B2C3", "K81003001", 1)  # a 9-character branch code does not fit


@pytest.mark.parametrize(
    "number, card, irn",
    [("2123456701", "2123456701", None), ("21234567011", "2123456701", "1"), ("2428778132", "2428778132", None),
     ("24287781321", "2428778132", "1"), ("2950101201", "2950101201", None), ("3000000031", "3000000031", None),
     ("4000000041", "4000000041", None), ("5999999961", "5999999961", None), ("6123456741", "6123456741", None),
     ("2123 45670 1", "2123456701", None)],
)  # fmt: skip
def test_medicare_valid(number, card, irn):
    assert normalise_medicare(number) == (card, irn)


@pytest.mark.parametrize(
    "number, reason",
    [("2123456711", "check digit"), ("1123456701", "starts with"), ("7123456701", "starts with"),
     ("2123456700", "issue number"), ("21234567010", "IRN"), ("212345670", "10 digits"), ("2428778122", "check")],
)  # fmt: skip
def test_medicare_invalid(number, reason):
    with pytest.raises(InvalidIdentifier, match=reason):
        normalise_medicare(number)


def test_medicare_irn_given_apart_and_expiry():
    assert normalise_medicare("2123456701", 3) == ("2123456701", "3")
    with pytest.raises(InvalidIdentifier, match="does not match"):
        normalise_medicare("21234567011", "2")
    with pytest.raises(InvalidIdentifier, match="IRN"):
        normalise_medicare("2123456701", "0")
    assert medicare_expiry("2027-03") == "2027-03"
    assert medicare_expiry("03/2027") == "2027-03"
    assert medicare_expiry("03/27") == "2027-03"
    with pytest.raises(InvalidIdentifier):
        medicare_expiry("13/2027")
    assert medicare_card_current("2027-02", date(2027, 2, 28))
    assert not medicare_card_current("2027-02", date(2027, 3, 1))


@pytest.mark.parametrize(
    "kind, number",
    [("IHI", "8003608333647212"), ("IHI", "8003608833357361"), ("IHI", "8003608666701594"),
     ("IHI", "8003608000228445"), ("IHI", "8003601234567894"), ("IHI", "8003600000000015"),
     ("HPI-I", "8003611234567893"), ("HPI-I", "8003610000000014"), ("HPI-I", "8003619876543213"),
     ("HPI-O", "8003621234567892"), ("HPI-O", "8003620000000013"), ("HPI-O", "8003629876543212")],
)  # fmt: skip
def test_healthcare_identifiers_valid(kind, number):
    assert normalise_healthcare_identifier(kind, number) == number


@pytest.mark.parametrize(
    "kind, number, reason",
    [("IHI", "8003608333647213", "check digit"), ("IHI", "8003611234567893", "starts with"),
     ("IHI", "8103601123724176", "starts with"), ("IHI", "800360833364721", "16 digits"),
     ("HPI-I", "8003611234567894", "check digit"), ("HPI-I", "8003601234567894", "starts with"),
     ("HPI-O", "8003621234567893", "check digit"), ("HPI-O", "8003611234567893", "starts with")],
)  # fmt: skip
def test_healthcare_identifiers_invalid(kind, number, reason):
    with pytest.raises(InvalidIdentifier, match=reason):
        normalise_healthcare_identifier(kind, number)
    assert luhn_valid("8003608333647212") and not luhn_valid("8003608333647213")


@pytest.mark.parametrize("number", ["4024742F", "2426621B", "246831AF", "0499601T", "123456YW", "555555KB", "0000012W"])
def test_provider_number_valid(number):
    assert normalise_provider_number(number) == number


@pytest.mark.parametrize("number", ["4024742X", "4024742N", "402474IF", "1234567Z", "4024742"])
def test_provider_number_invalid(number):
    with pytest.raises(InvalidIdentifier):
        normalise_provider_number(number)


def test_pbs_prescriber_number_checksum_only_warns():
    for number in ("0848402", "2425739", "1234567", "6543211", "0765434"):
        assert pbs_prescriber_number(number) == (number, [])
    for number in ("2425738", "0123420"):
        value, warnings = pbs_prescriber_number(number)
        assert value == number and warnings == ["the PBS prescriber number's check digit does not match"]
    for number in ("123456", "12345678"):
        with pytest.raises(InvalidIdentifier):
            pbs_prescriber_number(number)


@pytest.mark.parametrize("number", ["NX123456", "N 123456", "VSM12345", "QAAA1234", "WX123456A", " nx123456 "])
def test_dva_valid(number):
    assert normalise_dva_number(number) == number.strip().upper()


@pytest.mark.parametrize("number", ["AX123456", "TX12345", "NX1234567"])
def test_dva_invalid(number):
    with pytest.raises(InvalidIdentifier):
        normalise_dva_number(number)


@pytest.mark.parametrize(
    "raw, region, e164, mobile",
    [("07400 123456", "GB", "+447400123456", True), ("+44 7512 345678", "GB", "+447512345678", True),
     ("0044 7512 345678", "GB", "+447512345678", True), ("07911 123456", "GB", "+447911123456", True),  # Guernsey
     ("07624 000000", "GB", "+447624000000", True),  # Isle of Man
     ("07000 123456", "GB", "+447000123456", False),  # personal number, not a mobile
     ("020 7946 0018", "GB", "+442079460018", False), ("0412 345 678", "AU", "+61412345678", True),
     ("(02) 9876 5432", "AU", "+61298765432", False)],
)  # fmt: skip
def test_phone_numbers(raw, region, e164, mobile):
    assert normalise_phone(raw, region) == e164
    assert is_mobile(e164, region) is mobile


@pytest.mark.parametrize("raw", ["07700 900123", "07700 90012", "077009001234", "not a number", ""])
def test_phone_numbers_invalid(raw):
    with pytest.raises(InvalidIdentifier):
        normalise_phone(raw, "GB")


def test_mobile_required():
    assert normalise_mobile("07400 123456", "GB") == "+447400123456"
    with pytest.raises(InvalidIdentifier, match="mobile"):
        normalise_mobile("07000 123456", "GB")
    with pytest.raises(InvalidIdentifier, match="mobile"):
        normalise_mobile("+61 412 345 678", "GB")  # an Australian mobile is not a UK one
