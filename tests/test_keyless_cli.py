"""``hoist verify-bundle`` as a user runs it: cosign's options, exit codes, one-line errors, offline trust,
and no sigstore import for the commands that do not verify bundles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hoist.digest import Digest
from tests.infra.sigstore_root import GITHUB_ISSUER, SLSA_PROVENANCE_V1, TestSigstore, WorkflowRun, tampered
from tests.support import Hoist, hoist
from tests.test_keyless_vectors import VECTORS, case_args, offline

__all__ = ["hoist", "offline"]

IMAGE = Digest.of(b"the image manifest")
RUN = WorkflowRun()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    instance = TestSigstore()
    where = tmp_path_factory.mktemp("signed")
    files = {
        "root": instance.write_trusted_root(where / "trusted_root.json"),
        "signature": where / "signature.sigstore.json",
        "provenance": where / "provenance.sigstore.json",
        "tampered": where / "tampered.sigstore.json",
    }
    files["signature"].write_bytes(instance.sign_digest(IMAGE))
    files["provenance"].write_bytes(instance.provenance(IMAGE))
    files["tampered"].write_bytes(tampered(instance.provenance(IMAGE)))
    return files


def verify(hoist: Hoist, signed: dict[str, Path], bundle: str, *extra: str) -> tuple[int, str, str]:
    result = hoist("verify-bundle", signed[bundle], "--trusted-root", signed["root"], *extra)
    return result.code, result.out, result.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.usefixtures("offline")
def test_verified_in_cosign_terms(hoist: Hoist, signed: dict[str, Path]) -> None:
    identity = ("--certificate-identity", RUN.identity, "--certificate-oidc-issuer", GITHUB_ISSUER)
    code, out, _ = verify(hoist, signed, "signature", "--digest", str(IMAGE), *identity)
    assert code == 0
    assert out.startswith(f"verified: signature on {IMAGE} by {RUN.identity} (issuer {GITHUB_ISSUER}, log index ")
    code, out, err = verify(
        hoist,
        signed,
        "provenance",
        "--digest",
        str(IMAGE),
        "--certificate-identity-regexp",
        r"^https://github\.com/acme/dotca/",
        "--certificate-oidc-issuer-regexp",
        r"^https://token\.actions\.githubusercontent\.com$",
        "--certificate-github-workflow-repository",
        "acme/dotca",
        "--certificate-github-workflow-ref",
        "refs/heads/main",
        "--certificate-github-workflow-trigger",
        "push",
        "--type",
        SLSA_PROVENANCE_V1,
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["digest"] == str(IMAGE)
    assert report["predicate_type"] == SLSA_PROVENANCE_V1
    assert report["claims"]["github_workflow_repository"] == "acme/dotca"
    assert report["trusted_root"] == str(signed["root"])


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(
    ("bundle", "extra", "reason"),
    [
        ("provenance", ("--certificate-github-workflow-repository", "acme/other"), "identity"),
        ("provenance", ("--certificate-github-workflow-ref", "refs/heads/evil"), "identity"),
        ("provenance", ("--certificate-github-workflow-trigger", "pull_request_target"), "identity"),
        ("provenance", ("--type", "https://slsa.dev/provenance/v0.2"), "predicate"),
        ("tampered", (), "signature"),
    ],
)
def test_not_verified_exits_1_with_the_reason(
    hoist: Hoist, signed: dict[str, Path], bundle: str, extra: tuple[str, ...], reason: str
) -> None:
    identity = ("--certificate-identity", RUN.identity, "--certificate-oidc-issuer", GITHUB_ISSUER)
    code, out, err = verify(hoist, signed, bundle, "--digest", str(IMAGE), *identity, *extra)
    assert code == 1 and out == ""
    assert one_line(err).startswith(f"hoist: error: bundle rejected: {reason}: ")


@pytest.mark.usefixtures("offline")
def test_another_digest_and_another_issuer(hoist: Hoist, signed: dict[str, Path]) -> None:
    identity = ("--certificate-identity", RUN.identity)
    other = str(Digest.of(b"other"))
    code, _, err = verify(
        hoist, signed, "signature", "--digest", other, *identity, "--certificate-oidc-issuer", GITHUB_ISSUER
    )
    assert code == 1 and f"bundle rejected: digest: the bundle signs {IMAGE}, not {other}" in one_line(err)
    code, _, err = verify(
        hoist, signed, "signature", "--digest", str(IMAGE), *identity, "--certificate-oidc-issuer", "https://gitlab.com"
    )
    assert code == 1 and "bundle rejected: issuer: " in one_line(err)


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--certificate-identity", "x", "--certificate-oidc-issuer", "y"), "give exactly one of --digest or --file"),
        (
            ("--digest", str(IMAGE), "--file", "f", "--certificate-identity", "x", "--certificate-oidc-issuer", "y"),
            "give exactly one of --digest or --file (got --digest, --file)",
        ),
        (("--digest", str(IMAGE), "--certificate-oidc-issuer", "y"), "give exactly one of --certificate-identity or"),
        (("--digest", str(IMAGE), "--certificate-identity", "x"), "give exactly one of --certificate-oidc-issuer or"),
        (
            ("--digest", str(IMAGE), "--certificate-identity-regexp", "(", "--certificate-oidc-issuer", "y"),
            "subject_regexp '(' is not a valid regular expression",
        ),
        (
            ("--digest", "sha256:abc", "--certificate-identity", "x", "--certificate-oidc-issuer", "y"),
            "invalid digest 'sha256:abc'",
        ),
        (
            ("--file", "/nonexistent/file", "--certificate-identity", "x", "--certificate-oidc-issuer", "y"),
            "file /nonexistent/file does not exist",
        ),
    ],
)
def test_bad_input_exits_2(hoist: Hoist, signed: dict[str, Path], args: tuple[str, ...], expected: str) -> None:
    code, out, err = verify(hoist, signed, "signature", *args)
    assert code == 2 and out == ""
    assert expected in one_line(err)


@pytest.mark.usefixtures("offline")
def test_unreadable_bundle_or_root_exits_2(hoist: Hoist, signed: dict[str, Path], tmp_path: Path) -> None:
    policy = ("--digest", str(IMAGE), "--certificate-identity", "x", "--certificate-oidc-issuer", "y")
    result = hoist("verify-bundle", tmp_path / "missing.json", "--trusted-root", signed["root"], *policy)
    assert result.code == 2 and "bundle" in one_line(result.err) and "does not exist" in result.err
    (tmp_path / "text").write_text("not json\nat all\n")
    result = hoist("verify-bundle", tmp_path / "text", "--trusted-root", signed["root"], *policy)
    assert result.code == 2 and "is not valid JSON" in one_line(result.err)
    (tmp_path / "other.json").write_text('{"mediaType": "application/vnd.oci.image.index.v1+json"}')
    result = hoist("verify-bundle", tmp_path / "other.json", "--trusted-root", signed["root"], *policy)
    assert result.code == 2 and "is not a Sigstore bundle" in one_line(result.err)
    result = hoist("verify-bundle", signed["signature"], "--trusted-root", signed["signature"], *policy)
    assert result.code == 2 and "is not a Sigstore trusted root" in one_line(result.err)
    result = hoist("verify-bundle", signed["signature"], "--trusted-root", tmp_path / "nope.json", *policy)
    assert result.code == 2 and "trusted root" in one_line(result.err) and "does not exist" in result.err


@pytest.mark.usefixtures("offline")
def test_bundled_root_is_read_in_place(hoist: Hoist, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --trusted-root the public-good root shipped in the sigstore package is used, and nothing is
    written to the user's cache or data directories."""
    home = tmp_path / "home"
    for variable, sub in (("HOME", ""), ("XDG_CACHE_HOME", ".cache"), ("XDG_DATA_HOME", ".local/share")):
        monkeypatch.setenv(variable, str(home / sub))
    (case,) = [
        c
        for c in json.loads((VECTORS / "manifest.json").read_text())["cases"]
        if c["id"] == "conformance-happy-path-v0.3"
    ]
    args = case_args(case)
    at = args.index("--trusted-root")
    del args[at : at + 2]
    result = hoist(*args, "--json")
    assert result.code == 0, result
    assert result.json["trusted_root"].startswith("production root bundled with sigstore ")
    assert not home.exists() or not any(home.rglob("*")), sorted(home.rglob("*"))
    # the staging root does not hold public-good's CA
    result = hoist(*args, "--staging")
    assert result.code == 1 and "bundle rejected: root: " in one_line(result.err)


