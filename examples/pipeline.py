"""The whole pipeline on this machine, on real parts: build once, test in staging, promote by digest.

    scripts/demo.sh            (sets the machine up, then runs this)

1. Starts a registry (Debian's docker-registry) and a container engine (podman's Docker-compatible API
   service), both on loopback, in a temporary directory.
2. Builds dotca (examples/dotca) ONCE with buildah and pushes it as :staging.
3. Deploys staging by digest, runs dotca's tests against it (`hoist test`), signs the tested digest.
4. `hoist release staging production`: gates on that exact digest, promote, verify, deploy, health.
5. Releases version 2 the same way, then version 3, which carries a bug that only shows with the
   production configuration: staging passes, production fails its health check, and hoist rolls back.
6. Measures the old way for comparison — rebuild without cache, push, deploy — and prints the
   Deployment Time Comparison with measured figures.
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


@dataclass
class Pipeline:
    work: Path
    registry: RunningRegistry
    engine: RunningEngine
    config: Path = field(init=False)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def repo(self) -> str:
        return f"{self.registry.host}/username/dotca"

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

    def buildah(self, *args: str) -> str:
        storage = ["--storage-driver", "vfs", "--root", str(self.work / "buildah"), "--runroot", str(self.work / "run")]
        done = subprocess.run(["buildah", *storage, *args], text=True, capture_output=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"buildah {args[0]} failed: {done.stderr.strip()[-800:]}")
        return done.stdout

    def build_and_push(
        self, version: str, *, bug: bool, target: str, no_cache: bool = False
    ) -> tuple[str, float, float]:
        """Build dotca with buildah and push it; (digest, build seconds, push seconds)."""
        context = self.work / "context"
        if context.exists():
            shutil.rmtree(context)
        shutil.copytree(APP, context, ignore=shutil.ignore_patterns("tests", "hoist.toml", "__pycache__"))
        shutil.copy(BUSYBOX, context / "busybox")
        started = time.monotonic()
        cache = ["--no-cache"] if no_cache else []
        self.buildah(
            "build",
            "--isolation",
            "chroot",
            *cache,
            "--build-arg",
            f"APP_VERSION={version}",
            "--build-arg",
            f"BUG={int(bug)}",
            "-t",
            f"dotca:{version}",
            str(context),
        )
        built = time.monotonic() - started
        digest_file = self.work / "digest"
        started = time.monotonic()
        self.buildah(
            "push", "--tls-verify=false", "--digestfile", str(digest_file), f"dotca:{version}", f"docker://{target}"
        )
        pushed = time.monotonic() - started
        return digest_file.read_text().strip(), built, pushed

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
# The old way, for the comparison only: production rebuilt from source instead of promoted.
[environments.rebuilt]
image = "{self.registry.host}/username/dotca-rebuilt:main"

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
        """What CI does on a pull request: build ONCE, push :staging, deploy it, test it, sign it."""
        banner(f"build dotca {version} once, deploy and test it in staging")
        digest, built, pushed = self.build_and_push(version, bug=bug, target=f"{self.repo}:staging")
        print(f"built in {built:.2f}s, pushed in {pushed:.2f}s: {self.repo}:staging = {digest}")
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
        self.hoist("sign", f"{self.repo}@{digest}", "--key", str(self.work / "keys" / "staging.key"))
        return digest

    def release(self, *, expect: int = 0) -> Run:
        banner("release to production: gates, promote by digest, verify, deploy, health")
        return self.hoist("release", "staging", "production", "--reason", "merged to main", expect=expect)


def comparison(pipeline: Pipeline, new: dict[str, float], tested: str) -> None:
    """The old path, measured: rebuild without cache, push, deploy; beside the release just made."""
    banner("the old way, measured: rebuild production from source, push, deploy")
    target = f"{pipeline.registry.host}/username/dotca-rebuilt:main"
    primed, _, _ = pipeline.build_and_push("1", bug=False, target=target)  # production already runs v1
    pipeline.hoist("deploy", "rebuilt", "--digest", primed, "--json", show=False)
    rebuilt, built, pushed = pipeline.build_and_push(
        "2", bug=False, target=f"{pipeline.registry.host}/username/dotca-rebuilt:main", no_cache=True
    )
    print(f"rebuilt in {built:.2f}s, pushed in {pushed:.2f}s: {rebuilt}")
    deployed = pipeline.hoist("deploy", "rebuilt", "--digest", rebuilt, "--json", show=False)
    timings = json.loads(deployed.out)["timings"]
    old_deploy = timings.get("deploy", 0.0) + timings.get("health", 0.0)
    old = {"build": built, "push / promote": pushed, "verify": 0.0, "deploy + health": old_deploy}
    new_rows = {
        "build": 0.0,
        "push / promote": sum(new.get(k, 0.0) for k in ("resolve", "gates", "copy", "record")),
        "verify": new.get("verify", 0.0),
        "deploy + health": new.get("deploy", 0.0) + new.get("health", 0.0),
    }
    old_total, new_total = sum(old.values()), sum(new_rows.values())
    banner("Deployment Time Comparison (measured on this machine)")
    print(f"{'stage':<18} {'old: rebuild for production':>28} {'new: promote by digest':>24}")
    for name, seconds in old.items():
        right = f"{new_rows[name]:.2f} s" if name != "build" else "0 (built once)"
        print(f"{name:<18} {f'{seconds:.2f} s':>28} {right:>24}")
    print(f"{'total':<18} {old_total:>26.2f} s {new_total:>22.2f} s")
    improvement = 100 * (old_total - new_total) / old_total if old_total else 0.0
    print(f"\nimprovement: {improvement:.0f}% less time from merge to production (builds here take about a second;")
    print("real builds that fetch dependencies take minutes, and the promote path does not grow with them)")
    same = "the same" if rebuilt == tested else "a DIFFERENT"
    print(f"digest tested in staging: {tested}")
    print(f"digest the rebuild made:  {rebuilt}  ({same} image: production would run something nobody tested)")
    print("digest hoist promoted:    " + tested + "  (identical: production runs what was tested)")


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
                second = pipeline.staging("2", bug=False)
                released = pipeline.release()
                stages = _stages(released.out)
                pipeline.hoist("history", "production")

                pipeline.staging("3", bug=True)
                pipeline.release(expect=4)
                banner("after the automatic rollback")
                pipeline.hoist("history", "production", "--limit", "5")
                pipeline.hoist("status", "production")
                pipeline.hoist("audit", "verify", "production")

                comparison(pipeline, stages, second)
        finally:
            engine.stop()


def _stages(text: str) -> dict[str, float]:
    """The stage table `hoist release` printed."""
    stages: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isidentifier():
            try:
                stages[parts[0]] = float(parts[1])
            except ValueError:
                continue
    return stages


if __name__ == "__main__":
    main()
