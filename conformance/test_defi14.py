"""Défi 14 — Cache-cache: Redis as the site's cache.

Redis behind a ClusterIP Service, password from a Secret, memory bounded with an eviction
policy. A cached page's second request reads no data table (proved from PostgreSQL's own
statistics, not only from the response header); a write is visible on the next read; with
Redis gone the site still answers.
"""

from __future__ import annotations

import statistics
import time
import uuid

import pytest

from kubedefis.harness import access, checks, release, stack, timeouts
from kubedefis.harness import postgres as pg
from kubedefis.harness.measures import record_fixture  # noqa: F401  (the `record` fixture)
from kubedefis.waits import Check, wait_for

PRESET = "defi14"
CACHE_HEADER = "x-kubedefis-cache"
VERSION_TABLE = "garage_dataversion"  # the site's data version: read by every cached request
IGNORED_TABLES = {VERSION_TABLE, "django_migrations"}  # the readiness probes read django_migrations
_UNITS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}


@pytest.fixture(scope="module")
def rendered(suite):
    return release.render(suite, PRESET)


@pytest.fixture(scope="module")
def values(suite, cluster, namespace):
    return release.install(cluster, suite, namespace, PRESET)


@pytest.fixture(scope="module")
def redis(suite, cluster, namespace, values):
    return stack.wait_component(cluster, namespace, suite.target.component("cache"), timeouts.POD_READY)


@pytest.fixture(scope="module")
def database(suite, cluster, namespace, values):
    found = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    pod = stack.running_pods(cluster, namespace, found.selector)[0]
    return pg.node(cluster, namespace, pod.metadata.name)


@pytest.fixture(scope="module")
def site(cluster, values):
    endpoint = cluster.ingress(values["ingress"]["host"])
    access.wait_http("the API through the Ingress", lambda: endpoint.get("/api/stats"), timeout=timeouts.HTTP_READY)
    return endpoint


@pytest.fixture(scope="module")
def sitedb(suite, cluster, namespace, values):
    """(database, user) of the site, from its live ConfigMap."""
    return release.site_database(cluster, namespace, suite)


def redis_cli(cluster, namespace, redis, *args, auth=True):
    pod = stack.running_pods(cluster, namespace, redis.selector)[0].metadata.name
    login = 'REDISCLI_AUTH="$REDIS_PASSWORD" ' if auth else ""
    script = login + "redis-cli -h 127.0.0.1 -p ${REDIS_PORT:-6379} " + " ".join(args)
    done = pg.Node(tuple(cluster.kubectl_command()), namespace, pod, container="redis").exec("sh", "-c", script)
    return (done.stdout + done.stderr).strip()


def table_reads(database, name):
    """Scans (seq + index) per user table of the site's database, from pg_stat_user_tables."""
    rows = database.sql(
        "SELECT relname, seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables ORDER BY relname", database=name
    )
    return {r[0]: int(r[1]) for r in rows}


def after_flush(database, name, since):
    """The table statistics once the backend that served the last request has reported them.

    Every cached or uncached request reads the data version table once; a backend reports
    all its counters together, so a higher count on that table means the request's reads on
    every other table are counted too.
    """

    def poll() -> Check[dict[str, int]]:
        now = table_reads(database, name)
        done = now.get(VERSION_TABLE, 0) > since.get(VERSION_TABLE, 0)
        return Check(done, now, f"{VERSION_TABLE} reads: {since.get(VERSION_TABLE)} -> {now.get(VERSION_TABLE)}")

    # PostgreSQL reports a backend's table counters at most every second, within 10 s when idle.
    return wait_for("PostgreSQL to report the request's table reads", poll, timeout=30, interval=0.5)


# A backend that reported its counters less than a second ago defers the next report by up
# to 10 s (PGSTAT_IDLE_INTERVAL): the statistics are settled once nothing moved for longer.
SETTLE_SECONDS = 11


def quiet(database, name):
    """The table statistics once nothing moved for SETTLE_SECONDS (earlier requests all reported)."""
    seen = []

    def poll() -> Check[dict[str, int]]:
        now = table_reads(database, name)
        data = {t: n for t, n in now.items() if t not in IGNORED_TABLES}  # the probes keep reading those
        if not seen or seen[-1][1] != data:
            seen.append((time.monotonic(), data))
        steady = time.monotonic() - seen[-1][0]
        return Check(steady >= SETTLE_SECONDS, now, f"unchanged for {steady:.0f}s")

    return wait_for("PostgreSQL's table statistics to settle", poll, timeout=90, interval=1.0)


