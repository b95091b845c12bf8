"""Running the nightly digest: the window, the files, the record of the run, the e-mail, the schedule.

A run writes its Markdown and HTML next to themselves and moves them into place, then records the window
in the store, then mails. A run that fails before the record leaves the previous state as it was (the
next run starts from the same place); a run recorded but not mailed is mailed when it is run again; a
window already mailed is never mailed twice. Re-running a window rewrites the same files.
"""

import logging
import os
import re
import smtplib
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage

from agents.digest_render import digest_html, digest_markdown
from agents.nightly import DigestBuilder
from core.config import Settings
from core.oversight import Digest, SummaryRun
from core.portfolio import Portfolio
from core.programs import Programs
from core.store import RecordStore, as_utc
from prompts.loader import load_prompt

log = logging.getLogger(__name__)
_FIGURE = re.compile(r"\b[A-Z]{2,}-[\w-]*\d[\w-]*|\d[\d.,:/-]*\d|\d")  # record numbers, dates, scores


class NightlyRunner:
    def __init__(self, settings: Settings, store: RecordStore, portfolio: Portfolio, programs: Programs, model=None):
        self.settings, self.store, self.portfolio, self.programs = settings, store, portfolio, programs
        self.model = model  # a LangChain chat model for the narrative; default: the configured endpoint, if any

    def run(self, since: datetime | None = None, until: datetime | None = None) -> tuple[SummaryRun, Digest]:
        until = as_utc(until) if until else datetime.now(UTC).replace(microsecond=0)
        runs = self.store.summary_runs()
        if since is None:
            same = next((r for r in runs if r.until == until), None)  # a re-run of a recorded window
            earlier = [r.until for r in runs if r.until < until]
            since = same.since if same else max(earlier, default=None)
        else:
            since = as_utc(since)
        previous = next((r for r in runs if since is not None and r.until <= since), None)  # newest first
        today = self.settings.today()
        digest, risks, readiness = DigestBuilder(self.store, self.portfolio, self.programs, today).build(
            since, until, previous
        )
        digest.narrative = self._narrative(digest)
        digest.audit_anchor = self.store.audit_anchor()
        folder = self.settings.summaries_path
        folder.mkdir(parents=True, exist_ok=True)
        markdown, html = folder / f"digest-{digest.id}.md", folder / f"digest-{digest.id}.html"
        _write_atomically(markdown, digest_markdown(digest, risks, readiness))
        _write_atomically(html, digest_html(digest, risks, readiness))
        existing = next((r for r in runs if r.id == digest.id), None)
        record = SummaryRun(
            id=digest.id,
            since=since,
            until=until,
            created_at=existing.created_at if existing else datetime.now(UTC),
            markdown_path=str(markdown),
            html_path=str(html),
            mailed_to=existing.mailed_to if existing else [],
            site_scores=digest.site_scores,
            program_scores=digest.program_scores,
        )
        self.store.save_summary_run(record)
        if self.settings.audit_anchor_file:  # a file the operator keeps elsewhere (another disk, a backed-up share)
            with self.settings.audit_anchor_file.open("a", encoding="utf-8") as anchors:
                anchors.write(f"{until.isoformat()} {digest.audit_anchor}\n")
        if self.settings.smtp_host and self.settings.smtp_to and not record.mailed_to:
            self._mail(digest, markdown, html)
            record.mailed_to = list(self.settings.smtp_to)
            self.store.save_summary_run(record)
        return record, digest

    def _narrative(self, digest: Digest) -> str | None:
        """A few sentences from the LLM over the digest's own lines; dropped if it states a figure they lack."""
        model = self.model
        if model is None and self.settings.llm_enabled:
            from extraction.llm import chat_model

            model = chat_model(self.settings)
        if model is None:
            return None
        lines = [i.text for i in digest.needs_human + digest.risk_changes + digest.readiness_changes]
        prompt = load_prompt("nightly_narrative")
        try:
            reply = model.invoke(
                [SystemMessage(prompt.system), HumanMessage(prompt.user.format(facts="\n".join(lines)))]
            )
        except Exception as exc:  # the digest is complete without it
            log.warning("nightly narrative not written: %s", exc)
            return None
        text = " ".join(str(reply.content).split())
        facts = " ".join(lines)
        invented = [f for f in _FIGURE.findall(text) if f not in facts]
        if not text or invented:
            log.warning("nightly narrative dropped: figures not in the digest: %s", invented)
            return None
        return f"{text} (Written by {self.settings.llm_model or 'the LLM'} from the lines below, {prompt.version}.)"

    def _mail(self, digest: Digest, markdown: Path, html: Path) -> None:
        message = EmailMessage()
        message["Subject"] = (
            f"CDMO nightly digest {digest.until.date().isoformat()}: {len(digest.needs_human)} need a human"
        )
        message["From"] = self.settings.smtp_from
        message["To"] = ", ".join(self.settings.smtp_to)
        message["Message-ID"] = f"<digest-{digest.id}@cdmo-intel>"  # the same window is the same message
        message.set_content(markdown.read_text(encoding="utf-8"))
        message.add_alternative(html.read_text(encoding="utf-8"), subtype="html")
        with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port, timeout=30) as smtp:
            smtp.send_message(message)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)  # a reader sees the old file or the new one, never half of one


class NightlyScheduler:
    """Runs the digest every day at settings.nightly_at (HH:MM, the server's local time), in the server."""

    def __init__(self, at: str, run):
        hour, minute = (int(x) for x in at.split(":"))
        self.hour, self.minute, self._run = hour, minute, run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nightly", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def next_run(self, now: datetime) -> datetime:
        at = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        return at if at > now else at + timedelta(days=1)

    def _loop(self) -> None:
        while not self._stop.wait((self.next_run(datetime.now()) - datetime.now()).total_seconds()):
            try:
                self._run()
            except Exception:  # a failed night is logged and retried the next night; the server stays up
                log.exception("nightly digest failed")
