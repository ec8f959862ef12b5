"""Thin wrappers over the real ``skopeo`` binary (1.9 on Debian 12): the interop oracle.

References use skopeo's transports: ``docker://HOST/REPO:TAG``, ``oci:DIR:TAG``, ``dir:DIR``.
TLS verification is off for ``docker://`` unless a cert dir is given (loopback test registries
speak plain HTTP; skopeo then falls back from HTTPS to HTTP). A cert dir is a directory holding the
test CA as ``ca.crt`` (and ``client.cert``/``client.key`` for client auth). Failures raise
:class:`SkopeoError` carrying skopeo's stderr, with any password redacted.

skopeo 1.9's ``oci:`` transport only sees index.json entries whose ``mediaType`` is an OCI manifest
or index, so it cannot read Docker-media-type images from a layout; :func:`layout_ref` hands those
over through the ``dir:`` transport instead (:func:`export_dir`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.infra.layout import blob_path, layout_digest, read_blob

SKOPEO = "skopeo"
OCI_TYPES = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json")
Creds = str | tuple[str, str] | None


class SkopeoError(RuntimeError):
    """skopeo failed (non-zero exit or timeout); ``stderr`` holds its message."""

    def __init__(self, args: Sequence[str], returncode: int | None, stderr: str) -> None:
        self.args_run = list(args)
        self.returncode = returncode
        self.stderr = stderr
        status = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"{' '.join(args)} {status}: {stderr.strip()}")


def _creds(value: Creds) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else f"{value[0]}:{value[1]}"


def _side(
    flag: str, ref: str, *, creds: Creds, cert_dir: Path | None, tls_verify: bool | None
) -> tuple[list[str], list[str]]:
    """Options for one side (``flag`` is ``"src-"``, ``"dest-"`` or ``""``) and the secrets in them."""
    args: list[str] = []
    secrets: list[str] = []
    if ref.startswith("docker://"):
        verify = tls_verify if tls_verify is not None else cert_dir is not None
        args.append(f"--{flag}tls-verify={'true' if verify else 'false'}")
    if cert_dir is not None:
        args.append(f"--{flag}cert-dir={cert_dir}")
    cred = _creds(creds)
    if cred is not None:
        args.append(f"--{flag}creds={cred}")
        secrets.append(cred.partition(":")[2])
    return args, secrets


def run_skopeo(args: Sequence[str], *, secrets: Sequence[str] = (), timeout: float = 300.0) -> bytes:
    """Run ``skopeo --insecure-policy ARGS``; return stdout or raise :class:`SkopeoError`."""
    argv = [SKOPEO, "--insecure-policy", f"--command-timeout={int(timeout)}s", *args]
    shown = [_redact(arg, secrets) for arg in argv]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout + 10, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SkopeoError(shown, None, _redact((exc.stderr or b"").decode(errors="replace"), secrets)) from exc
    if done.returncode != 0:
        raise SkopeoError(shown, done.returncode, _redact(done.stderr.decode(errors="replace"), secrets))
    return done.stdout


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def skopeo_copy(
    src: str,
    dst: str,
    *,
    all: bool = True,
    preserve_digests: bool = True,
    src_creds: Creds = None,
    dest_creds: Creds = None,
    src_cert_dir: Path | None = None,
    dest_cert_dir: Path | None = None,
    src_tls_verify: bool | None = None,
    dest_tls_verify: bool | None = None,
    authfile: Path | None = None,
    format: str | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 300.0,
) -> None:
    """``skopeo copy SRC DST`` (``--all --preserve-digests`` by default; raises on any difference)."""
    src_args, src_secrets = _side("src-", src, creds=src_creds, cert_dir=src_cert_dir, tls_verify=src_tls_verify)
    dst_args, dst_secrets = _side("dest-", dst, creds=dest_creds, cert_dir=dest_cert_dir, tls_verify=dest_tls_verify)
    args = ["copy", "--quiet", *src_args, *dst_args]
    if all:
        args.append("--all")
    if preserve_digests:
        args.append("--preserve-digests")
    if dst.startswith("oci:"):
        args.append("--dest-oci-accept-uncompressed-layers")
    if authfile is not None:
        args += [f"--src-authfile={authfile}", f"--dest-authfile={authfile}"]
    if format is not None:
        args.append(f"--format={format}")
    run_skopeo([*args, *extra_args, src, dst], secrets=[*src_secrets, *dst_secrets], timeout=timeout)


def _read_args(
    ref: str, creds: Creds, cert_dir: Path | None, tls_verify: bool | None, authfile: Path | None
) -> tuple[list[str], list[str]]:
    args, secrets = _side("", ref, creds=creds, cert_dir=cert_dir, tls_verify=tls_verify)
    if authfile is not None:
        args.append(f"--authfile={authfile}")
    return args, secrets


def skopeo_inspect_raw(
    ref: str,
    *,
    config: bool = False,
    creds: Creds = None,
    cert_dir: Path | None = None,
    tls_verify: bool | None = None,
    authfile: Path | None = None,
    timeout: float = 60.0,
) -> bytes:
    """``skopeo inspect --raw REF``: the manifest bytes exactly as stored (``config=True``: the config)."""
    args, secrets = _read_args(ref, creds, cert_dir, tls_verify, authfile)
    if config:
        args.append("--config")
    return run_skopeo(["inspect", "--raw", *args, ref], secrets=secrets, timeout=timeout)


def skopeo_digest(
    ref: str,
    *,
    creds: Creds = None,
    cert_dir: Path | None = None,
    tls_verify: bool | None = None,
    authfile: Path | None = None,
    timeout: float = 60.0,
) -> str:
    """``sha256:`` + hex of the raw manifest that ``ref`` names."""
    raw = skopeo_inspect_raw(
        ref, creds=creds, cert_dir=cert_dir, tls_verify=tls_verify, authfile=authfile, timeout=timeout
    )
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def skopeo_tags(
    ref: str,
    *,
    creds: Creds = None,
    cert_dir: Path | None = None,
    tls_verify: bool | None = None,
    authfile: Path | None = None,
    timeout: float = 60.0,
) -> list[str]:
    """``skopeo list-tags docker://HOST/REPO`` (a tag or digest on ``ref`` is ignored), sorted."""
    repo = ref.split("@", 1)[0]
    head, _, last = repo.rpartition("/")
    repo = f"{head}/{last.split(':', 1)[0]}"
    args, secrets = _read_args(repo, creds, cert_dir, tls_verify, authfile)
    out = run_skopeo(["list-tags", *args, repo], secrets=secrets, timeout=timeout)
    return sorted(json.loads(out)["Tags"] or [])


