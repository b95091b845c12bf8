"""What an event means for the sponsor: risk and response, reporting clocks, CTD Module 3 sections.

Shared by both backends: they read the event from the text; these rules (from ../shared/REFERENCE.md)
decide what it calls for, so a model cannot talk a finding down.
"""

import re

from core.investigations import (
    Classification,
    CtdImpact,
    EventReading,
    EventType,
    FlagCode,
    ReportingClock,
    RiskLevel,
)
from core.portfolio import Portfolio, SiteRole

RESPONSES = {
    "release_oos": (RiskLevel.HIGH, "joint investigation, batch disposition decision, regulatory reporting assessment"),
    "in_process_oos": (RiskLevel.LOW, "review the CDMO investigation, confirm impact assessment"),
    "critical_deviation": (
        RiskLevel.HIGH,
        "halt further processing pending investigation; assess health-authority notification",
    ),
    "minor_discrepancy": (RiskLevel.LOW, "CDMO correction with sponsor verification"),
    "equipment_downtime": (RiskLevel.MEDIUM, "impact assessment on campaign timeline; contingency planning"),
    "supplier_change": (RiskLevel.MEDIUM, "change control; comparability assessment; regulatory impact review"),
    "major_deviation": (RiskLevel.MEDIUM, "review the CDMO investigation and its impact assessment on other batches"),
}
_RELEASE = re.compile(r"\b(release|stability)\s+(specification|test\w*)|\bspecification\b(?!.*in-process)", re.I)
_IN_PROCESS = re.compile(r"\bin-process\b", re.I)
_DISTRIBUTED = re.compile(r"\b(distributed|shipped to (patients|clinical sites|market)|on the market)\b", re.I)
# an OOS invalidated without an assignable cause may be a real failure: it counts one level up
_RAISES_RISK = {FlagCode.OOS_INVALIDATED_WITHOUT_ASSIGNABLE_CAUSE}

CTD_TITLES = {
    "S.2.1": "Manufacturers", "S.2.2": "Description of manufacturing process and process controls",
    "S.2.3": "Control of materials", "S.2.4": "Controls of critical steps and intermediates",
    "S.2.5": "Process validation and/or evaluation", "S.4": "Control of drug substance", "S.7": "Stability",
    "P.3.1": "Manufacturers", "P.3.3": "Description of manufacturing process and process controls",
    "P.3.4": "Controls of critical steps and intermediates", "P.3.5": "Process validation and/or evaluation",
    "P.5": "Control of drug product", "P.7": "Container closure system", "P.8": "Stability",
    "A.1": "Facilities and equipment", "A.2": "Adventitious agents safety evaluation",
}  # fmt: skip
# (cue in the text, drug-substance section, drug-product section, why)
_CTD_RULES = [
    (r"\b(manufacturing site|new plant|site transfer|change of site)\b", "S.2.1", "P.3.1", "a manufacturing site changes"),
    (r"\b(raw material|resin|critical material|components?|excipient)\b", "S.2.3", "P.3.3", "a material is affected"),
    (r"\b(process parameter|temperature excursion|proven acceptable range|process change|hold time)\b",
     "S.2.2", "P.3.3", "a process step ran outside its description"),
    (r"\b(aseptic|critical step|filling|sterile filtration|intervention)\b", "S.2.4", "P.3.4",
     "a critical step is affected"),
    (r"\b(release specification|specification|method transfer|analytical method|SEC-HPLC|assay)\b", "S.4", "P.5",
     "a specification or method result is affected"),
    (r"\bstability\b", "S.7", "P.8", "stability data are affected"),
    (r"\b(glove|isolator|container closure|stopper|vial)\b", None, "P.7", "container closure or its handling"),
    (r"\b(equipment|bioreactor|skid|controller|facility)\b", "A.1", "A.1", "facilities or equipment are involved"),
    (r"\b(viral|virus|mycoplasma|adventitious)\b", "A.2", "A.2", "adventitious agents are in question"),
]  # fmt: skip
_EXPLICIT_CTD = re.compile(r"\b3\.2\.([SPA])\.(\d(?:\.\d)?)\b")


