"""The nightly digest: what was ingested in a window, and what it changed, from the stored records alone.

New events and QTA gaps by site and program, partner risk and program readiness now against the digest
before this window, overdue CAPAs, unreadable pages, and at the top what needs a human today. The digest
is a function of the window, the records and the day of judgement: the same window gives the same digest.
"""

from datetime import date, datetime

from agents.partner_risk import RiskScorer
from agents.readiness import ReadinessAssessor
from agents.register import FindingRegister
from core.analysis import AnalysisKind
from core.documents import Document
from core.investigations import FlagCode, InvestigationEvent, RiskLevel
from core.observations import RegulatoryFindings
from core.oversight import (
    Digest,
    DigestItem,
    Dimension,
    PartnerRisk,
    ProgramReadiness,
    PropagationChain,
    SummaryRun,
)
from core.portfolio import Portfolio
from core.programs import Programs
from core.qta import ElementStatus, QtaReview
from core.store import RecordStore

_URGENT_FLAGS = {FlagCode.NOTIFIED_LATE, FlagCode.OOS_INVALIDATED_WITHOUT_ASSIGNABLE_CAUSE}
_GAPS = (ElementStatus.MISSING, ElementStatus.CONFLICTING, ElementStatus.VAGUE)
_RISK_JUMP = 10.0  # points of partner risk (or readiness) that a human should hear about
_SOON_DAYS = 90
_BUSINESS_NEWS = 20  # points of a business signal (an ownership change, financial distress) that is news today


def window_id(since: datetime | None, until: datetime) -> str:
    start = since.strftime("%Y%m%dT%H%M%S") if since else "start"
    return f"{start}--{until.strftime('%Y%m%dT%H%M%S')}"


