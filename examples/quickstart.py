"""hoist end to end on this machine: a local registry, an image built once, copied and verified by digest.

    scripts/demo.sh          (sets the machine up, then runs this)

Starts a real registry (Debian's docker-registry) on a free loopback port in a temporary directory,
writes a small image to an OCI layout, and drives the hoist CLI as a user would.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.infra.images import make_busybox_image  # noqa: E402
from tests.infra.registry import start_registry  # noqa: E402


def hoist(*args: str) -> str:
    print(f"\n$ hoist {shlex.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "hoist", *args], text=True, capture_output=True, check=False)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"hoist {args[0]} failed with exit code {done.returncode}")
    return done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hoist-demo-") as tmp:
        work = Path(tmp)
        with start_registry(work / "registry", "plain") as registry:
            print(f"registry: docker-registry on {registry.host} (storage in {registry.storage_dir})")
            layout = work / "build"
            image = make_busybox_image(layout, tag="v1", version="A")
            print(f"built once: oci:{layout}:v1 -> {image.digest}")
            repo = f"{registry.host}/demo/app"
            hoist("copy", f"oci:{layout}:v1", f"{repo}:staging")
            hoist("inspect", f"{repo}:staging")
            hoist("tag", f"{repo}:staging", "candidate")
            hoist("copy", f"{repo}:staging", f"{registry.host}/prod/app:main", "--tag", "latest")
            hoist("verify", f"{registry.host}/prod/app:main", "--deep", "--against", f"oci:{layout}:v1")
            hoist("copy", f"{registry.host}/prod/app:main", f"oci:{work}/export:main")

            config = work / "hoist.toml"
            config.write_text(
                f'[environments.staging]\nimage = "{repo}:staging"\n\n'
                f'[environments.production]\nimage = "{repo}:main"\nfrom = "staging"\ntags = ["latest", "{{date}}"]\n'
            )
            hoist("--config", str(config), "promote", "staging", "production", "--reason", "first release")
            second = make_busybox_image(layout, tag="v2", version="B")
            print(f"\nbuilt once: oci:{layout}:v2 -> {second.digest}")
            hoist("copy", f"oci:{layout}:v2", f"{repo}:staging")
            hoist("--config", str(config), "promote", "staging", "production", "--reason", "second release")
            hoist("--config", str(config), "history", "production")
            hoist("--config", str(config), "rollback", "production", "--reason", "demo rollback")
            hoist("--config", str(config), "status")
            hoist("--config", str(config), "audit", "verify", "production")
            print("\nthe same digest everywhere: built once, promoted by digest, never rebuilt.")


if __name__ == "__main__":
    main()
