"""Files attached to an e-mail: each is a document of its own and is ingested as one.

A CDMO often sends the deviation report as a PDF attached to a covering e-mail; skipping it would
lose the document that matters. The attachment keeps the e-mail's name in its own, so its origin
stays visible in every listing and citation.
"""

import email
import email.policy
from email.message import EmailMessage

from core.documents import FileType

MAX_ATTACHMENTS = 50


def email_attachments(name: str, data: bytes, file_type: FileType) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each attachment of an EML message; other types have none here."""
    if file_type != FileType.EML:
        return []
    message = email.message_from_bytes(data, policy=email.policy.default)
    if not isinstance(message, EmailMessage):
        return []
    found = []
    for index, part in enumerate(message.iter_attachments(), start=1):
        payload = part.get_payload(decode=True) or b""
        found.append((f"{name} - {part.get_filename() or f'attachment-{index}'}", payload))
        if len(found) == MAX_ATTACHMENTS:
            break
    return found
