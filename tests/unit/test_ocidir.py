"""The OCI image layout store, method by method, on real directories (and skopeo reading what it wrote):
every byte checked against its digest, clear errors naming the layout, index.json kept as the image
spec and skopeo's ``oci:`` transport read it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.errors import (
    DigestMismatch,
    ManifestTooLarge,
    NotFound,
    ReferenceNotFound,
    TransportError,
    UnsupportedManifest,
)
from hoist.manifest import MAX_MANIFEST_BYTES, OCI_INDEX, OCI_MANIFEST, Descriptor, Manifest
from hoist.store.base import BytesBlobSource
from hoist.store.ocidir import REF_NAME, OCILayoutStore
from tests.infra.images import make_image
from tests.infra.skopeo import SkopeoError, skopeo_copy, skopeo_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def index_of(path: Path) -> dict[str, object]:
    return json.loads((path / "index.json").read_text())


def entries(path: Path) -> list[dict[str, object]]:
    manifests = index_of(path)["manifests"]
    assert isinstance(manifests, list)
    return manifests


def manifest(body: dict[str, object], media_type: str = OCI_MANIFEST) -> Manifest:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return Manifest(raw, media_type, Digest.of(raw))


def blob(data: bytes, media_type: str = "application/octet-stream") -> Descriptor:
    return Descriptor(media_type, Digest.of(data), len(data))


@pytest.fixture
def store(tmp_path: Path) -> OCILayoutStore:
    return OCILayoutStore(tmp_path / "layout", create=True)


# -- opening and creating ---------------------------------------------------------------------------------


def test_a_new_layout_is_what_the_image_spec_and_skopeo_expect(tmp_path: Path) -> None:
    path = tmp_path / "new"
    store = OCILayoutStore(path, create=True)
    assert repr(store) == f"OCILayoutStore({path})"
    assert str(store.location) == f"oci:{path}"
    assert json.loads((path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert index_of(path) == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    assert (path / "index.json").read_text() == f'{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}'
    assert (path / "blobs" / "sha256").is_dir()
    assert store.tags() == [] and store.root_descriptors() == []


def test_opening_again_keeps_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "kept"
    info = make_image(path, tag="v1", layers=1, layer_size=256, seed="kept")
    before = (path / "index.json").read_bytes()
    OCILayoutStore(path, create=True)
    assert (path / "index.json").read_bytes() == before
    assert OCILayoutStore(path, create=False).blob_size(Digest.parse(info.digest)) == len(info.manifest_bytes)


def test_a_missing_or_foreign_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReferenceNotFound) as missing:
        OCILayoutStore(tmp_path / "nowhere", create=False)
    assert str(missing.value) == f"oci:{tmp_path / 'nowhere'} does not exist: give the directory of an OCI image layout"
    (tmp_path / "plain").mkdir()
    with pytest.raises(ReferenceNotFound) as foreign:
        OCILayoutStore(tmp_path / "plain", create=False)
    assert str(foreign.value) == (
        f"oci:{tmp_path / 'plain'} is not an OCI image layout (no oci-layout file): "
        "give the directory of an OCI image layout"
    )
    assert not (tmp_path / "plain" / "index.json").exists(), "nothing was written into it"


def test_a_layout_not_there_yet_reads_as_empty_for_a_dry_run(tmp_path: Path) -> None:
    """``absent_ok`` (a dry run's destination): a directory that does not exist reads as an empty layout and
    nothing is created; a directory that exists but holds no layout is still refused, and a destination to
    create is created."""
    missing = tmp_path / "not-yet"
    store = OCILayoutStore(missing, create=False, absent_ok=True)
    assert store.tags() == [] and store.head_manifest("main") is None
    assert not missing.exists(), "nothing was created"
    (tmp_path / "plain").mkdir()
    with pytest.raises(ReferenceNotFound):
        OCILayoutStore(tmp_path / "plain", create=False, absent_ok=True)
    OCILayoutStore(tmp_path / "made", create=True, absent_ok=True)
    assert (tmp_path / "made" / "oci-layout").is_file()


def test_a_layout_that_cannot_be_created_is_a_transport_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(TransportError) as caught:
        OCILayoutStore(tmp_path / "file" / "layout", create=True)
    assert str(caught.value) == f"cannot create OCI layout oci:{tmp_path / 'file' / 'layout'}: Not a directory"


def test_a_damaged_index_is_refused(store: OCILayoutStore) -> None:
    index = store.path / "index.json"
    index.write_text("{not json")
    with pytest.raises(UnsupportedManifest) as bad_json:
        store.tags()
    assert str(bad_json.value) == f"oci:{store.path}/index.json is not valid JSON"
    for doc in ([], {"manifests": {}}):
        index.write_text(json.dumps(doc))
        with pytest.raises(UnsupportedManifest) as not_index:
            store.tags()
        assert str(not_index.value) == f"oci:{store.path}/index.json is not an OCI index"
    index.write_text('{"schemaVersion": 2}')
    assert store.tags() == [], "an index without manifests lists nothing"
    index.unlink()
    with pytest.raises(ReferenceNotFound) as gone:
        store.tags()
    assert str(gone.value) == f"oci:{store.path} has no index.json"


# -- manifests and tags -----------------------------------------------------------------------------------


def test_put_tag_get_and_head(store: OCILayoutStore) -> None:
    config = store.push_bytes(b"{}", "application/vnd.oci.empty.v1+json")
    first = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.to_json(), "layers": []})
    assert store.put_manifest(first) is False, "a layout never indexes a subject itself"
    assert entries(store.path) == [], "a manifest without a tag is stored, not listed"
    assert store.get_manifest(first.digest).raw == first.raw
    assert store.put_manifest(first, tag="v1") is False
    assert entries(store.path) == [
        {
            "mediaType": OCI_MANIFEST,
            "digest": str(first.digest),
            "size": len(first.raw),
            "annotations": {REF_NAME: "v1"},
        }
    ]
    got = store.get_manifest("v1")
    assert (got.raw, got.media_type, got.digest) == (first.raw, OCI_MANIFEST, first.digest)
    assert store.head_manifest("v1") == Descriptor(OCI_MANIFEST, first.digest, len(first.raw))
    assert store.head_manifest("v2") is None
    assert store.head_manifest(Digest.of(b"nothing")) is None
    # the same tag again moves it; another tag is another entry
    second = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.to_json(), "layers": [],
                       "annotations": {"n": "2"}})  # fmt: skip
    store.put_manifest(second, tag="v1")
    store.put_manifest(first, tag="stable")
    assert [(e["digest"], e["annotations"]) for e in entries(store.path)] == [  # type: ignore[index]
        (str(second.digest), {REF_NAME: "v1"}),
        (str(first.digest), {REF_NAME: "stable"}),
    ]
    assert store.tags() == ["stable", "v1"]
    assert [d.digest for d in store.root_descriptors()] == [second.digest, first.digest]


def test_the_media_type_comes_from_the_index_or_the_bytes(store: OCILayoutStore) -> None:
    docker = manifest({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {}, "layers": []}, DOCKER_MANIFEST)
    store.put_manifest(docker, tag="d")
    assert store.get_manifest(docker.digest).media_type == DOCKER_MANIFEST, "by digest: the index entry's type"
    untagged = manifest({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}, OCI_INDEX)
    store.put_manifest(untagged)
    assert store.get_manifest(untagged.digest).media_type == OCI_INDEX, "not listed: read from the bytes"
    listed = json.loads((store.path / "index.json").read_text())
    listed["manifests"].append({"mediaType": OCI_MANIFEST, "digest": str(untagged.digest), "size": 1})
    listed["manifests"].append("not an entry")
    (store.path / "index.json").write_text(json.dumps(listed))
    assert store.get_manifest(untagged.digest).media_type == OCI_MANIFEST, "the index says so"
    assert store.tags() == ["d"], "entries that are not objects are skipped"


def test_the_last_entry_of_a_tag_wins(store: OCILayoutStore) -> None:
    """Another tool may leave two entries for a tag: the later one is what the tag means."""
    a = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [], "annotations": {"n": "a"}})
    b = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [], "annotations": {"n": "b"}})
    store.put_manifest(a, tag="x")
    store.put_manifest(b)
    doc = index_of(store.path)
    doc["manifests"].append({"mediaType": OCI_MANIFEST, "digest": str(b.digest), "size": len(b.raw),  # type: ignore[union-attr]
                             "annotations": {REF_NAME: "x"}})  # fmt: skip
    (store.path / "index.json").write_text(json.dumps(doc))
    assert store.get_manifest("x").digest == b.digest
    assert store.tags() == ["x"]


def test_missing_oversized_and_altered_manifests(store: OCILayoutStore) -> None:
    with pytest.raises(NotFound) as no_tag:
        store.get_manifest("v9")
    assert str(no_tag.value) == f"manifest oci:{store.path}:v9: no such tag in the layout"
    missing = Digest.of(b"gone")
    with pytest.raises(NotFound) as no_blob:
        store.get_manifest(missing)
    assert str(no_blob.value) == f"manifest oci:{store.path}@{missing}: not in the layout"

    big = b"{" + b" " * MAX_MANIFEST_BYTES + b"}"
    big_digest = Digest.of(big)
    (store.path / "blobs" / "sha256" / big_digest.hex).write_bytes(big)
    with pytest.raises(ManifestTooLarge) as too_large:
        store.get_manifest(big_digest)
    assert str(too_large.value) == (f"manifest oci:{store.path}@{big_digest}: {len(big)} bytes is over the 4 MiB limit")
    exact = b"{" + b" " * (MAX_MANIFEST_BYTES - 2) + b"}"
    (store.path / "blobs" / "sha256" / Digest.of(exact).hex).write_bytes(exact)
    assert len(store.get_manifest(Digest.of(exact)).raw) == MAX_MANIFEST_BYTES, "the limit itself is allowed"

    good = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []})
    store.put_manifest(good, tag="t")
    (store.path / "blobs" / "sha256" / good.digest.hex).write_bytes(good.raw.replace(b"2", b"3"))
    with pytest.raises(DigestMismatch) as altered:
        store.get_manifest("t")
    assert str(altered.value).startswith(f"manifest oci:{store.path}@{good.digest}: content has digest sha256:")


def test_deleting_a_manifest_removes_every_tag_of_it_and_its_file(store: OCILayoutStore) -> None:
    a = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [], "annotations": {"n": "a"}})
    b = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [], "annotations": {"n": "b"}})
    for tag, m in (("a1", a), ("a2", a), ("b1", b)):
        store.put_manifest(m, tag=tag)
    store.delete_manifest(a.digest)
    assert store.tags() == ["b1"]
    assert store.blob_size(a.digest) is None and store.blob_size(b.digest) == len(b.raw)
    store.delete_manifest(a.digest)  # gone already: nothing to do
    store.delete_tag("b1")
    assert store.tags() == [] and store.blob_size(b.digest) == len(b.raw), "untagging keeps the manifest"
    store.put_manifest(b, tag="b1")
    store.put_manifest(b, tag="b2")
    store.delete_tag("b1")
    assert store.tags() == ["b2"]


def test_what_hoist_writes_skopeo_reads_and_the_reverse(store: OCILayoutStore, tmp_path: Path) -> None:
    source = tmp_path / "built"
    info = make_image(source, tag="v1", layers=2, layer_size=2048, seed="ocidir-interop")
    built = OCILayoutStore(source, create=False)
    image = built.get_manifest("v1")
    for descriptor in [*[blob_descriptor(built, d) for d in info.layers], blob_descriptor(built, info.config_digest)]:
        with built.open_blob(descriptor) as chunks:
            data = b"".join(chunks)
        store.push_blob(BytesBlobSource(descriptor, data))
    store.put_manifest(image, tag="copied")
    assert skopeo_digest(f"oci:{store.path}:copied") == info.digest
    skopeo_copy(f"oci:{store.path}:copied", f"oci:{tmp_path / 'by-skopeo'}:back")
    back = OCILayoutStore(tmp_path / "by-skopeo", create=False)
    assert back.get_manifest("back").digest == Digest.parse(info.digest)
    store.delete_tag("copied")
    with pytest.raises(SkopeoError):
        skopeo_digest(f"oci:{store.path}:copied")


def blob_descriptor(store: OCILayoutStore, digest: str | None) -> Descriptor:
    assert digest is not None
    parsed = Digest.parse(digest)
    size = store.blob_size(parsed)
    assert size is not None
    return Descriptor("application/octet-stream", parsed, size)


# -- blobs ------------------------------------------------------------------------------------------------


def test_blobs_are_read_from_any_offset_and_checked(store: OCILayoutStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    descriptor = store.push_bytes(data, "application/octet-stream")
    assert descriptor == blob(data)
    assert store.blob_size(descriptor.digest) == len(data)
    with store.open_blob(descriptor) as chunks:
        pieces = list(chunks)
    assert b"".join(pieces) == data and [len(p) for p in pieces] == [1024 * 1024] * 3 + [17]
    with store.open_blob(descriptor, offset=1024 * 1024 + 5) as chunks:
        assert b"".join(chunks) == data[1024 * 1024 + 5 :]
    assert store.read_blob(descriptor, max_size=len(data)) == data
    with pytest.raises(DigestMismatch) as too_big:
        store.read_blob(descriptor, max_size=len(data) - 1)
    assert str(too_big.value) == f"blob oci:{store.path}@{descriptor.digest}: {len(data)} bytes, more than expected"
    path = store.path / "blobs" / "sha256" / descriptor.digest.hex
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(DigestMismatch) as altered:
        store.read_blob(descriptor, max_size=len(data))
    assert str(altered.value).startswith(f"blob oci:{store.path}@{descriptor.digest}: content has digest")
    missing = blob(b"never stored")
    assert store.blob_size(missing.digest) is None
    for read in (lambda: store.read_blob(missing, max_size=100), lambda: store.open_blob(missing).__enter__()):
        with pytest.raises(NotFound) as caught:
            read()
        assert str(caught.value) == f"blob oci:{store.path}@{missing.digest}: not in the layout"


def test_push_bytes_keeps_a_blob_already_there(store: OCILayoutStore) -> None:
    data = b"already here"
    first = store.push_bytes(data, "text/plain")
    path = store.path / "blobs" / "sha256" / first.digest.hex
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before - 10**9, before - 10**9))
    second = store.push_bytes(data, "text/plain")
    assert second == first and second.media_type == "text/plain"
    assert path.stat().st_mtime_ns == before - 10**9, "not written again"


class Lying:
    """A blob source whose bytes are not what its descriptor says."""

    def __init__(self, descriptor: Descriptor, data: bytes, chunk: int = 4) -> None:
        self.descriptor = descriptor
        self.data = data
        self.chunk = chunk
        self.read = 0

    @contextmanager
    def open(self, offset: int) -> Iterator[Iterator[bytes]]:
        def chunks() -> Iterator[bytes]:
            for start in range(offset, len(self.data), self.chunk):
                self.read += len(self.data[start : start + self.chunk])
                yield self.data[start : start + self.chunk]

        yield chunks()


def test_a_blob_is_stored_only_when_its_bytes_hash_to_its_digest(store: OCILayoutStore) -> None:
    declared = blob(b"0123456789")
    wrong = Lying(declared, b"0123456780")
    with pytest.raises(DigestMismatch) as caught:
        store.push_blob(wrong)
    what = f"blob {declared.digest} into oci:{store.path}"
    assert str(caught.value) == f"{what}: content has digest {Digest.of(b'0123456780')}, expected {declared.digest}"
    assert store.blob_size(declared.digest) is None
    assert list((store.path / "blobs" / "sha256").iterdir()) == [], "no temp file left"


def test_a_source_with_more_bytes_than_declared_is_cut_off(store: OCILayoutStore) -> None:
    declared = blob(b"0123456789")
    endless = Lying(declared, b"0123456789" * 1000, chunk=4)
    with pytest.raises(DigestMismatch) as caught:
        store.push_blob(endless)
    assert str(caught.value) == f"blob {declared.digest} into oci:{store.path}: received 12 bytes, expected 10"
    assert endless.read == 12, "reading stopped at the first chunk past the declared size"
    short = Lying(declared, b"01234")
    with pytest.raises(DigestMismatch) as truncated:
        store.push_blob(short)
    assert "received 5 bytes, expected 10" in str(truncated.value)


def test_progress_counts_the_bytes_written(store: OCILayoutStore) -> None:
    data = b"x" * 10
    counts: list[int] = []
    store.push_blob(Lying(blob(data), data, chunk=4), progress=counts.append)
    assert counts == [4, 4, 2]
    assert (store.path / "blobs" / "sha256" / Digest.of(data).hex).read_bytes() == data


def test_a_blob_replacing_a_directory_fails_cleanly(store: OCILayoutStore) -> None:
    """The rename onto a directory fails (what any unwritable target gives): a one-line transport error
    naming the blob, and no temp file left behind."""
    descriptor = blob(b"data")
    (store.path / "blobs" / "sha256" / descriptor.digest.hex).mkdir()
    with pytest.raises(TransportError) as caught:
        store.push_blob(BytesBlobSource(descriptor, b"data"))
    assert str(caught.value).startswith(f"blob {descriptor.digest} into oci:{store.path}: ")
    leftovers = [p.name for p in (store.path / "blobs" / "sha256").iterdir()]
    assert leftovers == [descriptor.digest.hex]


def test_blobs_of_another_algorithm_get_their_own_directory(store: OCILayoutStore) -> None:
    data = b"sha512 content"
    descriptor = Descriptor("application/octet-stream", Digest.of(data, "sha512"), len(data))
    store.push_blob(BytesBlobSource(descriptor, data))
    assert (store.path / "blobs" / "sha512" / descriptor.digest.hex).read_bytes() == data
    assert store.referrers(descriptor.digest) is None, "a layout has no referrers API"
    store.close()


def test_a_half_made_layout_is_completed_without_losing_what_it_lists(tmp_path: Path) -> None:
    """A directory holding blobs and an index but no oci-layout file (a copy interrupted, another tool):
    creating the layout adds the file and keeps the blobs directory and the index as they are."""
    path = tmp_path / "half"
    info = make_image(path, tag="v1", layers=1, layer_size=128, seed="half")
    (path / "oci-layout").unlink()
    before = (path / "index.json").read_bytes()
    store = OCILayoutStore(path, create=True)
    assert json.loads((path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert (path / "index.json").read_bytes() == before
    assert store.get_manifest("v1").digest == Digest.parse(info.digest)


def test_the_index_entry_media_type_wins_for_a_tag(store: OCILayoutStore) -> None:
    """A manifest whose bytes name no media type (optional in the image spec) is what its entry says."""
    raw = b'{"schemaVersion":2,"manifests":[]}'
    listed = Manifest(raw, "application/vnd.docker.distribution.manifest.list.v2+json", Digest.of(raw))
    store.put_manifest(listed, tag="list")
    assert store.get_manifest("list").media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert store.head_manifest("list") == Descriptor(listed.media_type, listed.digest, len(raw))


def test_a_layout_without_a_blobs_directory_gets_one(store: OCILayoutStore) -> None:
    import shutil

    shutil.rmtree(store.path / "blobs")
    descriptor = store.push_bytes(b"first blob", "text/plain")
    assert (store.path / "blobs" / "sha256" / descriptor.digest.hex).read_bytes() == b"first blob"


def test_bytes_after_exactly_the_declared_size_are_still_refused(store: OCILayoutStore) -> None:
    """The declared bytes end on a chunk boundary and more follow: reading must go on far enough to see them."""
    data = b"01234567"
    declared = blob(data)
    longer = Lying(declared, data + b"89ab", chunk=4)
    with pytest.raises(DigestMismatch) as caught:
        store.push_blob(longer)
    assert "received 12 bytes, expected 8" in str(caught.value)
    assert store.blob_size(declared.digest) is None
