"""What ``hoist init --github --keyless`` adds: the staging job attests each build's provenance with its own
workflow identity (``actions/attest-build-provenance``: a Sigstore certificate from the job's OIDC token,
the SLSA provenance pushed beside the image), and production's ``provenance`` gate checks it before the
digest moves — offline, against the public-good Sigstore root.

The staging workflow builds pull requests into the production branch (``refs/pull/<n>/merge``) and runs by
hand on that branch, so the gate takes those refs (``ref_regexp``), this repository and ``staging.yml``.
"""

from __future__ import annotations

import re

from hoist.evidence.keyless.policy import SLSA_PROVENANCE_V1
from hoist.workflows import pins
from hoist.workflows.project import Project
from hoist.workflows.render import fill, toml_string

PLACEHOLDER_REPOSITORY = "OWNER/REPO"

PERMISSIONS = """\
      id-token: write  # a Sigstore certificate for the build's provenance, from this job's identity
      attestations: write  # keep the provenance with GitHub's attestations of the repository too
"""

ATTEST_STEP = """
      # Keyless: a SLSA provenance of the digest just built, signed with this workflow's identity and
      # pushed beside the image; production's provenance gate verifies it before the digest moves.
      - name: Attest the build's provenance
        uses: [[ATTEST]]
        with:
          subject-name: [[REPOSITORY]]
          subject-digest: ${{ steps.build.outputs.digest }}
          push-to-registry: true
          create-storage-record: false
"""

GATES = """\
# Gates: accept only a digest whose build provenance says this repository's staging workflow built it,
# from a pull request into [[BRANCH]] or from [[BRANCH]] itself (staging.yml attests every build with
# actions/attest-build-provenance; hoist verifies it offline against Sigstore's public-good root). A
# private repository's provenance is signed by GitHub's own Sigstore instance, which hoist does not
# accept: see hoist's docs/keyless.md. Add "deployed" and "tests" to require a healthy staging deploy
# and a passing `hoist test staging` as well (their tables are below).
require = ["provenance"]

[environments.production.gates.provenance]
[[REPOSITORY_NOTE]]repository = [[REPOSITORY]]
workflow = ".github/workflows/staging.yml"
ref_regexp = [[REF_REGEXP]]
predicate = [[PREDICATE]]
#
# [environments.production.gates.deployed]
# environment = "staging"
#
# [environments.production.gates.tests]
# environment = "staging"
# max_age = "7d"
"""

REPOSITORY_NOTE = "# TODO: a placeholder: the GitHub repository (OWNER/REPO) whose staging workflow builds the image.\n"


def repository(project: Project) -> str:
    return project.github_repository or PLACEHOLDER_REPOSITORY


def workflow_values(project: Project) -> dict[str, str]:
    """The staging workflow's keyless parts (empty without ``keyless``)."""
    if not project.keyless:
        return {"KEYLESS_PERMISSIONS": "", "ATTEST_STEP": ""}
    step = fill(ATTEST_STEP, {"ATTEST": pins.ATTEST_PROVENANCE.uses, "REPOSITORY": project.repository})
    return {"KEYLESS_PERMISSIONS": PERMISSIONS, "ATTEST_STEP": step}


def gates(project: Project) -> str:
    """hoist.toml's provenance gate for production."""
    refs = f"^refs/(heads/{re.escape(project.branch)}|pull/[0-9]+/merge)$"
    return fill(
        GATES,
        {
            "BRANCH": project.branch,
            "REPOSITORY": toml_string(repository(project)),
            "REPOSITORY_NOTE": REPOSITORY_NOTE if project.github_repository is None else "",
            "REF_REGEXP": f"'{refs}'",  # a literal string: the expression's backslashes stay as they are
            "PREDICATE": toml_string(SLSA_PROVENANCE_V1),
        },
    )
