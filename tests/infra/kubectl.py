"""A real ``kubectl kustomize``: Debian's ``kubernetes-client``, and any other kubectl on PATH.

Debian 12's kubernetes-client (kubectl 1.20, kustomize v2) cannot be installed beside the ``kubectl``
package that Google's Cloud SDK repository ships on some machine images: both own /usr/bin/kubectl and
dpkg refuses the second. So when it is not installed, the tests take Debian's package with
``apt-get download`` and unpack it with ``dpkg-deb -x`` into a cache, never touching the system's kubectl.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PACKAGE = "kubernetes-client"


def _cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hoist-tests"
    return Path(os.environ.get("HOIST_TOOLS_DIR") or base) / PACKAGE


def debian_kubectl() -> Path:
    """Debian's kubectl: the installed package's, or the package unpacked into the test cache."""
    installed = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", PACKAGE], capture_output=True, text=True, check=False
    )
    if "install ok installed" in installed.stdout:
        return Path("/usr/bin/kubectl")
    target = _cache() / "usr" / "bin" / "kubectl"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            ["apt-get", "download", PACKAGE], cwd=scratch, capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"apt-get download {PACKAGE} failed (run apt-get update first?): {done.stderr}")
        (deb,) = Path(scratch).glob(f"{PACKAGE}_*.deb")
        unpacked = Path(scratch) / "root"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, timeout=300)
        _cache().parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(_cache(), ignore_errors=True)
        shutil.move(str(unpacked), str(_cache()))
    return target


def kubectls() -> dict[str, Path]:
    """``{"debian": …}`` plus ``{"path": …}`` when PATH holds another kubectl (a newer kustomize)."""
    found = {"debian": debian_kubectl()}
    other = shutil.which("kubectl")
    if other is not None and Path(other).resolve() != found["debian"].resolve():
        found["path"] = Path(other)
    return found


def kustomize(kubectl: Path, directory: Path) -> str:
    done = subprocess.run(
        [str(kubectl), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{kubectl} kustomize {directory} failed: {done.stderr}")
    return done.stdout
