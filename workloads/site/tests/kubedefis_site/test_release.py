"""Défi 8: the release baked into the image; v2 adds /nouveautes/ and a banner."""

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_v1_says_its_release_and_has_no_new_page() -> None:
    client = Client()
    home = client.get("/")
    assert home["X-Kubedefis-Release"] == "v1"
    assert 'id="release-banner"' not in home.content.decode()
    assert client.get("/nouveautes/").status_code == 404
    assert client.get("/healthz")["X-Kubedefis-Release"] == "v1"


SCRIPT = """
from django.test import Client
client = Client()
page = client.get("/nouveautes/")
home = client.get("/")
print("RESULT", page.status_code, home["X-Kubedefis-Release"], 'id="release-banner"' in home.content.decode(),
      "Nouveautés de la version v2" in page.content.decode())
"""


def test_v2_serves_the_new_page_and_the_banner(site_process: Any) -> None:
    site_process.manage("migrate", "--noinput")
    out = site_process.shell(SCRIPT, env={"KUBEDEFIS_RELEASE": "v2"})
    assert out.split("RESULT", 1)[1].split()[:4] == ["200", "v2", "True", "True"], out
