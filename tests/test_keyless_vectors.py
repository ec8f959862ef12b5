"""Every case of the real Sigstore vectors (tests/fixtures/sigstore/manifest.json) through ``hoist verify-bundle``,
offline: socket connections and name lookups are blocked, so a pass also proves no network was used."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.support import Hoist, hoist

__all__ = ["hoist"]

VECTORS = Path(__file__).parent / "fixtures" / "sigstore"
CASES: list[dict[str, Any]] = json.loads((VECTORS / "manifest.json").read_text())["cases"]

# The check hoist names for each refusal (the manifest gives part of the library's reason; hoist also says
# which check it was).
REASONS = {
    "NEG-conformance-bundle-from-wrong-instance": "root",
    "NEG-conformance-signature-mismatch": "signature",
    "NEG-dsse-wrong-subject-digest (attestation replayed on another image)": "digest",
    "NEG-dsse-caller-workflow-as-SAN (reusable workflow pitfall)": "identity",
    "NEG-dsse-wrong-predicate-type": "predicate",
    "NEG-conformance-dsse-invalid-sig": "signature",
    "NEG-conformance-dsse-mismatch-envelope": "transparency log",
    "UNSUPPORTED-npm-provenance-intoto-0.0.2 (sigstore-js 2.1.0)": "transparency log",
    "UNSUPPORTED-github-instance-attestation (private repo, TSA only, no tlog)": "transparency log",
    "UNSUPPORTED-github-instance-container-image-attestation (ghcr.io)": "transparency log",
    "UNSUPPORTED-github-staging-instance (trusted root has no tlogs)": "root",
}


def _no_network(*_args: object, **_kwargs: object) -> Any:
    raise RuntimeError("NETWORK ACCESS ATTEMPTED (verification must be offline)")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)


def case_args(case: dict[str, Any]) -> list[str]:
    """The manifest case in cosign's terms; an issuer of null (any issuer) is ``--certificate-oidc-issuer-regexp .``."""
    args = ["verify-bundle", str(VECTORS / case["bundle"]), "--trusted-root", str(VECTORS / case["trusted_root"])]
    if case.get("artifact"):
        args += ["--file", str(VECTORS / case["artifact"])]
    else:
        ((algorithm, value),) = case["subject_digest"].items()
        args += ["--digest", f"{algorithm}:{value}"]
    args += ["--certificate-identity", case["identity"]]
    if case.get("issuer"):
        args += ["--certificate-oidc-issuer", case["issuer"]]
    else:
        args += ["--certificate-oidc-issuer-regexp", "."]
    if case.get("predicate_type"):
        args += ["--type", case["predicate_type"]]
    return args


def test_the_manifest_has_every_kind_of_case() -> None:
    assert len(CASES) == 23
    assert {c["kind"] for c in CASES} == {"artifact", "dsse"}
    assert {c["id"] for c in CASES if c["expect"] == "rejected"} == set(REASONS)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
@pytest.mark.usefixtures("offline")
def test_vector(hoist: Hoist, case: dict[str, Any]) -> None:
    result = hoist(*case_args(case), "--json")
    if case["expect"] == "verified":
        assert result.code == 0, result
        assert result.err == ""
        report = result.json
        assert report["verified"] is True
        assert report["identity"] == case["identity"]
        assert report["kind"] == ("dsse" if case["kind"] == "dsse" else "message-signature")
        if case.get("predicate_type"):
            assert report["predicate_type"] == case["predicate_type"]
        for claim, value in (case.get("policies") or {}).items():
            assert value in report["claims"].values(), (claim, value)
        return
    assert result.code == 1, result
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"hoist: error: bundle rejected: {REASONS[case['id']]}: "), lines[0]
    assert case["expect_error"] in lines[0]
    assert "Traceback" not in result.err


@pytest.mark.usefixtures("offline")
def test_human_output_names_what_was_verified(hoist: Hoist) -> None:
    (case,) = [c for c in CASES if c["id"].startswith("cosign-attest-oci-image")]
    result = hoist.ok(*case_args(case))
    assert result.out.strip() == (
        "verified: attestation https://cosign.sigstore.dev/attestation/v1 on "
        "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4 by cody@soyland.com "
        "(issuer https://github.com/login/oauth, log index 175508996)"
    )
