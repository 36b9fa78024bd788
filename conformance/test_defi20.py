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
Migration Jobs are recognised by what they run (a Django migration command) and their Helm hook
events, the site's pods through the target's selectors.
"""

from __future__ import annotations

import pytest
import yaml

from kubedefis.core import helm, kube, manifests, timeouts
from kubedefis.core.helm import merge_values
from kubedefis.core.shell import run
from kubedefis.core.tools import find_tool
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import checks, discover, load
from kubedefis.harness import stage as stack
from kubedefis.harness.options import values_files
from kubedefis.stack import database as pg

LANE = "load"  # it loads the site: one at a time with défi 19's release (see harness.plugin.lane_of)
STAGES = ("initial", "expand", "contract")
PRESET = "defi20-initial"  # the stage installed first; expand and contract are upgrades
SIZE = "small"  # one api and one public pod: the migration under load is the requirement, not the counts
LOAD_USERS = 8
LOAD_BOUND = 900  # seconds: the load never outlives this
CREATE = "POST /api/cars"
MIN_REQUESTS = 500  # the "no failed request" claim rests on at least this many requests


def preset(stage: str) -> str:
    return f"defi20-{stage}"


def site_selector(cluster, namespace, suite) -> str:
    """The api component's pod selector (its pods tell which database the site uses)."""
    return stack.resolve(cluster, namespace, suite.target.component("api")).selector


@pytest.fixture(scope="module")
def database(suite, cluster, namespace, values):
    primary = stack.resolve(cluster, namespace, suite.target.component("database"))
    pod = stack.a_running_pod(cluster, namespace, primary).metadata.name
    return pg.node(cluster, namespace, pod), discover.site_database(
        cluster.kube, namespace, suite.target, site_selector(cluster, namespace, suite)
    )[0]


def migrates(container) -> bool:
    """Whether a container runs Django migrations (`manage.py migrate`, or a command of ours around it)."""
    return "migrat" in " ".join(map(str, (container.get("command") or []) + (container.get("args") or [])))


def stage_of(env: dict[str, discover.EnvValue]) -> set[str | None]:
    return {v.value for n, v in env.items() if n.upper().endswith("SCHEMA_STAGE")}


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
    """The Deployments (api, public) rolled out: every pod updated, the old ones gone, each at the stage."""

    def rolled() -> Check[None]:
        states = []
        done = True
        objects = discover.live_objects(cluster.kube, namespace, "ConfigMap", "Pod")
        for component in ("api", "public"):
            resolved = stack.resolve(cluster, namespace, suite.target.component(component))
            ready = kube.deployment_ready(cluster.kube, namespace, resolved.name)
            running = {p.metadata.name for p in stack.running_pods(cluster, namespace, resolved.selector)}
            stages = set()
            for pod in (o for o in objects if o["metadata"]["name"] in running):
                # the names from the spec, the values from the running process (a ConfigMap may have changed since)
                names = {
                    n
                    for c in manifests.containers(pod)
                    for n in discover.env_of(objects, c)
                    if n.upper().endswith("SCHEMA_STAGE")
                }
                stages |= {stack.pod_env(cluster, namespace, pod["metadata"]["name"], n) for n in names} or {None}
            done = done and ready.done and stages == {stage}
            states.append(f"{ready.state}, stages {sorted(map(str, stages))}")
        return Check(done, state="; ".join(states))

    wait_for(f"every site pod at stage {stage}", rolled, timeout=timeouts.ROLLOUT, interval=3.0)


def hook_jobs(cluster, namespace) -> dict[str, tuple[str, bool]]:
    """Migration Jobs (those running migrations): name -> (helm hook, succeeded)."""
    jobs = {}
    for job in cluster.kube.batch.list_namespaced_job(namespace).items:
        obj = manifests.live(job)
        if not any(migrates(c) for c in manifests.containers(obj, init=True)):
            continue
        hook = (job.metadata.annotations or {}).get("helm.sh/hook", "")
        jobs[job.metadata.name] = (hook, bool(job.status.succeeded))
    return jobs


@pytest.mark.static
@pytest.mark.requirement(
    "D20.1", "migrations run as pre/post-upgrade hooks with a lock timeout, at the stage's version"
)
def test_rendered_migration_hooks(suite, rendered):
    chart = suite.chart_under_test()
    findings = []
    tool = helm.Helm(find_tool("helm"))
    for stage in ("expand", "contract"):
        values = helm.load_values(values_files(suite, preset(stage)))
        # `helm template --is-upgrade` is what an upgrade renders: pyhelm3 has no flag, so render by hand.
        out = run(
            [str(tool.executable), "template", suite.target.release, str(chart), "--is-upgrade", "-f", "-"],
            input=yaml.safe_dump(values),
        ).stdout
        objects = [d for d in yaml.safe_load_all(out) if d]
        jobs = [
            d for d in objects if d["kind"] == "Job" and any(migrates(c) for c in manifests.containers(d, init=True))
        ]
        hooks = {(d["metadata"].get("annotations") or {}).get("helm.sh/hook") for d in jobs}
        if hooks != {"pre-upgrade", "post-upgrade"}:
            findings.append(
                checks.Finding(f"{stage} upgrade", "migration Jobs as pre- and post-upgrade hooks", str(hooks))
            )
        for job in jobs:
            for container in manifests.containers(job, init=True):
                env = discover.env_of(objects, container)
                locks = {n: v.value for n, v in env.items() if n.upper().endswith("LOCK_TIMEOUT") and v.value}
                if stage_of(env) != {stage} or not locks:
                    found = {"stage": sorted(map(str, stage_of(env))), "lock timeout": locks}
                    findings.append(
                        checks.Finding(manifests.name_of(job), f"stage {stage} and a lock timeout", str(found))
                    )
    checks.require("D20.1 migration hooks", findings)


@pytest.mark.disruptive
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D20.2", "rename a column through expand and contract under load: no failure, no data lost")
def test_rename_under_load(suite, cluster, namespace, values, site, database, record_property):
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    before_rows, before_md5, before_max = checksum(database)
    columns = car_columns(database)
    assert before_rows > 0 and "make" in columns and "brand" not in columns, (
        f"expected cars with a column make and no brand before the rename, found {before_rows} rows, {sorted(columns)}"
    )
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
        running.wait_requests(MIN_REQUESTS, timeout=timeouts.LOAD_SPAWN)
    result = running.result
    assert result is not None
    for key, value in result.as_dict().items():
        record_property(f"load_{key}", value)
    record_property("columns_after_each_upgrade", history)
    assert result.total.requests >= MIN_REQUESTS, f"expected {MIN_REQUESTS} requests under load:\n{result.report()}"
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
    assert any(h == "pre-upgrade" and ok for h, ok in jobs.values()), f"expected a pre-upgrade migration done: {jobs}"
    assert any(h == "post-upgrade" and ok for h, ok in jobs.values()), f"expected a post-upgrade migration done: {jobs}"
    car = site.get("/api/cars?page_size=1").json()["results"][0]
    assert car["brand"] == car["make"], car
