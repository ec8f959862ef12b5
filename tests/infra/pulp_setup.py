"""Making a Pulp instance: its install, settings, token keys, and the migrated-database template.

Pulp's migrations take 25-35 s of CPU; their result is cached as a stopped PostgreSQL data directory
under :func:`pulp_home` (default ``~/.cache/hoist-pulp``), named after the lock file, this recipe and
PostgreSQL's major version, and made under a file lock so that concurrent test sessions build it once.
A missing template is made on the spot: a clean machine needs nothing but the packages.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.infra.ports import free_port
from tests.infra.postgres import Postgres, give_to_server, pg_bindir, shared_tempdir

TOOL_DIR = Path(__file__).resolve().parents[1] / "tools" / "pulp"
INSTALL = TOOL_DIR / "install.sh"
ADMIN = "admin"
TEMPLATE_RECIPE = "1"  # bump when the template's making changes (plugins, initdb options, users)
# Django's documented advice for test suites: a fast password hasher. Pulp checks the password on every
# token request, and its default PBKDF2 (10^6 rounds) costs 0.4 s of CPU each time. Only storage changes.
HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


def _real_home() -> Path:
    """The user's home from the password database: tests point ``$HOME`` at temp dirs."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def pulp_home() -> Path:
    explicit = os.environ.get("HOIST_PULP_HOME")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or _real_home() / ".cache") / "hoist-pulp"


def install() -> Path:
    """Run ``tests/tools/pulp/install.sh`` (quick when installed); the venv it prints."""
    env = {**os.environ, "HOME": str(_real_home()), "HOIST_PULP_HOME": str(pulp_home())}
    done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, check=False, timeout=900, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{INSTALL} exited {done.returncode}: {done.stderr.strip()[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def password_hash(password: str) -> str:
    """``password`` as :data:`HASHER` stores it (``md5$salt$hex``)."""
    salt = secrets.token_hex(8)
    return f"md5${salt}${hashlib.md5((salt + password).encode()).hexdigest()}"


def write_settings(*, etc: Path, data: Path, db_port: int, url: str, content_url: str, log_level: str = "INFO") -> Path:
    """Pulp's settings file (``PULP_SETTINGS``): database, origins, storage under ``data``, token auth."""
    values: dict[str, Any] = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "pulp",
                "USER": "pulp",
                "HOST": "127.0.0.1",
                "PORT": db_port,
            }
        },
        "ENABLED_PLUGINS": ["pulp_container", "pulp_file"],  # pulp_container refuses to start without pulp_file
        "CONTENT_ORIGIN": content_url,
        "MEDIA_ROOT": str(data / "media"),
        "STATIC_ROOT": str(data / "static"),
        "WORKING_DIRECTORY": str(data / "work"),
        "FILE_UPLOAD_TEMP_DIR": str(data / "work"),
        "DB_ENCRYPTION_KEY": str(etc / "database_fields.symmetric.key"),
        "TOKEN_AUTH_DISABLED": False,
        "TOKEN_SERVER": f"{url}/token/",
        "TOKEN_SIGNATURE_ALGORITHM": "ES256",
        "PUBLIC_KEY_PATH": str(etc / "token-public.pem"),
        "PRIVATE_KEY_PATH": str(etc / "token-private.pem"),
        "PASSWORD_HASHERS": [HASHER],
        "ANALYTICS": False,
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "pulp %(asctime)s %(name)s:%(levelname)s: %(message)s"}},
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "loggers": {"": {"handlers": ["console"], "level": log_level}},
        },
    }
    for sub in ("media", "static", "work"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    path = etc / "settings.py"
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in values.items()))
    return path


def write_keys(etc: Path) -> None:
    """A fresh ES256 (P-256) key pair for Pulp's token server, made with openssl; and, unless there is
    one already, the key Pulp encrypts database fields with."""
    etc.mkdir(parents=True, exist_ok=True)
    private, public = etc / "token-private.pem", etc / "token-public.pem"
    for argv in (
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(private)],
        ["openssl", "ec", "-in", str(private), "-pubout", "-out", str(public)],
    ):
        subprocess.run(argv, check=True, capture_output=True)
    key = etc / "database_fields.symmetric.key"
    if not key.exists():
        key.write_bytes(base64.urlsafe_b64encode(secrets.token_bytes(32)))


def pulp_env(settings: Path) -> dict[str, str]:
    """The environment of Pulp's processes: its settings, and a home of its own next to them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULP_", "DJANGO_", "REGISTRY_", "DOCKER_"))}
    env["PULP_SETTINGS"] = str(settings)
    env["HOME"] = str(settings.parent)
    return env


def _template_key() -> str:
    digest = hashlib.sha256()
    digest.update((TOOL_DIR / "requirements.txt").read_bytes())
    digest.update(f"{TEMPLATE_RECIPE} {pg_bindir()}".encode())
    return digest.hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def server_dir(path: Path) -> Path:
    """A directory the PostgreSQL server may write (its log goes there)."""
    path.mkdir(parents=True, exist_ok=True)
    give_to_server(path)
    return path


def migrated_template(venv: Path, log_dir: Path) -> Path:
    """A stopped, migrated cluster (``pgdata``, with an ``admin`` superuser) and its field-encryption
    key; made once, then reused."""
    home = pulp_home()
    template = home / f"template-{_template_key()}"
    if (template / "ready").exists():
        return template
    with _locked(home / ".template.lock"):
        if (template / "ready").exists():
            return template
        build = shared_tempdir("hoist-pulp-template-")
        try:
            _migrate(venv, build, log_dir)
            staged = home / f"{template.name}.partial-{os.getpid()}"
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir(parents=True)
            shutil.copytree(build / "pgdata", staged / "pgdata", symlinks=True)
            shutil.copy2(build / "etc" / "database_fields.symmetric.key", staged / "database_fields.symmetric.key")
            (staged / "ready").touch()
            shutil.rmtree(template, ignore_errors=True)
            staged.rename(template)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return template


def _migrate(venv: Path, build: Path, log_dir: Path) -> None:
    etc = build / "etc"
    write_keys(etc)
    log = server_dir(build / "pglog") / "postgres.log"
    postgres = Postgres(datadir=build / "pgdata", port=free_port(), log_file=log)
    postgres.initdb()
    postgres.start()
    try:
        postgres.sql("CREATE DATABASE pulp")
        settings = write_settings(
            etc=etc,
            data=build / "data",
            db_port=postgres.port,
            url="http://127.0.0.1:1",  # not served: migrations only read settings
            content_url="http://127.0.0.1:2",
            log_level="WARNING",
        )
        manager = str(venv / "bin" / "pulpcore-manager")
        for args in (["migrate", "--noinput"], ["reset-admin-password", "--random"]):
            with (log_dir / "migrate.log").open("ab") as out:
                done = subprocess.run(
                    [manager, *args],
                    env=pulp_env(settings),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    check=False,
                    timeout=900,
                )
            if done.returncode != 0:
                tail = (log_dir / "migrate.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"pulpcore-manager {' '.join(args)} exited {done.returncode}:\n{tail}")
    finally:
        postgres.stop()
        with contextlib.suppress(OSError):
            shutil.copy2(log, log_dir / "postgres-template.log")
