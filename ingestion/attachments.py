"""Files attached to an e-mail: each is a document of its own and is ingested as one.

A CDMO often sends the deviation report as a PDF attached to a covering e-mail; skipping it would
lose the document that matters. The attachment keeps the e-mail's name in its own, so its origin
stays visible in every listing and citation.
"""

import email
import email.policy
from email.message import EmailMessage

from core.documents import FileType

def email_attachments(name: str, data: bytes, file_type: FileType, limit: int) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(file name, bytes) of each attachment of an EML message up to `limit`, and the names of those past it
    (never dropped unsaid); other types have none here."""
    if file_type != FileType.EML:
        return [], []
    message = email.message_from_bytes(data, policy=email.policy.default)
    if not isinstance(message, EmailMessage):
        return [], []
    found, over = [], []
    for index, part in enumerate(message.iter_attachments(), start=1):
        attached = f"{name} - {part.get_filename() or f'attachment-{index}'}"
        if len(found) < limit:
            found.append((attached, part.get_payload(decode=True) or b""))
        else:
            over.append(attached)
    return found, over
