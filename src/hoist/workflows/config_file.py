"""The ``hoist.toml`` that ``hoist init`` writes: staging → production, with commented examples.

The examples are real configuration: uncommenting every ``# key = value`` and ``# [table]`` line gives
a file that :func:`hoist.promotion.config.load_config` accepts (the tests check exactly that).
"""

from __future__ import annotations

from hoist.workflows import keyless
from hoist.workflows.project import PLACEHOLDER_IMAGE, Project
from hoist.workflows.render import fill, toml_string

TEMPLATE = """\
# hoist.toml: the environments hoist promotes between, written by `hoist init`.
#
# The path of an image: CI builds it once and pushes it to staging's tag; `hoist deploy staging
# --digest D` runs that digest in staging and `hoist test staging -- CMD` tests it there; then
# `hoist release staging production` copies the same digest (never a rebuild) to production's tags,
# deploys it, checks its health and rolls back on its own if the checks fail.
# Every key is described in hoist's README ("Environments, promotion, history and rollback").

[environments.staging]
[[IMAGE_NOTE]]image = [[STAGING]]
# Sign what hoist records for staging (test results, scans, ledger records) with a key, and accept
# staging's ledger only from it: anyone who can push to the registry could otherwise write evidence and
# records that production's gates would believe. `hoist keygen --output-prefix keys/staging` makes the
# pair; in CI the password comes from HOIST_KEY_PASSWORD (docs/security.md).
# key = "keys/staging.key"
# trust = { keys = ["keys/staging.pub"] }
# Variables `hoist test` and command deploys may see beside the safe ones (PATH, HOME, HOIST_*...):
# pass_env = ["API_TEST_TOKEN"]

# How staging runs an image. The staging workflow's `hoist deploy staging` needs this table:
# uncomment it and say how. A command gets HOIST_IMAGE (repository@digest), HOIST_DIGEST,
# HOIST_ENV and HOIST_PREVIOUS_IMAGE in its environment: compose, kubectl, flyctl, ssh, a webhook.
# [environments.staging.deploy]
# target = "command"
# run = "./deploy/staging.sh"
# timeout = "10m"
#
# [environments.staging.health]
# url = "https://staging.example.com/healthz"
# timeout = "2m"

[environments.production]
image = [[PRODUCTION]]
from = "staging"
# More tags moved to each promoted digest. Templates: {git_sha}, {git_ref}, {date}, {datetime},
# {seq}, {digest_short}, {tag}, {environment}, {env.NAME}, with format specs such as {git_sha:.7}.
tags = ["latest", "sha-{git_sha:.7}", "{date}"]
# The immutable tag every promoted image keeps, so that no clean-up deletes a rollback target:
# history_tag = "{tag}-{seq:04}"

[[GATES]]
# How production runs the image: `hoist release` deploys after promoting, waits for health and
# restores the previous digest when the checks fail. target = "docker" talks to a Docker Engine API
# (DOCKER_HOST, or host = "ssh://deploy@app.example.com"); target = "command" runs a command.
# [environments.production.deploy]
# target = "docker"
# container = "app"
# ports = ["8080:8080"]
# env = { APP_ENV = "production" }
#
# [environments.production.health]
# url = "http://127.0.0.1:8080/healthz"
# expect_status = 200
# timeout = "60s"
"""


GATES = """\
# Gates: accept only a digest that was deployed to staging and passed `hoist test staging` there.
# (`hoist init --github --keyless` gates on the build's Sigstore provenance instead.)
# require = ["deployed", "tests"]
#
# [environments.production.gates.deployed]
# environment = "staging"
#
# [environments.production.gates.tests]
# environment = "staging"
# max_age = "7d"
# keys = ["keys/staging.pub"]   # only results staging's key signed (unsigned evidence proves nothing)
"""

IMAGE_NOTE = "# TODO: a placeholder: name your image (`hoist init --force --image REF` rewrites this file).\n"


def render(project: Project) -> str:
    values = {
        "STAGING": toml_string(str(project.staging)),
        "PRODUCTION": toml_string(str(project.production)),
        "IMAGE_NOTE": IMAGE_NOTE if str(project.staging) == PLACEHOLDER_IMAGE else "",
        "GATES": keyless.gates(project) if project.keyless else GATES,
    }
    return fill(TEMPLATE, values)
