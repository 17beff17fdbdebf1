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
SIGNATURE_AREA = 90 * mm  # kept free at the bottom of every page; the signature block fills it on the last
PEOPLE = 66 * mm  # the clinic and prescriber, then the patient and validity, on the first page
ROW = 30 * mm  # the first of those rows, unless a block is longer (see `_first_row`)
FIRST_PAGE_ROOM = HEIGHT - 38 * mm - PEOPLE - 20 - SIGNATURE_AREA  # below the clinic, prescriber and patient
NEXT_PAGE_ROOM = HEIGHT - 38 * mm - 16 * mm - 20 - SIGNATURE_AREA  # below the one-line patient reminder
ITEMS_PER_PAGE = 3  # Australia: three items a script (PBS); UK: an EPS token holds four, three is good practice


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


def wrap(text: str, width: int) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        if len(current) + len(word) + 1 > width and current:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current] if current else lines


# The kind of prescriber, which HMR 2012 reg 217(4)(c) requires (a registration number alone does not say it).
KINDS = {
    "GMC": "Doctor",
    "NMC": "Nurse independent prescriber",
    "GPhC": "Pharmacist independent prescriber",
    "HCPC": "Allied health independent prescriber",
    "GDC": "Dentist",
    "AHPRA": "Medical practitioner",
    "AHPRA DEN": "Dental practitioner",  # an AHPRA number's prefix names the profession: DEN dental, MED medical
}


def _kind(registration: str) -> str:
    body = registration.split(" ", 1)[0]
    return "AHPRA DEN" if registration.startswith("AHPRA DEN") else body


def kind_of_prescriber(registration: str) -> str:
    """ "GMC 1234567" -> "Doctor · GMC 1234567"."""
    kind = _kind(registration)
    return f"{KINDS[kind]} · {registration}" if kind in KINDS else registration


def is_dentist(registration: str) -> bool:
    return _kind(registration) in ("GDC", "AHPRA DEN")


def day(value: str | None) -> str:
    """A date as UK and Australian prescriptions print it: DD/MM/YYYY."""
    if not value:
        return "not recorded"
    year, month, dd = value[:10].split("-")
    return f"{dd}/{month}/{year}"


def _item_lines(snapshot: dict[str, Any], item: dict[str, Any]) -> list[tuple[str, str]]:
    """An item's lines as (style, text): the name, then its particulars."""
    details = [f"Dose: {item['dose']}", f"Quantity: {item['quantity_text']}"]
    repeats = f"Repeats: {item['repeats']}"
    if item.get("min_interval_days"):
        repeats += f" (at least {item['min_interval_days']} days apart)"
    details.append(repeats)
    if item.get("days_supply"):
        details.append(f"Days' supply: {item['days_supply']}")
    if item.get("brand_substitution_not_permitted"):
        details.append("Brand substitution not permitted")
    if item["controlled"] and is_dentist(snapshot["prescriber"]["registration"]):
        details.append("For dental treatment only")  # Misuse of Drugs Regulations 2001 reg 15(1)(d); ACT reg 41
    if item.get("schedule"):
        label = f"Schedule {item['schedule']}" if snapshot["country"] == "UK" else item["schedule"]
        details.append(f"CONTROLLED DRUG - {label}" if item["controlled"] else f"Poisons Standard {label}")
    if item.get("supplier_product_id"):  # medicinal cannabis: how it may lawfully be supplied
        access = f"ARTG {item['artg']}" if item.get("artg") else f"{item['pathway']} approval {item['approval_number']}"
        details.append(f"TGA Category {item.get('tga_category') or '-'} medicinal cannabis; {access}")
        if item["controlled"]:
            details.append("Pharmacist: confirm the patient's identity before supply")
    lines = [("name", f"{item['line']}. {item['name']}")]
    lines += [("detail", part) for line in details for part in wrap(line, 95)]
    return lines


def own_page(snapshot: dict[str, Any], item: dict[str, Any]) -> bool:
    """An item that goes on a page of its own: a UK Schedule 2 or 3 controlled drug (its own legal particulars,
    checked line by line before supply), an Australian Schedule 8 item (alone on the script in Queensland; we do
    it everywhere) or an item of an authority prescription (one authority item a script: PBS)."""
    if snapshot["country"] == "UK":
        return bool(item.get("controlled")) and str(item.get("schedule")) in ("2", "3")
    return item.get("schedule") == "S8" or bool(snapshot.get("authority_number"))


