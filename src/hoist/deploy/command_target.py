"""Deploy with any command (compose, kubectl, flyctl, an SSH script, a webhook call).

The command runs through ``/bin/sh -c`` with ``HOIST_IMAGE`` (repository@digest), ``HOIST_DIGEST``,
``HOIST_ENV`` and ``HOIST_PREVIOUS_IMAGE`` in its environment; its output passes through. Restoring
runs the same command with the previous image. The command target cannot say what runs: the ledger's
last healthy deploy stands for it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from hoist.deploy.health import Check
from hoist.deploy.target import Deployed, Running
from hoist.errors import OperationError
from hoist.process import child_environment, run_passing_output
from hoist.promotion.config import DeployConfig


class CommandTarget:
    kind = "command"

    def __init__(
        self,
        config: DeployConfig,
        *,
        environment: str,
        environ: Mapping[str, str],
        pass_env: tuple[str, ...] = (),
    ) -> None:
        assert config.run is not None
        self.config = config
        self.environment = environment
        self.environ = dict(environ)
        self.pass_env = pass_env
        """The environment's ``pass_env``; the deploy table's own ``pass_env`` adds to it."""

    def describe(self) -> str:
        return f"command {self.config.run!r}"

    def current(self) -> Running | None:
        return None

    def _run(self, image: str, digest: str, previous: Running | None) -> float:
        env = child_environment(
            self.environ,
            pass_env=(*self.pass_env, *self.config.pass_env),
            extra={
                **self.config.env,
                "HOIST_IMAGE": image,
                "HOIST_DIGEST": digest,
                "HOIST_ENV": self.environment,
                "HOIST_PREVIOUS_IMAGE": previous.image if previous else "",
            },
        )
        started = time.monotonic()
        code = run_passing_output(
            ["/bin/sh", "-c", self.config.run or ""],
            env=env,
            cwd=str(self.config.workdir or os.getcwd()),
            timeout=self.config.timeout,
            what="the deploy command",
        )
        if code != 0:
            raise OperationError(f"the deploy command exited {code} for {image}")
        return time.monotonic() - started

    def prepare(self, image: str) -> None:
        """Nothing to prepare: the command does all of it."""

    def deploy(self, image: str, digest: str, *, previous: Running | None) -> Deployed:
        seconds = self._run(image, digest, previous)
        return Deployed(image=image, digest=digest, timings={"start": round(seconds, 3)})

    def restore(self, previous: Running, *, failed: Deployed | None) -> Deployed:
        failed_run = Running(failed.image, failed.digest) if failed is not None else None
        return self.deploy(previous.image, previous.digest, previous=failed_run)

    def checks(self, deployed: Deployed) -> list[Check]:
        return []

    def alive(self, deployed: Deployed) -> str | None:
        return None

    def close(self) -> None:
        pass
