"""Measurement: the evals on their gold sets, the benchmark, the load run, the sample corpus."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.app import ScopePrograms, app, console, ids, refuse_store_path
from core.config import EmbeddingBackend, VectorEngine, get_settings
from core.portfolio import load_portfolio


def _write_report(path: Path, result) -> None:
    refuse_store_path(path, get_settings())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.model_dump_json(indent=2))
    console.print(f"report written to {path}")


eval_app = typer.Typer(help="Measure quality on the gold sets", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    backend: Annotated[
        list[EmbeddingBackend] | None, typer.Option(help="Embedding engines to compare (repeatable)")
    ] = None,
    k: int = 5,
    report: Path = Path("eval/reports/retrieval.json"),
) -> None:
    """recall@k and MRR for dense-only, BM25-only and hybrid search, per embedding engine."""
    import tempfile

    from eval import retrieval

    backends = backend or [EmbeddingBackend.ONNX, EmbeddingBackend.ONNX_INT8, EmbeddingBackend.TORCH]
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-") as work:
        result = retrieval.run(corpus_dir, Path(work), backends, k)
    categories = sorted({c for s in result.scores for c in s.recall_by_category})
    table = Table("embedding", "mode", f"recall@{k}", "MRR", *[f"recall@{k} {c}" for c in categories], "questions")
    for s in result.scores:
        table.add_row(
            s.embedding,
            s.mode.value,
            f"{s.recall_at_k:.3f}",
            f"{s.mrr:.3f}",
            *[f"{s.recall_by_category.get(c, 0):.3f}" for c in categories],
            str(s.questions),
        )
    console.print(table)
    _write_report(report, result)


@eval_app.command("embeddings")
def eval_embeddings(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    backend: Annotated[list[EmbeddingBackend] | None, typer.Option(help="Engines to compare (repeatable)")] = None,
    report: Path = Path("eval/reports/embeddings.json"),
) -> None:
    """Each engine's vectors against the fp32 reference on the retrieval gold: cosine and rank agreement at 5, 10."""
    import tempfile

    from eval import embeddings

    with tempfile.TemporaryDirectory(prefix="cdmo-eval-") as work:
        result = embeddings.run(corpus_dir, Path(work), backend or [EmbeddingBackend.ONNX, EmbeddingBackend.ONNX_INT8])
    console.print(f"on {result.processor.describe()}; reference {result.reference}; {result.passages} passages, "
                  f"{result.questions} questions", highlight=False)  # fmt: skip
    table = Table("engine", "mean cosine", "lowest cosine", "agreement@5", "agreement@10", "passages/s")
    for e in result.engines:
        table.add_row(e.engine, f"{e.mean_cosine:.6f}", f"{e.lowest_cosine:.6f}", f"{e.agreement_at_5:.3f}",
                      f"{e.agreement_at_10:.3f}", f"{e.passages_per_second:.1f}")  # fmt: skip
    console.print(table)
    _write_report(report, result)


@eval_app.command("contracts")
def eval_contracts(
    source: Annotated[Path | None, typer.Option(help="A folder of .txt contracts; default: the CUAD archive")] = None,
    report: Path = Path("eval/reports/contracts.json"),
) -> None:
    """Real commercial contracts (CUAD v1) prepared and placed as uploads are: kinds, versions, amendments, quality
    sections, against eval/contracts/cuad_gold.yaml."""
    import tempfile

    from eval import contracts

    with tempfile.TemporaryDirectory(prefix="cdmo-eval-") as work:
        placed = contracts.run(Path(work), source or contracts.ARCHIVE)
    score = contracts.score(placed, contracts.load_gold())
    s = score.sections
    table = Table("measure", "value")
    table.add_row("contracts", str(score.contracts))
    table.add_row("kinds", ", ".join(f"{k} {n}" for k, n in placed.kinds.items()))
    table.add_row("typed qta", str(len(score.typed_qta)))
    table.add_row("filed as a distinct contract's version", str(len(score.wrong_versions)))
    table.add_row("linked to an unrelated document", str(len(score.wrong_links)))
    table.add_row("amendments linked to their agreement", f"{score.amendments_linked} of {score.amendments_in_set}")
    table.add_row("quality sections", f"P {s.precision:.3f} R {s.recall:.3f} ({s.found_right} of {s.with_section}; "
                                      f"{len(s.found_elsewhere)} elsewhere, {len(s.false)} where none)")  # fmt: skip
    table.add_row("seconds", f"{placed.seconds:.1f}")
    console.print(table)
    _write_report(report, score)


