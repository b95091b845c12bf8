"""Partner risk per CDMO site on four dimensions, each score explained by the signals that produced it.

Signals come from what is stored: triaged events (technical: a batch or result at stake), their
weak-investigation flags and CAPAs past due (quality system), QTA gaps (quality system), the observations of
regulators' 483s, inspection reports and letters about the site (quality system), and sentences
in the site's minutes, audit reports and letters that match the cues of prompts/partner_risk.yaml
(capacity and supply, business, and more of the others). A sentence that names a site other than its
document's own counts for that site ("Northgate flagged that the result from Quantix is delayed", said on
a Northgate call, is Quantix's).
Scores, weights and cues are data in that file; the version goes with every result.
"""

import re
from datetime import date, timedelta

from agents.structured import overdue_capas
from core.analysis import AnalysisKind
from core.documents import Document, DocumentKind, DocumentStatus
from core.evidence import Evidence
from core.investigations import InvestigationEvent
from core.observations import RegulatoryFindings
from core.oversight import Dimension, DimensionScore, PartnerRisk, Signal, TrendPoint
from core.portfolio import Portfolio
from core.qta import ElementStatus, QtaReview
from core.store import RecordStore
from core.workflow import code_words
from prompts.loader import load_data

# Kinds whose sentences are read for cues; investigation reports and agreements speak through their analyses
_CUE_KINDS = {DocumentKind.MEETING_MINUTES, DocumentKind.AUDIT_REPORT, DocumentKind.OTHER}
_SENTENCE = re.compile(r"\S.*?(?:[.!?](?=\s+[A-Z(\"'])|\n\s*\n|$)", re.DOTALL)
_TREND_MONTHS = 18


