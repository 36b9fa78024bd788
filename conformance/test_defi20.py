"""Défi 20 — Ajouter des fonctionnalités en live (sans downtime !), partie 2 : a column the API exposes is
renamed in two upgrades under read/write load, with no failed request and no row lost or changed.

`Car.make` becomes `Car.brand` (garage/schema_stage.py in the site):
1. install at stage `initial` (column make);
2. upgrade to `expand`: a pre-upgrade hook Job adds the nullable column brand, a trigger keeping
   both equal, and backfills it in batches; the new pods write both and show both names;
3. upgrade to `contract`: a pre-upgrade hook makes brand NOT NULL (NOT VALID check, validated,
   SET NOT NULL); the new pods use brand only (the API still shows make as an alias); once every
   pod runs the contract code, a post-upgrade hook drops the trigger and the column make.
Every migration statement waits at most 2 s for a lock (django-pg-zero-downtime-migrations). All
along, Locust users browse and use the API, creating cars (sending `make`, the old name) and
lending keys. After: zero failed requests, the rows that existed before have the same checksum
(id, brand, model, plate, year, garage), and the row count is theirs plus the cars created.
"""

from __future__ import annotations

import pytest

from kubedefis import kube
from kubedefis.harness import checks, helm, load, stack, timeouts
from kubedefis.harness import postgres as pg
from kubedefis.harness.helm import merge_values
from kubedefis.release import install_ready_stack as install
from kubedefis.waits import Check, wait_for

STAGES = ("initial", "expand", "contract")
LOAD_USERS = 8
LOAD_BOUND = 900  # seconds: the load never outlives this
CREATE = "POST /api/cars"


def preset(stage: str) -> str:
    return f"defi20-{stage}"


@pytest.fixture(scope="module")
def rendered(suite):
    from kubedefis.pytest_plugin import find_tool

    chart = suite.chart_under_test()
    tool = helm.Helm(find_tool("helm"))
    return {
        stage: tool.template(chart, suite.target.release, helm.load_values(stack.chart_values(suite, preset(stage))))
        for stage in STAGES
    }


@pytest.fixture(scope="module")
def values(suite, cluster, namespace):
    return install(cluster, suite, namespace, preset("initial"))


@pytest.fixture(scope="module")
def site(suite, cluster, values):
    host = suite.target.ingress_host or values.get("ingress", {}).get("host") or "django.kubedefis.localhost"
    return cluster.ingress(host)


@pytest.fixture(scope="module")
def database(suite, cluster, namespace, values):
    primary = stack.resolve(cluster, namespace, suite.target.component("database"))
    pod = stack.running_pods(cluster, namespace, primary.selector)[0].metadata.name
    return pg.node(cluster, namespace, pod), values.get("database", {}).get("name", "kubedefis")


def car_columns(database) -> set[str]:
    node, name = database
    rows = node.sql("SELECT column_name FROM information_schema.columns WHERE table_name = 'garage_car'", database=name)
    return {r[0] for r in rows}


def checksum(database, max_id: int | None = None) -> tuple[int, str, int]:
    """(rows, md5 of every row's id, brand, model, plate, year, garage, largest id), whatever the column is called."""
    node, name = database
    brand = "brand" if "brand" in car_columns(database) else "make"
    where = f"WHERE id <= {int(max_id)}" if max_id is not None else ""
    row = node.sql(
        f"SELECT count(*), md5(coalesce(string_agg(concat_ws('|', id, {brand}, model, plate, year, garage_id), ',' "
        f"ORDER BY id), '')), coalesce(max(id), 0) FROM garage_car {where}",
        database=name,
    )[0]
    return int(row[0]), row[1], int(row[2])


def wait_stage(cluster, namespace, suite, stage: str) -> None:
    """Every api and public pod runs the stage (its env) and the Deployments are rolled out."""

    def rolled() -> Check[None]:
        states = []
        done = True
        for component in ("api", "public"):
            resolved = stack.resolve(cluster, namespace, suite.target.component(component))
            ready = kube.deployment_ready(cluster.kube, namespace, resolved.name)
            pods = stack.running_pods(cluster, namespace, resolved.selector)
            stages = {stack.pod_env(cluster, namespace, p.metadata.name, "KUBEDEFIS_SCHEMA_STAGE") for p in pods}
            done = done and ready.done and stages == {stage}
            states.append(f"{ready.state}, stages {sorted(stages)}")
        return Check(done, state="; ".join(states))

    wait_for(f"every site pod at stage {stage}", rolled, timeout=timeouts.ROLLOUT, interval=3.0)


def hook_jobs(cluster, namespace) -> dict[str, tuple[str, bool]]:
    """Migration Jobs: name -> (helm hook, succeeded)."""
    jobs = {}
    for job in cluster.kube.batch.list_namespaced_job(
        namespace, label_selector="app.kubernetes.io/component=migrate"
    ).items:
        hook = (job.metadata.annotations or {}).get("helm.sh/hook", "")
        jobs[job.metadata.name] = (hook, bool(job.status.succeeded))
    return jobs


