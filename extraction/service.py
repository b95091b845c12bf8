"""Extraction as the rest of the service calls it: review a QTA, triage a report, store what was found."""

import logging

from core.analysis import Analysis, AnalysisKind, FindingRow, FindingSource, gap_code, observation_code
from core.audit import audit_entry
from core.auth import Principal
from core.config import Settings
from core.documents import DocumentDetail, DocumentKind, PreparedDocument, QualitySection
from core.investigations import InvestigationEvent
from core.meaning import meaning
from core.observations import RegulatoryFindings
from core.portfolio import Portfolio
from core.qta import ElementStatus, QtaReview
from core.store import RecordStore, utcnow
from extraction.backends import Backend, make_backend
from extraction.observations import OBSERVATION_KINDS, ObservationReader
from extraction.playbook import Playbook, load_playbook
from extraction.source import SourceText
from extraction.triage import assemble

log = logging.getLogger(__name__)
TRIAGED_KINDS = (DocumentKind.DEVIATION_REPORT, DocumentKind.OOS_INVESTIGATION, DocumentKind.CHANGE_CONTROL)
REVIEWED_KINDS = (DocumentKind.QTA, DocumentKind.COMMERCIAL_AGREEMENT)  # the latter: its quality section, if any
ANALYSED_KINDS = (*REVIEWED_KINDS, *TRIAGED_KINDS, *OBSERVATION_KINDS)
Result = QtaReview | InvestigationEvent | RegulatoryFindings
# how much an observation weighs, by who made it: an FDA warning letter is the gravest finding a partner can have
_OBSERVATION_SEVERITY = {DocumentKind.REGULATORY_LETTER: "high", DocumentKind.INSPECTION_OBSERVATIONS: "medium",
                         DocumentKind.AUDIT_REPORT: "medium"}  # fmt: skip


def source_of(document: PreparedDocument | DocumentDetail, within: QualitySection | None = None) -> SourceText:
    """The document as extraction reads it; `within` a section, only the passages that start inside it (their
    offsets still the page's)."""
    doc = document.document if isinstance(document, PreparedDocument) else document
    chunks = document.chunks
    if within is not None:
        chunks = [c for c in chunks if (within.page, within.start) <= (c.page, c.start) < (within.end_page, within.end)]
    return SourceText(doc, document.pages, chunks)


