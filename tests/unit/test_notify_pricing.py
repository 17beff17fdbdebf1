"""What a text costs against a clinic's daily spend cap (rxcore.notify.pricing), and which e-mail template a
recipient gets (rxcore.notify.preferences)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rxcore.notify import pricing


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        ("a" * 160, 1),  # one GSM-7 segment
        ("a" * 161, 2),  # then parts of 153
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extended characters take two septets: 160
        ("€" * 81, 2),
        ("Łucja" + "a" * 65, 1),  # one character outside GSM-7 makes the whole text UCS-2: 70
        ("Łucja" + "a" * 66, 2),  # then parts of 67
    ],
)
def test_segments_follow_the_encoding_a_text_needs(body, parts):
    assert pricing.segments(body) == parts


def test_a_text_costs_its_parts_at_its_destination_country_price_rounded_up():
    prices = pricing.parse_prices('{"sms": {"GB": "0.05", "AU": "0.0333"}, "whatsapp": {"*": "0.004"}}')
    assert pricing.cost_units("sms", "+447700900123", "hello", prices) == 500
    assert pricing.cost_units("sms", "+447700900123", "a" * 161, prices) == 1000
    assert pricing.cost_units("sms", "+61412345678", "hello", prices) == 333
    assert pricing.cost_units("sms", "+15005550006", "hello", prices) == 800  # the default for anywhere else
    assert pricing.cost_units("whatsapp", "+447700900123", "a" * 400, prices) == 40  # per message, not per part
    assert prices["sms"]["*"] == Decimal("0.0800")


@pytest.mark.parametrize("configured", ['{"sms": ["0.05"]}', '{"sms": {"GB": "five"}}', "not json"])
def test_a_price_list_that_is_not_one_is_refused_by_name(configured):
    with pytest.raises(ValueError, match="RX_NOTIFY_TEXT_PRICES"):
        pricing.parse_prices(configured)


def test_an_email_template_is_chosen_by_the_recipients_language_with_a_default():
    from rxcore.notify.preferences import template_for

    templates = {"a": "d-a", "b": {"en": "d-b-en", "cy": "d-b-cy"}, "c": {"default": "d-c", "cy": "d-c-cy"}}
    assert template_for(templates, "a", "cy") == "d-a"  # one template for every language
    assert template_for(templates, "b", "cy") == "d-b-cy"
    assert template_for(templates, "b", None) == template_for(templates, "b", "fr") == "d-b-en"
    assert template_for(templates, "c", "fr") == "d-c"
    assert template_for(templates, "missing", "en") is None
