"""The fonts a PDF report embeds: DejaVu Sans (Latin with accents, Cyrillic, Greek) and,
for Chinese, Japanese and Korean text, WenQuanYi Micro Hei, both found where Debian
installs them (fonts-dejavu-core, fonts-wqy-microhei). Without DejaVu the report uses
the PDF's built-in Helvetica and Courier (not embedded, Latin only); without the CJK font
such text shows as empty boxes."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FOLDERS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/wqy"))
CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
"""Scripts DejaVu lacks: CJK ideographs, kana, hangul, full-width forms."""


@dataclass(frozen=True)
class Fonts:
    sans: str
    bold: str
    mono: str
    cjk: str | None
    widest: float
    """The widest glyph of `sans`, in em: text shorter than its width this way fits."""

    def for_text(self, text: str, font: str) -> str:
        """`font`, or the CJK font when the text needs it."""
        return self.cjk if self.cjk and CJK.search(text) else font


@functools.cache
def fonts() -> Fonts:
    """Registered once per process."""
    found = {name: _find(name) for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")}
    mono = _find("DejaVuSansMono.ttf")
    cjk = _find("wqy-microhei.ttc")
    if found["DejaVuSans.ttf"] and found["DejaVuSans-Bold.ttf"] and mono:
        pdfmetrics.registerFont(TTFont("SquallSans", found["DejaVuSans.ttf"]))
        pdfmetrics.registerFont(TTFont("SquallSans-Bold", found["DejaVuSans-Bold.ttf"]))
        pdfmetrics.registerFont(TTFont("SquallMono", mono))
        # So that <b> in a paragraph finds the bold face.
        pdfmetrics.registerFontFamily(
            "SquallSans",
            normal="SquallSans",
            bold="SquallSans-Bold",
            italic="SquallSans",
            boldItalic="SquallSans-Bold",
        )
        names = ("SquallSans", "SquallSans-Bold", "SquallMono")
        widest = 1.3
    else:
        names = ("Helvetica", "Helvetica-Bold", "Courier")
        widest = 1.02
    cjk_name = None
    if cjk:
        pdfmetrics.registerFont(TTFont("SquallCJK", cjk, subfontIndex=0))
        cjk_name = "SquallCJK"
    return Fonts(*names, cjk=cjk_name, widest=widest)


def _find(name: str) -> Path | None:
    return next((folder / name for folder in FOLDERS if (folder / name).is_file()), None)