@eval_app.command("qa")
def eval_qa(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    llm: Annotated[bool, typer.Option(help="Also score the LLM agent (CDMO_LLM_BASE_URL, CDMO_LLM_MODEL)")] = False,
    second: Annotated[bool, typer.Option(help="Also the second gold set, on the sample and another sponsor's documents")] = True,
    report: Path = Path("eval/reports/qa.json"),
) -> None:
    """Chat answers on the QA gold sets: correctness, wrong answers, citations, refusals, latency; per backend."""
    import tempfile
    from datetime import date

    from agents.chat import OFFLINE, ChatService
    from agents.llm_agent import make_llm_agent
    from eval import qa

    settings = get_settings()
    if llm and not settings.llm_enabled:
        console.print("[red]--llm needs CDMO_LLM_BASE_URL and CDMO_LLM_MODEL[/red]")
        raise typer.Exit(2)
    scores = []
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-") as work:
        corpus = qa.load_corpus(corpus_dir, settings.model_copy(update={"data_dir": Path(work)}))
        portfolio = load_portfolio(settings.portfolio_path)
        today = date(2026, 11, 25)  # "past due" is judged on a fixed day, so that scores do not drift
        try:
            scores.append(qa.run(ChatService(corpus, portfolio, today=today), OFFLINE))
            if second:
                scores += qa.run_second(ChatService(corpus, portfolio, today=today), settings, Path(work), today)
            if llm:
                agent = make_llm_agent(settings, corpus, portfolio)
                scores.append(qa.run(ChatService(corpus, portfolio, agent, today=today), agent.label))
        finally:
            corpus.close()
    table = Table("backend", "correct", "by category", "fact recall", "cite P (passage/complete/doc)", "cite R",
                  "refusals", "false refusals", "wrong", "first sentence p50/p95 ms", "answer p50/p95 ms")
    for s in scores:
        table.add_row(
            s.backend, f"{s.answer_correctness:.3f}", " ".join(f"{c} {v:.2f}" for c, v in s.correctness_by_category.items()),
            f"{s.fact_recall:.3f}",
            f"{s.citation_precision:.3f} / {s.citation_precision_complete:.3f} / {s.citation_precision_document:.3f}",
            f"{s.citation_recall:.3f}", f"{s.refusal_accuracy:.3f}", str(s.false_refusals),
            f"{s.wrong_answers} ({s.wrong_answer_rate:.1%})",
            f"{s.first_sentence_ms_p50:.0f} / {s.first_sentence_ms_p95:.0f}", f"{s.answer_ms_p50:.0f} / {s.answer_ms_p95:.0f}",
        )
    console.print(table)
    for s in scores:
        for miss in s.misses:
            console.print(f"[dim]{s.backend} {miss.id}: {miss.why}: {miss.question} -> {miss.answer[:160]}[/dim]",
                          markup=True, highlight=False)
    _write_report(report, qa.QaReport(scores=scores))