def risk(event: EventReading, text: str) -> tuple[RiskLevel, str, str]:
    """(risk, sponsor response, reason) from the table in REFERENCE.md."""
    if event.type in (EventType.OOS, EventType.OOT):
        if _IN_PROCESS.search(text) and not re.search(r"release specification", text, re.I):
            key, why = "in_process_oos", "an in-process result outside its limit"
        else:
            key, why = "release_oos", "a release or stability specification failure"
    elif event.type == EventType.CHANGE:
        key, why = "supplier_change", "a change at the CDMO or its supplier"
    elif event.type == EventType.EQUIPMENT:
        key, why = "equipment_downtime", "unplanned equipment downtime"
    elif event.classification == Classification.CRITICAL:
        key, why = "critical_deviation", "a critical process deviation"
    elif event.classification == Classification.MINOR:
        key, why = "minor_discrepancy", "a minor deviation or batch-record discrepancy"
    else:
        key, why = "major_deviation", "a major (or unclassified) deviation"
    level, response = RESPONSES[key]
    weak = [f.code.value for f in event.flags if f.code in _RAISES_RISK]
    if weak and level != RiskLevel.HIGH:
        level = RiskLevel.MEDIUM if level == RiskLevel.LOW else RiskLevel.HIGH
        why += f", raised because of {', '.join(weak)}"
    return level, response, f"{why[0].upper()}{why[1:]}."


def _product_side(event: EventReading, portfolio: Portfolio, text: str) -> str:
    """'S' for drug substance, 'P' for drug product: from the text, else the site's role."""
    if re.search(r"\bdrug substance\b|\bDS\b", text):
        return "S"
    if re.search(r"\bdrug product\b|\bfill(ing)?\b|\bvials?\b", text, re.I):
        return "P"
    site = portfolio.site(event.site) if event.site else None
    return "P" if site and SiteRole.DRUG_PRODUCT in site.roles else "S"


def ctd_sections(event: EventReading, portfolio: Portfolio, text: str) -> list[CtdImpact]:
    found: dict[str, CtdImpact] = {}
    for m in _EXPLICIT_CTD.finditer(text):
        key = f"{m.group(1)}.{m.group(2)}"
        found[key] = CtdImpact(section=f"3.2.{key}", title=CTD_TITLES.get(key, ""), rule="named in the text")
    if found:
        return list(found.values())
    side = _product_side(event, portfolio, text)
    for cue, ds, dp, why in _CTD_RULES:
        key = ds if side == "S" else dp
        match = re.search(cue, text, re.I)
        if key and match and key not in found:
            found[key] = CtdImpact(section=f"3.2.{key}", title=CTD_TITLES[key], rule=f'{why} ("{match.group()}")')
    return list(found.values())


def reporting_clocks(event: EventReading, level: RiskLevel, portfolio: Portfolio, text: str) -> list[ReportingClock]:
    clocks: list[ReportingClock] = []
    biologic = any(
        re.search(r"antibod|biolog|protein|vaccine", (portfolio.program(p).modality or ""), re.I)
        for p in event.programs
        if portfolio.program(p)
    )
    distributed = _DISTRIBUTED.search(text)
    # "may affect safety, purity or potency": the HIGH rows of the response table
    quality_failure = level == RiskLevel.HIGH and event.type != EventType.CHANGE
    if quality_failure and biologic:
        clocks.append(
            ReportingClock(
                name="Biological product deviation report (BPDR)",
                deadline="as soon as possible, at most 45 calendar days from learning of the event",
                rule="21 CFR 600.14: an event in the manufacture of a distributed biological product that may "
                "affect safety, purity or potency"
                + (
                    f' - the text says "{distributed.group()}"'
                    if distributed
                    else " - applies if the batch was distributed"
                ),
                applies="may start" if distributed else "assess",
            )
        )
    if quality_failure and not biologic:
        clocks.append(
            ReportingClock(
                name="Field alert report (FAR)",
                deadline="within 3 working days of the applicant receiving the information",
                rule="21 CFR 314.81(b)(1): a distributed NDA/ANDA batch failing its specification, contamination or "
                "significant deterioration",
                applies="may start" if distributed else "assess",
            )
        )
    if event.type == EventType.CHANGE:
        prior = re.search(r"\bprior approval|class a\b|\bmajor\b|\bsite\b|\bnew plant\b", text, re.I)
        category = "major" if prior else "moderate or minor"
        clocks.append(
            ReportingClock(
                name=f"Post-approval change, {category}",
                deadline="US: prior approval supplement (major), CBE-30/CBE-0 (moderate), annual report (minor); "
                "EU: Type II (prior approval), Type IB (notify, wait 30 days), Type IA (12 months; IA_IN at once)",
                rule="21 CFR 601.12 (BLA) / 314.70 (NDA); Regulation (EC) 1234/2008 as amended by (EU) 2024/1701"
                + (f' - the text says "{prior.group()}"' if prior else ""),
                applies="assess",
            )
        )
    return clocks
