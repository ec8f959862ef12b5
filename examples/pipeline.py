"""The whole pipeline on this machine, on real parts: build once, test in staging, promote by digest.

    scripts/demo.sh            (sets the machine up, then runs this)

1. Starts a registry (Debian's docker-registry) and a container engine (podman's Docker-compatible API
   service), both on loopback, in a temporary directory.
2. Builds dotca (examples/dotca) ONCE with buildah and pushes it as :staging.
3. Deploys staging by digest, runs dotca's tests against it (`hoist test`), signs the tested digest.
4. `hoist release staging production`: gates on that exact digest, promote, verify, deploy, health.
5. Releases version 2 the same way, then version 3, which carries a bug that only shows with the
   production configuration: staging passes, production fails its health check, and hoist rolls back.
6. Measures the old way for comparison: rebuild version 2 from source (with buildah's layer cache, and
   without it), push, deploy. Every step on both sides is a whole command timed by the wall clock,
   process start-up included, and the Deployment Time Comparison is printed from those measurements.
7. Reads the digests back from the registry (skopeo, and `hoist status --json`): production runs the
   digest that was tested in staging; a rebuild's digest is compared with it, not assumed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.infra.engine import LOOPBACK_REGISTRIES, RunningEngine, start_engine  # noqa: E402
from tests.infra.ports import free_port  # noqa: E402
from tests.infra.registry import RunningRegistry, start_registry  # noqa: E402
from tests.infra.skopeo import skopeo_digest  # noqa: E402

APP = ROOT / "examples" / "dotca"
BUSYBOX = Path("/bin/busybox")
KEY_PASSWORD = "dotca-demo-password"


def banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 96 - len(text)), flush=True)


@dataclass
class Run:
    code: int
    out: str
    seconds: float
    """Wall-clock time of the whole command, process start-up included."""


@dataclass(frozen=True)
class Step:
    """One timed command of a path through the comparison."""

    name: str
    command: str
    seconds: float


@dataclass
class Way:
    """A way from a merge to production: its timed commands, and the digest it left running."""

    title: str
    steps: list[Step] = field(default_factory=list)
    digest: str = ""

    @property
    def total(self) -> float:
        return sum(step.seconds for step in self.steps)

    def seconds(self, name: str) -> float | None:
        found = [step.seconds for step in self.steps if step.name == name]
        return sum(found) if found else None


def timed(name: str, command: str, seconds: float) -> Step:
    print(f"timed: {name:<16} {seconds:8.3f} s   $ {command}", flush=True)
    return Step(name, command, seconds)


def registry_digest(reference: str) -> str:
    """What ``reference`` points at, as the registry serves it to skopeo (hoist takes no part)."""
    return skopeo_digest(f"docker://{reference}", tls_verify=False)


@dataclass
class Pipeline:
    work: Path
    registry: RunningRegistry
    engine: RunningEngine
    config: Path = field(init=False)
    ports: dict[str, int] = field(default_factory=dict)
    primed: str = ""
    """The version the old way's environment runs before each measured rebuild is deployed."""

    @property
    def repo(self) -> str:
        return f"{self.registry.host}/username/dotca"

    @property
    def rebuilt_repo(self) -> str:
        return f"{self.registry.host}/username/dotca-rebuilt"

    def hoist(self, *args: str, expect: int = 0, show: bool = True) -> Run:
        argv = [sys.executable, "-m", "hoist", "--config", str(self.config), *args]
        if show:
            print(f"\n$ hoist {shlex.join(args)}", flush=True)
        started = time.monotonic()
        errors = subprocess.STDOUT if show else subprocess.PIPE  # shown: both streams, in order
        done = subprocess.run(argv, text=True, stdout=subprocess.PIPE, stderr=errors, check=False, env=self.env())
        seconds = time.monotonic() - started
        if show:
            sys.stdout.write(done.stdout)
        if done.returncode != expect:
            raise SystemExit(f"hoist {args[0]} exited {done.returncode}, expected {expect}")
        return Run(done.returncode, done.stdout, seconds)

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOIST_KEY_PASSWORD": KEY_PASSWORD, "HOIST_ACTOR": "dotca-pipeline"}

    def buildah(self, *args: str) -> Run:
        """One buildah command, timed whole by the wall clock."""
        storage = ["--storage-driver", "vfs", "--root", str(self.work / "buildah"), "--runroot", str(self.work / "run")]
        started = time.monotonic()
        done = subprocess.run(["buildah", *storage, *args], text=True, capture_output=True, check=False)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"buildah {args[0]} failed: {done.stderr.strip()[-800:]}")
        return Run(done.returncode, done.stdout, seconds)

    def build(self, version: str, *, bug: bool, cache: bool = True) -> Run:
        """``buildah build`` of dotca; with ``cache`` it keeps and reuses its layers (``--layers``)."""
        context = self.work / "context"
        if context.exists():
            shutil.rmtree(context)
        shutil.copytree(APP, context, ignore=shutil.ignore_patterns("tests", "hoist.toml", "__pycache__"))
        shutil.copy2(BUSYBOX, context / "busybox")  # the file's own time: the context is the same each build
        return self.buildah(
            "build",
            "--isolation",
            "chroot",
            "--layers" if cache else "--no-cache",
            "--build-arg",
            f"APP_VERSION={version}",
            "--build-arg",
            f"BUG={int(bug)}",
            "-t",
            f"dotca:{version}",
            str(context),
        )

    def push(self, version: str, target: str) -> tuple[str, Run]:
        """``buildah push`` to ``target``: (the digest buildah reports, the timed run)."""
        digest_file = self.work / "digest"
        run = self.buildah(
            "push", "--tls-verify=false", "--digestfile", str(digest_file), f"dotca:{version}", f"docker://{target}"
        )
        return digest_file.read_text().strip(), run

    def write_config(self) -> None:
        keys = self.work / "keys"
        text = (APP / "hoist.toml").read_text()
        text = text.replace("ghcr.io/username/dotca", self.repo).replace('"keys/', f'"{keys}/')
        for name, default in (("staging", 18081), ("production", 18080)):
            text = text.replace(f"127.0.0.1:{default}:", f"127.0.0.1:{self.ports[name]}:")
            text = text.replace(f"127.0.0.1:{default}/", f"127.0.0.1:{self.ports[name]}/")
        text = text.replace('target = "docker"', f'target = "docker"\nhost = "{self.engine.socket_url}"')
        text = text.replace('container = "dotca', f'container = "{self.work.name}-dotca')
        text += f"""
# The old way, for the comparison only: production rebuilt from source instead of promoted. It deploys
# through the same engine with the same health check as production, so only the path differs.
[environments.rebuilt]
image = "{self.rebuilt_repo}:main"

[environments.rebuilt.deploy]
target = "docker"
host = "{self.engine.socket_url}"
container = "{self.work.name}-dotca-rebuilt"
ports = ["127.0.0.1:{self.ports["rebuilt"]}:8080"]
env = {{ APP_ENV = "production" }}

[environments.rebuilt.health]
url = "http://127.0.0.1:{self.ports["rebuilt"]}/cgi-bin/health"
timeout = "30s"
interval = "0.5s"
"""
        self.config = self.work / "hoist.toml"
        self.config.write_text(text)

    def staging(self, version: str, *, bug: bool) -> str:
        """What CI does on a pull request: build ONCE, push :staging, deploy it, test it, sign it.

        Returns the digest the tests ran against, read back from the registry after they passed."""
        banner(f"build dotca {version} once, deploy and test it in staging")
        built = self.build(version, bug=bug)
        digest, pushed = self.push(version, f"{self.repo}:staging")
        print(f"built in {built.seconds:.2f}s, pushed in {pushed.seconds:.2f}s: {self.repo}:staging = {digest}")
        self.hoist("deploy", "staging", "--digest", digest)
        junit = self.work / f"junit-{version}.xml"
        tests = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(APP / "tests"),
            f"--junitxml={junit}",
        ]
        self.hoist("test", "staging", "--junit", str(junit), "--", *tests)
        tested = registry_digest(f"{self.repo}:staging")
        deployed = self.status("staging")["deployed"]
        if tested != deployed or tested != digest:
            raise SystemExit(f"staging's tag holds {tested}, its last deploy was {deployed}, buildah pushed {digest}")
        print(f"tested in staging: {tested} (skopeo: {self.repo}:staging; hoist status staging: deployed)")
        self.hoist("sign", f"{self.repo}@{tested}", "--key", str(self.work / "keys" / "staging.key"))
        return tested

    def release(self, *, expect: int = 0) -> Run:
        banner("release to production: gates, promote by digest, verify, deploy, health")
        return self.hoist("release", "staging", "production", "--reason", "merged to main", expect=expect)

    def status(self, environment: str) -> dict[str, str]:
        """``hoist status ENV --json``: the ledger's digest, the tag's, and the last deploy's."""
        out = self.hoist("status", environment, "--json", show=False).out
        (found,) = json.loads(out)
        return {key: found[key] for key in ("digest", "tag_digest", "deployed")}


