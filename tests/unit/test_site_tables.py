"""The site's tables are read from its database, never named: each group's Django project has its own.

On the old code défis 15-16 named our site's tables (garage_car, garage_loan...) and the backup
listing took `garage_car` as the proof that a dump holds the site: every test here that uses a
group's own tables failed there (and `site_tables`, `fingerprint`, `row_loss_candidates`... did not
exist in kubedefis.stack.database).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kubedefis.harness import backups
from kubedefis.stack import database as pg

# A group's project: apps `public` and `api` with its own models, Django's own tables, and what
# PostgreSQL itself has (never the site's).
CATALOG = [
    ["public", "api_voiture"],
    ["public", "api_reservation"],
    ["public", "public_article"],
    ["public", "django_migrations"],
    ["public", "auth_user"],
    ["public", "auth_user_groups"],
    ["public", "django_session"],
    ["garage", 'cl"ient'],  # another schema, an awkward name
    ["pg_catalog", "pg_class"],
    ["information_schema", "sql_features"],
    ["pg_toast", "pg_toast_2619"],
    ["pg_temp_3", "scratch"],
    ["public", "api_voiture"],  # twice (a view on it, say): once in the answer
]


def test_site_tables_are_the_group_s_own_without_postgresql_s():
    tables = pg.site_tables(CATALOG)
    assert [str(t) for t in tables] == [
        'garage.cl"ient',
        "public.api_reservation",
        "public.api_voiture",
        "public.auth_user",
        "public.auth_user_groups",
        "public.django_migrations",
        "public.django_session",
        "public.public_article",
    ]
    assert all(not pg.is_system_schema(t.schema) for t in tables)
    assert "garage_car" not in {t.name for t in tables}


def test_table_names_are_quoted_for_sql():
    assert pg.Table("garage", 'cl"ient').sql == '"garage"."cl""ient"'
    assert pg.Table("public", "order").sql == '"public"."order"'
    assert pg.literal("it's") == "'it''s'"


class FakeNode:
    """psql answering the queries fingerprint and row_counts send, from tables held in memory."""

    def __init__(self, tables: dict[str, list[str]]) -> None:
        self.tables = tables  # sql name -> rows as text
        self.queries: list[str] = []

    def sql(self, query: str, *, database: str = "postgres", timeout: float = 60) -> list[list[str]]:
        self.queries.append(query)
        rows = []
        for part in query.split(" UNION ALL "):
            if match := re.match(r"SELECT (\d+), to_regclass\('(.*)'\) IS NOT NULL$", part):
                name = match.group(2).replace("''", "'")
                rows.append([match.group(1), "t" if name in self.tables else "f"])
            elif match := re.match(r"SELECT (\d+), \((.*)\)::text FROM (.*) t$", part):
                data = self.tables[match.group(3)]
                if match.group(2) == "count(*)":
                    rows.append([match.group(1), str(len(data))])
                else:
                    digest = hashlib.md5("\n".join(sorted(data)).encode()).hexdigest() if data else ""
                    rows.append([match.group(1), f"{len(data)}:{digest}"])
            else:
                raise AssertionError(f"unexpected query part {part!r}")
        return rows


def test_fingerprint_and_counts_of_every_discovered_table_in_one_call_each():
    tables = pg.site_tables([["public", "api_voiture"], ["public", "django_migrations"], ["garage", 'cl"ient']])
    node = FakeNode({'"public"."api_voiture"': ["(1,Zoé)", "(2,Clio)"], '"public"."django_migrations"': ["(1,api)"]})
    prints = pg.fingerprint(node, "site", tables)  # type: ignore[arg-type]
    assert set(prints) == {'garage.cl"ient', "public.api_voiture", "public.django_migrations"}
    assert prints['garage.cl"ient'] == "missing"  # gone: said, not a psql error
    assert prints["public.api_voiture"].startswith("2:") and prints["public.django_migrations"].startswith("1:")
    assert len(node.queries) == 2  # existence, then every fingerprint: not one kubectl exec per table
    assert pg.row_counts(node, "site", tables) == {  # type: ignore[arg-type]
        'garage.cl"ient': -1,
        "public.api_voiture": 2,
        "public.django_migrations": 1,
    }
    assert pg.fingerprint(node, "site", ()) == {}  # type: ignore[arg-type]


def test_a_restore_is_compared_on_every_table_but_those_the_site_wrote_meanwhile():
    before = {"public.api_voiture": "2:a", "public.visits": "9:b", "public.kubedefis_restore_probe": "500:c"}
    during = {"public.api_voiture": "2:a", "public.visits": "10:d", "public.kubedefis_restore_probe": "500:e"}
    compared = pg.unchanged(before, during, always=["public.kubedefis_restore_probe"])
    assert compared == ["public.api_voiture", "public.kubedefis_restore_probe"]
    restored = {"public.api_voiture": "2:a", "public.visits": "0:", "public.kubedefis_restore_probe": "500:c"}
    assert pg.differences(before, restored, compared) == {}
    lost = {"public.api_voiture": "0:", "public.kubedefis_restore_probe": "missing"}
    assert pg.differences(before, lost, compared) == {
        "public.api_voiture": ("2:a", "0:"),
        "public.kubedefis_restore_probe": ("500:c", "missing"),
    }


def test_a_destruction_is_checked_on_every_table():
    assert pg.emptied({"public.api_voiture": "0:", "public.kubedefis_restore_probe": "missing"}) == {}
    assert pg.emptied({"public.api_voiture": "0:", "public.django_migrations": "3:x"}) == {
        "public.django_migrations": "3:x"
    }


def test_rows_lost_by_any_table_of_the_site():
    before = {"public.api_voiture": 3, "public.public_article": 2}
    assert pg.rows_lost(before, {"public.api_voiture": 3, "public.public_article": 5, "public.new": 1}) == {}
    assert pg.rows_lost(before, {"public.api_voiture": 2}) == {
        "public.api_voiture": (3, 2),
        "public.public_article": (2, -1),
    }


def test_a_lost_row_is_taken_from_the_project_s_own_tables_first():
    tables = pg.site_tables([*CATALOG, ["public", "kubedefis_probe"]])
    unreferenced = [
        ["public", "api_reservation"],
        ["public", "public_article"],
        ["public", "django_migrations"],
        ["public", "django_session"],
        ["public", "auth_user"],
        ["public", "auth_user_groups"],
        ["public", "kubedefis_probe"],
        ["pg_catalog", "pg_class"],
    ]  # api_voiture is referenced (by api_reservation): deleting one of its rows would fail or cascade
    assert [str(t) for t in pg.row_loss_candidates(tables, unreferenced)] == [
        "public.api_reservation",
        "public.public_article",
        "public.auth_user",
    ]


@pytest.mark.skipif(not all(shutil.which(t) for t in ("sh", "gzip", "od", "stat")), reason="needs sh, gzip, od, stat")
def test_a_dump_of_any_django_site_is_recognised(tmp_path: Path):
    """A group's dump (its own tables, Django's django_migrations) holds the site; a dump of a database
    without Django (postgres, an empty one) does not, even with our old site's table name in it."""
    d = tmp_path / "save"
    d.mkdir()
    toc = b"PGDMP\x01\x0e\x00\x04 TABLE public api_voiture TABLE public django_migrations"
    (d / "groupe7.dump").write_bytes(toc)
    plain = b"--\n-- PostgreSQL database dump\n--\nCREATE TABLE public.django_migrations (id bigint);\n"
    (d / "groupe7.sql.gz").write_bytes(gzip.compress(plain))
    (d / "postgres.dump").write_bytes(b"PGDMP\x01\x0e\x00\x04 TABLE public garage_car")
    done = subprocess.run(
        ["sh", "-c", backups.LISTING_SCRIPT, "sh", backups.SITE_MARKER, str(d)],
        capture_output=True,
        text=True,
        check=True,
    )
    site = {Path(f.path).name: f.site for f in backups.parse_listing(done.stdout)}
    assert site == {"groupe7.dump": True, "groupe7.sql.gz": True, "postgres.dump": False}
