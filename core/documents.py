"""Records for an ingested document: its kind, metadata, pages and chunks."""

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from core.tables import Table


class DocumentKind(StrEnum):
    QTA = "qta"
    # a supply, manufacturing, services, licence, development, joint-venture or other commercial agreement:
    # searchable, not reviewed as a quality agreement (its quality section is, where it has one)
    COMMERCIAL_AGREEMENT = "commercial_agreement"
    BATCH_RECORD = "batch_record"
    DEVIATION_REPORT = "deviation_report"
    OOS_INVESTIGATION = "oos_investigation"
    CAPA = "capa"
    CHANGE_CONTROL = "change_control"
    AUDIT_REPORT = "audit_report"
    INSPECTION_OBSERVATIONS = "inspection_observations"  # Form FDA 483, an EU or MHRA inspection report
    REGULATORY_LETTER = "regulatory_letter"  # warning or untitled letter, statement of non-compliance
    MEETING_MINUTES = "meeting_minutes"
    OTHER = "other"


AGREEMENT_KINDS = (DocumentKind.QTA, DocumentKind.COMMERCIAL_AGREEMENT)


class FileType(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    EML = "eml"
    MSG = "msg"
    HTML = "html"
    MARKDOWN = "md"
    TEXT = "txt"
    IMAGE = "image"  # a scan sent as PNG, JPEG or TIFF


class DocumentStatus(StrEnum):
    CURRENT = "current"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"  # a new version a person rejected: kept and readable, the one before is current again


class BlockKind(StrEnum):
    HEADING = "heading"
    TEXT = "text"
    LIST_ITEM = "list_item"
    TABLE = "table"


class QualitySection(BaseModel):
    """The section of a commercial agreement that sets the product's quality obligations."""

    heading: str
    page: int
    start: int = Field(description="Where its heading starts in the page text")
    end_page: int
    end: int = Field(description="Where the next section starts in the text of end_page")
    refers_to_quality_agreement: bool = Field(False, description="It says a separate quality agreement governs")


class AgreementIdentity(BaseModel):
    """What an agreement says of itself (ingestion/agreements.py): what a new version of it must share."""

    name: str | None = Field(None, description='The name it gives itself, e.g. "Manufacturing and Supply Agreement"')
    parties: list[str] = Field(default_factory=list, description="The parties named in its opening, as written")
    amendment: str | None = Field(None, description='Its own mark when it amends another: "Amendment No. 2"')
    amends: str | None = Field(None, description="The agreement it amends or adds to, as it names it")
    revision: str | None = Field(None, description='Its revision mark: "Rev 4", "Version 2.1"')
    quality_section: QualitySection | None = None


class DocumentMetadata(BaseModel):
    """What the document is about, as found in its text."""

    sites: list[str] = Field(default_factory=list, description="Portfolio site ids")
    programs: list[str] = Field(default_factory=list, description="Portfolio program ids")
    products: list[str] = Field(default_factory=list)
    batch_ids: list[str] = Field(default_factory=list)
    document_ids: list[str] = Field(default_factory=list, description="DEV-, OOS-, CAPA-, CC-... numbers")
    dates: list[date] = Field(default_factory=list)
    document_date: date | None = None
    agreement: AgreementIdentity | None = Field(None, description="For an agreement: its name, parties, revision")
    kind_confidence: float | None = Field(None, description="How sure the kind reading is, 0 to 1")
    kind_reasons: list[str] = Field(default_factory=list, description="What the kind was judged from, strongest first")


class KindReading(BaseModel):
    """A document's kind with what it was judged from."""

    kind: DocumentKind
    confidence: float = Field(description="The chosen kind's share of the two best scores, 0.5 to 1")
    reasons: list[str]


class Block(BaseModel):
    """One structural element of a page: a heading, paragraph, list item or table."""

    kind: BlockKind
    page: int
    start: int = Field(description="Character offset into the page text")
    end: int
    text: str


class Page(BaseModel):
    number: int = Field(description="1-based page number")
    text: str


class WordBox(BaseModel):
    """One word OCR read: its span in the page text and its box on the page image, as fractions of the page."""

    text: str
    start: int
    end: int
    left: float
    top: float
    width: float
    height: float
    confidence: float = Field(description="Tesseract's confidence, 0-100")


class PageScan(BaseModel):
    """How a page without a usable text layer was read by OCR."""

    page: int
    confidence: float = Field(description="Mean word confidence, 0-100")
    skew_degrees: float = Field(0.0, description="Rotation applied to straighten the page before reading")
    words: list[WordBox] = Field(default_factory=list)
    image_jpeg: bytes = Field(b"", exclude=True, repr=False, description="The straightened page the boxes refer to")


class UnreadablePage(BaseModel):
    """A page that gave no text: reported with the document, never dropped quietly."""

    page: int
    reason: str


class ParsedDocument(BaseModel):
    """A file turned into page texts and structural blocks whose offsets point into those texts."""

    file_type: FileType
    title: str
    pages: list[Page]
    blocks: list[Block]
    scans: list[PageScan] = Field(default_factory=list, description="Pages read by OCR")
    unreadable: list[UnreadablePage] = Field(default_factory=list)


class Chunk(BaseModel):
    id: str
    document_id: str
    ordinal: int
    page: int
    start: int = Field(description="Character offset into the page text")
    end: int
    section: str = Field("", description="The heading the chunk sits under")
    block_kind: BlockKind = BlockKind.TEXT
    text: str


class Document(BaseModel):
    id: str
    content_hash: str
    filename: str
    title: str
    kind: DocumentKind
    file_type: FileType
    size_bytes: int
    metadata: DocumentMetadata
    document_key: str = Field(description="Identity shared by every version of the same document")
    version: int = 1
    status: DocumentStatus = DocumentStatus.CURRENT
    supersedes: str | None = None
    superseded_by: str | None = None
    related_to: str | None = Field(
        None, description="The current record this one names (same kind and number) but does not replace"
    )
    ingested_at: datetime
    page_count: int
    chunk_count: int
    ocr_pages: list[int] = Field(default_factory=list, description="Pages read by OCR (no usable text layer)")
    unreadable_pages: list[UnreadablePage] = Field(default_factory=list)


class DocumentDetail(Document):
    pages: list[Page]
    chunks: list[Chunk]


class PreparedDocument(BaseModel):
    """Everything ingestion produces for one file, before anything is stored."""

    document: Document
    pages: list[Page]
    chunks: list[Chunk]
    scans: list[PageScan] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    original: bytes = Field(b"", exclude=True, repr=False, description="The file as received, kept with its records")


class Box(BaseModel):
    """A rectangle on a page, as fractions of the page's width and height from its top left corner."""

    left: float
    top: float
    width: float
    height: float


class IngestStatus(StrEnum):
    ADDED = "added"
    NEW_VERSION = "new_version"  # added, and the previous version is now superseded
    UNCHANGED = "unchanged"  # the same bytes were ingested before
    FAILED = "failed"


class IngestResult(BaseModel):
    filename: str
    status: IngestStatus
    document_id: str | None = None
    kind: DocumentKind | None = None
    pages: int = 0
    chunks: int = 0
    supersedes: str | None = None
    related_to: str | None = Field(None, description="Stored beside this record, which it names but does not replace")
    version_note: str | None = Field(None, description="Why it is, or is not, a new version of the record it names")
    downgrade: list[str] = Field(
        default_factory=list, description="What this new version lowers; held for a person to confirm"
    )
    ocr_pages: list[int] = Field(default_factory=list, description="Pages read by OCR")
    unreadable_pages: list[UnreadablePage] = Field(default_factory=list, description="Pages that gave no text")
    error: str | None = None
    analysis: str | None = Field(None, description="What the QTA review or triage found, or why it could not run")
    attachments: list["IngestResult"] = Field(default_factory=list, description="Files attached to an e-mail")