def promoted(pipeline: Pipeline, tested: str, release: Run) -> Way:
    """The new way as measured: the whole `hoist release`, and the digest production has afterwards."""
    status = pipeline.status("production")
    tag = registry_digest(f"{pipeline.repo}:main")
    print(
        f"\nproduction, read back: skopeo {pipeline.repo}:main = {tag}\n"
        f"  hoist status production --json: digest {status['digest']}, tag {status['tag_digest']}, "
        f"deployed {status['deployed']}"
    )
    if not (tag == status["digest"] == status["tag_digest"] == status["deployed"] == tested):
        raise SystemExit(f"production does not run the tested digest {tested}: {tag}, {status}")
    new = Way("new: hoist release", digest=tag)
    new.steps.append(timed("release", "hoist release staging production", release.seconds))
    return new


def rebuilt(pipeline: Pipeline, *, cache: bool) -> Way:
    """The old way, measured: production rebuilt from source (version 2, as tested), pushed, deployed."""
    label = "cached" if cache else "nocache"
    banner(f"the old way, measured: rebuild {'with' if cache else 'without'} the build cache, push, deploy")
    pipeline.hoist("deploy", "rebuilt", "--digest", pipeline.primed, "--json", show=False)  # v1 runs again
    old = Way(f"old: rebuild, {'cached' if cache else 'no cache'}")
    build = pipeline.build("2", bug=False, cache=cache)
    old.steps.append(timed("build", f"buildah build {'--layers' if cache else '--no-cache'} ...", build.seconds))
    reference = f"{pipeline.rebuilt_repo}:{label}"
    pushed_digest, push = pipeline.push("2", reference)
    old.steps.append(timed("push", f"buildah push dotca:2 docker://{reference}", push.seconds))
    deploy = pipeline.hoist("deploy", "rebuilt", "--digest", pushed_digest, "--json", show=False)
    old.steps.append(timed("deploy + health", f"hoist deploy rebuilt --digest {pushed_digest}", deploy.seconds))
    old.digest = registry_digest(reference)
    if old.digest != pushed_digest:
        raise SystemExit(f"{reference} holds {old.digest}, buildah pushed {pushed_digest}")
    return old


