"""The receipt of a payment, to the penny: who sold and who paid, what, the amounts in the payment's currency, a
tax line only when the platform configures one, refunds, and the Stripe ids to trace it. Amounts are integers in
minor units until they are printed."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rxcore.prescribing.pdf import day
from rxcore.printing import render_lines

SYMBOLS = {"gbp": "£", "aud": "A$", "usd": "US$"}


def money(minor: int, currency: str) -> str:
    """1999, "gbp" -> "£19.99"; -500 -> "-£5.00"."""
    sign = "-" if minor < 0 else ""
    units = Decimal(abs(minor)) / 100
    return f"{sign}{SYMBOLS.get(currency, currency.upper() + ' ')}{units:,.2f}"


def included_tax(gross: int, rate_percent: Decimal) -> int:
    """The tax inside a tax-inclusive `gross` (minor units), rounded half up to the minor unit."""
    net = Decimal(gross) * 100 / (100 + rate_percent)
    return int((Decimal(gross) - net).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def receipt_number(payment: dict[str, Any]) -> str:
    return "R-" + payment["$id"][:12].upper()


def lines(
    payment: dict[str, Any], billed_to: str, seller: str, tax_name: str = "", tax_rate: Decimal | None = None
) -> list[tuple[str, str]]:
    """The receipt as (style, text) lines: pure, so the totals are tested without a PDF."""
    currency, amount, refunded = payment["currency"], int(payment["amount"]), int(payment["amount_refunded"])
    out = [
        ("title", f"Receipt {receipt_number(payment)}"),
        ("text", f"From {seller}"),
        ("text", f"Billed to {billed_to}"),
        ("text", f"Paid on {day(payment.get('paid_at'))} in {currency.upper()}"),
        ("heading", "Items"),
        ("text", f"{payment['description']}: {money(amount, currency)}"),
        ("heading", f"Total paid: {money(amount, currency)}"),
    ]
    if tax_name and tax_rate is not None:
        tax = included_tax(amount, tax_rate)
        out.append(("text", f"Includes {tax_name} at {tax_rate.normalize():f}%: {money(tax, currency)}"))
    if refunded:
        out += [
            ("text", f"Refunded: {money(-refunded, currency)}"),
            ("heading", f"Net paid: {money(amount - refunded, currency)}"),
        ]
    out += [
        (
            "note",
            f"Stripe payment {payment.get('stripe_payment_intent_id') or '-'}, customer "
            f"{payment.get('stripe_customer_id') or '-'}",
        ),
        ("note", "Keep this receipt for your records."),
    ]
    return out


def render(
    payment: dict[str, Any], billed_to: str, seller: str, tax_name: str = "", tax_rate: Decimal | None = None
) -> bytes:
    return render_lines(f"Receipt {receipt_number(payment)}", lines(payment, billed_to, seller, tax_name, tax_rate))
