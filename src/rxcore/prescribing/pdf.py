"""The printable prescription (reportlab): what a pharmacist checks before supplying.

Clinic and its ODS code or HPI-O, prescriber with registration and prescriber numbers, patient with date of
birth (age if under 12), address and NHS number / Medicare / IHI, each item with dose, quantity (in words and
figures for controlled drugs), repeats and interval, the controlled-drug schedule, the validity dates, the
number as text, a QR code and a Code 128 barcode, and the prescriber's signature fingerprint."""

from __future__ import annotations

import io
from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from rxcore import fonts

WIDTH, HEIGHT = A4
MARGIN = 18 * mm


def _qr(canvas: Canvas, value: str, x: float, y: float, size: float) -> None:
    widget = QrCodeWidget(value, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)


def _block(canvas: Canvas, title: str, lines: list[str], x: float, y: float) -> float:
    canvas.setFont(fonts.BOLD, 9)
    canvas.setFillColor(colors.HexColor("#005EB8"))
    canvas.drawString(x, y, title.upper())
    canvas.setFillColor(colors.black)
    canvas.setFont(fonts.REGULAR, 10)
    for line in lines:
        y -= 13
        canvas.drawString(x, y, line)
    return y


def _wrap(text: str, width: int) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        if len(current) + len(word) + 1 > width and current:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current] if current else lines


def render(snapshot: dict[str, Any], fingerprint: str) -> bytes:
    """`snapshot` is the signed content (see rxcore.prescribing.canonical); returns the PDF bytes."""
    out = io.BytesIO()
    fonts.register()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    number = snapshot["number"]
    canvas.setTitle(f"Prescription {number}")
    canvas.setAuthor(snapshot["clinic"]["name"])

    # Header band
    canvas.setFillColor(colors.HexColor("#005EB8"))
    canvas.rect(0, HEIGHT - 28 * mm, WIDTH, 28 * mm, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    canvas.setFont(fonts.BOLD, 20)
    canvas.drawString(MARGIN, HEIGHT - 16 * mm, "PRESCRIPTION")
    canvas.setFont(fonts.REGULAR, 10)
    kind = "Controlled drug prescription" if snapshot["controlled"] else "Prescription-only medicines"
    canvas.drawString(
        MARGIN, HEIGHT - 23 * mm, f"{kind} · {'United Kingdom' if snapshot['country'] == 'UK' else 'Australia'}"
    )
    canvas.setFont(fonts.BOLD, 14)
    canvas.drawRightString(WIDTH - MARGIN, HEIGHT - 16 * mm, number)
    canvas.setFont(fonts.REGULAR, 9)
    canvas.drawRightString(WIDTH - MARGIN, HEIGHT - 23 * mm, "Prescription number")
    canvas.setFillColor(colors.black)

    top = HEIGHT - 38 * mm
    clinic, prescriber, patient = snapshot["clinic"], snapshot["prescriber"], snapshot["patient"]
    _block(
        canvas, "Clinic", [clinic["name"], *_wrap(clinic.get("address") or "", 48), clinic["identifier"]], MARGIN, top
    )
    _block(
        canvas,
        "Prescriber",
        [prescriber["name"], prescriber["registration"], *prescriber.get("numbers", [])],
        WIDTH / 2,
        top,
    )
    top -= 30 * mm
    patient_lines = [patient["name"], f"Date of birth: {patient.get('date_of_birth') or 'not recorded'}"]
    if patient.get("age_under_12") is not None:
        patient_lines[-1] += f"  (age {patient['age_under_12']})"
    patient_lines += [*_wrap(patient.get("address") or "", 48), patient.get("identifier") or "No national identifier"]
    _block(canvas, "Patient", patient_lines, MARGIN, top)
    dates = [
        f"Date of prescribing: {snapshot['appropriate_date']}",
        f"First dispense by: {snapshot['first_dispense_by']}",
        f"Valid until: {snapshot['expires_on']}",
    ]
    if snapshot.get("authority_number"):
        dates.append(f"Authority / permit: {snapshot['authority_number']}")
    _block(canvas, "Validity", dates, WIDTH / 2, top)

    # Items
    y = top - 36 * mm
    canvas.setStrokeColor(colors.HexColor("#768692"))
    canvas.line(MARGIN, y + 8, WIDTH - MARGIN, y + 8)
    canvas.setFont(fonts.BOLD, 9)
    canvas.setFillColor(colors.HexColor("#005EB8"))
    canvas.drawString(MARGIN, y - 4, "MEDICINES")
    canvas.setFillColor(colors.black)
    y -= 20
    for item in snapshot["items"]:
        canvas.setFont(fonts.BOLD, 11)
        canvas.drawString(MARGIN, y, f"{item['line']}. {item['name']}")
        y -= 14
        canvas.setFont(fonts.REGULAR, 10)
        details = [f"Dose: {item['dose']}", f"Quantity: {item['quantity_text']}"]
        repeats = f"Repeats: {item['repeats']}"
        if item.get("min_interval_days"):
            repeats += f" (at least {item['min_interval_days']} days apart)"
        details.append(repeats)
        if item.get("schedule"):
            label = f"Schedule {item['schedule']}" if snapshot["country"] == "UK" else item["schedule"]
            details.append(f"CONTROLLED DRUG - {label}" if item["controlled"] else f"Poisons Standard {label}")
        for line in details:
            for part in _wrap(line, 95):
                canvas.drawString(MARGIN + 12, y, part)
                y -= 13
        y -= 6
        if y < 90 * mm:  # keep the signature block on the page; more items continue on the next one
            canvas.showPage()
            y = HEIGHT - MARGIN
    canvas.line(MARGIN, y + 4, WIDTH - MARGIN, y + 4)

    # Signature and codes
    base = 22 * mm
    _qr(canvas, number, WIDTH - MARGIN - 38 * mm, base, 38 * mm)
    barcode = code128.Code128(number, barHeight=12 * mm, barWidth=0.32 * mm)
    barcode.drawOn(canvas, MARGIN - 6 * mm, base + 24 * mm)
    canvas.setFont(fonts.REGULAR, 9)
    canvas.drawString(MARGIN, base + 18 * mm, number)
    lines = [
        f"Electronically signed by {prescriber['name']} on {snapshot['signed_at'][:10]} (Ed25519)",
        "Signature key fingerprint (SHA-256):",
        fingerprint[:39],
        fingerprint[40:],
    ]
    y = base + 10 * mm
    for line in lines:
        canvas.drawString(MARGIN, y, line)
        y -= 11
    canvas.setFont(fonts.OBLIQUE, 7)
    canvas.drawString(
        MARGIN, 10 * mm, "Verify this prescription by its number with the signature; any change breaks it."
    )
    canvas.showPage()
    canvas.save()
    return out.getvalue()
