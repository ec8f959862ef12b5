"""``hoist init``: write a commented hoist.toml and, with ``--github``, the GitHub Actions workflows."""

from __future__ import annotations

from pathlib import Path

import click

from hoist.cli.context import emit_json, note, say
from hoist.cli.options import json_option
from hoist.workflows.pins import PLACEHOLDER_ACTION
from hoist.workflows.project import DEFAULT_BRANCH, DEFAULT_TEST_COMMAND, PLACEHOLDER_IMAGE


@click.command("init")
@click.option(
    "--github", "with_github", is_flag=True, help="Also write .github/workflows/ staging, production, rollback."
)
@click.option(
    "--image",
    metavar="REF",
    help="Staging's image, such as ghcr.io/acme/app:staging; production gets the same repository's :production"
    " (default: ghcr.io/OWNER/REPO:staging from the git remote 'origin' on GitHub, else a placeholder).",
)
@click.option(
    "--action",
    metavar="REPO@SHA",
    envvar="HOIST_ACTION",
    default=PLACEHOLDER_ACTION,
    show_default="a placeholder to replace",
    help="The hoist GitHub Action the workflows run, pinned to a full commit SHA (env: HOIST_ACTION).",
)
@click.option(
    "--branch",
    metavar="BRANCH",
    default=DEFAULT_BRANCH,
    show_default=True,
    help="Pull requests into it deploy to staging; pushes to it release to production.",
)
@click.option(
    "--test-command",
    metavar="CMD",
    default=DEFAULT_TEST_COMMAND,
    show_default=True,
    help="What 'hoist test staging' runs against the staging deploy.",
)
@click.option(
    "--keyless",
    is_flag=True,
    help="Staging attests each build's provenance (Sigstore, actions/attest-build-provenance) and production"
    " requires it (a public repository: see docs/keyless.md).",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.option(
    "--dir",
    "directory",
    metavar="PATH",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=".",
    help="The project's root directory.",
)
@json_option
def command(
    with_github: bool,
    image: str | None,
    action: str,
    branch: str,
    test_command: str,
    keyless: bool,
    force: bool,
    directory: Path,
    json_out: bool,
) -> None:
    """Write hoist.toml (staging → production) and, with --github, the workflows that drive it.

    Nothing is overwritten without --force: when one of the files exists, nothing is written.
    """
    from hoist import __version__
    from hoist.workflows import generate
    from hoist.workflows.files import write_files
    from hoist.workflows.pins import parse_action
    from hoist.workflows.project import (
        Project,
        check_branch,
        check_github,
        check_test_command,
        github_repository,
        production_image,
        staging_image,
    )

    staging = staging_image(image, directory)
    project = Project(
        staging=staging,
        production=production_image(staging),
        action=parse_action(action if with_github else PLACEHOLDER_ACTION, version=__version__),
        branch=check_branch(branch),
        test_command=check_test_command(test_command),
        keyless=keyless,
        github_repository=github_repository(directory, staging) if keyless else None,
    )
    if with_github:
        check_github(project)
    written = write_files(directory, generate(project, with_github=with_github), force=force)
    placeholder = with_github and f"{project.action.repo}@{project.action.sha}" == PLACEHOLDER_ACTION
    placeholder_image = str(project.staging) == PLACEHOLDER_IMAGE
    if json_out:
        emit_json(
            {
                "files": [str(path) for path in written],
                "staging": str(project.staging),
                "production": str(project.production),
                "action": f"{project.action.repo}@{project.action.sha}" if with_github else None,
                "placeholder_action": placeholder,
                "placeholder_image": placeholder_image,
                "keyless": keyless,
                "repository": project.github_repository,
            }
        )
        return
    for path in written:
        say(f"wrote {path}")
    say(f"staging {project.staging} -> production {project.production}")
    if placeholder_image:
        note(f"hoist: {PLACEHOLDER_IMAGE} is a placeholder: rerun with --force --image REF to name your image")
    if keyless and project.github_repository is None:
        note(
            "hoist: the provenance gate in hoist.toml names the placeholder repository OWNER/REPO: put your"
            " GitHub repository there (no git remote 'origin' on GitHub, nor a ghcr.io image, named it)"
        )
    if placeholder:
        note(
            f"hoist: the workflows use the placeholder {PLACEHOLDER_ACTION}: rerun with"
            " --force --action OWNER/REPO@SHA (a full commit SHA of your copy of hoist)"
        )
