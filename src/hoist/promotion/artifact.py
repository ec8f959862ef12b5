"""How a ledger record is stored: a small OCI artifact in the environment's repository.

The artifact is an OCI manifest (``artifactType`` :data:`~hoist.manifest.LEDGER_RECORD_TYPE`, the empty
config and layer) whose ``subject`` is the image the record is about and whose annotations carry:

* the record itself, as canonical JSON;
* the *window*: copies of the records right before it (newest first), so one GET shows recent history;
* the *earlier* records: the manifest digests of the records before the window (newest first), so a
  reader going further back fetches them in parallel instead of one window after another;
* the *pinned* records: older records the head must keep in reach whatever happened since (the record
  that set the current digest, the last deploys, the freeze in force, the last rollback), so status,
  rollback and gates cost the same at ten records and at ten thousand (the rollback stack itself is in
  each record).

Each record names the digest of the previous record's manifest: the records form a hash chain, and
editing or removing one breaks it. In a referrers index a record is listed with a few small annotations
(:func:`record_descriptor`), never with its window.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hoist.digest import Digest
from hoist.errors import IntegrityError, InvalidDigest
from hoist.manifest import EMPTY_DESCRIPTOR, LEDGER_RECORD_TYPE, OCI_MANIFEST, Descriptor, Manifest
from hoist.promotion.record import Entry, Record
from hoist.promotion.signing import RecordSignature

ANNOTATION_RECORD = "dev.hoist.ledger.record"
ANNOTATION_WINDOW = "dev.hoist.ledger.window"
ANNOTATION_PINNED = "dev.hoist.ledger.pinned"
ANNOTATION_EARLIER = "dev.hoist.ledger.earlier"
ANNOTATION_SIGNATURE = "dev.hoist.ledger.signature"
ANNOTATION_ENV = "dev.hoist.ledger.environment"
ANNOTATION_SEQ = "dev.hoist.ledger.seq"
ANNOTATION_KIND = "dev.hoist.ledger.kind"
ANNOTATION_OUTCOME = "dev.hoist.ledger.outcome"
ANNOTATION_CREATED = "org.opencontainers.image.created"

_INDEX_ANNOTATIONS = (ANNOTATION_CREATED, ANNOTATION_ENV, ANNOTATION_SEQ, ANNOTATION_KIND, ANNOTATION_OUTCOME)


def _entry_json(entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {"manifest": str(entry.manifest), "record": entry.record.to_json()}
    if entry.signature is not None:
        out["signature"] = entry.signature.to_json()
    return out


def _entries_json(entries: Sequence[Entry]) -> str:
    return json.dumps([_entry_json(e) for e in entries], sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Parsed:
    """What a record manifest holds."""

    record: Record
    window: list[Entry]
    pinned: list[Entry]
    signature: RecordSignature | None
    earlier: list[Digest]

    def entry(self, digest: Digest) -> Entry:
        return Entry(digest, self.record, self.signature)


def record_manifest(
    record: Record,
    window: Sequence[Entry],
    pinned: Sequence[Entry] = (),
    signature: RecordSignature | None = None,
    earlier: Sequence[Digest] = (),
) -> Manifest:
    """The manifest bytes for ``record`` carrying ``window`` (the records before it, newest first),
    ``pinned`` (older records kept in reach), the record's ``signature`` and the digests of the records
    ``earlier`` than the window (newest first)."""
    annotations = {
        ANNOTATION_CREATED: record.time,
        ANNOTATION_ENV: record.environment,
        ANNOTATION_SEQ: str(record.seq),
        ANNOTATION_KIND: str(record.kind),
        ANNOTATION_RECORD: record.canonical(),
        ANNOTATION_WINDOW: _entries_json(window),
    }
    if record.outcome is not None:
        annotations[ANNOTATION_OUTCOME] = str(record.outcome)
    if pinned:
        annotations[ANNOTATION_PINNED] = _entries_json(pinned)
    if earlier:
        annotations[ANNOTATION_EARLIER] = json.dumps([str(d) for d in earlier], separators=(",", ":"))
    if signature is not None:
        annotations[ANNOTATION_SIGNATURE] = json.dumps(signature.to_json(), sort_keys=True, separators=(",", ":"))
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": LEDGER_RECORD_TYPE,
        "config": EMPTY_DESCRIPTOR.to_json(),
        "layers": [EMPTY_DESCRIPTOR.to_json()],
        "subject": {"mediaType": record.media_type, "digest": str(record.digest), "size": record.size},
        "annotations": annotations,
    }
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return Manifest(raw, OCI_MANIFEST, Digest.of(raw))


@dataclass(frozen=True)
class Kept:
    """A later record's copy of an earlier one, as stored (parsed on demand: an audit compares copies
    as JSON and parses only the few it needs)."""

    manifest: Digest
    doc: dict[str, Any]
    signature_doc: Any = None

    def entry(self) -> Entry:
        return Entry(self.manifest, Record.from_json(self.doc), RecordSignature.from_json(self.signature_doc))


@dataclass(frozen=True)
class Shallow:
    """A record manifest read without parsing its window: the record itself (and its JSON as held), the
    window's copies as stored, its signature. Everything but the copies is checked."""

    record: Record
    doc: dict[str, Any]
    kept: list[Kept]
    pinned_text: str
    signature: RecordSignature | None
    earlier: list[Digest]

    def entry(self, digest: Digest) -> Entry:
        return Entry(digest, self.record, self.signature)


