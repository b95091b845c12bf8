"""Program readiness: open findings weighted by severity and by how near the program's next date is.

Items are the program's open events, the weak-investigation flags of its events, CAPAs past due and the
open QTA gaps of the sites in its supply chain (fixtures/programs.yaml). Each weighs its severity points
times a nearness factor (x2 within 90 days of the next milestone, x1.5 within 180). The score is
100 x 50 / (50 + the weights): 100 with nothing open, 50 at 50 weighted points, never below zero and
still telling two heavily loaded programs apart. A high-risk event upstream is followed down the chain: a drug-substance
batch (or its release test) feeds the drug-product campaign, which feeds clinical supply and the dossier.
"""

import logging
from datetime import date, timedelta

from agents.register import capa_key
from agents.structured import event_status, overdue_capas
from core.analysis import AnalysisKind, FindingSource, gap_code, observation_code
from core.investigations import InvestigationEvent, RiskLevel
from core.observations import RegulatoryFindings
from core.oversight import ProgramReadiness, PropagationChain, ReadinessItem
from core.portfolio import Portfolio
from core.programs import Milestone, ProgramChain, Programs, Stage
from core.qta import ElementStatus, QtaReview
from core.store import RecordStore
from core.workflow import base_key, numbered

log = logging.getLogger(__name__)
_EVENT_POINTS = {RiskLevel.HIGH: 10.0, RiskLevel.MEDIUM: 5.0, RiskLevel.LOW: 2.0}
_FLAG_POINTS = 1.0
_OVERDUE_CAPA_POINTS = 4.0
_GAP_POINTS = {ElementStatus.MISSING: 2.0, ElementStatus.CONFLICTING: 2.0, ElementStatus.VAGUE: 0.5}
# a regulator's observation at a site that makes the program: what an inspector of the program's filing will ask about
_OBSERVATION_POINTS = {"regulatory_letter": 3.0, "inspection_observations": 2.0}
_INSPECTION_MEMORY = timedelta(days=730)  # observations older than two years no longer weigh on readiness
_HALF = 50.0  # weighted points at which readiness is 50
_RECENT = timedelta(days=90)  # a closed high-risk event this recent still propagates (its batch may be held)
# What each stage's failure puts at risk downstream, in order
_DOWNSTREAM = {
    Stage.DRUG_SUBSTANCE: [Stage.DRUG_SUBSTANCE, Stage.DRUG_PRODUCT, Stage.DOSSIER],
    Stage.TESTING: [Stage.TESTING, Stage.DRUG_SUBSTANCE, Stage.DRUG_PRODUCT, Stage.DOSSIER],
    Stage.DRUG_PRODUCT: [Stage.DRUG_PRODUCT, Stage.DOSSIER],
}


def nearness(days: int | None) -> float:
    if days is None:
        return 1.0
    return 2.0 if days <= 90 else 1.5 if days <= 180 else 1.0


