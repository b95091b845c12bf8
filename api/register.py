"""The findings register as a file: CSV or an Excel workbook, one row per finding with its state and document.

Cells that a spreadsheet would read as a formula (= + - @, a tab or a carriage return first) are written with a
leading apostrophe, in both formats, so a summary quoting "=HYPERLINK(...)" stays text.
"""

import csv
import io

from openpyxl import Workbook

from agents.register import FindingRegister
from api.audit import inert
from core.dates import shown
from core.workflow import FindingStatus, TrackedFinding

COLUMNS = ["key", "finding", "severity", "state", "assignee", "due", "raised", "age (days)", "closed because", "site",
           "programs", "product", "batches", "document", "file", "page", "summary", "last change by", "last change at"]  # fmt: skip


def register_rows(findings: list[TrackedFinding]) -> list[list[str]]:
    rows = []
    for f in findings:
        s = f.state
        rows.append([inert(c) for c in [
            f.key, f.name, f.severity, s.status.value, s.assignee, s.due or f.due, f.raised, f.age_days, s.closed_reason,
            f.site, ", ".join(f.programs), f.product, ", ".join(f.batch_ids), f.document_title, f.filename,
            f.evidence.page if f.evidence else "", f.summary, s.updated_by, shown(s.updated_at) if s.updated_at else "",
        ]])  # fmt: skip
    return rows


def register_csv(findings: list[TrackedFinding]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(register_rows(findings))
    return out.getvalue()


def register_xlsx(findings: list[TrackedFinding]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Findings"
    sheet.append(COLUMNS)
    for row in register_rows(findings):
        sheet.append(row)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def register_file(register: FindingRegister, fmt: str, status: FindingStatus | None, site: str | None,
                  program: str | None) -> bytes:  # fmt: skip
    """The register's findings as a CSV ("csv") or Excel ("xlsx") file."""
    found = register.findings(site, program, status=status)
    return register_xlsx(found) if fmt == "xlsx" else register_csv(found).encode()