@eval_app.command("extraction")
def eval_extraction(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    llm: Annotated[bool, typer.Option(help="Also score the LLM backend (CDMO_LLM_BASE_URL, CDMO_LLM_MODEL)")] = False,
    report: Path = Path("eval/reports/extraction.json"),
) -> None:
    """QTA element-status accuracy, gap detection, triage field P/R/F1, flags, risk, time: per backend."""
    from eval import extraction
    from extraction.backends import RulesBackend

    settings = get_settings()
    backends = [RulesBackend()]
    if llm:
        if not settings.llm_enabled:
            console.print("[red]--llm needs CDMO_LLM_BASE_URL and CDMO_LLM_MODEL[/red]")
            raise typer.Exit(2)
        from extraction.llm import LlmBackend

        backends.append(LlmBackend(settings))
    result = extraction.run(corpus_dir, settings, backends)
    rows = [_extraction_row(s) for s in result.scores]
    table = Table("measure", *[f"{s.backend}, {s.gold_set}" for s in result.scores])
    for label in rows[0]:
        table.add_row(label, *[row[label] for row in rows])
    console.print(table)
    _write_report(report, result)


@eval_app.command("ocr")
def eval_ocr(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    scans: Annotated[Path, typer.Option(help="The scanned fixtures and their ground truth")] = Path("fixtures/scanned"),
    report: Path = Path("eval/reports/ocr.json"),
) -> None:
    """OCR character accuracy per scanned page, pages/s, and QTA review and triage on scans beside digital."""
    from eval import ocr

    result = ocr.run(corpus_dir, scans, get_settings())
    table = Table("scan", "page", "characters", "accuracy", "confidence", "skew applied / undone")
    for scan in result.scans:
        for p in scan.pages:
            found = "-" if p.skew_found is None else f"{p.skew_found:+.2f}"
            confidence = "-" if p.confidence is None else f"{p.confidence:.1f}"
            table.add_row(scan.scan, str(p.page), str(p.characters), f"{p.accuracy:.4f}", confidence,
                          f"{p.skew_applied:+.2f} / {found}")
    console.print(table)
    console.print(
        f"character accuracy {result.accuracy:.4f} over {result.pages} OCR'd pages; "
        f"{result.pages_per_second} pages/s with {result.ocr_workers} workers; "
        f"mean skew error {result.mean_skew_error_degrees} degrees; the same scans as TIFF files: character "
        f"accuracy {result.image_file_accuracy:.4f}, {result.image_file_pages_per_second} pages/s"
    )
    rows = [_extraction_row(s) for s in result.extraction]
    table = Table("measure", *[s.gold_set for s in result.extraction])
    for label in rows[0]:
        table.add_row(label, *[row[label] for row in rows])
    console.print(table)
    _write_report(report, result)


@eval_app.command("pages")
def eval_pages(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    scale: Annotated[int, typer.Option(help="Time the pages on this many copies of the corpus's records too")] = 10,
    screenshots: Annotated[Path | None, typer.Option(help="Save a screenshot of each page here")] = None,
    report: Path = Path("eval/reports/pages.json"),
) -> None:
    """Time for each web page to be ready in headless Chromium, on the sample corpus and at `scale` times it."""
    from api import page_timings

    result = page_timings.run(corpus_dir, get_settings(), scale, screenshots)
    table = Table("page", "documents", "stored findings", "ready (ms, median of 3)")
    for t in result.timings:
        table.add_row(t.page, str(t.documents), str(t.findings), f"{t.milliseconds:.0f}")
    console.print(table)
    _write_report(report, result)


@eval_app.command("oversight")
def eval_oversight(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    scale: Annotated[int, typer.Option(help="Time the nightly run on this many copies of the corpus too")] = 10,
    report: Path = Path("eval/reports/oversight.json"),
) -> None:
    """Partner risk, readiness and digest expectations (eval/oversight_gold.yaml) met; nightly run time."""
    from eval import oversight

    result = oversight.run(corpus_dir, get_settings(), scale)
    table = Table("expectation", "met", "got")
    for c in result.checks:
        table.add_row(c.expectation, "yes" if c.met else "[red]NO[/red]", c.got)
    console.print(table)
    console.print(f"{result.met} of {result.total} expectations met (judged on {result.as_of})")
    for t in result.nightly:
        console.print(f"nightly digest over {t.documents} documents: {t.seconds} s")
    _write_report(report, result)


