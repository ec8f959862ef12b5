"""ops/copy.py between OCI layouts (real stores) wrapped to record the order of writes and to stage what a
racing writer or a refusing registry does: children before parents, tags read back, a moved tag named,
every count in the result.

Registry copies (mounts, streams, skopeo interop) are in tests/test_copy_matrix.py; a tag raced through a
real registry is in tests/test_integrity.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.errors import InputError, InvalidReference, TagRaced, TransportError
from hoist.manifest import Descriptor, Manifest, Platform
from hoist.ops.copy import (
    CopyObserver,
    CopyOptions,
    CopyResult,
    copy_image,
    destination_tags,
    read_back,
    write_tags,
)
from hoist.ops.plan import BlobAction, Mode
from hoist.ref import parse_reference
from hoist.store.base import BlobSource, Progress, Store
from hoist.store.ocidir import OCILayoutStore
from tests.infra.images import ImageInfo, make_image, make_index
from tests.infra.layout import set_ref
from tests.infra.manifests import assemble_index


class Recording(OCILayoutStore):
    """A layout that records its writes, and can be told to answer a read-back with another digest."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        super().__init__(path, create=create)
        self.writes: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        self.moved: dict[str, Digest | None] = {}
        self.inside = threading.local()

    def put_manifest(self, manifest: Manifest, *, tag: str | None = None) -> bool:
        with self.lock:
            self.writes.append((str(manifest.digest), tag))
        self.inside.manifest = True  # the layout keeps a manifest as a blob: not a blob write of the copy
        try:
            return super().put_manifest(manifest, tag=tag)
        finally:
            self.inside.manifest = False

    def push_blob(self, source: BlobSource, *, progress: Progress | None = None) -> None:
        if not getattr(self.inside, "manifest", False):
            with self.lock:
                self.writes.append((f"blob {source.descriptor.digest}", None))
        super().push_blob(source, progress=progress)

    def head_manifest(self, reference: str | Digest) -> Descriptor | None:
        if isinstance(reference, str) and reference in self.moved:
            now = self.moved[reference]
            return Descriptor("application/vnd.oci.image.manifest.v1+json", now, 1) if now is not None else None
        return super().head_manifest(reference)


class Mounting(Recording):
    """A destination that can mount blobs from the source: ``accept`` decides each mount."""

    def __init__(self, path: Path, accept: bool) -> None:
        super().__init__(path)
        self.accept = accept
        self.mounts: list[Digest] = []

    def can_mount_from(self, other: Store) -> bool:
        return True

    def mount_blob(self, descriptor: Descriptor, source: Store) -> bool:
        self.mounts.append(descriptor.digest)
        if not self.accept:
            return False
        with source.open_blob(descriptor) as chunks:
            data = b"".join(chunks)
        self.push_bytes(data, descriptor.media_type)
        return True


class Observer(CopyObserver):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.progress: dict[str, int] = {}
        self.lock = threading.Lock()

    def planned(self, plan: object) -> None:
        self.plan = plan
        self.events.append(("planned", "", ""))

    def blob_started(self, descriptor: Descriptor, action: BlobAction) -> None:
        with self.lock:
            self.events.append(("started", str(descriptor.digest), str(action)))

    def blob_progress(self, descriptor: Descriptor, count: int) -> None:
        with self.lock:
            self.progress[str(descriptor.digest)] = self.progress.get(str(descriptor.digest), 0) + count

    def blob_done(self, descriptor: Descriptor, action: BlobAction) -> None:
        with self.lock:
            self.events.append(("done", str(descriptor.digest), str(action)))


def copy(source: Path, destination: Store, *, tag: str = "v1", to: str = "prod", **options: object) -> CopyResult:
    return copy_image(
        source=OCILayoutStore(source, create=False),
        destination=destination,
        source_ref=parse_reference(f"oci:{source}:{tag}"),
        destination_ref=parse_reference(f"oci:{destination.path}:{to}" if to else f"oci:{destination.path}"),  # type: ignore[attr-defined]
        options=CopyOptions(**options),  # type: ignore[arg-type]
    )


