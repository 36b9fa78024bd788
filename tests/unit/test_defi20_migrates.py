"""Défi 20's test of which Jobs run migrations (D20.1 grades only those as pre/post-upgrade hooks).

The student stack's post-upgrade check greps its dump for the table `django_migrations`: D20.1 read it
as a migration Job and asked it for a lock timeout (any word containing "migrat" counted).
"""

from __future__ import annotations

import conformance_modules
import pytest

defi20 = conformance_modules.load("test_defi20", "migrates")


@pytest.mark.parametrize(
    ("command", "args", "runs_migrations"),
    [
        (["python", "manage.py"], ["migrate_stage", "--phase", "pre"], True),  # ours
        (["sh", "-c", "python manage.py wait_for_db && python manage.py migrate --noinput"], [], True),
        (["django-admin", "migrate"], [], True),
        (["/app/bin/migrate.sh"], [], True),
        (["sh", "-c", 'pg_restore --list "$dump" | grep -q django_migrations'], [], False),
        (["python", "manage.py", "showmigrations"], [], False),
        (["sh", "-c", 'migrations=$(psql -Atc "SELECT count(*) FROM django_migrations")'], [], False),
        (["gunicorn", "garage.wsgi"], [], False),
    ],
)
def test_a_job_runs_migrations_only_when_it_runs_a_migrate_command(command, args, runs_migrations) -> None:
    assert defi20.migrates({"command": command, "args": args}) is runs_migrations