class ReadinessAssessor:
    def __init__(self, store: RecordStore, portfolio: Portfolio, programs: Programs, today: date):
        self.store, self.portfolio, self.programs, self.today = store, portfolio, programs, today

    def all_programs(self) -> list[ProgramReadiness]:
        """Every program of the programs file that the portfolio knows; one it does not (a portfolio switched
        without its programs file) is left out and said in the log, so the dashboard and the digest still run."""
        unknown = [p.id for p in self.programs.programs if self.portfolio.program(p.id) is None]
        if unknown:
            log.warning("programs file names programs the portfolio lacks, left out of readiness: %s", ", ".join(unknown))
        closed = self.store.closed_findings()  # read once for every program
        return [self.readiness(p.id, closed) for p in self.programs.programs if p.id not in unknown]

    def readiness(self, program_id: str, closed: set[str] | None = None) -> ProgramReadiness:
        """`closed`: the keys of the findings people closed, when the caller has read them."""
        chain, program = self.programs.get(program_id), self.portfolio.program(program_id)
        if chain is None or program is None:
            raise KeyError(program_id)
        upcoming = chain.next_milestone(self.today)
        days = (upcoming.date - self.today).days if upcoming else None
        factor = nearness(days)
        events = [
            InvestigationEvent.model_validate(a.payload)
            for a in self.store.list_analyses(kind=AnalysisKind.EVENT, program=program_id)
        ]
        closed = self.store.closed_findings() if closed is None else closed
        items = (self._event_items(events, factor) + self._gap_items(chain, program_id, factor)
                 + self._observation_items(chain, factor))  # fmt: skip
        counted = [i for i in items if not (i.findings and set(i.findings) <= closed)]
        chains = {e.document_id: c for e in events if (c := self._propagation(e, chain))}
        # the dossier sections of open events, and of high-risk events whose effects still run downstream
        touching = [e for e in events if event_status(e) == "open" or e.document_id in chains]
        return ProgramReadiness(
            program=program_id,
            name=program.name,
            as_of=self.today,
            score=round(100.0 * _HALF / (_HALF + sum(i.weight for i in counted)), 1),
            next_milestone=upcoming.name if upcoming else None,
            next_milestone_date=upcoming.date if upcoming else None,
            days_to_next=days,
            items=sorted(counted, key=lambda i: (-i.weight, i.filename, i.title)),
            closed_left_out=len(items) - len(counted),
            ctd_sections_at_risk=sorted({c.section for e in touching for c in e.ctd_sections}),
            overdue_capas=sum(i.kind == "overdue_capa" for i in counted),
            open_qta_gaps=sum(i.kind == "qta_gap" for i in counted),
            propagation=list(chains.values()),
        )

    def _event_items(self, events: list[InvestigationEvent], factor: float) -> list[ReadinessItem]:
        items = []
        for e in events:
            record = e.record_id
            common = {"site": e.site, "document_id": e.document_id, "filename": e.filename, "record": record}
            if event_status(e) == "open":
                evidence = e.description.evidence if e.description else None
                items.append(
                    ReadinessItem(
                        kind="event",
                        title=f"{record or e.title}: open {e.type.value}",
                        severity=e.risk.value,
                        weight=_EVENT_POINTS[e.risk] * factor,
                        evidence=evidence,
                        **common,
                    )
                )
            keys = numbered([base_key(e.document_id, FindingSource.EVENT, flag.code.value) for flag in e.flags])
            for flag, key in zip(e.flags, keys):
                items.append(
                    ReadinessItem(
                        kind="flag",
                        title=f"{record}: {flag.reason}",
                        severity="flag",
                        weight=_FLAG_POINTS * factor,
                        evidence=flag.evidence[0] if flag.evidence else None,
                        findings=[key],
                        **common,
                    )
                )
            for capa in overdue_capas(e, self.today):
                items.append(
                    ReadinessItem(
                        kind="overdue_capa",
                        title=f"{record}: CAPA past due: {capa.action}",
                        severity="overdue",
                        weight=_OVERDUE_CAPA_POINTS * factor,
                        due=capa.due,
                        evidence=capa.evidence,
                        findings=[capa_key(e, capa)],
                        **common,
                    )
                )
        return items

    def _gap_items(self, chain: ProgramChain, program_id: str, factor: float) -> list[ReadinessItem]:
        items = []
        for site in chain.sites:
            for analysis in self.store.list_analyses(kind=AnalysisKind.QTA_REVIEW, site=site):
                if analysis.programs and program_id not in analysis.programs:
                    continue
                review = QtaReview.model_validate(analysis.payload)
                gaps = [f for f in review.findings if f.status != ElementStatus.PRESENT]  # the finding rows' order
                keys = numbered([base_key(review.document_id, FindingSource.QTA_REVIEW, gap_code(f.status.value, f.element_id))
                                 for f in gaps])  # fmt: skip
                for f, key in zip(gaps, keys):
                    if f.status in _GAP_POINTS:
                        items.append(
                            ReadinessItem(
                                kind="qta_gap",
                                title=f"{review.filename}: {f.title} is {f.status.value}",
                                severity=f.severity.value,
                                weight=_GAP_POINTS[f.status] * factor,
                                site=site,
                                document_id=review.document_id,
                                filename=review.filename,
                                evidence=f.evidence[0] if f.evidence else None,
                                findings=[key],
                            )
                        )
        return items

    def _observation_items(self, chain: ProgramChain, factor: float) -> list[ReadinessItem]:
        """Inspection readiness: what regulators found at the sites that make the program, in the last two years,
        one item per observation with its statement."""
        items = []
        for site in chain.sites:
            for analysis in self.store.list_analyses(kind=AnalysisKind.OBSERVATIONS, site=site):
                found = RegulatoryFindings.model_validate(analysis.payload)
                points = _OBSERVATION_POINTS.get(found.kind)
                if points is None or (found.date and self.today - found.date > _INSPECTION_MEMORY) or \
                        (found.date and found.date > self.today):  # fmt: skip
                    continue
                keys = iter(numbered([base_key(found.document_id, FindingSource.OBSERVATION, observation_code(c))
                                      for o in found.observations for c in o.category_ids]))  # fmt: skip
                for o in found.observations:
                    items.append(ReadinessItem(findings=[next(keys) for _ in o.category_ids],
                        kind="inspection_finding",
                        title=f"{found.issuer or 'Regulator'} {found.reference or found.title}, observation {o.number}"
                              f"{' (repeat)' if o.repeat else ''}: {', '.join(c.name.lower() for c in o.categories)}",
                        severity="repeat" if o.repeat else "observation", weight=(points + o.repeat) * factor,
                        site=site, document_id=found.document_id, filename=found.filename, evidence=o.evidence,
                    ))  # fmt: skip
        return items

    def _propagation(self, event: InvestigationEvent, chain: ProgramChain) -> PropagationChain | None:
        stage = chain.stage_of(event.site)
        if event.risk != RiskLevel.HIGH or stage is None or not event.batch_ids:
            return None
        last = event.dates.closed or event.dates.reported or event.dates.detected or event.dates.occurred
        if event_status(event) == "closed" and (last is None or self.today - last > _RECENT):
            return None
        record = event.record_id or event.title
        batches = ", ".join(event.batch_ids)
        site = self.portfolio.site(event.site)
        steps = [
            (
                f"{record} at {site.name if site else event.site} ({stage.value.replace('_', ' ')}): "
                f"{event.classification or event.type.value} event on {batches}, risk HIGH, {event_status(event)}"
            )
        ]
        if stage == Stage.TESTING:
            steps.append(f"drug-substance batch {batches} cannot be released until the result is resolved")
        if stage in (Stage.TESTING, Stage.DRUG_SUBSTANCE) and chain.drug_product:
            lots = sorted({lot for b in event.batch_ids for lot in chain.lots_from(b)})
            dp = self.portfolio.site(chain.drug_product)
            made = f", already filled into lot{'s' * (len(lots) > 1)} {', '.join(lots)}" if lots else ""
            steps.append(
                f"batch {batches} feeds the drug-product campaign at {dp.name if dp else chain.drug_product}{made}"
            )
        at_risk = [
            m
            for m in sorted(chain.milestones, key=lambda m: m.date)
            if m.date >= self.today and m.stage in _DOWNSTREAM[stage]
        ]
        steps += [_milestone_step(m, self.today) for m in at_risk]
        evidence = event.description.evidence if event.description else None
        return PropagationChain(
            origin=f"{record} ({batches})",
            steps=steps,
            milestones_at_risk=[m.name for m in at_risk],
            document_id=event.document_id,
            evidence=evidence,
        )


def _milestone_step(m: Milestone, today: date) -> str:
    return f"{m.name} on {m.date.isoformat()} ({(m.date - today).days} days away) depends on it"
