"""Deterministic test images written as OCI image layout directories (stdlib only).

``make_image`` / ``make_index`` give seeded random layers; ``make_busybox_image`` gives a runnable
linux/amd64 image serving ``/health`` and ``/version`` with Debian's static busybox.
"""

from __future__ import annotations

import http
from pathlib import Path
from typing import Any, Literal

from tests.infra.layers import Entry, random_layer, write_layer
from tests.infra.layout import blob_path, ensure_layout, layout_digest
from tests.infra.manifests import (
    MEDIA_TYPES,
    ImageInfo,
    Media,
    Platform,
    assemble_image,
    assemble_index,
    tag_in_layout,
)

__all__ = [
    "DEFAULT_PLATFORMS",
    "MEDIA_TYPES",
    "SIGNAL_SHIM",
    "ImageInfo",
    "Media",
    "Platform",
    "blob_path",
    "layout_digest",
    "make_busybox_image",
    "make_image",
    "make_index",
]

DEFAULT_PLATFORMS: tuple[Platform, ...] = (
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("linux", "arm", "v7"),
    ("linux", "s390x"),
)
BUSYBOX = Path("/bin/busybox")  # Debian package busybox-static
# PID 1 ignores signals it has no handler for, and busybox httpd/nc install none for SIGTERM, so
# `stop` would wait its full timeout. The entrypoint runs the Cmd under a shell that exits on TERM/INT
# (and otherwise exits with the Cmd's status).
SIGNAL_SHIM = ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM INT; \"$@\" & wait $!", "shim"]


def make_image(
    layout: Path,
    *,
    tag: str | None = "latest",
    layers: int = 3,
    layer_size: int = 4096,
    seed: int | str = 0,
    media: Media = "oci",
    platform: Platform = ("linux", "amd64"),
    compress: bool = True,
    labels: dict[str, str] | None = None,
) -> ImageInfo:
    """An image of ``layers`` seeded random layers of ``layer_size`` bytes each, tagged ``tag``.

    The same arguments always give the same digest. ``tag=None`` adds an unnamed index.json entry.
    ``labels`` go into the image config (``org.opencontainers.image.revision``...).
    """
    ensure_layout(layout)
    info = _random_image(layout, layers, layer_size, seed, media, platform, compress, labels)
    return tag_in_layout(layout, info, tag)


def make_index(
    layout: Path,
    *,
    tag: str | None = "latest",
    platforms: tuple[Platform, ...] | list[Platform] = DEFAULT_PLATFORMS,
    layers_per_image: int = 5,
    layer_size: int = 1024,
    seed: int | str = 0,
    media: Media = "oci",
    compress: bool = True,
) -> ImageInfo:
    """A multi-platform OCI index (``media="docker"``: a manifest list); each child has its own layers."""
    ensure_layout(layout)
    children = [
        _random_image(layout, layers_per_image, layer_size, seed, media, platform, compress) for platform in platforms
    ]
    return tag_in_layout(layout, assemble_index(layout, children=children, media=media), tag)


