// The web app. Every piece of document-derived text is put in the page with textContent, never innerHTML,
// so a document holding HTML or script shows as text.
"use strict";

const $ = (id) => document.getElementById(id);
let sessionId = null;

// One date format everywhere: 2024-11-25, and 2024-11-25 06:00 UTC for a moment.
function when(iso) {
  if (!iso) return "";
  if (iso.length <= 10) return iso;
  return new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// --- tabs and scope ------------------------------------------------------------------------------

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t === tab));
    document.querySelectorAll(".view").forEach((v) => (v.hidden = v.id !== `view-${tab.dataset.view}`));
    $("source").hidden = true;  // a citation belongs to the page it was opened from
    if (tab.dataset.view === "documents") loadDocuments();
    if (tab.dataset.view === "dashboard") loadDashboard();
    if (tab.dataset.view === "findings") loadFindings();
  });
}

async function loadPortfolio() {
  const portfolio = await (await fetch("/portfolio")).json();
  for (const site of portfolio.sites) {
    $("scope").append(new Option(`Site: ${site.name} (${site.id})`, `site:${site.id}`));
    $("filter-site").append(new Option(site.name, site.id));
    $("finding-site").append(new Option(site.name, site.id));
  }
  for (const program of portfolio.programs) {
    $("scope").append(new Option(`Program: ${program.name} (${program.id})`, `program:${program.id}`));
    $("filter-program").append(new Option(program.name, program.id));
    $("finding-program").append(new Option(program.name, program.id));
  }
}

function scope() {
  const [kind, id] = $("scope").value.split(":");
  return { site: kind === "site" ? id : null, program: kind === "program" ? id : null };
}

// --- chat ----------------------------------------------------------------------------------------

$("new-session").addEventListener("click", () => {
  useSession(null);
  $("conversation").replaceChildren();
});

// The conversation in progress survives a reload: its id is kept in the browser, its turns on the server.
function useSession(id) {
  sessionId = id;
  if (id) localStorage.setItem("cdmo.session", id);
  else localStorage.removeItem("cdmo.session");
  $("export-session").hidden = !id;
  if (id) $("export-session").href = `/chat/sessions/${encodeURIComponent(id)}/markdown`;
}

async function showSession(id) {
  const response = await fetch(`/chat/sessions/${encodeURIComponent(id)}`);
  if (!response.ok) { useSession(null); return; }  // gone, or not this user's: start afresh
  const turns = await response.json();
  $("conversation").replaceChildren(...turns.map((turn) => {
    const node = el("div", undefined, "turn");
    const answer = el("div", undefined, "a");
    const citations = Object.fromEntries(turn.answer.citations.map((c) => [c.marker, c]));
    for (const sentence of turn.answer.sentences) answer.append(sentenceNode(sentence, citations), " ");
    finish(answer, turn.answer, turn.ordinal);
    node.append(el("div", turn.question, "q"), answer);
    return node;
  }));
  useSession(id);
}

async function loadSessions() {
  const response = await fetch("/chat/sessions");
  if (!response.ok) return;
  const sessions = await response.json();
  $("sessions").replaceChildren(...sessions.map((s) => {
    const item = el("li");
    const open = el("button", s.question, "link");
    open.type = "button";
    open.addEventListener("click", () => showSession(s.session_id));
    item.append(open, el("span", ` ${when(s.asked_at)}`, "meta"));
    return item;
  }));
}

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("question").value = "";
  $("ask").disabled = true;
  const turn = el("div", undefined, "turn");
  const answer = el("div", undefined, "a streaming");
  turn.append(el("div", question, "q"), answer);
  $("conversation").append(turn);
  const citations = {};
  try {
    const response = await fetch("/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, session_id: sessionId, ...scope() }),
    });
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    await readEvents(response, (type, data) => {
      if (type === "start") useSession(data.session_id);
      else if (type === "citation") citations[data.marker] = data;
      else if (type === "sentence") answer.append(sentenceNode(data, citations), " ");
      else if (type === "done") { finish(answer, data, $("conversation").children.length); loadSessions(); }
      else if (type === "error") answer.append(el("span", `Error: ${data.detail}`, "failed"));
    });
  } catch (error) {
    answer.append(el("span", `The question could not be answered: ${error.message}`, "failed"));
  } finally {
    answer.classList.remove("streaming");
    $("ask").disabled = false;
  }
});

