"""The typeface of every PDF the platform prints: DejaVu Sans (regular, bold, oblique), embedded.

Helvetica, one of the PDF standard fonts, has no glyphs beyond Latin-1, so `Łucja Żółć-Nguyễn` printed as
`■ucja ■ó■■-Nguy■n` (issue 14.10). DejaVu Sans covers Latin (with Vietnamese), Greek and Cyrillic. The files are
taken unchanged from matplotlib 3.10.7's wheel (PyPI), under the Bitstream Vera / DejaVu licence in
LICENSE_DEJAVU beside them (redistribution allowed; a modified font must be renamed)."""

from __future__ import annotations

from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

HERE = Path(__file__).resolve().parent
REGULAR, BOLD, OBLIQUE = "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique"


def register() -> tuple[str, str, str]:
    """Register the three faces with reportlab once per process; returns their names (regular, bold, oblique)."""
    for name in (REGULAR, BOLD, OBLIQUE):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(HERE / f"{name}.ttf")))
    return REGULAR, BOLD, OBLIQUE
