"""Image references: registry references with docker's grammar, and OCI image layout directories.

Parsed once at the edge; everything inside hoist passes :class:`RegistryRef` or :class:`LayoutRef`.

Registry grammar (distribution's ``reference`` package): ``[host[:port]/]path[:tag][@digest]``; the first
component is a host when it contains ``.`` or ``:``, is ``localhost``, or has upper-case letters;
otherwise the registry is Docker Hub and one-component names get ``library/``. Layouts follow skopeo's
``oci:`` transport: ``oci:PATH[:TAG]`` or ``oci:PATH@DIGEST``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from pathlib import Path

from hoist.digest import Digest
from hoist.errors import InvalidDigest, InvalidReference

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_HOST = re.compile(
    r"^(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?$"
)
_MAX_NAME = 255


def valid_tag(tag: str) -> bool:
    return bool(_TAG.match(tag))


def check_tag(tag: str) -> str:
    if not valid_tag(tag):
        raise InvalidReference(
            f"invalid tag {tag!r}: tags are 1-128 characters of letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'"
        )
    return tag


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """``registry/repository[:tag][@digest]``; ``registry`` is the host as the user names it."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def api_host(self) -> str:
        """The host that serves the distribution API (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.registry)

    @property
    def name(self) -> str:
        """``registry/repository``: the repository without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What goes in ``/manifests/<reference>``: the digest when there is one, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or "latest"

    def with_tag(self, tag: str | None) -> RegistryRef:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: Digest) -> RegistryRef:
        return replace(self, tag=None, digest=digest)

    def same_repository(self, other: object) -> bool:
        return (
            isinstance(other, RegistryRef) and other.registry == self.registry and other.repository == self.repository
        )

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True, slots=True)
class LayoutRef:
    """An OCI image layout directory, optionally with a tag (``ref.name``) or digest."""

    path: Path
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        return f"oci:{self.path}"

    @property
    def reference(self) -> str | None:
        if self.digest is not None:
            return str(self.digest)
        return self.tag

    def with_tag(self, tag: str | None) -> LayoutRef:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: Digest) -> LayoutRef:
        return replace(self, tag=None, digest=digest)

    def same_repository(self, other: object) -> bool:
        return isinstance(other, LayoutRef) and _same_path(other.path, self.path)

    def __str__(self) -> str:
        text = self.name
        if self.digest is not None:
            return f"{text}@{self.digest}"
        if self.tag is not None:
            text += f":{self.tag}"
        return text


Reference = RegistryRef | LayoutRef


def _same_path(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() == b.expanduser().resolve()


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``, with or without a port."""
    hostname = split_host_port(host)[0]
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def split_host_port(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") else None
        return host[1:end], port
    name, sep, port_text = host.partition(":")
    return name, (int(port_text) if sep and port_text.isdigit() else None)


def parse_reference(text: str) -> Reference:
    """Parse what a user typed: a registry reference, ``docker://…``, or ``oci:PATH[:TAG|@DIGEST]``."""
    text = text.strip()
    if not text:
        raise InvalidReference("empty image reference: give one like 'ghcr.io/owner/app:tag' or 'oci:DIR:TAG'")
    if text.startswith("oci:"):
        return parse_layout(text[len("oci:") :], original=text)
    if text.startswith("docker://"):
        text = text[len("docker://") :]
    return parse_registry(text)


def parse_layout(body: str, *, original: str) -> LayoutRef:
    digest: Digest | None = None
    tag: str | None = None
    if "@" in body:
        body, _, digest_text = body.rpartition("@")
        digest = _parse_digest(digest_text, original)
    elif ":" in body:
        body, _, tag = body.partition(":")
        if tag:
            _check_ref_tag(tag, original)
        else:
            tag = None
    if not body:
        raise InvalidReference(f"invalid reference {original!r}: 'oci:' needs a directory path, as in oci:./app:v1")
    return LayoutRef(Path(body), tag, digest)


def parse_registry(text: str) -> RegistryRef:
    original = text
    remainder = text
    digest: Digest | None = None
    if "@" in remainder:
        remainder, _, digest_text = remainder.partition("@")
        digest = _parse_digest(digest_text, original)
    tag: str | None = None
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        _check_ref_tag(tag, original)

    first, sep, rest = remainder.partition("/")
    if sep and (("." in first or ":" in first) or first == "localhost" or first.lower() != first):
        registry, path = first, rest
        if not _HOST.match(registry):
            raise InvalidReference(f"invalid reference {original!r}: {registry!r} is not a valid registry host")
    else:
        registry, path = DOCKER_HUB, remainder
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    _check_path(path, original)
    if tag is None and digest is None:
        tag = "latest"
    return RegistryRef(registry, path, tag, digest)


def _check_path(path: str, original: str) -> None:
    if not path:
        raise InvalidReference(f"invalid reference {original!r}: the repository name is empty")
    if len(path) > _MAX_NAME:
        raise InvalidReference(f"invalid reference {original!r}: repository names are at most 255 characters")
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            hint = " (repository names must be lowercase)" if component.lower() != component else ""
            raise InvalidReference(
                f"invalid reference {original!r}: {component!r} is not a valid repository name component{hint}"
            )


def _check_ref_tag(tag: str, original: str) -> None:
    if not valid_tag(tag):
        raise InvalidReference(
            f"invalid reference {original!r}: tag {tag!r} must be 1-128 letters, digits, '_', '.' or '-'"
        )


def _parse_digest(text: str, original: str) -> Digest:
    try:
        return Digest.parse(text)
    except InvalidDigest as exc:
        raise InvalidReference(f"invalid reference {original!r}: {exc}") from exc