async function readEvents(response, handle) {
  // server-sent events over a POST: read the body and split it into events ourselves
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (type && data) handle(type, JSON.parse(data));
    }
  }
}

function sentenceNode(sentence, citations) {
  const span = el("span", sentence.text, "sentence");
  for (const marker of sentence.citations) {
    const citation = citations[marker];
    const button = el("button", `[${marker}]`, "cite");
    button.type = "button";
    button.title = `${citation.filename}, page ${citation.page}`;
    button.addEventListener("click", () => openSource(citation, Object.values(citations)));
    span.append(button);
  }
  return span;
}

function finish(answer, data, ordinal) {
  answer.classList.add(data.kind);
  const sources = [...new Set(data.citations.map((c) => `${c.filename} p.${c.page}`))].join("; ");
  const meta = el("div", `${data.kind.replace("_", " ")} · ${data.backend}` + (sources ? ` · ${sources}` : ""), "meta");
  const markdown = el("a", "Markdown", "export");  // this answer with its citations, to paste or keep
  markdown.href = `/chat/sessions/${encodeURIComponent(data.session_id)}/markdown?turn=${ordinal}`;
  markdown.download = "";
  meta.append(" · ", markdown);
  answer.append(meta);
}

// The source pane: a cited passage on its page as drawn (a PDF page, or a scan with its OCR boxes), highlighted,
// with the page's text below (open by itself where there is no drawn page); next and previous walk the citations
// of the same answer or list.
// Bullets PDF writers put in the Symbol and Wingdings fonts' private code points: no font here draws them
const SYMBOL_BULLETS = /[\uf0a7\uf0b7\uf0d8\uf0e0\uf076\uf0fc\uf06e]/g;
let sourceList = [];
let sourcePosition = 0;

async function openSource(citation, list) {
  sourceList = list && list.length ? list : [citation];
  sourcePosition = Math.max(0, sourceList.indexOf(citation));
  await showSource();
}

let sourceRequest = 0;  // a slower, earlier page must not overwrite the one asked for since

async function showSource() {
  const request = ++sourceRequest;
  const citation = sourceList[sourcePosition];
  const params = new URLSearchParams({ start: citation.start, end: citation.end });
  const response = await fetch(`/documents/${encodeURIComponent(citation.document_id)}/pages/${citation.page}?${params}`);
  if (!response.ok || request !== sourceRequest) return;
  const page = await response.json();
  if (request !== sourceRequest) return;
  $("source-title").textContent = page.title;
  $("source-page").textContent = `${page.filename} · page ${page.number} of ${page.page_count}`;
  document.querySelector(".source-nav").hidden = sourceList.length < 2;  // one quote: nothing to walk
  $("source-position").textContent = `citation ${sourcePosition + 1} of ${sourceList.length}`;
  $("source-previous").disabled = sourcePosition === 0;
  $("source-next").disabled = sourcePosition >= sourceList.length - 1;
  const text = page.text.replace(SYMBOL_BULLETS, "•");  // one character for one: the offsets still hold
  const mark = el("mark", text.slice(citation.start, citation.end));
  $("source-text").replaceChildren(text.slice(0, citation.start), mark, text.slice(citation.end));
  let drawn = [];
  if (page.scan) {
    drawn = [el("div", `Scanned page, OCR confidence ${page.scan.confidence}`, "meta"),
      drawnPage(page.image_url, `Scan of page ${page.number}`, page.scan.words.filter((w) => w.end > citation.start && w.start < citation.end))];
  } else if (page.rendered_url) {
    drawn = [drawnPage(page.rendered_url, `Page ${page.number} of ${page.filename}`, page.highlight)];
  }
  $("source-scan").replaceChildren(...drawn);
  const hasBoxes = page.scan ? true : page.highlight.length > 0;
  $("source-text-view").open = !drawn.length || !hasBoxes;  // the text, where the page cannot show the passage
  $("source").hidden = false;
  const target = $("source-scan").querySelector(".word-box") || ($("source-text-view").open ? mark : null);
  if (target) target.scrollIntoView({ block: "center" });
}

