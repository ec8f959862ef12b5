"""Ledger records: what happened to an environment, as small OCI artifacts in its own repository.

A record is an OCI manifest (``artifactType`` :data:`RECORD_TYPE`) whose ``subject`` is the image digest it
is about, and whose annotations carry the record as canonical JSON plus copies of the previous records
(the *window*), so that one manifest GET shows recent history. Each record names the digest of the
previous record's manifest: the records form a hash chain, and editing or removing one breaks it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from hoist import __version__
from hoist.digest import Digest
from hoist.errors import IntegrityError
from hoist.manifest import OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST, Manifest

RECORD_TYPE = "application/vnd.hoist.ledger.record.v1+json"
ANNOTATION_RECORD = "dev.hoist.ledger.record"
ANNOTATION_WINDOW = "dev.hoist.ledger.window"
ANNOTATION_ENV = "dev.hoist.ledger.environment"
ANNOTATION_SEQ = "dev.hoist.ledger.seq"
ANNOTATION_KIND = "dev.hoist.ledger.kind"
EMPTY_DESCRIPTOR = {"mediaType": OCI_EMPTY, "digest": str(OCI_EMPTY_DIGEST), "size": 2}

KINDS = ("promote", "rollback", "deploy", "prune")


@dataclass(frozen=True, kw_only=True)
class Record:
    seq: int
    environment: str
    kind: str
    digest: str
    """The image this record is about (the manifest's subject)."""
    media_type: str
    size: int
    current: str
    """The environment's promoted digest after this record."""
    current_seq: int
    previous_digest: str | None = None
    previous_record: str | None = None
    source: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    history_tag: str | None = None
    actor: str = ""
    time: str = ""
    reason: str | None = None
    forced: bool = False
    git: dict[str, str] | None = None
    ci: dict[str, str] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    gates: list[dict[str, Any]] | None = None
    deploy: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    hoist: str = __version__

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], {}) or k in ("previous_record",)}

    def canonical(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Record:
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in doc.items() if k in known})
        except TypeError as exc:
            raise IntegrityError(f"ledger record is malformed: {exc}") from exc


@dataclass(frozen=True)
class Entry:
    """A record and the digest of the manifest that holds it."""

    manifest: Digest
    record: Record


def record_manifest(record: Record, window: list[Entry]) -> Manifest:
    """The manifest bytes for ``record`` carrying ``window`` (previous entries, newest first)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": RECORD_TYPE,
        "config": EMPTY_DESCRIPTOR,
        "layers": [EMPTY_DESCRIPTOR],
        "subject": {"mediaType": record.media_type, "digest": record.digest, "size": record.size},
        "annotations": {
            "org.opencontainers.image.created": record.time,
            ANNOTATION_ENV: record.environment,
            ANNOTATION_SEQ: str(record.seq),
            ANNOTATION_KIND: record.kind,
            ANNOTATION_RECORD: record.canonical(),
            ANNOTATION_WINDOW: json.dumps(
                [{"manifest": str(e.manifest), "record": e.record.to_json()} for e in window],
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            ),
        },
    }
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return Manifest(raw, OCI_MANIFEST, Digest.of(raw))


def parse_record_manifest(manifest: Manifest) -> tuple[Record, list[Entry]]:
    """The record a ledger manifest holds, and its window; anything inconsistent is an integrity error."""
    what = f"ledger record {manifest.digest}"
    try:
        doc = json.loads(manifest.raw)
        annotations = doc["annotations"]
        record = Record.from_json(json.loads(annotations[ANNOTATION_RECORD]))
        window_doc = json.loads(annotations.get(ANNOTATION_WINDOW, "[]"))
        window = [Entry(Digest.parse(item["manifest"]), Record.from_json(item["record"])) for item in window_doc]
        subject = doc["subject"]["digest"]
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"{what} is not a hoist ledger record: {exc}") from exc
    if doc.get("artifactType") != RECORD_TYPE:
        raise IntegrityError(f"{what} has artifactType {doc.get('artifactType')!r}, not a hoist ledger record")
    if subject != record.digest or annotations.get(ANNOTATION_SEQ) != str(record.seq):
        raise IntegrityError(f"{what}: its annotations disagree with the record it holds")
    return record, window