@pytest.mark.static
@pytest.mark.requirement(
    "D20.1", "migrations run as pre/post-upgrade hooks with a lock timeout, at the stage's version"
)
def test_rendered_migration_hooks(suite, rendered):
    from kubedefis.pytest_plugin import find_tool

    chart = suite.chart_under_test()
    findings = []
    tool = helm.Helm(find_tool("helm"))
    for stage in ("expand", "contract"):
        values = helm.load_values(stack.chart_values(suite, preset(stage)))
        # `helm template --is-upgrade` is what an upgrade renders: pyhelm3 has no flag, so render by hand.
        import yaml

        from kubedefis.shell import run

        out = run(
            [str(tool.executable), "template", suite.target.release, str(chart), "--is-upgrade", "-f", "-"],
            input=yaml.safe_dump(values),
        ).stdout
        jobs = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Job" and "-migrate" in d["metadata"]["name"]]
        hooks = {(d["metadata"].get("annotations") or {}).get("helm.sh/hook") for d in jobs}
        if hooks != {"pre-upgrade", "post-upgrade"}:
            findings.append(
                checks.Finding(f"{stage} upgrade", "migration Jobs as pre- and post-upgrade hooks", str(hooks))
            )
        for job in jobs:
            for container in checks.containers(job, init=True):
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                if env.get("KUBEDEFIS_SCHEMA_STAGE") != stage or not env.get("DJANGO_MIGRATION_LOCK_TIMEOUT"):
                    findings.append(checks.Finding(checks.name_of(job), f"stage {stage} and a lock timeout", str(env)))
    checks.require("D20.1 migration hooks", findings)


@pytest.mark.disruptive
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D20.2", "rename a column through expand and contract under load: no failure, no data lost")
def test_rename_under_load(suite, cluster, namespace, values, site, database, record_property):
    if not suite.allow_disruption:
        pytest.skip("loads and upgrades the site: needs --allow-disruption")
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    before_rows, before_md5, before_max = checksum(database)
    assert before_rows > 0 and "make" in car_columns(database) and "brand" not in car_columns(database)
    scenario = load.Scenario.site(site, "Browser", "ApiClient")
    history = []
    with load.run(scenario, users=LOAD_USERS, duration=LOAD_BOUND) as running:
        running.wait_requests(int(timeouts.LOAD_WARMUP * LOAD_USERS), timeout=timeouts.LOAD_SPAWN)
        for stage in ("expand", "contract"):
            # the installed values (images, host) with the stage of this release: what the presets differ by
            stage_values = merge_values(values, {"django": {"schemaStage": stage}})
            cluster.helm().upgrade_install(
                suite.chart, suite.target.release, namespace, stage_values, timeout=timeouts.HELM
            )
            wait_stage(cluster, namespace, suite, stage)
            history.append((stage, sorted(car_columns(database))))
            now = running.snapshot()
            running.wait_requests((now.total.requests if now else 0) + 5 * LOAD_USERS, timeout=timeouts.LOAD_SPAWN)
    result = running.result
    assert result is not None
    for key, value in result.as_dict().items():
        record_property(f"load_{key}", value)
    record_property("columns_after_each_upgrade", history)
    assert result.total.failures == 0, f"requests failed during the schema change:\n{result.report()}"

    created = result.named(CREATE)
    created_ok = (created.requests - created.failures) if created else 0
    kept_rows, kept_md5, _ = checksum(database, before_max)
    after_rows, _, _ = checksum(database)
    record_property("rows_before", before_rows)
    record_property("rows_after", after_rows)
    record_property("cars_created_under_load", created_ok)
    assert (kept_rows, kept_md5) == (before_rows, before_md5), "rows that existed before changed or disappeared"
    # Every acknowledged creation is stored; a creation in flight when Locust stopped its users
    # may be stored without Locust counting it: at most one per user, never fewer rows.
    in_flight = after_rows - (before_rows + created_ok)
    record_property("rows_created_in_flight_at_stop", in_flight)
    assert 0 <= in_flight <= LOAD_USERS, (
        f"{after_rows} rows, expected {before_rows} + {created_ok} acknowledged creations"
        f" (+ at most {LOAD_USERS} in flight when the load stopped)"
    )

    assert car_columns(database) >= {"brand"} and "make" not in car_columns(database), car_columns(database)
    jobs = hook_jobs(cluster, namespace)
    record_property("migration_jobs", jobs)
    assert any(h == "pre-upgrade" and ok for h, ok in jobs.values()), jobs
    assert any(h == "post-upgrade" and ok for h, ok in jobs.values()), jobs
    car = site.get("/api/cars?page_size=1").json()["results"][0]
    assert car["brand"] == car["make"], car