// A page image with boxes over the cited words (boxes are fractions of the page).
function drawnPage(url, alt, boxes) {
  const figure = el("div", undefined, "scan");
  const image = el("img");
  image.src = url;
  image.alt = alt;
  figure.append(image);  // alone with the boxes: their percentages are of the image's size
  for (const b of boxes) {
    const box = el("span", undefined, "word-box");
    if (b.text) box.title = b.text;
    if (b.start !== undefined) box.dataset.start = b.start;
    Object.assign(box.style, {
      left: `${b.left * 100}%`, top: `${b.top * 100}%`, width: `${b.width * 100}%`, height: `${b.height * 100}%`,
    });
    figure.append(box);
  }
  return figure;
}

$("source-previous").addEventListener("click", () => { if (sourcePosition > 0) { sourcePosition--; showSource(); } });
$("source-next").addEventListener("click", () => {
  if (sourcePosition < sourceList.length - 1) { sourcePosition++; showSource(); }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("source").hidden) $("source").hidden = true;
});

$("source-close").addEventListener("click", () => ($("source").hidden = true));

function quoteButton(evidence) {
  const button = el("button", `p. ${evidence.page}`, "link");
  button.type = "button";
  button.title = `Open the quoted passage on page ${evidence.page}`;
  button.addEventListener("click", () => openSource(evidence));
  return button;
}

// --- documents -----------------------------------------------------------------------------------

// each kind's analysis: on its page (quotes highlighted), and as a Word document or PDF to send on
const analysed = (label, path) => (id) => [[label, `${path}/${id}?format=html`], ["Word", `${path}/${id}?format=docx`],
  ["PDF", `${path}/${id}?format=pdf`]];
const VIEWS = {
  qta: analysed("QTA review", "/qta/reviews"),
  deviation_report: analysed("Triage", "/events"),
  oos_investigation: analysed("Triage", "/events"),
  change_control: analysed("Triage", "/events"),
  regulatory_letter: analysed("Observations", "/observations"),
  inspection_observations: analysed("Observations", "/observations"),
  audit_report: analysed("Observations", "/observations"),
};

let documentsRequest = 0;  // a slower, older listing must not overwrite a newer one
let listedDocuments = [];
let documentSort = "date";
const RISK_ORDER = ["HIGH", "MEDIUM", "LOW"];
const documentDate = (doc) => doc.metadata.document_date || doc.ingested_at.slice(0, 10);
const DOCUMENT_KEYS = {
  title: (d) => d.title.toLowerCase(),
  date: (d) => String(99999999 - Number(documentDate(d).replaceAll("-", ""))),  // newest first
  kind: (d) => d.kind,
  risk: (d) => String(d.risk ? RISK_ORDER.indexOf(d.risk) : 9),
  version: (d) => String(1000 - d.version).padStart(4, "0"),
};

// The filters picked on the page, then the scope picked at the top for what they leave open.
function pageParams(pairs) {
  const params = new URLSearchParams();
  for (const [name, id] of pairs) if ($(id).value) params.set(name, $(id).value);
  for (const [name, value] of Object.entries(scope())) if (value && !params.has(name)) params.set(name, value);
  return params;
}