def data_reads(before, after):
    return {t: after.get(t, 0) - n for t, n in before.items() if t not in IGNORED_TABLES and after.get(t, 0) != n}


def request_reads(site, database, name, path):
    """One GET, and the data tables it read: statistics settled before, reported, settled after.

    A backend reports each table's counters separately and skips one whose entry is busy
    (to retry later), so the data version's counter alone does not prove everything arrived:
    the statistics must also settle again after the request.
    """
    before = quiet(database, name)
    response = site.get(path)
    after_flush(database, name, before)
    return response, data_reads(before, quiet(database, name))


# --- static tier ----------------------------------------------------------------------------------


@pytest.mark.static
@pytest.mark.requirement("D14.1", "Redis with a password from a Secret, a memory limit, maxmemory and allkeys-lru")
def test_rendered_redis(rendered):
    deployment = release.find(rendered, "Deployment", "-redis")
    container = checks.containers(deployment)[0]
    env = release.env_of(container)
    findings = []
    if "/redis:" not in container.get("image", ""):
        findings.append(checks.Finding("redis image", "<repository>/redis:<tag>", container.get("image")))
    if not isinstance(env.get("REDIS_PASSWORD"), dict) or "secretKeyRef" not in env["REDIS_PASSWORD"]:
        findings.append(
            checks.Finding("REDIS_PASSWORD", "from a Secret (secretKeyRef)", str(env.get("REDIS_PASSWORD")))
        )
    limit = checks.quantity(((container.get("resources") or {}).get("limits") or {}).get("memory"))
    maxmemory = str(env.get("REDIS_MAXMEMORY", ""))
    unit = maxmemory[-2:].lower()
    data = int(maxmemory[:-2]) * _UNITS[unit] if unit in _UNITS and maxmemory[:-2].isdigit() else None
    if not limit or not data or data >= limit:
        findings.append(
            checks.Finding("memory", "maxmemory below the container's memory limit", f"{maxmemory} / {limit}")
        )
    if env.get("REDIS_MAXMEMORY_POLICY") != "allkeys-lru":
        findings.append(checks.Finding("eviction", "allkeys-lru", str(env.get("REDIS_MAXMEMORY_POLICY"))))
    checks.require("D14.1 Redis", findings)


@pytest.mark.static
@pytest.mark.requirement("D14.2", "a ClusterIP Service routes to Redis; the site gets CACHE_URL from the Secret")
def test_rendered_service_and_site(rendered):
    service = release.find(rendered, "Service", "-redis")
    deployment = release.find(rendered, "Deployment", "-redis")
    findings = checks.service_type(service, "ClusterIP") + checks.service_routes_to(service, deployment)
    for component in ("-api", "-public"):
        env = release.env_of(checks.containers(release.find(rendered, "Deployment", component))[0])
        if not isinstance(env.get("CACHE_URL"), dict) or "secretKeyRef" not in env["CACHE_URL"]:
            findings.append(checks.Finding(f"{component[1:]} CACHE_URL", "from the Secret", str(env.get("CACHE_URL"))))
    checks.require("D14.2 Service and site", findings)


