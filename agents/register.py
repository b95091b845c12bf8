"""The findings register: what the analyses found when each document was read (weakness flags, QTA gaps,
inspection observations, versions that lower their record) and what has fallen due since (the CAPAs of open
events and the meeting action items past their date), each with its key, its state, its age and its due date.

Overdue commitments are derived each time the register is read, as of the day it is judged on: a CAPA is
known by its event's document and its place among the event's CAPAs ("capa_overdue:2", the second), an action
item by its place among its minutes' items, so the key a person works under stays the same as more of them
fall due.
"""

from datetime import date, datetime

from agents.action_items import ActionItem, action_items
from agents.structured import numbered_overdue_capas
from core.analysis import AnalysisKind, FindingRow, FindingSource
from core.auth import Principal
from core.documents import Document
from core.investigations import InvestigationEvent
from core.portfolio import Portfolio
from core.workflow import (
    FindingRequest,
    FindingStatus,
    TrackedFinding,
    base_key,
    change_finding,
    shown_finding,
    tracked_findings,
)

ACTION_SEVERITY = "medium"  # an agreed action left undone; a CAPA past due weighs as its event's risk


def capa_code(position: int) -> str:
    """The finding code of an event's CAPA at `position` (1 for its first), past due."""
    return f"capa_overdue:{position}"


def capa_key(event: InvestigationEvent, position: int) -> str:
    return base_key(event.document_id, FindingSource.OVERDUE_CAPA, capa_code(position))


class FindingRegister:
    """The findings a view (the record store, or a principal's scoped view of it) shows, judged on `today`."""

    def __init__(self, view, portfolio: Portfolio, today: date):
        self.view, self.portfolio, self.today = view, portfolio, today

    def rows(self, site: str | None = None, program: str | None = None, code: str | None = None) -> list[FindingRow]:
        """Every finding: the stored ones, then the overdue CAPAs, then the overdue action items."""
        derived = [r for r in self._overdue_capas() + self._overdue_actions()
                   if (site is None or r.site == site) and (program is None or program in r.programs)
                   and (code is None or r.code == code)]  # fmt: skip
        return self.view.list_findings(site=site, program=program, code=code) + derived

    def findings(self, site: str | None = None, program: str | None = None, code: str | None = None,
                 status: FindingStatus | None = None) -> list[TrackedFinding]:  # fmt: skip
        found = tracked_findings(self.view, self.rows(site, program, code), status)
        documents = self.view.documents_by_id(list({f.document_id for f in found}))
        for f in found:
            doc = documents.get(f.document_id)
            f.document_title, f.filename = (doc.title, doc.filename) if doc else (None, None)
            f.raised = f.due if f.due else _document_date(doc)
            f.age_days = (self.today - f.raised).days if f.raised else None
            due = f.state.due or f.due
            f.late = bool(due and due < self.today and f.state.status != FindingStatus.CLOSED)
        return found

    def change(self, store, key: str, request: FindingRequest, who: Principal, at: datetime) -> TrackedFinding:
        """Apply a person's change to a finding the view shows (NotFoundError otherwise), audited in `store`."""
        return change_finding(store, shown_finding(self.rows(), key), key, request, who, at)

    def shown(self, key: str) -> FindingRow:
        return shown_finding(self.rows(), key)

    def _overdue_capas(self) -> list[FindingRow]:
        rows = []
        for analysis in self.view.list_analyses(kind=AnalysisKind.EVENT):
            event = InvestigationEvent.model_validate(analysis.payload)
            for position, capa in numbered_overdue_capas(event, self.today):
                owner = f", owner {capa.owner}" if capa.owner else ""
                rows.append(FindingRow(
                    document_id=event.document_id, source=FindingSource.OVERDUE_CAPA, code=capa_code(position),
                    severity=event.risk.value.lower(), site=event.site, programs=analysis.programs,
                    product=event.product, batch_ids=event.batch_ids, due=capa.due, evidence=capa.evidence,
                    summary=f"{event.record_id or event.title}: {capa.action} (due {capa.due}{owner}; the event is open)",
                ))  # fmt: skip
        return rows

    def late_actions(self) -> list[tuple[str, ActionItem]]:
        """The action items past their date, each with its finding code ("action_overdue:3": its minutes' third)."""
        late, positions = [], {}
        for item in action_items(self.view, self.portfolio):  # every item, so each keeps its place
            positions[item.document_id] = position = positions.get(item.document_id, 0) + 1
            if item.due < self.today:
                late.append((f"action_overdue:{position}", item))
        return late

    def _overdue_actions(self) -> list[FindingRow]:
        return [
            FindingRow(
                document_id=item.document_id, source=FindingSource.OVERDUE_ACTION, code=code, severity=ACTION_SEVERITY,
                site=item.site, programs=item.programs, due=item.due, evidence=item.evidence,
                summary=f"{item.action} (owner {item.owner}, due {item.due}; no record of it being done)",
            )  # fmt: skip
            for code, item in self.late_actions()
        ]


def _document_date(doc: Document | None) -> date | None:
    if doc is None:
        return None
    return doc.metadata.document_date or doc.ingested_at.date()