def _pages(snapshot: dict[str, Any]) -> list[list[list[tuple[str, str]]]]:
    """Items laid out on pages: at most ITEMS_PER_PAGE a page, those that need one (`own_page`) alone after the
    others; the first page has the people above them, later ones a one-line reminder; every page keeps the bottom
    free for the signature block, which closes the last one."""
    pages: list[list[list[tuple[str, str]]]] = [[]]
    room = FIRST_PAGE_ROOM - _extra(snapshot)
    ordered = sorted(snapshot["items"], key=lambda item: own_page(snapshot, item))  # stable: the others first
    for item in ordered:
        lines = _item_lines(snapshot, item)
        needed = 14 + 13 * (len(lines) - 1) + 6
        full = needed > room or len(pages[-1]) >= ITEMS_PER_PAGE
        if pages[-1] and (full or own_page(snapshot, item)):
            pages.append([])
            room = NEXT_PAGE_ROOM
        pages[-1].append(lines)
        room -= needed
    return pages


def _header(canvas: Canvas, snapshot: dict[str, Any], page: int, count: int) -> None:
    number = snapshot["number"]
    canvas.setFillColor(colors.HexColor("#005EB8"))
    canvas.rect(0, HEIGHT - 28 * mm, WIDTH, 28 * mm, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    canvas.setFont(fonts.BOLD, 20)
    canvas.drawString(MARGIN, HEIGHT - 16 * mm, "PRESCRIPTION")
    canvas.setFont(fonts.REGULAR, 10)
    kind = "Controlled drug prescription" if snapshot["controlled"] else "Prescription-only medicines"
    country = "United Kingdom" if snapshot["country"] == "UK" else "Australia"
    canvas.drawString(MARGIN, HEIGHT - 23 * mm, f"{kind} · {country}")
    canvas.setFont(fonts.BOLD, 14)
    canvas.drawRightString(WIDTH - MARGIN, HEIGHT - 16 * mm, number)
    canvas.setFont(fonts.REGULAR, 9)
    canvas.drawRightString(WIDTH - MARGIN, HEIGHT - 23 * mm, f"Prescription number · page {page} of {count}")
    canvas.setFillColor(colors.black)


def _first_row(snapshot: dict[str, Any]) -> tuple[list[str], list[str]]:
    clinic, prescriber = snapshot["clinic"], snapshot["prescriber"]
    clinic_lines = [clinic["name"], *wrap(clinic.get("address") or "", 48), clinic["identifier"]]
    prescriber_lines = [
        prescriber["name"],
        kind_of_prescriber(prescriber["registration"]),
        *prescriber.get("numbers", []),
        *wrap(prescriber.get("address") or "", 48),
        *([f"Tel {prescriber['phone']}"] if prescriber.get("phone") else []),
    ]
    return clinic_lines, prescriber_lines


def _extra(snapshot: dict[str, Any]) -> float:
    """How much lower than usual the patient row starts: a prescriber with three numbers, an address and a phone
    needs more than the usual row."""
    lines = max(len(block) for block in _first_row(snapshot))
    return max(0.0, (lines + 1) * 13 + 8 - ROW)


def _people(canvas: Canvas, snapshot: dict[str, Any]) -> None:
    top = HEIGHT - 38 * mm
    patient = snapshot["patient"]
    clinic_lines, prescriber_lines = _first_row(snapshot)
    _block(canvas, "Clinic", clinic_lines, MARGIN, top)
    _block(canvas, "Prescriber", prescriber_lines, WIDTH / 2, top)
    top -= ROW + _extra(snapshot)
    born = f"Date of birth: {day(patient.get('date_of_birth'))}"
    if patient.get("age_under_12") is not None:
        born += f"  (age {patient['age_under_12']})"
    patient_lines = [patient["name"], born, *wrap(patient.get("address") or "", 48)]
    _block(canvas, "Patient", [*patient_lines, patient.get("identifier") or "No national identifier"], MARGIN, top)
    dates = [
        f"Date of prescribing: {day(snapshot['appropriate_date'])}",
        f"First dispense by: {day(snapshot['first_dispense_by'])}",
        f"Valid until: {day(snapshot['expires_on'])}",
    ]
    if snapshot.get("authority_number"):
        dates.append(f"Authority / permit: {snapshot['authority_number']}")
    _block(canvas, "Validity", dates, WIDTH / 2, top)


def _reminder(canvas: Canvas, snapshot: dict[str, Any]) -> None:
    """On a continuation page: whose prescription this is, so a loose page cannot be mistaken."""
    patient = snapshot["patient"]
    identifier = patient.get("identifier") or f"born {day(patient.get('date_of_birth'))}"
    _block(canvas, "Patient (continued)", [f"{patient['name']} · {identifier}"], MARGIN, HEIGHT - 38 * mm)


def _items(canvas: Canvas, blocks: list[list[tuple[str, str]]], y: float) -> float:
    canvas.setStrokeColor(colors.HexColor("#768692"))
    canvas.line(MARGIN, y + 8, WIDTH - MARGIN, y + 8)
    canvas.setFont(fonts.BOLD, 9)
    canvas.setFillColor(colors.HexColor("#005EB8"))
    canvas.drawString(MARGIN, y - 4, "MEDICINES")
    canvas.setFillColor(colors.black)
    y -= 20
    for lines in blocks:
        for style, text in lines:
            canvas.setFont(fonts.BOLD if style == "name" else fonts.REGULAR, 11 if style == "name" else 10)
            canvas.drawString(MARGIN + (0 if style == "name" else 12), y, text)
            y -= 14 if style == "name" else 13
        y -= 6
    canvas.line(MARGIN, y + 4, WIDTH - MARGIN, y + 4)
    return y


def _no_more_items(canvas: Canvas, y: float, last: bool) -> None:
    """Unused item space is cancelled on every page, so nothing can be added (BNF; PBS guidance)."""
    canvas.setFont(fonts.OBLIQUE, 9)
    canvas.drawString(MARGIN, y, "No more items on this prescription." if last else "No more items on this page.")
    canvas.line(MARGIN + 62 * mm, y + 3, WIDTH - MARGIN, SIGNATURE_AREA - 4 * mm)


def _signature(canvas: Canvas, snapshot: dict[str, Any], fingerprint: str) -> None:
    number, prescriber = snapshot["number"], snapshot["prescriber"]
    base = 22 * mm
    # Printed, this is a paper prescription: the law wants a handwritten signature (HMR 2012 reg 217(2); the
    # Ed25519 fingerprint below is an integrity check, not that signature). A box of 70 x 16 mm, the date beside it.
    canvas.setStrokeColor(colors.black)
    canvas.rect(MARGIN, 66 * mm, 70 * mm, 16 * mm, stroke=1, fill=0)
    canvas.setFont(fonts.REGULAR, 8)
    canvas.drawString(MARGIN + 2, 66 * mm + 2, "Prescriber's signature (when printed)")
    canvas.drawString(MARGIN + 75 * mm, 70 * mm, f"Date: {day(snapshot['appropriate_date'])}")
    _qr(canvas, number, WIDTH - MARGIN - 38 * mm, base, 38 * mm)
    barcode = code128.Code128(number, barHeight=12 * mm, barWidth=0.32 * mm)
    barcode.drawOn(canvas, MARGIN - 6 * mm, base + 24 * mm)
    canvas.setFont(fonts.REGULAR, 9)
    canvas.drawString(MARGIN, base + 18 * mm, number)
    lines = [
        f"Electronically signed by {prescriber['name']} on {day(snapshot['signed_at'])} (Ed25519)",
        "Signature key fingerprint (SHA-256):",
        fingerprint[:39],
        fingerprint[40:],
    ]
    y = base + 10 * mm
    for line in lines:
        canvas.drawString(MARGIN, y, line)
        y -= 11


def _footer(canvas: Canvas, page: int, count: int) -> None:
    canvas.setFont(fonts.OBLIQUE, 7)
    note = "Verify this prescription by its number with the signature; any change breaks it."
    canvas.drawString(MARGIN, 10 * mm, note)
    canvas.drawRightString(WIDTH - MARGIN, 10 * mm, f"Page {page} of {count}")


def render(snapshot: dict[str, Any], fingerprint: str) -> bytes:
    """`snapshot` is the signed content (see rxcore.prescribing.canonical); returns the PDF bytes. Every page has
    the header with the number and `page x of y`, and the patient; the signature block and codes close the last."""
    out = io.BytesIO()
    fonts.register()
    canvas = Canvas(out, pagesize=A4, pageCompression=1, invariant=1)
    canvas.setTitle(f"Prescription {snapshot['number']}")
    canvas.setAuthor(snapshot["clinic"]["name"])
    pages = _pages(snapshot)
    for page, blocks in enumerate(pages, start=1):
        _header(canvas, snapshot, page, len(pages))
        if page == 1:
            _people(canvas, snapshot)
            bottom = _items(canvas, blocks, HEIGHT - 38 * mm - PEOPLE - _extra(snapshot))
        else:
            _reminder(canvas, snapshot)
            bottom = _items(canvas, blocks, HEIGHT - 38 * mm - 16 * mm)
        _no_more_items(canvas, bottom - 10, last=page == len(pages))
        if page == len(pages):
            _signature(canvas, snapshot, fingerprint)
        else:
            canvas.setFont(fonts.OBLIQUE, 9)
            canvas.drawString(MARGIN, 30 * mm, f"Continued on page {page + 1}: the signature is on page {len(pages)}.")
        _footer(canvas, page, len(pages))
        canvas.showPage()
    canvas.save()
    return out.getvalue()