@pytest.fixture
def single(tmp_path: Path) -> tuple[Path, ImageInfo]:
    layout = tmp_path / "src"
    return layout, make_image(layout, tag="v1", layers=3, layer_size=2048, seed="copy-single")


@pytest.fixture
def nested(tmp_path: Path) -> tuple[Path, ImageInfo]:
    """An index whose children are an image and another index (which holds the same image again)."""
    layout = tmp_path / "nested"
    inner = make_index(layout, tag=None, platforms=[("linux", "amd64"), ("linux", "arm64")], layers_per_image=1,
                       layer_size=512, seed="inner")  # fmt: skip
    outer = assemble_index(layout, children=[inner.children[0], inner], media="oci")
    set_ref(layout, {"mediaType": outer.media_type, "digest": outer.digest, "size": len(outer.manifest_bytes)}, "v1")
    return layout, outer


# -- tags ---------------------------------------------------------------------------------------------------


def test_destination_tags_start_with_the_destination_own_and_never_repeat() -> None:
    assert destination_tags(parse_reference("r.example/app:prod"), ["latest", "prod", "v1", "latest"]) == (
        "prod",
        "latest",
        "v1",
    )
    pinned = parse_reference("r.example/app:prod@sha256:" + "a" * 64)
    assert destination_tags(pinned, ["x"]) == ("x",), "a destination naming a digest gives no tag of its own"
    assert destination_tags(parse_reference("r.example/app@sha256:" + "a" * 64), []) == ()
    with pytest.raises(InvalidReference):
        destination_tags(parse_reference("r.example/app:prod"), ["not a tag"])


def test_destinations_are_each_tag_or_the_digest_reference() -> None:
    ref = parse_reference("r.example/app:prod")
    result = CopyResult(source=ref, digest=Digest.of(b"x"), media_type="m", destination=ref, tags=("a", "b"),
                        mode=Mode.STREAM, dry_run=False)  # fmt: skip
    assert [str(d) for d in result.destinations] == ["r.example/app:a", "r.example/app:b"]
    bare = CopyResult(source=ref, digest=Digest.of(b"x"), media_type="m", destination=ref, tags=(),
                      mode=Mode.STREAM, dry_run=False)  # fmt: skip
    assert bare.destinations == (ref,)


# -- a copy, counted -----------------------------------------------------------------------------------------


def test_a_stream_copy_writes_blobs_then_the_manifest_then_its_tags(
    single: tuple[Path, ImageInfo], tmp_path: Path
) -> None:
    source, info = single
    destination = Recording(tmp_path / "dst")
    watcher = Observer()
    result = copy_image(
        source=OCILayoutStore(source, create=False),
        destination=destination,
        source_ref=parse_reference(f"oci:{source}:v1"),
        destination_ref=parse_reference(f"oci:{destination.path}:prod"),
        options=CopyOptions(tags=("latest",), jobs=2),
        observer=watcher,
    )
    blobs = [w for w, _ in destination.writes if w.startswith("blob ")]
    assert sorted(blobs) == sorted(f"blob {b}" for b in info.blobs)
    assert destination.writes[len(blobs) :] == [(info.digest, "prod"), (info.digest, "latest")]
    assert (result.mode, result.digest, result.tags) == (Mode.STREAM, Digest.parse(info.digest), ("prod", "latest"))
    assert result.blobs_streamed == 4 and result.blobs_mounted == 0 and result.blobs_skipped == 0
    assert result.bytes_moved == info.size and result.manifests_written == 2
    assert result.media_type == info.media_type and result.plan is not None and not result.dry_run
    assert 0 < result.seconds < 120
    assert result.source == parse_reference(f"oci:{source}:v1")
    assert result.destination == parse_reference(f"oci:{destination.path}:prod")
    assert watcher.events[0] == ("planned", "", "") and watcher.plan is result.plan
    assert result.plan.source == result.source and result.plan.destination == result.destination
    assert sorted(e[1] for e in watcher.events if e[0] == "done") == sorted(info.blobs)
    assert {e[2] for e in watcher.events[1:]} == {"stream"}
    sizes = dict(zip(info.blobs, [destination.blob_size(Digest.parse(b)) for b in info.blobs], strict=True))
    assert watcher.progress == sizes, "every byte reported"


