from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.errors import InvalidDigest, InvalidReference
from hoist.ref import LayoutRef, RegistryRef, is_loopback_host, parse_reference

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", "latest", None),
        ("docker.io/alpine:3.20", "docker.io", "library/alpine", "3.20", None),
        ("index.docker.io/u/app", "docker.io", "u/app", "latest", None),
        ("ghcr.io/owner/app:staging", "ghcr.io", "owner/app", "staging", None),
        ("127.0.0.1:5000/app@" + D, "127.0.0.1:5000", "app", None, D),
        ("localhost/app:v1", "localhost", "app", "v1", None),
        ("localhost:5000/a/b/c:v1@" + D, "localhost:5000", "a/b/c", "v1", D),
        ("[::1]:5000/app:v1", "[::1]:5000", "app", "v1", None),
        ("docker://ghcr.io/o/a:t", "ghcr.io", "o/a", "t", None),
        ("Registry.Example.com/x__y/a-b.c", "Registry.Example.com", "x__y/a-b.c", "latest", None),
        ("user/app", "docker.io", "user/app", "latest", None),
    ],
)
def test_registry_references(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert isinstance(ref, RegistryRef)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)
    assert (str(ref.digest) if ref.digest else None) == digest


def test_digest_wins_over_tag() -> None:
    ref = parse_reference(f"ghcr.io/o/a:t@{D}")
    assert ref.reference == D
    assert str(ref) == f"ghcr.io/o/a:t@{D}"


def test_docker_hub_api_host() -> None:
    ref = parse_reference("alpine")
    assert isinstance(ref, RegistryRef)
    assert ref.api_host == "registry-1.docker.io"
    assert str(ref) == "docker.io/library/alpine:latest"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "app/UPPER",
        "ghcr.io/o/a:",
        "ghcr.io/o/a:-bad",
        "a//b",
        "ghcr.io/o/a@sha256:short",
        "a" * 300,
        "ghcr.io/o/a@md5:" + "a" * 32,
        "ghcr.io/o/a:" + "t" * 129,
        "bad_host:x/app",
    ],
)
def test_invalid_references(text: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "path", "tag", "digest"),
    [
        ("oci:./dir", "dir", None, None),
        ("oci:/tmp/x:v1", "/tmp/x", "v1", None),
        (f"oci:/tmp/x@{D}", "/tmp/x", None, D),
        ("oci:rel/path:", "rel/path", None, None),
    ],
)
def test_layout_references(text: str, path: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert isinstance(ref, LayoutRef)
    assert ref.path == Path(path)
    assert ref.tag == tag
    assert (str(ref.digest) if ref.digest else None) == digest


def test_layout_needs_a_path() -> None:
    with pytest.raises(InvalidReference, match="needs a directory"):
        parse_reference("oci::tag")


def test_same_repository() -> None:
    a = parse_reference("ghcr.io/o/a:x")
    assert a.same_repository(parse_reference(f"ghcr.io/o/a@{D}"))
    assert not a.same_repository(parse_reference("ghcr.io/o/b:x"))
    assert parse_reference("oci:./d:x").same_repository(parse_reference(f"oci:d@{D}"))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost:1", True),
        ("[::1]:5000", True),
        ("ghcr.io", False),
        ("10.0.0.1:5000", False),
        ("registry.localhost", True),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_digests() -> None:
    digest = Digest.of(b"{}")
    assert str(digest) == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    assert digest.fallback_tag == "sha256-" + digest.hex
    assert Digest.parse(str(digest)) == digest
    for bad in ("sha256", "sha256:XYZ", "sha256:" + "A" * 64, "foo:" + "a" * 64):
        with pytest.raises(InvalidDigest):
            Digest.parse(bad)