@eval_app.command("scope")
def eval_scope(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    holdout: Annotated[bool, typer.Option(help="Score the held-out documents too")] = True,
    probes: Annotated[bool, typer.Option(help="Probe sessions and writes over HTTP too")] = True,
    report: Path = Path("eval/reports/scope.json"),
) -> None:
    """What a one-program view withholds: passages (eval/scope_gold.yaml), titles, file names, headings and
    record numbers (eval/scope_strings_gold.yaml), and, probed over HTTP, sessions and writes."""
    from api import probe
    from eval import scope

    result = scope.run(corpus_dir, get_settings(), holdout)
    if probes:
        result.probes = probe.run(corpus_dir)
    table = Table("gold set", "passages", "judgements", "must withhold", "leaks", "over-withheld", "accuracy", "s/doc")
    for s in result.scores:
        table.add_row(s.gold_set, str(s.passages), str(s.judgements), str(s.must_withhold), str(s.leaks),
                      str(s.over_withheld), f"{s.accuracy:.3f}", f"{s.seconds_per_document:.4f}")  # fmt: skip
    console.print(table)
    for s in result.scores:
        for m in s.misses:
            console.print(f"[{s.gold_set}] {m.view} view: expected {m.expected}, got {m.got}: {m.file}: {m.quote!r}")
    table = Table("strings of", "documents", "judgements", "leaks", "over-withheld")
    for s in result.strings:
        table.add_row(s.gold_set, str(s.documents), str(s.judgements), str(s.leaks), str(s.over_withheld))
    console.print(table)
    for s in result.strings:
        for m in s.misses:
            console.print(f"[{s.gold_set} strings] {m.view} view: expected {m.expected}, got {m.got}: {m.file}: {m.quote!r}")
    if result.probes:
        table = Table("probe over HTTP", "leaked", "answer")
        for p in result.probes:
            table.add_row(p.probe, "[red]YES[/red]" if p.leaked else "no", p.got)
        console.print(table)
        console.print(f"{sum(p.leaked for p in result.probes)} of {len(result.probes)} probes leaked")
    _write_report(report, result)


def _extraction_row(s) -> dict[str, str]:
    """One backend's scores on one gold set, as the eval table shows them."""
    gaps = {f"{k} P / R": f"{v['precision']:.3f} / {v['recall']:.3f}" for k, v in s.status_detection.items()}
    return {
        "QTA element-status accuracy": f"{s.element_status_accuracy:.3f} of {s.qta_elements}",
        **gaps,
        "triage fields P / R / F1": f"{s.fields['precision']:.3f} / {s.fields['recall']:.3f} / {s.fields['f1']:.3f}",
        "flags P / R": f"{s.flags['precision']:.3f} / {s.flags['recall']:.3f}",
        "risk accuracy": f"{s.risk_accuracy:.3f} of {s.reports}",
        "seconds per QTA review": f"{s.seconds_per_qta_review:.3f}",
        "seconds per triage": f"{s.seconds_per_triage:.3f}",
        "model quotes grounded": f"{s.grounding.grounded} of {s.grounding.offered}",
        "invalid model answers / fallbacks": f"{s.grounding.invalid_outputs} / {len(s.grounding.fallbacks)}",
    }