def test_blobs_already_there_are_skipped(single: tuple[Path, ImageInfo], tmp_path: Path) -> None:
    source, info = single
    destination = Recording(tmp_path / "dst")
    config = Digest.parse(info.config_digest or "")
    src = OCILayoutStore(source, create=False)
    with src.open_blob(Descriptor("x", config, src.blob_size(config) or 0)) as chunks:
        destination.push_bytes(b"".join(chunks), "application/vnd.oci.image.config.v1+json")
    destination.writes.clear()
    result = copy(source, destination)
    assert result.blobs_skipped == 1 and result.blobs_streamed == 3
    assert f"blob {config}" not in [w for w, _ in destination.writes]


def test_a_digest_already_there_only_gets_its_tags(single: tuple[Path, ImageInfo], tmp_path: Path) -> None:
    source, info = single
    destination = Recording(tmp_path / "dst")
    copy(source, destination, to="first")
    destination.writes.clear()
    result = copy(source, destination, to="second")
    assert result.mode is Mode.PRESENT and result.manifests_written == 1
    assert destination.writes == [(info.digest, "second")]


def test_children_are_written_deepest_first_and_each_once(nested: tuple[Path, ImageInfo], tmp_path: Path) -> None:
    source, outer = nested
    inner = outer.children[1]
    shared = outer.children[0]
    destination = Recording(tmp_path / "dst")
    result = copy(source, destination)
    manifests = [w for w, _ in destination.writes if not w.startswith("blob ")]
    assert manifests[-1] == outer.digest
    assert manifests.count(shared.digest) == 1, "the image both indexes hold is written once"
    assert manifests.index(inner.children[1].digest) < manifests.index(inner.digest) < manifests.index(outer.digest)
    assert manifests.index(shared.digest) < manifests.index(inner.digest), "a child before every index holding it"
    assert result.manifests_written == 4, "three children and the top (one tag)"
    assert all(w.startswith("blob ") for w, _ in destination.writes[: len(destination.writes) - len(manifests)])


def test_a_dry_run_plans_and_writes_nothing(single: tuple[Path, ImageInfo], tmp_path: Path) -> None:
    source, _info = single
    destination = Recording(tmp_path / "dst")
    result = copy(source, destination, dry_run=True)
    assert result.dry_run and destination.writes == [] and destination.tags() == []
    assert result.plan is not None and result.plan.count(BlobAction.STREAM) == 4
    assert result.blobs_streamed == 0 and result.manifests_written == 0 and result.bytes_moved == 0


def test_one_platform_of_an_index(tmp_path: Path) -> None:
    layout = tmp_path / "multi"
    index = make_index(layout, tag="v1", layers_per_image=1, layer_size=256, seed="platforms")
    arm = next(c for c in index.children if c.platform == ("linux", "arm64"))
    destination = Recording(tmp_path / "dst")
    result = copy(layout, destination, platform=Platform("linux", "arm64"))
    assert result.digest == Digest.parse(arm.digest)
    assert destination.get_manifest("prod").digest == Digest.parse(arm.digest)
    single_layout = tmp_path / "single"
    lone = make_image(single_layout, tag="v1", layers=1, layer_size=128, seed="lone")
    plain = copy(single_layout, Recording(tmp_path / "dst2"), platform=Platform("linux", "arm64"))
    assert plain.digest == Digest.parse(lone.digest), "an image that is no index is copied as it is"


def test_a_destination_naming_another_digest_is_refused_before_anything_is_written(
    single: tuple[Path, ImageInfo], tmp_path: Path
) -> None:
    source, info = single
    destination = Recording(tmp_path / "dst")
    other = Digest.of(b"another image")
    with pytest.raises(InputError) as caught:
        copy_image(
            source=OCILayoutStore(source, create=False),
            destination=destination,
            source_ref=parse_reference(f"oci:{source}:v1"),
            destination_ref=parse_reference(f"oci:{destination.path}@{other}"),
        )
    assert str(caught.value) == (
        f"destination oci:{destination.path}@{other} names digest {other}, but the source is {info.digest}: "
        "a copy never changes the digest"
    )
    assert destination.writes == []
    same = copy_image(
        source=OCILayoutStore(source, create=False),
        destination=destination,
        source_ref=parse_reference(f"oci:{source}:v1"),
        destination_ref=parse_reference(f"oci:{destination.path}@{info.digest}"),
    )
    assert same.tags == () and same.manifests_written == 1 and destination.tags() == []
    assert destination.get_manifest(Digest.parse(info.digest)).digest == Digest.parse(info.digest)