@pytest.mark.usefixtures("offline")
def test_refresh_over_tuf_is_explicit_and_fails_cleanly_offline(
    hoist: Hoist, signed: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    identity = (
        "--digest",
        str(IMAGE),
        "--certificate-identity",
        RUN.identity,
        "--certificate-oidc-issuer",
        GITHUB_ISSUER,
    )
    result = hoist("verify-bundle", signed["signature"], "--refresh-trusted-root", *identity)
    assert result.code == 1
    assert one_line(result.err).startswith(
        "hoist: error: could not refresh the Sigstore trusted root over TUF from https://tuf-repo-cdn.sigstore.dev: "
    )
    result = hoist(
        "verify-bundle", signed["signature"], "--refresh-trusted-root", "--trusted-root", signed["root"], *identity
    )
    assert result.code == 2 and "give it without --refresh-trusted-root or --staging" in one_line(result.err)
    result = hoist("verify-bundle", signed["signature"], "--staging", "--trusted-root", signed["root"], *identity)
    assert result.code == 2 and "give it without --refresh-trusted-root or --staging" in one_line(result.err)


def test_commands_that_do_not_verify_bundles_do_not_import_sigstore() -> None:
    code = (
        "import sys\n"
        "import hoist.cli.app as app\n"
        "assert 'sigstore' not in sys.modules, 'import'\n"
        "for argv in (['--version'], ['copy', '--help'], ['verify-bundle', '--help']):\n"
        "    assert app.run(argv) == 0, argv\n"
        "heavy = ('sigstore', 'sigstore_models', 'tuf', 'pydantic')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "verify-bundle" in done.stdout and "--certificate-identity-regexp" in done.stdout
