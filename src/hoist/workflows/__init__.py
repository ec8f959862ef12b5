"""``hoist init``: a commented ``hoist.toml`` and, for GitHub Actions, the staging, production and rollback workflows.

- :mod:`.project`: the images, branch, test command and hoist action the files are about;
- :mod:`.config_file`: the ``hoist.toml`` template; :mod:`.github`: the workflow templates;
- :mod:`.pins`: the third-party actions, pinned to release commits (and where each SHA came from);
- :mod:`.files`: writing them (refusing to overwrite). What the composite action (``action.yml`` at the
  repository root) runs is the command line's: :mod:`hoist.cli.action`.
"""

from __future__ import annotations

from hoist.promotion.config import CONFIG_NAME
from hoist.workflows import config_file, github
from hoist.workflows.project import Project


def generate(project: Project, *, with_github: bool) -> dict[str, str]:
    """``{relative path: text}``: ``hoist.toml``, and the workflows when ``with_github``."""
    files = {CONFIG_NAME: config_file.render(project)}
    if with_github:
        files.update(github.render_all(project))
    return files
