"""The GitHub Actions workflows ``hoist init --github`` writes: staging, production and rollback.

- ``staging.yml``: a pull request into the production branch builds the image once, pushes ``:staging``
  and an immutable ``:sha-<commit>``, deploys that digest to staging and tests it there.
- ``production.yml``: the merge (a push to the production branch) runs ``hoist release staging
  production``: gates, promotion by digest, verify, deploy, health, automatic rollback.
- with ``keyless``, ``staging.yml`` also attests the build's provenance (see :mod:`.keyless`);
- ``rollback.yml``: by hand (``workflow_dispatch``), ``hoist rollback production [--to SEQ|DIGEST]``
  and a deploy of what production then points at.

Each job has the fewest permissions it needs, one concurrency group per environment (queued, never
cancelled, so two promotions never interleave), and every action pinned to a commit SHA. Nothing a
user or an event controls is written into a ``run:`` script: it reaches the shell through ``env:``.
"""

from __future__ import annotations

from hoist import __version__
from hoist.workflows import keyless, pins
from hoist.workflows.project import GHCR, Project
from hoist.workflows.render import fill, yaml_string

WORKFLOWS_DIR = ".github/workflows"

HEADER = """\
# [[TITLE]]
# Written by `hoist init --github` (hoist [[VERSION]]); see hoist.toml for the environments.
#
# Every action is pinned to a full commit SHA, and the comment names its release (Dependabot and
# Renovate keep both current). hoist itself runs from [[HOIST_REPO]] at a pinned commit:
# `hoist init --github --force --action OWNER/REPO@SHA` rewrites that pin.
[[PLACEHOLDER_NOTE]]"""

PLACEHOLDER_NOTE = """\
#
# TODO: [[HOIST_USES]] is a placeholder that fails at its first run:
# point it at your copy of hoist and a full commit SHA (`hoist init --github --force --action OWNER/REPO@SHA`).
"""

STAGING = """\
[[HEADER]]
name: staging

on:
  pull_request:
    branches:
      - [[BRANCH]]
  workflow_dispatch:

permissions:
  contents: read

jobs:
  staging:
    name: Build once, deploy and test in staging
    # A pull request from a fork gets a read-only token that cannot push: skip it rather than fail.
    if: github.event_name != 'pull_request' || github.event.pull_request.head.repo.full_name == github.repository
    runs-on: ubuntu-latest
    timeout-minutes: 30
    environment: staging
    # One staging deploy at a time; a newer one waits, none is cancelled half-way.
    concurrency:
      group: hoist-staging
      cancel-in-progress: false
    permissions:
      contents: read  # check out the code and hoist.toml
[[PACKAGES_WRITE]][[KEYLESS_PERMISSIONS]]    steps:
      - name: Check out
        uses: [[CHECKOUT]]
        with:
          persist-credentials: false

      - name: Set up Docker Buildx
        uses: [[SETUP_BUILDX]]

      - name: Log in to [[REGISTRY]]
        uses: [[LOGIN]]
        with:
[[LOGIN_WITH]]
      - name: Build and push the image, once
        id: build
        uses: [[BUILD_PUSH]]
        with:
          context: .
          push: true
          # :staging moves with every build; sha-<commit> never does. Production gets this digest.
          tags: |
            [[STAGING_IMAGE]]
            [[REPOSITORY]]:sha-${{ github.sha }}
[[ATTEST_STEP]]
      - name: Deploy the digest to staging
        uses: [[HOIST]]
        with:
          command: deploy
          args: staging --digest ${{ steps.build.outputs.digest }}

      - name: Test staging
        uses: [[HOIST]]
        with:
          command: test
          args: [[TEST_ARGS]]
"""

PRODUCTION = """\
[[HEADER]]
name: production

on:
  push:
    branches:
      - [[BRANCH]]

permissions:
  contents: read

jobs:
  release:
    name: Release the staging digest to production
    runs-on: ubuntu-latest
    timeout-minutes: 30
    # A GitHub environment: its protection rules (required reviewers, branches) can gate the release.
    environment: production
    # Shared with rollback.yml: promotions and rollbacks of production queue, never interleave.
    concurrency:
      group: hoist-production
      cancel-in-progress: false
    permissions:
      contents: read  # check out hoist.toml
[[PACKAGES_WRITE]]    steps:
      - name: Check out
        uses: [[CHECKOUT]]
        with:
          persist-credentials: false
[[LOGIN_STEP]]
      - name: Release staging to production
        id: release
        uses: [[HOIST]]
        with:
          command: release
          args: staging production
"""