@app.command()
def bench(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    sizes: Annotated[str, typer.Option(help="Corpus sizes in chunks, comma-separated")] = "10000,100000",
    engines: Annotated[str, typer.Option(help="Vector engines, comma-separated (edge, local)")] = "edge",
    files: Annotated[int, typer.Option(help="PDF files ingested (the sample's, repeated)")] = 60,
    search_only: Annotated[bool, typer.Option(help="Only the search latencies (e.g. --sizes 1000000)")] = False,
    report: Path = Path("eval/reports/benchmark.json"),
) -> None:
    """Ingestion pages/s beside a plain LangChain pipeline, recall beside it, embedding speed per backend,
    search latency per size, the first search after an upload; with the machine's CPU and load."""
    from eval import benchmark

    result = benchmark.run(
        corpus_dir,
        [int(s) for s in sizes.split(",")],
        [VectorEngine(e) for e in engines.split(",")],
        threads=get_settings().threads,
        files=files,
        search_only=search_only,
    )
    m, i, q = result.machine, result.ingestion, result.quality
    console.print(f"machine: {m.cpu}, {m.cores} cores, {' '.join(m.features) or 'no AVX2'}; load average "
                  f"{m.load_average_start} at the start, {m.load_average_mean} mean, {m.load_average_max} at most")  # fmt: skip
    if i is not None and q is not None:
        _print_ingestion(i, q, result.embedding)
    table = Table("vector engine", "chunks", "build s", "search p50 ms", "search p95 ms", "queries",
                  "first search after an upload ms")  # fmt: skip
    for s in result.search:
        table.add_row(s.engine.value, f"{s.chunks:,}", str(s.load_seconds), str(s.p50_ms), str(s.p95_ms),
                      str(s.queries), str(s.first_search_after_upload_ms))  # fmt: skip
    console.print(table)
    _write_report(report, result)


def _print_ingestion(i, q, embedding) -> None:
    console.print(
        f"ingestion of {i.files} PDFs ({i.pdf_pages} pages): {i.parse_pages_per_second} pages/s parsed and chunked; "
        f"{i.end_to_end_pages_per_second} pages/s end to end; the LangChain peer {i.peer_pages_per_second} pages/s "
        f"({i.ratio_to_peer}x); the first pass over the {i.originals} originals "
        f"alone {i.distinct_pages_per_second} pages/s, the peer {i.peer_distinct_pages_per_second}"
    )
    console.print(f"recall@5 / MRR on the {q.questions} gold questions about PDFs: {q.recall_at_5} / {q.mrr}; "
                  f"the peer {q.peer_recall_at_5} / {q.peer_mrr}")  # fmt: skip
    table = Table("embedding engine", "chunks", "mean tokens", "chunks/s", "chunks/CPU-s", "hybrid recall@5", "MRR")
    for e in embedding:
        table.add_row(e.engine, str(e.chunks), str(e.mean_tokens), str(e.chunks_per_second),
                      str(e.chunks_per_cpu_second), str(e.hybrid_recall_at_5), str(e.hybrid_mrr))  # fmt: skip
    console.print(table)


@app.command("load-test")
def load_test(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    workers: Annotated[int, typer.Option(help="Concurrent clients")] = 8,
    seconds: Annotated[float, typer.Option(help="How long the run lasts")] = 60.0,
    programs: ScopePrograms = None,
    hostile: Annotated[bool, typer.Option(help="A fifth of the uploads are hostile files (each must be refused)")] = False,
    report: Path = Path("eval/reports/load.json"),
) -> None:
    """A bounded load run on loopback: concurrent uploads and chat queries with API keys; rps, p95, errors,
    memory; with --hostile, the refusals of hostile files and nothing lost."""
    from api import load

    result = load.run(corpus_dir, workers, seconds, programs=ids(programs), hostile=hostile)
    table = Table("kind", "requests", "errors", "p50 ms", "p95 ms")
    for k in result.kinds:
        table.add_row(k.kind, str(k.requests), str(k.errors), f"{k.p50_ms}", f"{k.p95_ms}")
    console.print(table)
    scope = f" scoped to {', '.join(result.programs)}" if result.programs else ""
    console.print(f"{result.requests} requests in {result.seconds} s with {result.workers} clients{scope}: "
                  f"{result.requests_per_second} requests/s, {result.errors} errors; {result.stored} uploads stored, "
                  f"{result.lost} lost, {result.refused_as_expected} hostile files refused as expected; memory "
                  f"{result.rss_start_mb:.0f} MB at the start, {result.rss_peak_mb:.0f} MB at most, "
                  f"{result.rss_end_mb:.0f} MB at the end; index and records "
                  f"{'consistent' if result.consistent_after else 'DRIFTED'} afterwards")  # fmt: skip
    for line in result.unexpected:
        console.print(f"[yellow]unexpected: {line}[/yellow]", markup=True, highlight=False)
    _write_report(report, result)


