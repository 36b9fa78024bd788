"""Défi 20: Car.make renamed Car.brand through the stages initial -> expand -> contract, data intact.

Each stage runs in its own process against one database, as pods of successive releases do:
the test applies each stage's migrations (`migrate_stage`), writes with the code of the stage
before it (a pod not yet replaced), and checks that nothing is lost or differs.
"""

import json
from typing import Any

import pytest

CHECKSUM = """
import json
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'garage_car'")
    columns = sorted(row[0] for row in cursor.fetchall())
    brand = "brand" if "brand" in columns else "make"
    cursor.execute(
        "SELECT count(*), md5(string_agg(concat_ws('|', id, " + brand + ", model, plate, year, garage_id),"
        " ',' ORDER BY id)) FROM garage_car"
    )
    count, digest = cursor.fetchone()
    nullable = [c + " IS NULL" for c in ("make", "brand") if c in columns]
    cursor.execute("SELECT count(*) FROM garage_car WHERE " + " OR ".join(nullable))
    nulls = cursor.fetchone()[0]
print("RESULT", json.dumps({"count": count, "md5": digest, "columns": columns, "nulls": nulls}))
"""

WRITE = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from accounts.services import token_create
from garage.models import Garage
staff, _ = get_user_model().objects.get_or_create(username="stage-staff", defaults={{"is_staff": True}})
client = Client(HTTP_AUTHORIZATION="Bearer " + token_create(user=staff, days=1)[1])
garage = Garage.objects.order_by("id").first()
created = client.post("/api/cars", data=json.dumps({body}), content_type="application/json")
assert created.status_code == 201, created.content
car = created.json()
change = json.dumps({{"make": "Alpine"}})
patched = client.patch(f"/api/cars/{{car['id']}}", data=change, content_type="application/json")
assert patched.status_code == 200, patched.content
ready = client.get("/readyz")
print("RESULT", json.dumps({{"car": car, "patched": patched.json(), "ready": ready.status_code}}))
"""

READ = """
import json
from django.test import Client
print("RESULT", json.dumps(Client().get("/api/cars/{id}").json()))
"""


def result(out: str) -> Any:
    return json.loads(out.split("RESULT", 1)[1].splitlines()[0])


def write(site: Any, stage: str, body: str) -> Any:
    return result(site.shell(WRITE.format(body=body), env={"KUBEDEFIS_SCHEMA_STAGE": stage}))


def checksum(site: Any, stage: str) -> Any:
    return result(site.shell(CHECKSUM, env={"KUBEDEFIS_SCHEMA_STAGE": stage}))


GARAGE = "garage.pk"


@pytest.mark.django_db
def test_rename_in_stages_loses_nothing(site_process: Any) -> None:
    site = site_process
    site.manage("migrate_stage", env={"KUBEDEFIS_SCHEMA_STAGE": "initial"})
    site.manage("load_sample", "--size", "small", env={"KUBEDEFIS_SCHEMA_STAGE": "initial"})
    before = checksum(site, "initial")
    assert before["count"] == 200 and "brand" not in before["columns"]

    # Expand: the column brand, backfilled; a pod still on the initial code keeps writing make only.
    out = site.manage("migrate_stage", "--phase", "pre", env={"KUBEDEFIS_SCHEMA_STAGE": "expand"})
    assert "0003_car_brand_backfill" in out
    expanded = checksum(site, "expand")
    assert (expanded["count"], expanded["md5"], expanded["nulls"]) == (200, before["md5"], 0)
    old_pod = write(
        site,
        "initial",
        '{"make": "Renault", "model": "R5", "plate": "ST-001-AA", "year": 2024, "garage_id": ' + GARAGE + "}",
    )
    assert old_pod["car"]["make"] == "Renault" and "brand" not in old_pod["car"]
    new_pod = write(
        site,
        "expand",
        '{"brand": "Peugeot", "model": "e-208", "plate": "ST-002-AA", "year": 2024, '
        '"garage_id": ' + GARAGE + "}",
    )
    assert new_pod["car"]["make"] == new_pod["car"]["brand"] == "Peugeot"
    assert new_pod["patched"]["brand"] == "Alpine" and new_pod["ready"] == 200
    assert checksum(site, "expand")["nulls"] == 0  # the trigger filled brand for the old pod's row

    # Contract: brand NOT NULL before the new pods serve; make dropped once they all run.
    out = site.manage("migrate_stage", "--phase", "pre", env={"KUBEDEFIS_SCHEMA_STAGE": "contract"})
    assert "0004_car_brand_required" in out and "0005" not in out
    still_expand = write(
        site,
        "expand",
        '{"make": "Dacia", "model": "Spring", "plate": "ST-003-AA", '
        '"year": 2024, "garage_id": ' + GARAGE + "}",
    )
    contract = write(
        site,
        "contract",
        '{"make": "Citroën", "model": "Ami", "plate": "ST-004-AA", "year": 2024, '
        '"garage_id": ' + GARAGE + "}",
    )
    assert contract["car"]["brand"] == contract["car"]["make"] == "Citroën" and contract["ready"] == 200
    assert still_expand["car"]["brand"] == "Dacia"
    # the expand pod (not replaced yet) reads what the contract pod wrote
    read = site.shell(READ.format(id=contract["car"]["id"]), env={"KUBEDEFIS_SCHEMA_STAGE": "expand"})
    assert result(read)["brand"] == result(read)["make"] == "Alpine"  # created Citroën, then patched
    site.manage("migrate_stage", "--phase", "post", env={"KUBEDEFIS_SCHEMA_STAGE": "contract"})
    after = checksum(site, "contract")
    assert "make" not in after["columns"] and after["count"] == 204

    # The 200 rows of before are unchanged, apart from the column's name.
    first = site.shell(
        CHECKSUM.replace(
            'FROM garage_car"', 'FROM garage_car WHERE id <= (SELECT min(id) + 199 FROM garage_car)"'
        ),
        env={"KUBEDEFIS_SCHEMA_STAGE": "contract"},
    )
    assert result(first)["md5"] == before["md5"]


READYZ = """
import json
from django.test import Client
answer = Client().get("/readyz")
print("RESULT", json.dumps([answer.status_code, answer.json()]))
"""


@pytest.mark.django_db
def test_readiness_follows_the_stage(site_process: Any) -> None:
    site = site_process
    site.manage("migrate_stage", env={"KUBEDEFIS_SCHEMA_STAGE": "initial"})
    status, body = result(site.shell(READYZ, env={"KUBEDEFIS_SCHEMA_STAGE": "expand"}))
    assert status == 503 and body["pending"] == [
        "garage.0002_car_brand_expand",
        "garage.0003_car_brand_backfill",
    ]
    site.manage("migrate_stage", "--phase", "pre", env={"KUBEDEFIS_SCHEMA_STAGE": "contract"})
    # contract pods serve before 0005 (which runs after them), and initial pods still do too
    assert result(site.shell(READYZ, env={"KUBEDEFIS_SCHEMA_STAGE": "contract"}))[0] == 200
    assert result(site.shell(READYZ, env={"KUBEDEFIS_SCHEMA_STAGE": "initial"}))[0] == 200
    out = site.manage("migrate_stage", "--phase", "post", env={"KUBEDEFIS_SCHEMA_STAGE": "contract"})
    assert "0005_drop_car_make" in out
    # a rollback to older code never migrates backwards
    out = site.manage("migrate_stage", env={"KUBEDEFIS_SCHEMA_STAGE": "expand"})
    assert "already past" in out


def test_migrations_match_the_models_at_every_stage(site_process: Any) -> None:
    for stage in ("initial", "contract"):
        out = site_process.manage(
            "makemigrations", "--check", "--dry-run", "garage", env={"KUBEDEFIS_SCHEMA_STAGE": stage}
        )
        assert "No changes detected" in out, (stage, out)


def test_post_phase_waits_for_the_old_stage_to_go(site_process: Any) -> None:
    import psycopg

    site = site_process
    contract = {"KUBEDEFIS_SCHEMA_STAGE": "contract"}
    site.manage("migrate_stage", "--phase", "pre", env=contract)
    env = site.env
    old_pod = psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        dbname=env["POSTGRES_DB"],
        application_name="kubedefis-api-expand",
    )
    try:
        out = site.manage(
            "migrate_stage",
            "--phase",
            "post",
            "--settle-timeout",
            "2",
            "--pause",
            "0.5",
            env=contract,
            check=False,
        )
        assert "still open" in out and "kubedefis-api-expand" in out
    finally:
        old_pod.close()
    out = site.manage("migrate_stage", "--phase", "post", env=contract)
    assert "no connection of an older stage left" in out and "0005_drop_car_make" in out