@pytest.mark.parametrize("accept", [True, False])
def test_mounts_and_the_fallback_when_a_mount_is_declined(
    single: tuple[Path, ImageInfo], tmp_path: Path, accept: bool
) -> None:
    source, info = single
    destination = Mounting(tmp_path / "dst", accept=accept)
    watcher = Observer()
    result = copy_image(
        source=OCILayoutStore(source, create=False),
        destination=destination,
        source_ref=parse_reference(f"oci:{source}:v1"),
        destination_ref=parse_reference(f"oci:{destination.path}:prod"),
        observer=watcher,
    )
    assert result.mode is Mode.MOUNT and len(destination.mounts) == 4
    if accept:
        assert (result.blobs_mounted, result.blobs_streamed, result.bytes_moved) == (4, 0, 0)
        assert {e[2] for e in watcher.events if e[0] == "done"} == {"mount"}
    else:
        assert (result.blobs_mounted, result.blobs_streamed, result.bytes_moved) == (0, 4, info.size)
        assert {e[2] for e in watcher.events if e[0] == "done"} == {"stream"}, "reported as what it took"
        assert {e[2] for e in watcher.events if e[0] == "started"} == {"mount"}
    assert destination.get_manifest("prod").digest == Digest.parse(info.digest)


# -- the read-back --------------------------------------------------------------------------------------------


def test_a_tag_someone_moved_is_an_error_naming_both_digests(single: tuple[Path, ImageInfo], tmp_path: Path) -> None:
    source, info = single
    destination = Recording(tmp_path / "dst")
    other = Digest.of(b"the other writer's image")
    destination.moved["latest"] = other
    with pytest.raises(TagRaced) as caught:
        copy(source, destination, tags=("latest",))
    assert str(caught.value) == (
        f"tag latest in oci:{destination.path} points at {other} right after hoist wrote {info.digest}: "
        "something else moved it; check who pushes to this tag"
    )
    destination.moved = {"prod": None}
    with pytest.raises(TagRaced) as gone:
        copy(source, destination)
    assert f"tag prod in oci:{destination.path} points at nothing right after" in str(gone.value)


def test_read_back_lists_only_the_tags_elsewhere(single: tuple[Path, ImageInfo], tmp_path: Path) -> None:
    source, info = single
    destination = Recording(tmp_path / "dst")
    copy(source, destination, tags=("a", "b", "c"))
    digest = Digest.parse(info.digest)
    other = Digest.of(b"x")
    destination.moved = {"b": other, "c": None}
    with ThreadPoolExecutor(2) as pool:
        assert read_back(destination, digest, ["prod", "a", "b", "c"], pool) == [("b", other), ("c", None)]
        assert read_back(destination, digest, ["prod", "a"], pool) == []


def test_write_tags_writes_the_first_tag_alone_and_reads_every_one_back(
    single: tuple[Path, ImageInfo], tmp_path: Path
) -> None:
    source, info = single
    destination = Recording(tmp_path / "dst")
    copy(source, destination, to="")  # the image by digest only
    image = destination.get_manifest(Digest.parse(info.digest))
    destination.writes.clear()
    with ThreadPoolExecutor(4) as pool:
        assert write_tags(destination, image, ["t1", "t2", "t3"], pool) == 3
        assert destination.writes[0] == (info.digest, "t1")
        assert sorted(destination.writes[1:]) == [(info.digest, "t2"), (info.digest, "t3")]
        destination.writes.clear()
        assert write_tags(destination, image, [], pool) == 1
        assert destination.writes == [(info.digest, None)], "no tags: the manifest by digest"
        destination.writes.clear()
        assert write_tags(destination, image, [], pool, write_manifest=False) == 0
        assert destination.writes == []


