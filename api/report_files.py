"""A report written as a Word document or a PDF, from its Markdown: the same headings, tables, lists and quoted
evidence with their page references, in a file a QA lead attaches to a CAPA or sends to the CDMO.

Only the Markdown the reports themselves write is read: "#" headings, "| a | b |" tables, "- " items (indented
for a quote under an item), "> " quotes and paragraphs, with **bold**, _italic_ and `code` inside a line. All text
is put in as text: a document quoted cannot add markup to the file.
"""

import io
import re
from html import escape

from docx import Document as WordDocument
from docx.shared import Pt
from pydantic import BaseModel
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import ListFlowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

_INLINE = re.compile(r"(\*\*[^*]+\*\*|(?<!\w)_[^_]+_(?!\w)|`[^`]+`)")
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in a .docx's XML


class Block(BaseModel):
    kind: str  # heading1..3, paragraph, item, quote, table
    text: str = ""
    rows: list[list[str]] = []


def blocks(markdown: str) -> list[Block]:
    out: list[Block] = []
    for line in _UNWRITABLE.sub("", markdown).splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if heading := re.match(r"^(#{1,3})\s+(.*)$", stripped):
            out.append(Block(kind=f"heading{len(heading[1])}", text=heading[2]))
        elif stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                continue  # the header's rule
            if out and out[-1].kind == "table":
                out[-1].rows.append(cells)
            else:
                out.append(Block(kind="table", rows=[cells]))
        elif stripped.startswith(">"):
            out.append(Block(kind="quote", text=stripped.lstrip("> ").strip()))
        elif stripped.startswith("- "):
            out.append(Block(kind="item", text=stripped[2:]))
        else:
            out.append(Block(kind="paragraph", text=stripped))
    return out


def _spans(text: str) -> list[tuple[str, str]]:
    """(style, text) pieces of a line: "bold", "italic", "code" or "plain"."""
    pieces = []
    for part in _INLINE.split(text):
        if not part:
            continue
        if part.startswith("**") and part.endswith("**") and len(part) > 4:
            pieces.append(("bold", part[2:-2]))
        elif part.startswith("_") and part.endswith("_") and len(part) > 2:
            pieces.append(("italic", part[1:-1]))
        elif part.startswith("`") and part.endswith("`") and len(part) > 2:
            pieces.append(("code", part[1:-1]))
        else:
            pieces.append(("plain", part))
    return pieces


def markdown_docx(markdown: str) -> bytes:
    doc = WordDocument()
    doc.styles["Normal"].font.size = Pt(10)
    for block in blocks(markdown):
        if block.kind.startswith("heading"):
            doc.add_heading(block.text, level=int(block.kind[-1]) - 1)  # level 0: the title
        elif block.kind == "table":
            width = max(len(r) for r in block.rows)
            table = doc.add_table(rows=0, cols=width)
            table.style = "Table Grid"
            for row in block.rows:
                cells = table.add_row().cells
                for cell, text in zip(cells, row):
                    cell.text = text
        else:
            style = {"item": "List Bullet", "quote": "Intense Quote"}.get(block.kind)
            paragraph = doc.add_paragraph(style=style)
            for kind, text in _spans(block.text):
                run = paragraph.add_run(text)
                run.bold, run.italic = kind == "bold", kind == "italic"
                if kind == "code":
                    run.font.name = "Consolas"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _pdf_markup(text: str) -> str:
    """A line as reportlab's paragraph markup, the text escaped."""
    tags = {"bold": ("<b>", "</b>"), "italic": ("<i>", "</i>"), "code": ('<font face="Courier">', "</font>")}
    return "".join(tags.get(kind, ("", ""))[0] + escape(text) + tags.get(kind, ("", ""))[1] for kind, text in _spans(text))


def markdown_pdf(markdown: str, title: str = "Report") -> bytes:
    styles = getSampleStyleSheet()
    quote = ParagraphStyle("quote", parent=styles["BodyText"], leftIndent=8 * mm, textColor="#333333",
                           backColor="#fff6d6", borderPadding=3, spaceBefore=2, spaceAfter=4)  # fmt: skip
    cell = ParagraphStyle("cell", parent=styles["BodyText"], fontSize=8, leading=10)
    flow, items = [], []

    def close_list():
        if items:
            flow.append(ListFlowable([Paragraph(i, styles["BodyText"]) for i in items], bulletType="bullet"))
            items.clear()

    for block in blocks(markdown):
        if block.kind == "item":
            items.append(_pdf_markup(block.text))
            continue
        close_list()
        if block.kind.startswith("heading"):
            flow.append(Paragraph(_pdf_markup(block.text), styles[{"heading1": "Title"}.get(block.kind, "Heading" + block.kind[-1])]))
        elif block.kind == "table":
            width = max(len(r) for r in block.rows)
            rows = [[Paragraph(_pdf_markup(c), cell) for c in r + [""] * (width - len(r))] for r in block.rows]
            table = Table(rows, colWidths=[(A4[0] - 40 * mm) / width] * width, repeatRows=1)
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, "#999999"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                       ("BACKGROUND", (0, 0), (-1, 0), "#eeeeee")]))  # the header row
            flow += [table, Spacer(1, 4 * mm)]
        else:
            flow.append(Paragraph(_pdf_markup(block.text), quote if block.kind == "quote" else styles["BodyText"]))
    close_list()
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=title, leftMargin=20 * mm, rightMargin=20 * mm).build(flow)
    return out.getvalue()