@pytest.mark.static
@pytest.mark.requirement("D14.5", "earlier stages (défi 11) render no cache")
def test_cache_off_before_defi14(suite):
    objects = release.render(suite, "defi11", preset_only=True)
    assert not [checks.name_of(o) for o in objects if o["metadata"]["name"].endswith("-redis")]


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D14.1", "Redis refuses clients without the password; maxmemory and allkeys-lru are in force")
def test_redis_password_and_eviction(cluster, namespace, redis, record):
    assert "NOAUTH" in redis_cli(cluster, namespace, redis, "ping", auth=False)
    assert redis_cli(cluster, namespace, redis, "ping") == "PONG"
    policy = redis_cli(cluster, namespace, redis, "config", "get", "maxmemory-policy").split()
    maxmemory = redis_cli(cluster, namespace, redis, "config", "get", "maxmemory").split()
    record("redis_maxmemory_bytes", maxmemory[-1])
    assert policy[-1] == "allkeys-lru", policy
    pod = stack.running_pods(cluster, namespace, redis.selector)[0]
    limit = checks.quantity(pod.spec.containers[0].resources.limits.get("memory"))
    assert maxmemory[-1].isdigit() and 0 < int(maxmemory[-1]) < (limit or 0), f"maxmemory {maxmemory} vs limit {limit}"


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D14.3", "a cached page's second request reads no data table (database statistics)")
def test_second_request_reads_no_table(site, database, sitedb, record):
    name = sitedb[0]
    path = f"/api/cars?page_size=20&page=1&probe={uuid.uuid4().hex[:8]}"
    first, first_reads = request_reads(site, database, name, path)
    assert first.status == 200 and first.headers.get(CACHE_HEADER) == "miss", first
    assert first_reads, "the first (uncached) request read no table: the statistics see nothing"
    second, second_reads = request_reads(site, database, name, path)
    assert second.status == 200 and second.headers.get(CACHE_HEADER) == "hit", second
    record("scans_first_request", first_reads)
    record("scans_second_request", second_reads)
    assert not second_reads, f"the cached request still read tables: {second_reads}"
    assert second.body == first.body


@pytest.mark.requirement("D14.4", "after a write, the next read shows the new data")
def test_write_then_read_shows_new_data(site):
    path = "/api/garages?page_size=100"
    site.get(path)
    cached = site.get(path)
    assert cached.status == 200 and cached.headers.get(CACHE_HEADER) == "hit", cached
    name = f"cache-{uuid.uuid4().hex[:10]}"
    created = site.request(
        "POST",
        "/api/garages",
        headers={"Content-Type": "application/json"},
        body=f'{{"name": "{name}", "city": "Evry"}}',
    )
    assert created.status == 201, created
    fresh = site.get(path)
    assert fresh.status == 200 and name in fresh.text, f"the new garage is missing from the next read: {fresh}"


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D14.6", "measured: latency and table scans per request, with and without the cache")
def test_measure_cache_gain(site, database, sitedb, record):
    name = sitedb[0]
    timings = {"miss": [], "hit": []}
    for i in range(15):
        path = f"/api/cars?page_size=20&page=1&probe={uuid.uuid4().hex[:8]}{i}"
        for expected in ("miss", "hit"):
            start = time.perf_counter()
            response = site.get(path)
            timings[expected].append(time.perf_counter() - start)
            assert response.headers.get(CACHE_HEADER) == expected, (path, response)
    medians = {k: round(statistics.median(v) * 1000, 1) for k, v in timings.items()}
    record("latency_median_ms", medians)
    path = f"/api/cars?page_size=20&page=1&probe={uuid.uuid4().hex}"
    scans = {}
    for expected in ("miss", "hit"):
        response, scans[expected] = request_reads(site, database, name, path)
        assert response.headers.get(CACHE_HEADER) == expected, response
    record("table_scans_per_request", {k: sum(v.values()) for k, v in scans.items()})
    record("table_scans_miss_detail", scans["miss"])
    assert medians["hit"] < medians["miss"] * 2, medians  # sanity: a hit is not slower than a miss


@pytest.mark.disruptive
@pytest.mark.needs("patch", "deployments/scale")
@pytest.mark.requirement("D14.7", "with Redis scaled to 0 the site still answers 200")
def test_site_answers_without_redis(suite, cluster, namespace, redis, site):
    if not suite.allow_disruption:
        pytest.skip("scales Redis to 0: run with --allow-disruption")
    k = cluster.kube
    k.apps.patch_namespaced_deployment_scale(redis.name, namespace, {"spec": {"replicas": 0}})
    try:
        wait_for(
            "Redis's pods to be gone",
            lambda: Check(not k.core.list_namespaced_pod(namespace, label_selector=redis.selector).items, None),
            timeout=timeouts.POD_READY,
        )
        paths = ["/api/cars", "/api/garages", "/api/keys", "/", "/garages/"]
        answers = [(path, site.get(path).status) for path in paths for _ in range(3)]
        assert all(status == 200 for _, status in answers), answers
    finally:
        k.apps.patch_namespaced_deployment_scale(redis.name, namespace, {"spec": {"replicas": 1}})
        stack.wait_component(cluster, namespace, suite.target.component("cache"), timeouts.POD_READY)