class RiskScorer:
    def __init__(self, store: RecordStore, portfolio: Portfolio, today: date):
        self.store, self.portfolio, self.today = store, portfolio, today
        self.config = load_data("partner_risk")
        self._signals: dict[str, list[Signal]] | None = None

    def site_risk(self, site_id: str) -> PartnerRisk:
        site = self.portfolio.site(site_id)
        if site is None:
            raise KeyError(site_id)
        signals = self.signals().get(site_id, [])
        dimensions = [self._dimension(d, signals, self.today) for d in Dimension]
        score = self._overall(dimensions)
        return PartnerRisk(
            site=site.id,
            name=site.name,
            as_of=self.today,
            score=score,
            level=self.level(score),
            dimensions=dimensions,
            completeness=sum(d.has_data for d in dimensions) / len(dimensions),
            trend=self._trend(signals),
            method=self.config["version"],
        )

    def all_sites(self) -> list[PartnerRisk]:
        return sorted((self.site_risk(s.id) for s in self.portfolio.sites), key=lambda r: -r.score)

    def level(self, score: float) -> str:
        levels = self.config["levels"]
        return "high" if score >= levels["high"] else "medium" if score >= levels["medium"] else "low"

    def signals(self) -> dict[str, list[Signal]]:
        """Every signal of every site (computed once per scorer)."""
        if self._signals is None:
            found: dict[str, list[Signal]] = {}
            # a held downgrade counts its earlier, superseded version's analysis: that version is looked up too
            documents = {d.id: d for d in self.store.list_documents(include_superseded=True)}
            current = {d.id for d in documents.values() if d.status == DocumentStatus.CURRENT}
            for analysis in self.store.list_analyses():
                doc = documents.get(analysis.document_id)
                if doc is None or analysis.site is None:
                    continue
                if analysis.kind == AnalysisKind.EVENT:
                    event = InvestigationEvent.model_validate(analysis.payload)
                    found.setdefault(analysis.site, []).extend(self._event_signals(event, doc))
                elif analysis.kind == AnalysisKind.OBSERVATIONS:
                    findings = RegulatoryFindings.model_validate(analysis.payload)
                    found.setdefault(analysis.site, []).extend(self._observation_signals(findings, doc))
                else:
                    review = QtaReview.model_validate(analysis.payload)
                    found.setdefault(analysis.site, []).extend(self._gap_signals(review, doc))
            for doc in documents.values():
                if doc.id in current and doc.kind in _CUE_KINDS and doc.metadata.sites:
                    for site, signal in self._cue_signals(doc):
                        found.setdefault(site, []).append(signal)
            self._signals = found
        return self._signals

    # --- signals ---------------------------------------------------------------------------------

    def _event_signals(self, event: InvestigationEvent, doc: Document) -> list[Signal]:
        record = event.record_id
        dated = event.dates.occurred or event.dates.detected or event.dates.reported or doc.metadata.document_date
        kind = " ".join(filter(None, [event.classification, event.type.value.replace("_", " ")]))
        quote = event.description.evidence if event.description else None
        out = [
            self._signal(
                Dimension.TECHNICAL,
                "event",
                f"{kind}, risk {event.risk.value}",
                self.config["event_points"][event.risk.value],
                dated,
                doc,
                record,
                quote,
            )
        ]
        for flag in event.flags:
            evidence = flag.evidence[0] if flag.evidence else None
            out.append(
                self._signal(
                    Dimension.QUALITY_SYSTEM,
                    "flag",
                    f"weak investigation: {code_words(flag.code.value, capital=False)}",
                    self.config["flag_points"],
                    dated,
                    doc,
                    record,
                    evidence,
                )
            )
        for capa in overdue_capas(event, self.today):
            out.append(
                self._signal(
                    Dimension.QUALITY_SYSTEM,
                    "overdue_capa",
                    f"CAPA past due since {capa.due}",
                    self.config["overdue_capa_points"],
                    capa.due,
                    doc,
                    record,
                    capa.evidence,
                )
            )
        return out

    def _observation_signals(self, findings: RegulatoryFindings, doc: Document) -> list[Signal]:
        """What a regulator found at the site (a 483, an inspection report, a warning letter), one signal per
        observation with its categories and statement. A sponsor's own audit counts through its sentences."""
        points = self.config["observation_points"].get(findings.kind)
        if points is None:
            return []
        who = {"regulatory_letter": "regulator's letter", "inspection_observations": "inspection"}[findings.kind]
        out = []
        for o in findings.observations:
            what = ", ".join(c.name.lower() for c in o.categories) or "observation"
            label = f"{findings.issuer or 'regulator'} {who}, observation {o.number}: {what}" + (" (repeat)" * o.repeat)
            out.append(self._signal(Dimension.QUALITY_SYSTEM, "observation", label,
                                    points + self.config["repeat_points"] * o.repeat, findings.date, doc,
                                    findings.reference, o.evidence))  # fmt: skip
        return out

    def _gap_signals(self, review: QtaReview, doc: Document) -> list[Signal]:
        points = self.config["gap_points"]
        return [
            self._signal(
                Dimension.QUALITY_SYSTEM,
                "qta_gap",
                f"QTA {f.status.value}: {f.title}",
                points[f.status.value],
                doc.metadata.document_date,
                doc,
                None,
                f.evidence[0] if f.evidence else None,
            )
            for f in review.findings
            if f.status in (ElementStatus.MISSING, ElementStatus.VAGUE, ElementStatus.CONFLICTING)
        ]

    def _cue_signals(self, doc: Document) -> list[tuple[str, Signal]]:
        out = []
        for page in self.store.pages(doc.id):
            for sentence in _SENTENCE.finditer(page.text):
                text = sentence.group(0)
                home = doc.metadata.sites[0]
                others = [s for s in self.portfolio.site_ids_in(text) if s != home]
                site = others[0] if others else home
                for dimension, cues in self.config["cues"].items():
                    cue = next((c for c in cues if re.search(c["pattern"], text, re.IGNORECASE)), None)
                    if cue:
                        quote = Evidence(
                            document_id=doc.id, page=page.number, start=sentence.start(), end=sentence.end(), quote=text
                        )
                        signal = self._signal(
                            Dimension(dimension),
                            "text",
                            cue["label"],
                            cue["points"],
                            doc.metadata.document_date,
                            doc,
                            None,
                            quote,
                        )
                        out.append((site, signal))
        return out

    def _signal(self, dimension, source, label, points, dated, doc: Document, record, evidence) -> Signal:
        return Signal(
            dimension=dimension,
            source=source,
            label=label,
            points=points,
            dated=dated or doc.ingested_at.date(),
            document_id=doc.id,
            filename=doc.filename,
            record=record,
            evidence=evidence,
        )

    # --- scores ----------------------------------------------------------------------------------

    def _dimension(self, dimension: Dimension, signals: list[Signal], on: date) -> DimensionScore:
        half_life = timedelta(days=self.config["half_life_days"])
        mine = []
        for s in signals:
            if s.dimension != dimension or (s.dated and s.dated > on):
                continue
            aged = s.points / 2 if s.dated and on - s.dated > half_life else s.points
            mine.append(s.model_copy(update={"points": aged}))
        latest = max((s.dated for s in mine if s.dated), default=None)
        return DimensionScore(
            dimension=dimension,
            score=min(100.0, sum(s.points for s in mine)),
            signals=sorted(mine, key=lambda s: (-s.points, s.filename)),
            has_data=bool(mine),
            latest=latest,
            age_days=(on - latest).days if latest else None,
        )

    def _overall(self, dimensions: list[DimensionScore]) -> float:
        weights = self.config["overall_weights"]
        return round(sum(weights[d.dimension.value] * d.score for d in dimensions), 1)

    def _trend(self, signals: list[Signal]) -> list[TrendPoint]:
        """The score at the end of each month, from the first signal's month to the day of judgement."""
        dated = [s.dated for s in signals if s.dated and s.dated <= self.today]
        if not dated:
            return []
        month = max(min(dated).replace(day=1), _add_months(self.today.replace(day=1), -_TREND_MONTHS + 1))
        points = []
        while month <= self.today:
            end = min(_add_months(month, 1) - timedelta(days=1), self.today)
            dims = [self._dimension(d, signals, end) for d in Dimension]
            points.append(
                TrendPoint(
                    month=month.strftime("%Y-%m"),
                    score=self._overall(dims),
                    dimensions={d.dimension: d.score for d in dims},
                )
            )
            month = _add_months(month, 1)
        return points


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