ROLLBACK = """\
[[HEADER]]
name: rollback

on:
  workflow_dispatch:
    inputs:
      to:
        description: Sequence number or digest to go back to (empty = the previous promoted digest)
        required: false
        type: string
        default: ""
      reason:
        description: Why (kept in the ledger)
        required: false
        type: string
        default: ""

permissions:
  contents: read

jobs:
  rollback:
    name: Roll production back
    runs-on: ubuntu-latest
    timeout-minutes: 30
    environment: production
    # Shared with production.yml: a rollback waits for a release in progress, and the other way round.
    concurrency:
      group: hoist-production
      cancel-in-progress: false
    permissions:
      contents: read  # check out hoist.toml
[[PACKAGES_WRITE]]    steps:
      - name: Check out
        uses: [[CHECKOUT]]
        with:
          persist-credentials: false
[[LOGIN_STEP]]
      - name: Show production before the rollback
        uses: [[HOIST]]
        with:
          command: status
          args: production

      # The inputs reach the shell as environment variables, never as text in the script. The hoist
      # action above left hoist installed in $RUNNER_TEMP/hoist.
      - name: Roll back
        id: rollback
        env:
          HOIST_TO: ${{ inputs.to }}
          HOIST_REASON: ${{ inputs.reason }}
          GITHUB_TOKEN: ${{ github.token }}
        shell: bash
        run: |
          args=(rollback production)
          if [ -n "$HOIST_TO" ]; then args+=(--to "$HOIST_TO"); fi
          if [ -n "$HOIST_REASON" ]; then args+=(--reason "$HOIST_REASON"); fi
          "$RUNNER_TEMP/hoist/bin/hoist" "${args[@]}"

      - name: Deploy what production now points at
        uses: [[HOIST]]
        with:
          command: deploy
          args: production
"""

_PACKAGES_WRITE = "      packages: write  # [[WHY]]\n"

_GHCR_LOGIN_WITH = """\
          registry: ghcr.io
          username: ${{ github.actor }}
          password: ${{ secrets.GITHUB_TOKEN }}
"""

_SECRETS_LOGIN_WITH = """\
          registry: [[REGISTRY]]
          username: ${{ secrets.REGISTRY_USERNAME }}
          password: ${{ secrets.REGISTRY_PASSWORD }}
"""

_SECRETS_LOGIN_STEP = """
      # hoist reads the credentials docker/login-action stores (~/.docker/config.json).
      - name: Log in to [[REGISTRY]]
        uses: [[LOGIN]]
        with:
[[LOGIN_WITH]]"""


def render_all(project: Project) -> dict[str, str]:
    """``{relative path: text}`` for the three workflows."""
    return {
        f"{WORKFLOWS_DIR}/staging.yml": _render(
            STAGING,
            project,
            title="Staging: build the image once, deploy that digest to staging and test it there.",
            packages_why="push the image, and hoist's deploy and test records, to ghcr.io",
        ),
        f"{WORKFLOWS_DIR}/production.yml": _render(
            PRODUCTION,
            project,
            title="Production: promote the digest tested in staging, by digest (no rebuild), and deploy it.",
            packages_why="move production's tags to the digest and record the release on ghcr.io",
        ),
        f"{WORKFLOWS_DIR}/rollback.yml": _render(
            ROLLBACK,
            project,
            title="Rollback: point production back at an earlier digest (run by hand) and deploy it.",
            packages_why="move production's tags back and record the rollback on ghcr.io",
        ),
    }


def _render(template: str, project: Project, *, title: str, packages_why: str) -> str:
    registry = project.registry or ""
    on_ghcr = registry == GHCR
    hoist = project.action
    values = {
        "TITLE": title,
        "VERSION": __version__,
        "HOIST_REPO": hoist.repo,
        "HOIST_USES": f"{hoist.repo}@{hoist.sha}",
        "HOIST": hoist.uses,
        "CHECKOUT": pins.CHECKOUT.uses,
        "SETUP_BUILDX": pins.SETUP_BUILDX.uses,
        "LOGIN": pins.LOGIN.uses,
        "BUILD_PUSH": pins.BUILD_PUSH.uses,
        "BRANCH": yaml_string(project.branch),
        "REGISTRY": registry,
        "STAGING_IMAGE": str(project.staging),
        "REPOSITORY": project.repository,
        "TEST_ARGS": yaml_string(f"staging -- {project.test_command}"),
        "WHY": packages_why,
    }
    placeholder = values["HOIST_USES"] == pins.PLACEHOLDER_ACTION
    values["PLACEHOLDER_NOTE"] = fill(PLACEHOLDER_NOTE, values) if placeholder else ""
    values["HEADER"] = fill(HEADER, values).rstrip("\n")
    # ghcr.io takes the job's GITHUB_TOKEN (hence packages: write); another registry takes secrets.
    values["PACKAGES_WRITE"] = fill(_PACKAGES_WRITE, values) if on_ghcr else ""
    values["LOGIN_WITH"] = fill(_GHCR_LOGIN_WITH if on_ghcr else _SECRETS_LOGIN_WITH, values)
    values["LOGIN_STEP"] = "" if on_ghcr else fill(_SECRETS_LOGIN_STEP, values)
    values.update(keyless.workflow_values(project))
    return fill(template, values)