class Extractor:
    def __init__(
        self,
        settings: Settings,
        store: RecordStore,
        portfolio: Portfolio,
        backend: Backend | None = None,
        playbook: Playbook | None = None,
    ):
        self.settings = settings
        self.store = store
        self.portfolio = portfolio
        self.backend = backend or make_backend(settings)
        self.playbook = playbook or load_playbook(settings.playbook_path)

    def review_qta(self, source: SourceText, playbook: Playbook | None = None) -> QtaReview:
        playbook = playbook or self.playbook
        source.meaning = source.meaning or (meaning(self.settings) if self.settings.reading_meaning else None)
        findings, grounding = self.backend.review(source, playbook)
        meta = source.document.metadata
        return QtaReview(
            document_id=source.id,
            filename=source.document.filename,
            title=source.document.title,
            site=meta.sites[0] if meta.sites else None,
            playbook=playbook.label,
            backend=self.backend.label("qta"),
            findings=findings,
            hostile_text=[source.clause_evidence(c) for c in source.hostile],
            grounding=grounding,
        )

    def review_agreement(self, document: PreparedDocument | DocumentDetail, playbook: Playbook | None = None) -> QtaReview:
        """A quality agreement reviewed whole; of a commercial agreement, its quality section alone (none without
        one), and the review says which. Asked for explicitly (`review_qta` of a file), a commercial agreement with
        no quality section is read whole, and the review says that too."""
        doc = document.document if isinstance(document, PreparedDocument) else document
        if doc.kind != DocumentKind.COMMERCIAL_AGREEMENT:
            return self.review_qta(source_of(document), playbook)
        identity = doc.metadata.agreement
        name, section = (identity.name if identity else None) or "commercial agreement", identity and identity.quality_section
        if section is None:
            review = self.review_qta(source_of(document), playbook)
            return review.model_copy(update={"scope": f"this {name} is not a quality agreement and has no quality "
                                                      "section: it was read whole against the playbook"})  # fmt: skip
        review = self.review_qta(source_of(document, within=section), playbook)
        scope = f'the quality section "{section.heading}" (from p. {section.page}) of this {name}, not a quality agreement'
        if section.refers_to_quality_agreement:
            scope += "; the section says a separate quality agreement governs, so its gaps are shown, not raised"
        return review.model_copy(update={"scope": scope, "governed_elsewhere": section.refers_to_quality_agreement})

    def triage(self, source: SourceText, agreement: SourceText | None = None) -> InvestigationEvent:
        """The event; lateness is judged against `agreement`, by default the site's current QTA in the corpus."""
        source.parties = source.parties or self.portfolio.sponsor_names
        source.meaning = source.meaning or (meaning(self.settings) if self.settings.reading_meaning else None)
        reading, grounding = self.backend.read(source)
        agreement = agreement or self.agreement_for(reading.site)
        return assemble(source, reading, agreement, self.portfolio, self.backend.label("triage"), grounding)

    def observations(self, source: SourceText) -> RegulatoryFindings:
        """A 483, inspection report, regulator's letter or audit report read as its numbered observations."""
        signal = meaning(self.settings) if self.settings.reading_meaning else None
        return ObservationReader(self.portfolio, meaning=signal).read(source)

    def agreement_for(self, site: str | None) -> SourceText | None:
        """The site's current quality agreement in the corpus (the latest ingested, if several)."""
        if not site:
            return None
        agreements = [d for d in self.store.list_documents(kind=DocumentKind.QTA) if d.metadata.sites[:1] == [site]]
        return source_of(self.store.detail(agreements[-1].id)) if agreements else None

    def analyse_stored(self, document_id: str, actor: Principal | None = None) -> Result | None:
        """Review or triage a stored document by its kind, and store the result (replacing any earlier one);
        with `actor`, audited in the same transaction."""
        detail = self.store.detail(document_id)
        if detail.kind == DocumentKind.COMMERCIAL_AGREEMENT:
            if not (detail.metadata.agreement and detail.metadata.agreement.quality_section):
                return None  # searchable, not reviewed: it is not a quality agreement and has no quality section
            result = self.review_agreement(detail)
        elif detail.kind == DocumentKind.QTA:
            result: QtaReview | InvestigationEvent = self.review_qta(source_of(detail))
            self.save(result, detail, actor)
            # the site's events were judged against the agreement in force before: judge them again
            agreement = self.agreement_for(result.site)
            for event in self.store.list_analyses(kind=AnalysisKind.EVENT, site=result.site):
                report = self.store.detail(event.document_id)
                self.save(self.triage(source_of(report), agreement), report, actor, "reanalyse")
            return result
        elif detail.kind in TRIAGED_KINDS:
            result = self.triage(source_of(detail))
        elif detail.kind in OBSERVATION_KINDS:
            result = self.observations(source_of(detail))
        else:
            return None
        self.save(result, detail, actor)
        return result

    def save(
        self,
        result: Result,
        detail: DocumentDetail,
        actor: Principal | None = None,
        action: str = "analyse",
    ) -> None:
        meta = detail.metadata
        site = meta.sites[0] if meta.sites else None
        if isinstance(result, QtaReview):
            kind, risk, batches, product = AnalysisKind.QTA_REVIEW, None, [], None
            rows = [
                FindingRow(document_id=detail.id, source=FindingSource(kind.value), code=gap_code(f.status.value, f.element_id),
                           severity=f.severity.value, site=site, programs=meta.programs, summary=f"{f.title}: {f.reason}",
                           evidence=f.evidence[0] if f.evidence else None)
                for f in result.findings
                if f.status != ElementStatus.PRESENT and not result.governed_elsewhere
            ]  # fmt: skip
        elif isinstance(result, RegulatoryFindings):
            # linked to the site the document concerns by its FEI or name and place, not by any name it mentions
            kind, risk, batches, product, site = AnalysisKind.OBSERVATIONS, None, [], None, result.site
            severity = _OBSERVATION_SEVERITY.get(detail.kind, "medium")
            rows = [
                FindingRow(document_id=detail.id, source=FindingSource.OBSERVATION, code=observation_code(c),
                           severity=severity, site=site, programs=meta.programs,
                           summary=f"Observation {o.number}: {o.evidence.quote[:200]}",
                           evidence=next(x.evidence for x in o.categories if x.category == c))
                for o in result.observations
                for c in o.category_ids
            ]  # fmt: skip
        else:
            kind, risk, batches, product = AnalysisKind.EVENT, result.risk.value, result.batch_ids, result.product
            rows = [
                FindingRow(document_id=detail.id, source=FindingSource(kind.value), code=f.code.value, severity=result.risk.value.lower(),
                           site=site, programs=meta.programs, product=product, batch_ids=batches, summary=f.reason,
                           evidence=f.evidence[0] if f.evidence else None)
                for f in result.flags
            ]  # fmt: skip
        analysis = Analysis(
            document_id=detail.id,
            kind=kind,
            site=site,
            programs=meta.programs,
            batch_ids=batches,
            risk=risk,
            backend=result.backend,
            payload=result.model_dump(mode="json"),
            analysed_at=utcnow(),
        )
        entry = None
        if actor is not None:
            prompt = result.playbook if isinstance(result, QtaReview) else None
            entry = audit_entry(actor, action, documents=[detail], outcome=risk or "reviewed", backend=result.backend,
                                prompt_version=prompt, detail={"findings": len(rows), "kind": kind.value})  # fmt: skip
        self.store.save_analysis(analysis, rows, entry)