async function loadDocuments() {
  const request = ++documentsRequest;
  const params = pageParams([["site", "filter-site"], ["program", "filter-program"], ["kind", "filter-kind"]]);
  if ($("filter-superseded").checked) params.set("include_superseded", "true");
  const documents = await (await fetch(`/documents?${params}`)).json();
  if (request !== documentsRequest) return;
  const kinds = new Set([...$("filter-kind").options].map((o) => o.value));
  for (const doc of documents) {
    if (!kinds.has(doc.kind)) $("filter-kind").append(new Option(doc.kind.replaceAll("_", " "), doc.kind));
    kinds.add(doc.kind);
  }
  listedDocuments = documents;
  showDocuments();
}

// Search and sort in the page: the listing is already here.
function showDocuments() {
  const words = $("document-search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const text = (d) => [d.title, d.filename, d.kind, ...d.metadata.document_ids, ...d.metadata.batch_ids,
    ...d.metadata.sites, ...d.metadata.programs].join(" ").toLowerCase();
  const shown = listedDocuments.filter((d) => words.every((w) => text(d).includes(w)));
  const key = DOCUMENT_KEYS[documentSort];
  shown.sort((a, b) => key(a).localeCompare(key(b)) || a.title.localeCompare(b.title));
  $("document-counts").textContent = `${shown.length} of ${listedDocuments.length} document${listedDocuments.length === 1 ? "" : "s"}`;
  $("documents").tBodies[0].replaceChildren(...shown.map((doc) => {
    const row = el("tr");
    row.dataset.documentId = doc.id;
    const views = el("td");
    for (const [label, href] of (VIEWS[doc.kind] || (() => []))(doc.id)) {
      const link = el("a", label);
      link.href = href;
      link.target = "_blank";
      views.append(link, " ");
    }
    const title = el("td");
    title.append(el("div", doc.title), el("div", doc.filename, "meta"));
    const version = doc.status === "current" ? `v${doc.version}` : `v${doc.version} (${doc.status})`;
    row.append(title, el("td", when(documentDate(doc))), el("td", doc.kind.replaceAll("_", " ")),
      el("td", [...doc.metadata.sites, ...doc.metadata.programs].join(", ")),
      el("td", doc.risk ? doc.risk.toLowerCase() : "", doc.risk ? `risk-${doc.risk.toLowerCase()}` : ""),
      el("td", version), el("td", String(doc.page_count)), views);
    return row;
  }));
}

for (const id of ["filter-site", "filter-program", "filter-kind", "filter-superseded"]) $(id).addEventListener("change", loadDocuments);
$("document-search").addEventListener("input", showDocuments);
for (const button of document.querySelectorAll("button[data-sort-documents]")) {
  button.addEventListener("click", () => { documentSort = button.dataset.sortDocuments; showDocuments(); });
}

function showResults(jobs) {
  $("upload-results").replaceChildren(...jobs.map((job) => {
    const r = job.result;
    if (!r) return el("li", job.status === "failed" ? `${job.filename}: failed: ${job.error}` : `${job.filename}: ${job.status}`, job.status === "failed" ? "failed" : "");
    let text = r.status === "failed" ? `${r.filename}: failed: ${r.error}` : `${r.filename}: ${r.status.replace("_", " ")}`;
    if (r.related_to && r.version_note) text += ` (${r.version_note})`;  // named a record, stored beside it
    if (r.downgrade && r.downgrade.length) text += ` — lowers its record (${r.downgrade.join("; ")}): held for a person to confirm`;
    return el("li", text, r.status === "failed" ? "failed" : "");
  }));
}

// The share of a job that is done: reading and embedding report their steps; a finished job is whole.
function jobShare(job) {
  if (job.status === "done" || job.status === "failed") return 1;
  if (job.status === "queued") return 0;
  return job.total ? 0.1 + 0.8 * (job.done || 0) / job.total : 0.1;
}

