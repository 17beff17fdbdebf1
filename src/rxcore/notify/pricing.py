"""What a text costs, for the clinic's daily spend cap: Twilio bills SMS per segment (160 GSM-7 characters, or 70
when any character needs UCS-2; a long message is split in parts of 153 / 67 with a header) at a price per
destination country, and WhatsApp per message. Prices are configuration (RX_NOTIFY_TEXT_PRICES: the account's own
price list), counted here in ten-thousandths of the account's currency so that the cap is an exact integer sum."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

import phonenumbers

UNIT = Decimal("0.0001")  # what the spend counter counts
# Used when RX_NOTIFY_TEXT_PRICES names no price: approximate list prices in USD (Twilio bills in the account's
# currency); set the account's own list in production.
DEFAULT_PRICES = {"sms": {"GB": "0.0524", "AU": "0.0515", "*": "0.0800"}, "whatsapp": {"*": "0.0050"}}
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")  # two septets each


def segments(body: str) -> int:
    """How many SMS parts `body` is sent as."""
    if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in body):
        length = sum(2 if ch in GSM7_EXTENDED else 1 for ch in body)
        return 1 if length <= 160 else -(-length // 153)
    length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in body)  # UTF-16 code units
    return 1 if length <= 70 else -(-length // 67)


def parse_prices(configured: str) -> dict[str, dict[str, Decimal]]:
    """RX_NOTIFY_TEXT_PRICES (`{"sms": {"GB": "0.0524", "*": "0.08"}, "whatsapp": {"*": "0.005"}}`) over the
    defaults; ValueError naming what is wrong."""
    try:
        given = json.loads(configured or "{}")
        merged = {channel: dict(prices) for channel, prices in DEFAULT_PRICES.items()}
        for channel, prices in given.items():
            merged.setdefault(channel, {}).update(prices)
        return {channel: {region: Decimal(str(price)) for region, price in prices.items()}
                for channel, prices in merged.items()}  # fmt: skip
    except (ValueError, TypeError, AttributeError, InvalidOperation) as exc:
        raise ValueError(f"RX_NOTIFY_TEXT_PRICES is not a price list by channel and country: {exc}") from None


def cost_units(channel: str, phone: str, body: str, prices: dict[str, dict[str, Decimal]]) -> int:
    """The price of one text in UNITs (rounded up), by channel, destination country and length."""
    try:
        region = phonenumbers.region_code_for_country_code(phonenumbers.parse(phone).country_code)
    except phonenumbers.NumberParseException:
        region = "*"
    table = prices.get(channel, {})
    each = table.get(region, table.get("*", Decimal(0)))
    parts = segments(body) if channel == "sms" else 1
    return int(-(-(each * parts) // UNIT))