def _kept(text: str) -> list[Kept]:
    items: list[dict[str, Any]] = json.loads(text)
    kept = []
    for item in items:
        doc = item["record"]
        if not isinstance(doc, dict):
            raise TypeError(f"a kept record is {type(doc).__name__}, not an object")
        kept.append(Kept(Digest.parse(item["manifest"]), doc, item.get("signature")))
    return kept


def read_record_manifest(manifest: Manifest) -> Shallow:
    """The record a ledger manifest holds, with its window's copies unparsed; anything inconsistent in
    the manifest is an integrity error."""
    what = f"ledger record {manifest.digest}"
    try:
        doc = json.loads(manifest.raw)
        annotations = doc["annotations"]
        own = json.loads(annotations[ANNOTATION_RECORD])
        record = Record.from_json(own)
        kept = _kept(annotations.get(ANNOTATION_WINDOW, "[]"))
        signed = annotations.get(ANNOTATION_SIGNATURE)
        signature = RecordSignature.from_json(json.loads(signed)) if signed else None
        earlier = [Digest.parse(str(d)) for d in json.loads(annotations.get(ANNOTATION_EARLIER, "[]"))]
        subject = doc["subject"]["digest"]
    except (KeyError, TypeError, ValueError, InvalidDigest) as exc:
        raise IntegrityError(f"{what} is not a hoist ledger record: {exc}") from exc
    if doc.get("artifactType") != LEDGER_RECORD_TYPE:
        raise IntegrityError(f"{what} has artifactType {doc.get('artifactType')!r}, not a hoist ledger record")
    if subject != str(record.digest) or annotations.get(ANNOTATION_SEQ) != str(record.seq):
        raise IntegrityError(f"{what}: its annotations disagree with the record it holds")
    return Shallow(record, own, kept, annotations.get(ANNOTATION_PINNED, "[]"), signature, earlier)


def parse_record_manifest(manifest: Manifest) -> Parsed:
    """The record a ledger manifest holds, its window, its pinned records and its signature; anything
    inconsistent is an integrity error."""
    shallow = read_record_manifest(manifest)
    try:
        window = [kept.entry() for kept in shallow.kept]
        pinned = [kept.entry() for kept in _kept(shallow.pinned_text)]
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"ledger record {manifest.digest} is not a hoist ledger record: {exc}") from exc
    return Parsed(shallow.record, window, pinned, shallow.signature, shallow.earlier)


def record_descriptor(manifest: Manifest, record: Record) -> Descriptor:
    """How a record is listed in a referrers index: what a reader needs to find it, never its window."""
    annotations = {ANNOTATION_CREATED: record.time, ANNOTATION_ENV: record.environment}
    annotations[ANNOTATION_SEQ] = str(record.seq)
    annotations[ANNOTATION_KIND] = str(record.kind)
    if record.outcome is not None:
        annotations[ANNOTATION_OUTCOME] = str(record.outcome)
    return Descriptor(
        manifest.media_type,
        manifest.digest,
        len(manifest.raw),
        artifact_type=LEDGER_RECORD_TYPE,
        annotations={k: annotations[k] for k in _INDEX_ANNOTATIONS if k in annotations},
    )


def slim_descriptor(entry: dict[str, Any]) -> dict[str, Any]:
    """A ledger entry of a referrers index as :func:`record_descriptor` lists it (older hoist versions
    listed the whole window)."""
    annotations = entry.get("annotations")
    if not isinstance(annotations, dict):
        return entry
    kept = {k: v for k, v in annotations.items() if k in _INDEX_ANNOTATIONS}
    return {**entry, "annotations": kept} if kept != annotations else entry