def comparison(ways: list[Way], tested: str) -> None:
    """The Deployment Time Comparison, from the measured commands only, and what each path runs."""
    banner("Deployment Time Comparison (measured on this machine: each step a whole command, wall clock)")
    steps = ("build", "push", "deploy + health", "release")
    print(f"{'step':<18}" + "".join(f"{way.title:>26}" for way in ways))
    for name in steps:
        cells = []
        for way in ways:
            seconds = way.seconds(name)
            cells.append(f"{seconds:.2f} s" if seconds is not None else "-")
        print(f"{name:<18}" + "".join(f"{cell:>26}" for cell in cells))
    print(f"{'total':<18}" + "".join(f"{f'{way.total:.2f} s':>26}" for way in ways))
    new = ways[-1]
    print(f"({new.title}: the image was built once, for staging, before the merge; release = gates, promote,")
    print(" verify, deploy, health. Old ways: the deploy has the same engine and health check as production.)")
    print()
    for old in ways[:-1]:
        change = 100 * (old.total - new.total) / old.total if old.total else 0.0
        direction = "less" if change >= 0 else "more"
        print(f"{new.title} took {abs(change):.0f}% {direction} time than {old.title}")
    print("\ndigests, read back from the registry:")
    print(f"  {'tested in staging':<26} {tested}")
    for way in ways:
        same = "the tested image" if way.digest == tested else "a DIFFERENT image: nobody tested it"
        print(f"  {way.title:<26} {way.digest}  ({same})")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hoist-pipeline-") as tmp:
        work = Path(tmp)
        banner("start the real parts: a registry and a container engine on loopback")
        engine = start_engine(work / "engine", insecure_registries=LOOPBACK_REGISTRIES)
        try:
            with start_registry(work / "registry", "plain") as registry:
                print(f"registry: {registry.host}; engine: {engine.socket_url}")
                pipeline = Pipeline(work, registry, engine)
                pipeline.ports = {name: free_port() for name in ("staging", "production", "rebuilt")}
                pipeline.write_config()
                (work / "keys").mkdir()
                pipeline.hoist("keygen", "--output-prefix", str(work / "keys" / "staging"))
                print(f"config: {pipeline.config}")

                pipeline.staging("1", bug=False)
                pipeline.release()
                pipeline.hoist("status")
                tested = pipeline.staging("2", bug=False)
                new = promoted(pipeline, tested, pipeline.release())
                pipeline.hoist("history", "production")

                pipeline.staging("3", bug=True)
                pipeline.release(expect=4)
                banner("after the automatic rollback")
                pipeline.hoist("history", "production", "--limit", "5")
                pipeline.hoist("status", "production")
                pipeline.hoist("audit", "verify", "production")

                # the old way deploys into an environment of its own, which runs version 1 before each rebuild
                pipeline.build("1", bug=False)
                pipeline.primed, _ = pipeline.push("1", f"{pipeline.rebuilt_repo}:main")
                ways = [rebuilt(pipeline, cache=True), rebuilt(pipeline, cache=False), new]
                comparison(ways, tested)
        finally:
            engine.stop()


if __name__ == "__main__":
    main()
