"""Défi 17: DJANGO_NAIVE reproduces the course reference's weaknesses (and only when asked)."""

import json
from typing import Any

import pytest

from garage.pagination import paginate

pytestmark = pytest.mark.django_db


def test_settings_switch_every_limit_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.kubedefis_site.test_settings import MINIMAL_ENV, load_settings

    default = load_settings(monkeypatch, **MINIMAL_ENV)
    naive = load_settings(monkeypatch, **MINIMAL_ENV, DJANGO_NAIVE="1", DJANGO_RATELIMIT_RATE="20")

    assert default["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 65536 and naive["DATA_UPLOAD_MAX_MEMORY_SIZE"] is None
    assert default["RATELIMIT_RATE"] == 20 and naive["RATELIMIT_RATE"] == 0
    assert default["CLIENT_MAX_CONCURRENCY"] == 2 and naive["CLIENT_MAX_CONCURRENCY"] == 0
    assert default["BODY_TIMEOUT"] == 10 and naive["BODY_TIMEOUT"] == 0


def test_unpaginated_page_holds_every_row(garage_data: dict[str, Any]) -> None:
    from garage.models import Car

    page = paginate(Car.objects.order_by("id").values("id"), page=1, page_size=None)
    assert (page["count"], page["pages"], len(page["results"]), page["next"]) == (3, 1, 3, None)


SCRIPT = """
import json
from django.test import Client
from django.contrib.auth import get_user_model
from accounts.services import token_create
from garage import services
staff = get_user_model().objects.create_user("naive-staff", is_staff=True)
token = token_create(user=staff, days=1)[1]
garage = services.garage_create(actor=staff, name="Naive", city="Évry")
for i in range(130):
    services.car_create(
        actor=staff, make="Fiat", model="500", plate=f"NV-{i:03d}-AA", year=2020, garage_id=garage.pk
    )
client = Client()
cars = client.get("/api/cars").json()
big = client.post(
    "/api/cars",
    data=json.dumps({"make": "x" * 200_000}),
    content_type="application/json",
    HTTP_AUTHORIZATION=f"Bearer {token}",
)
page = client.get("/voitures/").content.decode()
flood = {client.get("/api/stats", HTTP_X_FORWARDED_FOR="198.51.100.66").status_code for _ in range(80)}
print("RESULT", json.dumps([len(cars["results"]), big.status_code, page.count("NV-"), sorted(flood)]))
"""


def test_naive_site_lists_everything_reads_any_body_and_never_limits(site_process: Any) -> None:
    site_process.manage("migrate", "--noinput")
    out = site_process.shell(SCRIPT, env={"DJANGO_NAIVE": "1", "DJANGO_RATELIMIT_RATE": "20"})
    results = json.loads(out.split("RESULT", 1)[1].splitlines()[0])
    # 130 cars in one answer and one page; a 200 KB body read and validated (422, not 413); no 429.
    assert results == [130, 422, 130, [200]], out
