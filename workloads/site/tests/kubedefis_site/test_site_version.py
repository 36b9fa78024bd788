"""Défi 8: the site's version baked into the image (SITE_VERSION); v2 adds /nouveautes/ and a banner.

Défi 19 builds an image with SITE_VERSION=broken: an unknown version must stop start-up.
"""

import os
import subprocess
import sys
from typing import Any

import pytest
from django.test import Client

from tests.kubedefis_site.test_settings import MINIMAL_ENV, SITE_DIR

pytestmark = pytest.mark.django_db


def test_v1_says_its_version_and_has_no_new_page() -> None:
    client = Client()
    home = client.get("/")
    assert home["X-Site-Version"] == "v1"
    assert 'id="version-banner"' not in home.content.decode()
    assert client.get("/nouveautes/").status_code == 404
    assert client.get("/healthz")["X-Site-Version"] == "v1"


SCRIPT = """
from django.test import Client
client = Client()
page = client.get("/nouveautes/")
home = client.get("/")
print("RESULT", page.status_code, home["X-Site-Version"], 'id="version-banner"' in home.content.decode(),
      "Nouveautés de la version v2" in page.content.decode())
"""


def test_v2_serves_the_new_page_and_the_banner(site_process: Any) -> None:
    site_process.manage("migrate", "--noinput")
    out = site_process.shell(SCRIPT, env={"SITE_VERSION": "v2"})
    assert out.split("RESULT", 1)[1].split()[:4] == ["200", "v2", "True", "True"], out


def test_an_unknown_version_stops_start_up() -> None:
    """Défi 19's broken image: the pod's process (gunicorn preloads the WSGI application) exits
    at settings, before serving anything, with one clear line."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env |= MINIMAL_ENV | {"SITE_VERSION": "broken"}
    result = subprocess.run(
        [sys.executable, "-c", "import kubedefis_site.wsgi"],
        cwd=SITE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured:"
        " Environment variable SITE_VERSION must be one of v1, v2, got 'broken'"
    ), result.stderr