// Upload (the first half of the bar), then follow the files' jobs on the server (the second half).
function followJobs(jobs) {
  const ids = jobs.map((j) => j.id).join(",");
  const finish = (latest) => {
    showResults(latest);
    $("upload-progress").value = 100;
    $("upload-status").textContent = "Done";
    loadDocuments();
  };
  if (jobs.every((j) => j.status === "done" || j.status === "failed")) return finish(jobs);
  const events = new EventSource(`/jobs/events?ids=${encodeURIComponent(ids)}`);
  let latest = jobs;
  events.addEventListener("progress", (e) => {
    latest = JSON.parse(e.data);
    const share = latest.reduce((sum, j) => sum + jobShare(j), 0) / latest.length;
    $("upload-progress").value = Math.round(50 + 50 * share);
    const running = latest.find((j) => j.status === "running");
    $("upload-status").textContent = running ? `${running.filename}: ${running.stage || "working"}${running.total ? ` (${running.done} of ${running.total})` : ""}…` : "Waiting to be read…";
    showResults(latest);
  });
  for (const name of ["done", "timeout"]) events.addEventListener(name, () => { events.close(); finish(latest); });
  events.onerror = () => { events.close(); $("upload-status").textContent = "Lost touch with the server; the files go on being read: refresh to see them"; };
}

$("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const files = $("files").files;
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("files", file);
  const request = new XMLHttpRequest();  // XHR, not fetch: it reports upload progress
  $("upload-progress").hidden = false;
  $("upload-progress").value = 0;
  $("upload-status").textContent = "Uploading…";
  request.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) $("upload-progress").value = Math.round((50 * e.loaded) / e.total);
  });
  request.upload.addEventListener("load", () => ($("upload-status").textContent = "Queued for reading…"));
  request.addEventListener("load", () => {
    let jobs = null;
    try { jobs = JSON.parse(request.responseText); } catch { jobs = null; }
    if (!Array.isArray(jobs)) {
      const detail = (jobs && jobs.detail) || request.statusText || "the server refused the upload";
      $("upload-results").replaceChildren(el("li", `upload: failed: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`, "failed"));
      $("upload-status").textContent = "Refused";
      return;
    }
    showResults(jobs);
    followJobs(jobs);
  });
  request.addEventListener("error", () => ($("upload-status").textContent = "The upload failed: the server did not answer"));
  request.open("POST", "/documents");
  request.send(form);
});

// --- dashboard -----------------------------------------------------------------------------------

function dimensionCell(d) {
  if (!d.has_data) return el("td", "no data", "no-data");
  return el("td", `${d.score} (${d.age_days} days old)`);
}