class DigestBuilder:
    def __init__(self, store: RecordStore, portfolio: Portfolio, programs: Programs, today: date):
        self.store, self.portfolio, self.programs, self.today = store, portfolio, programs, today
        self.risk = RiskScorer(store, portfolio, today)
        self.readiness = ReadinessAssessor(store, portfolio, programs, today)

    def build(
        self, since: datetime | None, until: datetime, previous: SummaryRun | None
    ) -> tuple[Digest, list[PartnerRisk], list[ProgramReadiness]]:
        new = [
            d
            for d in self.store.list_documents()
            if (since is None or d.ingested_at > since) and d.ingested_at <= until
        ]
        new.sort(key=lambda d: (d.ingested_at, d.filename))
        new_ids = {d.id for d in new}
        risks, readiness = self.risk.all_sites(), self.readiness.all_programs()
        events, gaps, by_program, needs = {}, {}, {}, []
        claims = self.store.claims()  # a note carrying a record's number is not that record's event
        for doc in new:
            analysis = self.store.standing_analysis(doc.id) if doc.id not in claims else None  # held: the higher reading
            if analysis is None:
                continue
            if analysis.kind == AnalysisKind.EVENT:
                event = InvestigationEvent.model_validate(analysis.payload)
                item, found = self._event_item(event), events
                needs += self._urgent(event, item)
            elif analysis.kind == AnalysisKind.OBSERVATIONS:
                findings = RegulatoryFindings.model_validate(analysis.payload)
                if item := self._observations_item(findings, doc):
                    needs.append(item)  # a regulator's finding about a partner: a person reads it today
                continue
            else:
                item, found = self._gap_item(QtaReview.model_validate(analysis.payload), doc), gaps
            if item:
                found.setdefault(analysis.site or "unknown site", []).append(item)
                for program in analysis.programs:
                    by_program.setdefault(program, []).append(item)
        for review in self.store.version_reviews(pending_only=True):
            doc = self.store.get(review.document_id)
            needs.append(DigestItem(
                text=f"{doc.filename} (version {doc.version}) lowers its record: {'; '.join(review.changes)}. "
                     "Confirm or reject it; until then the earlier reading counts",
                site=(doc.metadata.sites or [None])[0], document_id=doc.id, filename=doc.filename,
            ))  # fmt: skip
        signals = self._new_signals(new_ids, needs)
        risk_changes, readiness_changes = self._changes(risks, readiness, previous, needs)
        overdue = self._overdue(readiness)
        if overdue:
            needs.append(
                DigestItem(text=f"{len(overdue)} CAPA{'s' * (len(overdue) > 1)} past due with the event still open")
            )
        closed = self.store.closed_findings()
        actions = [item for key, item in FindingRegister(self.store, self.portfolio, self.today).late_actions()
                   if key not in closed]  # fmt: skip
        if actions:
            needs.append(
                DigestItem(
                    text=f"{len(actions)} action item{'s' * (len(actions) > 1)} from meeting minutes past their "
                    "due date, with no record of completion"
                )
            )
        overdue += [
            DigestItem(
                text=f"Action item: {a.action} (owner {a.owner}, due {a.due})",
                site=a.site,
                document_id=a.document_id,
                filename=a.filename,
                page=a.evidence.page,
            )
            for a in actions
        ]
        for program in readiness:
            for chain in program.propagation:
                soon = program.days_to_next is not None and program.days_to_next <= _SOON_DAYS
                if chain.document_id in new_ids and soon:
                    needs.append(
                        DigestItem(
                            text=f"{chain.origin} puts {program.next_milestone} ({program.days_to_next} days away) "
                            f"at risk: {' -> '.join(_links(chain))}; "
                            f"also at stake: {', '.join(chain.milestones_at_risk[1:]) or 'nothing later'}",
                            program=program.program,
                            document_id=chain.document_id,
                        )
                    )
        unreadable = [
            DigestItem(
                text=f"{d.filename}, page {u.page}: {u.reason}", document_id=d.id, filename=d.filename, page=u.page
            )
            for d in new
            for u in d.unreadable_pages
        ]
        if unreadable:
            needs.append(
                DigestItem(
                    text=f"{len(unreadable)} page{'s' * (len(unreadable) > 1)} could not be read: "
                    "look at the page images and re-scan"
                )
            )
        digest = Digest(
            id=window_id(since, until),
            since=since,
            until=until,
            as_of=self.today,
            needs_human=needs,
            new_documents=[self._document_item(d) for d in new],
            new_events=dict(sorted(events.items())),
            new_gaps=dict(sorted(gaps.items())),
            new_signals=signals,
            by_program=dict(sorted(by_program.items())),
            risk_changes=risk_changes,
            readiness_changes=readiness_changes,
            overdue=overdue,
            unreadable_pages=unreadable,
            site_scores={r.site: r.score for r in risks},
            program_scores={p.program: p.score for p in readiness},
        )
        return digest, risks, readiness

    def _new_signals(self, new_ids: set[str], needs: list[DigestItem]) -> dict[str, list[DigestItem]]:
        """Sentences of the window's minutes, audits and letters that moved a site's risk; business news is urgent."""
        out: dict[str, list[DigestItem]] = {}
        for site, signals in sorted(self.risk.signals().items()):
            for s in signals:
                if s.source == "text" and s.document_id in new_ids:
                    item = DigestItem(
                        text=f'{s.dimension.value.replace("_", " ")}: {s.label}: "{" ".join(s.evidence.quote.split())}"',
                        site=site,
                        document_id=s.document_id,
                        filename=s.filename,
                        page=s.evidence.page,
                    )
                    out.setdefault(site, []).append(item)
                    if s.dimension == Dimension.BUSINESS and s.points >= _BUSINESS_NEWS:
                        needs.append(item.model_copy(update={"text": f"{site}: {item.text}"}))
        return out

    def _event_item(self, e: InvestigationEvent) -> DigestItem:
        record = e.record_id or e.title
        kind = " ".join(filter(None, [e.classification, e.type.value.replace("_", " ")]))
        flags = f"; {len(e.flags)} weak-investigation flag{'s' * (len(e.flags) > 1)}" if e.flags else ""
        batches = f" on {', '.join(e.batch_ids)}" if e.batch_ids else ""
        page = e.description.evidence.page if e.description and e.description.evidence else None
        return DigestItem(
            text=f"{record}: {kind}{batches}, risk {e.risk.value}{flags}. {e.sponsor_response[:1].upper()}{e.sponsor_response[1:]}.",
            site=e.site,
            program=", ".join(e.programs) or None,
            document_id=e.document_id,
            filename=e.filename,
            page=page,
        )

    def _observations_item(self, findings: RegulatoryFindings, doc) -> DigestItem | None:
        """A new 483, inspection report or regulator's letter about a partner site; an audit report or a letter
        about a site outside the portfolio is listed with the new documents only."""
        if findings.site is None or findings.kind not in ("regulatory_letter", "inspection_observations"):
            return None
        site = self.portfolio.site(findings.site)
        kinds = sorted({c.name.lower() for o in findings.observations for c in o.categories})
        repeats = sum(o.repeat for o in findings.observations)
        what = {"regulatory_letter": "letter", "inspection_observations": "inspection findings"}[findings.kind]
        text = (f"{findings.issuer or 'A regulator'} {what} {findings.reference or ''} about {site.name if site else findings.site}"
                f" ({findings.date or 'undated'}): {len(findings.observations)} observation"
                f"{'s' * (len(findings.observations) != 1)}" + (f", {repeats} repeat" if repeats else "")
                + (f" - {', '.join(kinds)}" if kinds else ""))  # fmt: skip
        page = findings.observations[0].evidence.page if findings.observations else None
        return DigestItem(text=" ".join(text.split()), site=findings.site, document_id=doc.id, filename=doc.filename,
                          page=page)  # fmt: skip

    def _gap_item(self, review: QtaReview, doc: Document) -> DigestItem | None:
        counts = {s: len(review.by_status(s)) for s in _GAPS}
        if not any(counts.values()):
            return None
        named = [f.title for s in _GAPS[:2] for f in review.by_status(s)]
        summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        return DigestItem(
            text=f"{review.filename}: {summary}" + (f" ({'; '.join(named)})" if named else ""),
            site=review.site,
            document_id=doc.id,
            filename=doc.filename,
        )

    def _urgent(self, e: InvestigationEvent, item: DigestItem) -> list[DigestItem]:
        out = [item] if e.risk == RiskLevel.HIGH else []
        record = e.record_id or e.title
        for flag in e.flags:
            if flag.code in _URGENT_FLAGS:
                out.append(item.model_copy(update={"text": f"{record}: {flag.reason}"}))
        return out

    def _changes(self, risks, readiness, previous: SummaryRun | None, needs: list[DigestItem]):
        risk_changes, readiness_changes = [], []
        for r in risks:
            before = previous.site_scores.get(r.site) if previous else None
            if before is None or before != r.score:
                moved = "first measure" if before is None else f"{before:g} -> {r.score:g}"
                top = sorted((s for d in r.dimensions for s in d.signals), key=lambda s: -s.points)[:2]
                why = "; ".join(f"{s.label} ({s.filename})" for s in top)
                risk_changes.append(
                    DigestItem(text=f"{r.name}: partner risk {moved} ({r.level}). Largest: {why}", site=r.site)
                )
                if before is not None and r.score - before >= _RISK_JUMP:
                    needs.append(
                        DigestItem(
                            text=f"Partner risk at {r.name} rose {r.score - before:g} points to {r.score:g}",
                            site=r.site,
                        )
                    )
        for p in readiness:
            before = previous.program_scores.get(p.program) if previous else None
            if before is None or before != p.score:
                moved = "first measure" if before is None else f"{before:g} -> {p.score:g}"
                nxt = f"; next: {p.next_milestone} in {p.days_to_next} days" if p.next_milestone else ""
                readiness_changes.append(
                    DigestItem(text=f"{p.program} {p.name}: readiness {moved}{nxt}", program=p.program)
                )
                if before is not None and before - p.score >= _RISK_JUMP:
                    needs.append(
                        DigestItem(
                            text=f"Readiness of {p.program} fell {before - p.score:g} points to {p.score:g}",
                            program=p.program,
                        )
                    )
        return risk_changes, readiness_changes

    def _overdue(self, readiness: list[ProgramReadiness]) -> list[DigestItem]:
        seen, out = set(), []
        for p in readiness:
            for i in p.items:
                if i.kind == "overdue_capa" and (i.document_id, i.title) not in seen:
                    seen.add((i.document_id, i.title))
                    out.append(
                        DigestItem(
                            text=f"{i.title} (due {i.due})",
                            site=i.site,
                            document_id=i.document_id,
                            filename=i.filename,
                            page=i.evidence.page if i.evidence else None,
                        )
                    )
        return out

    def _document_item(self, d: Document) -> DigestItem:
        site = d.metadata.sites[0] if d.metadata.sites else None
        return DigestItem(
            text=f"{d.filename} ({d.kind.value.replace('_', ' ')}, {d.page_count} page{'s' * (d.page_count != 1)})",
            site=site,
            program=", ".join(d.metadata.programs) or None,
            document_id=d.id,
        )


def _links(chain: PropagationChain) -> list[str]:
    """The chain's reasoning between the event and the milestones (the event itself when they are adjacent)."""
    middle = chain.steps[1 : len(chain.steps) - len(chain.milestones_at_risk)]
    return middle or chain.steps[:1]
