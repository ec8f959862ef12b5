"""dotca's own tests, run against a deployed environment by ``hoist test ENV -- pytest ...``.

hoist passes the environment's health URL in ``HOIST_HEALTH_URL`` and the digest under test in
``HOIST_DIGEST``.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import httpx
import pytest


@pytest.fixture(scope="module")
def health() -> str:
    url = os.environ.get("HOIST_HEALTH_URL", "")
    if not url:
        pytest.fail("run these through 'hoist test ENV -- pytest ...', which sets HOIST_HEALTH_URL")
    return url


@pytest.fixture(scope="module")
def base(health: str) -> str:
    return "{0.scheme}://{0.netloc}".format(urlsplit(health))


def test_home_page_names_the_app(base: str) -> None:
    page = httpx.get(f"{base}/", timeout=5)
    assert page.status_code == 200
    assert "<h1>dotca</h1>" in page.text


def test_health_says_ok(health: str) -> None:
    answer = httpx.get(health, timeout=5)
    assert answer.status_code == 200
    assert answer.text.startswith("ok ")


def test_version_is_served(base: str) -> None:
    version = httpx.get(f"{base}/version", timeout=5)
    assert version.status_code == 200
    assert version.text.strip()
