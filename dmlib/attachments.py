"""Uploaded files (attachments) as every service takes them: one way to check, decode and name them.

Files travel as ``{"filename", "content_b64"}`` (the contracts' ``AttachmentIn``: a name with an accepted
extension, :data:`dmlib.contracts.disclosure.ATTACHMENT_TYPES`); :func:`decode_attachments` checks and
decodes all of them before anything is written (400 bad base64 or an empty file, 413 one over the
limit). Moved here from the disclosure service when cases began storing its attachments (issue 13).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
import uuid

from dmlib.contracts.disclosure import ATTACHMENT_TYPES
from dmlib.errors import BadInput, PayloadTooLarge


def safe_filename(name: str) -> str:
    """A file name fit for a Content-Disposition header and a spreadsheet cell: NFC, no path parts,
    no control characters or quotes, at most 120 characters before the extension."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r'[\x00-\x1f\x7f"]', "", name).strip() or "file"
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    return f"{stem[:120]}.{ext.lower()}" if ext else stem[:120]


def human_size(n: int) -> str:
    """A byte count for people: 5 MiB, 4 KiB, 300 B."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def decode_attachments(files: list[dict], limit: int) -> list[dict]:
    """Check and decode every file before anything is written: 400 for bad base64 or an empty file, 413
    if one is over ``limit`` bytes. Returns the file documents (``_id``, ``filename``, ``content_type``,
    ``size``, ``data``)."""
    out = []
    for i, f in enumerate(files):
        try:
            content = base64.b64decode(f["content_b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(
                "attachment is not base64 / 附件编码有误", fields={"attachments": {i: ["not base64"]}}
            ) from None
        if not content:
            raise BadInput("attachment is empty / 附件为空", fields={"attachments": {i: ["empty file"]}})
        if len(content) > limit:
            size = human_size(limit)
            raise PayloadTooLarge(
                f"attachment {f['filename']} is over {size} / 附件超过{size}",
                fields={"attachments": {i: [f"over {limit} bytes"]}},
                details={"limit_bytes": limit, "size_bytes": len(content), "filename": f["filename"]},
            )
        name = safe_filename(f["filename"])
        ext = name.rsplit(".", 1)[-1].lower()
        out.append(
            {
                "_id": f"f{uuid.uuid4().hex[:12]}",
                "filename": name,
                "content_type": ATTACHMENT_TYPES[ext],
                "size": len(content),
                "data": content,
            }
        )
    return out


def attachment_out(doc: dict) -> dict:
    """A stored file as the services answer it (``get_attachment``): ``{id, filename, content_type,
    size (bytes), content_b64}``."""
    return {
        "id": doc["_id"],
        "filename": doc["filename"],
        "content_type": doc["content_type"],
        "size": doc["size"],
        "content_b64": base64.b64encode(doc["data"]).decode(),
    }
