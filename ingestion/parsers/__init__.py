"""One parser per family of formats; each returns a ParsedDocument whose offsets index its page texts."""

from core.config import Settings
from core.documents import FileType, ParsedDocument
from ingestion.parsers.image import parse_image
from ingestion.parsers.pdf import parse_pdf
from ingestion.parsers.structured import parse_with_unstructured


def parse(name: str, data: bytes, file_type: FileType, settings: Settings) -> ParsedDocument:
    if file_type == FileType.PDF:
        return parse_pdf(name, data, settings)
    if file_type == FileType.IMAGE:
        return parse_image(name, data, settings)
    return parse_with_unstructured(name, data, file_type)