def export_dir(layout: Path, tag: str, dest: Path) -> str:
    """Write ``tag`` from ``layout`` in skopeo's ``dir:`` format at ``dest`` (blobs hard-linked).

    ``manifest.json`` is the tagged manifest; an index's children go to ``<hex>.manifest.json``.
    Returns the ``dir:DEST`` reference.
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / "version").write_text("Directory Transport Version: 1.1\n")
    top = layout_digest(layout, tag)
    _export_manifest(layout, top, dest, dest / "manifest.json")
    return f"dir:{dest}"


def _export_manifest(layout: Path, digest: str, dest: Path, target: Path) -> None:
    raw = read_blob(layout, digest)
    target.write_bytes(raw)
    manifest = json.loads(raw)
    for child in manifest.get("manifests", []):
        hexdigest = child["digest"].partition(":")[2]
        _export_manifest(layout, child["digest"], dest, dest / f"{hexdigest}.manifest.json")
    for descriptor in [manifest.get("config"), *manifest.get("layers", [])]:
        if descriptor is None:
            continue
        link = dest / descriptor["digest"].partition(":")[2]
        if not link.exists():
            _link_or_copy(blob_path(layout, descriptor["digest"]), link)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def layout_ref(layout: Path, tag: str) -> str:
    """A skopeo source reference for ``tag`` in ``layout``: ``oci:`` for OCI media types, else a
    ``dir:`` export next to the layout (skopeo 1.9 cannot read Docker media types from ``oci:``)."""
    index = json.loads((layout / "index.json").read_text())
    digest = layout_digest(layout, tag)
    entry = next(e for e in index["manifests"] if e["digest"] == digest)
    if entry["mediaType"] in OCI_TYPES:
        return f"oci:{layout}:{tag}"
    return export_dir(layout, tag, layout.parent / f"{layout.name}.dir-{tag}")