@app.command("build-fixtures")
def build_fixtures(out: Path = Path("fixtures/corpus")) -> None:
    """Generate the sample corpus (PDF, DOCX, EML, HTML) into a folder."""
    from fixtures.build_corpus import build

    refuse_store_path(out, get_settings())
    console.print(f"{len(build(out))} files written to {out}")


@eval_app.command("readers")
def eval_readers(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    report: Path = Path("eval/reports/readers.json"),
) -> None:
    """Kind, record and batch numbers, event fields, date roles, flags and QTA elements: on the sample corpus
    and on the development set of another sponsor's documents (eval/readers_gold.yaml)."""
    from eval import readers

    result = readers.run(corpus_dir, get_settings())
    table = Table("measure", *[f"{s.gold_set} ({s.documents} documents)" for s in result.scores])

    def pr(values: dict[str, float]) -> str:
        return f"P {values['precision']:.3f} R {values['recall']:.3f}"

    table.add_row("kind accuracy", *[f"{s.kind_accuracy:.3f}" for s in result.scores])
    for label, key in (("identifiers", "identifiers"), ("  record numbers", "record_ids"), ("  batch numbers", "batch_ids"),
                       ("event fields", "event_fields"), ("date roles", "date_roles"), ("flags", "flags")):  # fmt: skip
        table.add_row(label, *[pr(getattr(s, key)) for s in result.scores])
    table.add_row("QTA element accuracy", *[f"{s.qta_element_accuracy:.3f} of {s.qta_elements}" for s in result.scores])
    console.print(table)
    for s in result.scores:
        for miss in s.mismatches:
            console.print(f"[dim]{s.gold_set}: {miss}[/dim]", highlight=False)
    _write_report(report, result)


@eval_app.command("observations")
def eval_observations(report: Path = Path("eval/reports/observations.json")) -> None:
    """Regulators' letters and inspection findings read as observations (eval/regulatory_gold.yaml: real FDA
    warning letters): kind, segmentation, regulations cited, categories, repeats and site attribution."""
    from eval import regulatory

    result = regulatory.RegulatoryReport(scores=regulatory.run(get_settings()))
    table = Table("measure", *[f"{'with' if s.with_meaning else 'without'} the meaning signal" for s in result.scores])

    def pr(values: dict) -> str:
        return f"P {values['precision']:.3f} R {values['recall']:.3f}"

    table.add_row("kind accuracy", *[f"{s.kind_accuracy:.3f}" for s in result.scores])
    table.add_row("observations found", *[pr(s.segmentation) for s in result.scores])
    table.add_row("regulations cited", *[pr(s.regulations) for s in result.scores])
    table.add_row("categories", *[pr(s.categories) for s in result.scores])
    for category in result.scores[0].by_category:
        table.add_row(f"  {category}", *[pr(s.by_category.get(category, {"precision": 1, "recall": 1})) for s in result.scores])
    table.add_row("repeat accuracy", *[f"{s.repeat_accuracy:.3f}" for s in result.scores])
    table.add_row("site attribution accuracy", *[f"{s.site_accuracy:.3f}" for s in result.scores])
    console.print(table)
    for miss in result.scores[0].mismatches:
        console.print(f"[dim]{miss}[/dim]", highlight=False)
    _write_report(report, result)