async function loadDashboard() {
  const narrowed = pageParams([]);  // the scope picked at the top: a site and its programs, or a program and its sites
  const [risks, programs, summaries] = await Promise.all(
    [`/sites/risk?${narrowed}`, `/programs/readiness?${narrowed}`, "/summaries"].map(async (url) => (await fetch(url)).json())
  );
  narrowed.set("t", Date.now());  // the charts are redrawn on every visit
  $("risk-chart").src = `/sites/risk/chart.svg?${narrowed}`;
  $("readiness-chart").src = `/programs/readiness/chart.svg?${narrowed}`;
  const scoped = $("scope").value ? ` · ${$("scope").selectedOptions[0].textContent}` : "";
  $("as-of").textContent = (risks.length ? `Judged on ${when(risks[0].as_of)}` : "") + scoped;
  $("site-risk").tBodies[0].replaceChildren(...risks.map((r) => {
    const row = el("tr");
    row.dataset.site = r.site;
    row.append(el("td", r.name), el("td", `${r.score} (${r.level})`), ...r.dimensions.map(dimensionCell),
      el("td", `${Math.round(r.completeness * 100)}% of dimensions`));
    return row;
  }));
  $("risk-signals").replaceChildren(...risks.map((r) => {
    const details = el("details");
    details.append(el("summary", `Why ${r.name} scores ${r.score}`));
    const list = el("ul");
    for (const d of r.dimensions) {
      for (const s of d.signals) {
        const item = el("li", `${d.dimension.replaceAll("_", " ")}: +${s.points} ${s.label} (${s.filename}${s.dated ? ", " + when(s.dated) : ""}) `);
        if (s.evidence) item.append(quoteButton(s.evidence));  // the sentence or record it rests on, on its page
        list.append(item);
      }
    }
    details.append(list);
    return details;
  }));
  $("program-readiness").tBodies[0].replaceChildren(...programs.map((p) => {
    const row = el("tr");
    row.dataset.program = p.program;
    const next = p.next_milestone ? `${p.next_milestone}, ${p.next_milestone_date} (${p.days_to_next} days)` : "none";
    row.append(el("td", `${p.program} ${p.name}`), el("td", String(p.score)), el("td", next),
      el("td", p.ctd_sections_at_risk.join(", ") || "-"), el("td", String(p.overdue_capas)), el("td", String(p.open_qta_gaps)));
    return row;
  }));
  $("propagation").replaceChildren(...programs.flatMap((p) => p.propagation.map((chain) => {
    const block = el("div", undefined, "chain");
    const steps = el("ol");
    for (const step of chain.steps) steps.append(el("li", step));
    block.append(el("strong", `${p.program}: ${chain.origin}`), steps);
    return block;
  })));
  $("summaries").replaceChildren(...summaries.map((run) => {
    const item = el("li");
    const link = el("a", run.since ? `Digest ${when(run.since)} to ${when(run.until)}` : `Digest of everything to ${when(run.until)}`);
    link.href = `/summaries/${encodeURIComponent(run.id)}`;
    link.target = "_blank";
    item.append(link, ` (${Object.keys(run.site_scores).length} sites, ${run.mailed_to.length ? "mailed" : "not mailed"})`);
    return item;
  }));
}

// --- findings: the register and the work on each ----------------------------------------------------

// where a finding's evidence is quoted and highlighted on its pages
const EVIDENCE = {
  event: (id) => `/events/${id}?format=html`,
  overdue_capa: (id) => `/events/${id}?format=html`,
  qta_review: (id) => `/qta/reviews/${id}?format=html`,
  observation: (id) => `/observations/${id}?format=html`,
};  // minutes and new versions have no analysis page: their quote opens in the source pane
const SEVERITY_ORDER = ["critical", "high", "major", "medium", "minor", "low"];
let findingSort = "severity";
let findingsRequest = 0;
let workingOn = null;

function stateText(state) {
  const by = state.updated_at ? ` (${state.updated_by}, ${when(state.updated_at)})` : "";
  if (state.status === "assigned") return `assigned to ${state.assignee}${by}`;
  if (state.status === "closed") return `closed: ${state.closed_reason}${by}`;
  return state.status + by;
}

const FINDING_KEYS = {
  finding: (f) => f.name,
  severity: (f) => String(SEVERITY_ORDER.indexOf(f.severity) + 100),
  site: (f) => f.site || "~",
  state: (f) => f.state.status,
  age: (f) => String(100000 - (f.age_days ?? -1)).padStart(6, "0"),  // oldest first
  due: (f) => f.state.due || f.due || "~",  // soonest first
};

