"""Plain documents (receipts, records) printed from (style, text) lines: A5, DejaVu Sans, wrapped, paged.

The lines are built by pure functions (portal/receipt.py, billing/receipt.py) and tested as text; this module only
lays them out. Prescriptions have their own layout (prescribing/pdf.py)."""

from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from rxcore import fonts
from rxcore.prescribing.pdf import wrap

WIDTH, HEIGHT = A5
MARGIN = 14 * mm
STYLES = {  # font, size, space before
    "title": (fonts.BOLD, 15, 22),
    "heading": (fonts.BOLD, 10, 18),
    "text": (fonts.REGULAR, 9, 13),
    "note": (fonts.OBLIQUE, 8, 20),
}
ACCENT = colors.HexColor("#005EB8")


def render_lines(title: str, lines: list[tuple[str, str]]) -> bytes:
    """A PDF of `lines` (style in STYLES, text), titled `title` in its metadata; byte-identical for equal input."""
    fonts.register()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A5, invariant=1)
    canvas.setTitle(title)
    y = HEIGHT - MARGIN
    for style, text in lines:
        if y < MARGIN + 20:
            canvas.showPage()
            y = HEIGHT - MARGIN
        font, size, gap = STYLES[style]
        y -= gap
        canvas.setFont(font, size)
        canvas.setFillColor(ACCENT if style == "title" else colors.black)
        for part in wrap(text, 78 if style != "title" else 60):
            canvas.drawString(MARGIN, y, part)
            y -= size + 3
        y += size + 3
    canvas.showPage()
    canvas.save()
    return out.getvalue()