def _random_image(
    layout: Path,
    layers: int,
    layer_size: int,
    seed: int | str,
    media: Media,
    platform: Platform,
    compress: bool,
    labels: dict[str, str] | None = None,
) -> ImageInfo:
    name = "/".join(platform)
    blobs = [random_layer(layout, seed=f"{seed}:{name}:{i}", size=layer_size, compress=compress) for i in range(layers)]
    config = {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"], "Labels": {"test.seed": str(seed), **(labels or {})}}
    return assemble_image(
        layout, layers=blobs, container_config=config, platform=platform, media=media, compressed=compress
    )


_RESPONDER = """#!/bin/busybox sh
# Minimal HTTP server body for `busybox nc -ll -e`: /version answers 200, everything else 500.
read -r method path proto
while read -r line; do case "$line" in ""|"$(printf '\\r')") break;; esac; done
if [ "$path" = /version ]; then status="200 OK"; file=/www/version
else status="500 Internal Server Error"; file=/www/health; fi
printf 'HTTP/1.0 %s\\r\\nContent-Type: text/plain\\r\\n' "$status"
printf 'Content-Length: %s\\r\\nConnection: close\\r\\n\\r\\n' "$(wc -c < $file)"
cat $file
"""


def _health_cgi(status: int) -> bytes:
    phrase = http.HTTPStatus(status).phrase
    return (
        "#!/bin/busybox sh\n"
        f"printf 'Status: {status} {phrase}\\r\\nContent-Type: text/plain\\r\\n\\r\\n'\n"
        "cat /www/health\n"
    ).encode()


def make_busybox_image(
    layout: Path,
    *,
    tag: str | None = "latest",
    health_body: str = "ok",
    health_status_cgi: int | None = None,
    version: str = "A",
    port: int = 8080,
    broken: Literal["http500", "exit"] | None = None,
    healthcheck: bool = False,
    media: Media = "oci",
) -> ImageInfo:
    """A runnable linux/amd64 image: ``busybox httpd`` on ``port`` serving ``/www``.

    Cmd is ``/bin/busybox httpd -f -v -p PORT -h /www``, run by the :data:`SIGNAL_SHIM` entrypoint
    so that a stop (SIGTERM) ends the container at once with status 0.

    ``GET /health`` answers 200 with ``health_body``; ``GET /version`` answers ``version``.
    ``health_status_cgi=N`` adds ``/cgi-bin/health`` answering status N (busybox httpd only runs CGI
    under ``/cgi-bin/``). ``broken="http500"`` replaces httpd with a ``busybox nc`` responder whose
    ``/health`` answers 500 (``/version`` still 200); ``broken="exit"`` makes the process exit 1 at once.
    ``healthcheck=True`` adds a Docker ``Healthcheck`` polling ``/health`` with busybox wget.
    """
    ensure_layout(layout)
    with BUSYBOX.open("rb") as binary:
        entries = [
            Entry("bin", kind="dir", mode=0o755),
            Entry("bin/busybox", source=binary, size=BUSYBOX.stat().st_size, mode=0o755),
            Entry("bin/sh", kind="symlink", target="busybox", mode=0o777),
            Entry("bin/respond500", data=_RESPONDER.encode(), mode=0o755),
            Entry("tmp", kind="dir", mode=0o1777),
            Entry("www", kind="dir", mode=0o755),
            Entry("www/health", data=health_body.encode()),
            Entry("www/version", data=version.encode()),
        ]
        if health_status_cgi is not None:
            entries.append(Entry("www/cgi-bin", kind="dir", mode=0o755))
            entries.append(Entry("www/cgi-bin/health", data=_health_cgi(health_status_cgi), mode=0o755))
        layer = write_layer(layout, entries)
    info = assemble_image(
        layout,
        layers=[layer],
        container_config=_busybox_config(port=port, version=version, broken=broken, healthcheck=healthcheck),
        platform=("linux", "amd64"),
        media=media,
        compressed=True,
    )
    return tag_in_layout(layout, info, tag)


def _busybox_config(
    *, port: int, version: str, broken: Literal["http500", "exit"] | None, healthcheck: bool
) -> dict[str, Any]:
    commands: dict[str | None, list[str]] = {
        None: ["/bin/busybox", "httpd", "-f", "-v", "-p", str(port), "-h", "/www"],
        "http500": ["/bin/busybox", "nc", "-ll", "-p", str(port), "-e", "/bin/respond500"],
        "exit": ["/bin/busybox", "false"],
    }
    config: dict[str, Any] = {
        "Env": ["PATH=/bin"],
        "Entrypoint": SIGNAL_SHIM,
        "Cmd": commands[broken],
        "WorkingDir": "/",
        "ExposedPorts": {f"{port}/tcp": {}},
        "Labels": {"org.opencontainers.image.version": version},
    }
    if healthcheck:
        config["Healthcheck"] = {
            "Test": ["CMD", "/bin/busybox", "wget", "-q", "-O-", f"http://127.0.0.1:{port}/health"],
            "Interval": 1_000_000_000,
            "Timeout": 1_000_000_000,
            "StartPeriod": 1_000_000_000,
            "Retries": 3,
        }
    return config