async function loadFindings() {
  const request = ++findingsRequest;
  const params = pageParams([["status", "finding-status"], ["site", "finding-site"], ["program", "finding-program"]]);
  $("export-csv").href = `/findings/export?${params}&format=csv`;
  $("export-xlsx").href = `/findings/export?${params}&format=xlsx`;
  const findings = await (await fetch(`/findings?${params}`)).json();
  if (request !== findingsRequest) return;
  const counts = {};
  for (const f of findings) counts[f.state.status] = (counts[f.state.status] || 0) + 1;
  $("finding-counts").textContent = `${findings.length} finding${findings.length === 1 ? "" : "s"}: ` +
    (["open", "acknowledged", "assigned", "closed"].map((s) => `${counts[s] || 0} ${s}`).join(", "));
  const key = FINDING_KEYS[findingSort];
  findings.sort((a, b) => key(a).localeCompare(key(b)) || a.name.localeCompare(b.name));
  $("findings").tBodies[0].replaceChildren(...findings.map((f) => {
    const row = el("tr");
    row.dataset.key = f.key;
    const name = el("td");
    name.append(el("strong", f.name), el("div", f.summary, "meta"));
    const doc = el("td");
    const title = f.document_title || "the document";
    const view = EVIDENCE[f.source];
    const link = view ? el("a", title) : el("span", title);
    if (view) {
      link.href = view(encodeURIComponent(f.document_id));
      link.target = "_blank";
    }
    doc.append(link);
    if (f.evidence) doc.append(" ", quoteButton(f.evidence));  // the quoted passage itself, on its page
    const due = f.state.due || f.due;
    const work = el("td");
    const button = el("button", "Work on it");
    button.type = "button";
    button.addEventListener("click", () => openFindingForm(f));
    work.append(button);
    row.append(name, el("td", f.severity), el("td", f.site || ""), el("td", [...f.programs, ...f.batch_ids].join(", ")),
      doc, el("td", f.age_days === null ? "" : `${f.age_days} d`), el("td", due ? when(due) + (f.late ? " (late)" : "") : "", f.late ? "late" : ""),
      el("td", stateText(f.state), `state-${f.state.status}`), work);
    return row;
  }));
}

function openFindingForm(finding) {
  workingOn = finding;
  $("finding-form-title").textContent = finding.name;
  $("finding-error").textContent = "";
  $("finding-action").value = finding.state.status === "closed" ? "reopen" : "acknowledge";
  $("finding-form").hidden = false;
  $("finding-action").focus();
}

$("finding-cancel").addEventListener("click", () => ($("finding-form").hidden = true));

$("finding-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { action: $("finding-action").value };
  if ($("finding-assignee").value) body.assignee = $("finding-assignee").value;
  if ($("finding-due").value) body.due = $("finding-due").value;
  if ($("finding-text").value) body.text = $("finding-text").value;
  const response = await fetch(`/findings/${encodeURIComponent(workingOn.key)}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) {
    const detail = (await response.json()).detail;
    $("finding-error").textContent = typeof detail === "string" ? detail : "The change was not accepted";
    return;
  }
  $("finding-form").hidden = true;
  for (const id of ["finding-assignee", "finding-due", "finding-text"]) $(id).value = "";
  loadFindings();
});

for (const id of ["finding-status", "finding-site", "finding-program"]) $(id).addEventListener("change", loadFindings);
$("scope").addEventListener("change", () => {  // the scope picked at the top narrows every page
  if (!$("view-findings").hidden) loadFindings();
  if (!$("view-documents").hidden) loadDocuments();
  if (!$("view-dashboard").hidden) loadDashboard();
});
for (const button of document.querySelectorAll("button.sort")) {
  button.addEventListener("click", () => {
    findingSort = button.dataset.sort;
    loadFindings();
  });
}

// --- who is asking ---------------------------------------------------------------------------------

async function start() {
  const response = await fetch("/auth/me");
  if (response.status === 401) {  // authentication is on and there is no session yet
    $("login").hidden = false;
    document.querySelector("main").hidden = true;
    return;
  }
  const me = await response.json();
  const limits = [me.programs && `programs ${me.programs.join(", ")}`, me.sites && `sites ${me.sites.join(", ")}`].filter(Boolean);
  if (me.kind !== "local") $("who").textContent = `${me.name} (${me.role}${limits.length ? "; " + limits.join("; ") : ""})`;
  loadPortfolio();
  loadSessions();
  const kept = localStorage.getItem("cdmo.session");
  if (kept) showSession(kept);
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("username").value, password: $("password").value }),
  });
  if (!response.ok) {
    $("login-error").textContent = "Unknown user or wrong password";
    return;
  }
  $("login").hidden = true;
  document.querySelector("main").hidden = false;
  start();
});

start();
