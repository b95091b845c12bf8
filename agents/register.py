"""The findings register: what the analyses found when each document was read (weakness flags, QTA gaps,
inspection observations, versions that lower their record) and what has fallen due since (the CAPAs of open
events and the meeting action items past their date), each with its key, its state, its age and its due date.

Overdue commitments are derived each time the register is read, as of the day it is judged on: a CAPA or an
action item is known by its document and where its passage stands in it (core.workflow.item_key), so the key a
person works under stays the same as more of them fall due, and means the same item in every view (a view
narrowed to one program numbered the items it could see, so that one key named another program's item).
"""

import re
from datetime import date, datetime

from agents.action_items import ActionItem, action_items
from agents.structured import overdue_capas
from core.analysis import AnalysisKind, FindingRow, FindingSource
from core.auth import Principal
from core.documents import Document
from core.investigations import Capa, InvestigationEvent
from core.portfolio import Portfolio
from core.workflow import (
    FindingRequest,
    FindingStatus,
    InvalidChange,
    TrackedFinding,
    change_finding,
    due_out_of_range,
    item_key,
    shown_finding,
    tracked_findings,
)

class OutsideScope(PermissionError):
    """A change a principal may not make: the finding concerns programs or sites beyond its scope (in words)."""


ACTION_SEVERITY = "medium"  # an agreed action left undone; a CAPA past due weighs as its event's risk


CAPA_CODE, ACTION_CODE = "capa_overdue", "action_overdue"
# keys from before items were keyed by their passage: "<document>:overdue_capa:capa_overdue:2", the event's second
# CAPA; "<document>:overdue_action:action_overdue:3", the third of its minutes' items in the register's order
_POSITIONAL = re.compile(rf"^(?P<document>[^:]+):(?P<source>{FindingSource.OVERDUE_CAPA.value}|"
                         rf"{FindingSource.OVERDUE_ACTION.value}):(?:{CAPA_CODE}|{ACTION_CODE}):(?P<position>\d+)$")  # fmt: skip


def capa_key(event: InvestigationEvent, capa: Capa) -> str:
    return item_key(event.document_id, FindingSource.OVERDUE_CAPA, CAPA_CODE, capa.evidence, capa.action)


def action_key(item: ActionItem) -> str:
    return item_key(item.document_id, FindingSource.OVERDUE_ACTION, ACTION_CODE, item.evidence, item.action)


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
        """Apply a person's change to a finding the view shows (NotFoundError otherwise), audited in `store`; a
        finding that concerns programs or sites outside `who`'s scope too is changed only by someone whose scope
        covers them all (OutsideScope), since a change holds for all of them."""
        shown = shown_finding(self.rows(), key)
        if (wrong := due_out_of_range(request, self.today)) is not None:
            raise InvalidChange(wrong)
        whole = shown_finding(FindingRegister(store, self.portfolio, self.today).rows(), key)  # not narrowed to a view
        if (outside := who.lacks(whole.programs, [whole.site] if whole.site else [])) is not None:
            raise OutsideScope(f"the finding {key} concerns {outside} too, outside your scope: a person whose scope "
                               "covers all it concerns must change it")  # fmt: skip
        return change_finding(store, shown, key, request, who, at)

    def shown(self, key: str) -> FindingRow:
        return shown_finding(self.rows(), key)

    def _overdue_capas(self) -> list[FindingRow]:
        rows = []
        for analysis in self.view.list_analyses(kind=AnalysisKind.EVENT):
            event = InvestigationEvent.model_validate(analysis.payload)
            for capa in overdue_capas(event, self.today):
                owner = f", owner {capa.owner}" if capa.owner else ""
                rows.append(FindingRow(
                    key=capa_key(event, capa), document_id=event.document_id, source=FindingSource.OVERDUE_CAPA,
                    code=CAPA_CODE,
                    severity=event.risk.value.lower(), site=event.site, programs=analysis.programs,
                    product=event.product, batch_ids=event.batch_ids, due=capa.due, evidence=capa.evidence,
                    summary=f"{event.record_id or event.title}: {capa.action} (due {capa.due}{owner}; the event is open)",
                ))  # fmt: skip
        return rows

    def late_actions(self) -> list[tuple[str, ActionItem]]:
        """The action items past their date, each with its finding key."""
        return [(action_key(item), item) for item in action_items(self.view, self.portfolio) if item.due < self.today]

    def _overdue_actions(self) -> list[FindingRow]:
        return [
            FindingRow(
                key=key, document_id=item.document_id, source=FindingSource.OVERDUE_ACTION, code=ACTION_CODE,
                severity=ACTION_SEVERITY, site=item.site, programs=item.programs, due=item.due, evidence=item.evidence,
                summary=f"{item.action} (owner {item.owner}, due {item.due}; no record of it being done)",
            )  # fmt: skip
            for key, item in self.late_actions()
        ]


def upgrade_positional_keys(store, portfolio: Portfolio) -> int:
    """Work recorded under a key from before items were keyed by their passage moves to the item's own key, read
    as the whole store numbered it (the view every unscoped caller had); returns the keys moved. Idempotent."""
    old = [k for k in store.finding_keys_like("%:overdue_%:%_overdue:%") if _POSITIONAL.match(k)]
    if not old:
        return 0
    items: dict[str, list[ActionItem]] = {}
    for item in action_items(store, portfolio):  # the register's order, in which the old positions were counted
        items.setdefault(item.document_id, []).append(item)
    moved = {}
    for key in old:
        m = _POSITIONAL.match(key)
        document, position = m["document"], int(m["position"]) - 1
        if m["source"] == FindingSource.OVERDUE_CAPA.value:
            analysis = store.analysis(document)
            capas = InvestigationEvent.model_validate(analysis.payload).capas if analysis else []
            if position < len(capas):
                moved[key] = capa_key(InvestigationEvent.model_validate(analysis.payload), capas[position])
        elif position < len(items.get(document, [])):
            moved[key] = action_key(items[document][position])
    store.rename_finding_keys(moved)
    return len(moved)


def _document_date(doc: Document | None) -> date | None:
    if doc is None:
        return None
    return doc.metadata.document_date or doc.ingested_at.date()