def test_a_retag_writes_only_tags(single: tuple[Path, ImageInfo]) -> None:
    source, info = single
    same = Recording(source, create=False)
    result = copy_image(
        source=same,
        destination=same,
        source_ref=parse_reference(f"oci:{source}:v1"),
        destination_ref=parse_reference(f"oci:{source}:prod"),
    )
    assert result.mode is Mode.RETAG and same.writes == [(info.digest, "prod")] and result.manifests_written == 1
    assert result.blobs_streamed == result.blobs_skipped == 0


class Failing(Recording):
    """Pushing one blob fails; the others must not be left running or half-counted."""

    def __init__(self, path: Path, bad: str) -> None:
        super().__init__(path)
        self.bad = bad

    def push_blob(self, source: BlobSource, *, progress: Progress | None = None) -> None:
        if str(source.descriptor.digest) == self.bad:
            raise TransportError(f"blob {self.bad}: connection reset")
        super().push_blob(source, progress=progress)


def test_a_failed_blob_stops_the_copy_before_any_manifest(single: tuple[Path, ImageInfo], tmp_path: Path) -> None:
    source, info = single
    destination = Failing(tmp_path / "dst", bad=info.blobs[1])
    with pytest.raises(TransportError) as caught:
        copy(source, destination, jobs=1)
    assert str(caught.value) == f"blob {info.blobs[1]}: connection reset"
    assert [w for w, _ in destination.writes if not w.startswith("blob ")] == [], "no manifest written"
    assert destination.tags() == []


def test_a_platform_the_index_lacks_is_refused_naming_the_source(tmp_path: Path) -> None:
    layout = tmp_path / "multi"
    make_index(layout, tag="v1", platforms=[("linux", "amd64")], layers_per_image=1, layer_size=128, seed="one")
    destination = Recording(tmp_path / "dst")
    with pytest.raises(InputError) as caught:
        copy(layout, destination, platform=Platform("linux", "riscv64"))
    assert str(caught.value) == f"oci:{layout}:v1 has no image for platform linux/riscv64 (it has: linux/amd64)"
    assert destination.writes == []


def test_a_retag_by_digest_writes_nothing(single: tuple[Path, ImageInfo]) -> None:
    """The manifest is in the repository already and no tag is asked for: there is nothing to write."""
    source, info = single
    same = Recording(source, create=False)
    result = copy_image(
        source=same,
        destination=same,
        source_ref=parse_reference(f"oci:{source}:v1"),
        destination_ref=parse_reference(f"oci:{source}@{info.digest}"),
    )
    assert result.mode is Mode.RETAG and result.manifests_written == 0 and same.writes == []


class Checking(Recording):
    """Refuses an index whose child manifests it does not hold yet (as distribution does); child manifests
    take a moment to store, so a parent written alongside its child, not after it, is caught."""

    def put_manifest(self, manifest: Manifest, *, tag: str | None = None) -> bool:
        from hoist.manifest import parse_manifest

        children = parse_manifest(manifest).children
        if not children:
            import time

            time.sleep(0.05)
        missing = [c.digest for c in children if self.blob_size(c.digest) is None]
        if missing:
            raise TransportError(f"index {manifest.digest} refers to {missing[0]}, which is not here")
        return super().put_manifest(manifest, tag=tag)


def test_each_level_of_children_is_stored_before_the_next(nested: tuple[Path, ImageInfo], tmp_path: Path) -> None:
    source, outer = nested
    destination = Checking(tmp_path / "dst")
    result = copy(source, destination)
    assert result.manifests_written == 4
    assert destination.get_manifest("prod").digest == Digest.parse(outer.digest)


def test_the_first_failure_cancels_what_has_not_started() -> None:
    from hoist.ops.copy import _wait

    ran: list[int] = []

    def job(n: int) -> None:
        if n == 0:
            raise TransportError("the first one failed")
        if n == 1:
            import time

            time.sleep(0.5)  # holds the only worker if it got it before the failure was seen
        ran.append(n)

    with ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(TransportError, match="the first one failed"):
        _wait(pool.submit(job, n) for n in range(10))
    assert len(ran) <= 1, "at most the job already running finished; the ones not started were cancelled"
