"""Défi 14 — Cache-cache: Redis as the site's cache.

Redis behind a ClusterIP Service, password from a Secret, memory bounded with an eviction
policy. The site really reads through Redis: the first request of a page is a miss and the
following ones hits in Redis's own counters (INFO stats), and those read no data table (proved
from PostgreSQL's statistics); a write is visible on the next reads; with Redis gone the site
still answers. Redis, the database and the site are the target's components; how to log in to
Redis is read from its pod (the variable its password comes from, out of a Secret), and what the
site is told from its environment resolved through its ConfigMaps and Secrets; no response
header of ours is read.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from dataclasses import dataclass

import pytest

from kubedefis.core import manifests, timeouts
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import access, checks, discover
from kubedefis.harness import stage as stack
from kubedefis.harness.target import with_query
from kubedefis.stack import database as pg

PRESET = "defi14"
SIZE = "small"  # checks neither replica counts nor requests
# Our site checks its data version (one row) on every request, cached or not; the readiness
# probes read django_migrations. Neither is the page's data. The version table is our site's: it is
# used where the site's database has it (our site, installed or deployed), never assumed elsewhere;
# every Django project has django_migrations.
VERSION_TABLE = "garage_dataversion"
MIGRATIONS_TABLE = "django_migrations"
# Besides the site contract's paths, what our site is asked with Redis gone (défi 14.6).
OUR_PATHS_WITHOUT_REDIS = ["/api/garages", "/api/keys", "/garages/"]
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
# Cached requests of one page after its first: 12. With up to 3 pods per component behind
# Traefik's round-robin, each pod serves 4 of them; were the balancing random, a pod that does
# not use Redis (1 in 3) would escape 12 draws with probability (2/3)^12 < 1 %.
REPEATS = 12
# The reads that must show a new row after a write: 6 (two per pod of 3, round-robin).
FRESH_READS = 6


@pytest.fixture(scope="module")
def redis(suite, cluster, namespace, values):
    return stack.wait_component(cluster, namespace, suite.target.component("cache"), timeouts.POD_READY)


@dataclass(frozen=True)
class RedisPod:
    """Where redis-cli runs (the cache's pod and container), its port and the variable holding its password."""

    pod: str
    container: str
    port: int
    password_env: str | None


@pytest.fixture(scope="module")
def redis_pod(cluster, namespace, redis):
    """The cache's pod and container (the one the Service targets); its password variable, found by logging in."""
    pod = stack.a_running_pod(cluster, namespace, redis)
    port_ref = redis.service(None).spec.ports[0].target_port if redis.services else None
    container, port = pod.spec.containers[0], 6379
    for c in pod.spec.containers:
        for cp in c.ports or []:
            if port_ref in (cp.container_port, cp.name) or (port_ref is None and cp.container_port):
                container, port = c, cp.container_port
    candidates = [e.name for e in container.env or [] if e.value_from and e.value_from.secret_key_ref]
    for name in candidates:
        found = RedisPod(pod.metadata.name, container.name, port, name)
        if redis_cli(cluster, namespace, found, "ping") == "PONG":
            return found
    return RedisPod(pod.metadata.name, container.name, port, None)


@pytest.fixture(scope="module")
def database(suite, cluster, namespace, values):
    found = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    pod = stack.a_running_pod(cluster, namespace, found)
    return pg.node(cluster, namespace, pod.metadata.name, port=suite.target.database_port)


@pytest.fixture(scope="module")
def api(suite, cluster, values, site):
    """The site through the Ingress, once its API answers there (the site contract's api_probe)."""
    endpoint = site
    probe = suite.target.site.api_probe
    access.wait_http(f"the API through the Ingress ({probe})", lambda: endpoint.get(probe), timeout=timeouts.HTTP_READY)
    return endpoint


def site_selector(cluster, namespace, suite) -> str:
    """The api component's pod selector (its pods tell which database the site uses)."""
    return stack.resolve(cluster, namespace, suite.target.component("api")).selector


@pytest.fixture(scope="module")
def sitedb(suite, cluster, namespace, values):
    """(database, user) of the site, from its live ConfigMap."""
    return discover.site_database(cluster.kube, namespace, suite.target, site_selector(cluster, namespace, suite))


@dataclass(frozen=True)
class Tables:
    """The site's database, and its tables read on every request whatever the cache (not the page's data)."""

    name: str
    version: str | None  # our site's data version table, where the database has it
    ignored: frozenset[str]


@pytest.fixture(scope="module")
def tables(database, sitedb) -> Tables:
    name = sitedb[0]
    has = database.value(f"SELECT to_regclass('{VERSION_TABLE}') IS NOT NULL", database=name) == "t"
    version = VERSION_TABLE if has else None
    return Tables(name, version, frozenset({MIGRATIONS_TABLE, *([version] if version else [])}))


def redis_cli(cluster, namespace, redis: RedisPod, *args, auth=True):
    login = f'REDISCLI_AUTH="${redis.password_env}" ' if auth and redis.password_env else ""
    script = login + f"redis-cli --no-auth-warning -h 127.0.0.1 -p {redis.port} " + " ".join(args)
    node = pg.Node(tuple(cluster.kubectl_command()), namespace, redis.pod, container=redis.container)
    done = node.exec("sh", "-c", script)
    return (done.stdout + done.stderr).strip()


def redis_counters(cluster, namespace, redis: RedisPod) -> dict[str, int]:
    """Redis's own counters (INFO stats): keyspace_hits and keyspace_misses."""
    text = redis_cli(cluster, namespace, redis, "info", "stats")
    found = dict(re.findall(r"^(keyspace_hits|keyspace_misses):(\d+)", text, re.MULTILINE))
    if len(found) != 2:
        pytest.fail(f"expected Redis's INFO stats (logged in with {redis.password_env}), found {text[:300]!r}")
    return {k: int(v) for k, v in found.items()}


def logged_in(cluster, namespace, redis: RedisPod) -> None:
    if redis.password_env is None or redis_cli(cluster, namespace, redis, "ping") != "PONG":
        pytest.fail(
            f"expected to log in to Redis ({redis.pod}/{redis.container}) with a password from a Secret, found no"
            " variable of the container, out of a Secret, that Redis accepts"
        )


def table_reads(database, name):
    """Scans (seq + index) per user table of the site's database, from pg_stat_user_tables."""
    rows = database.sql(
        "SELECT relname, seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables ORDER BY relname", database=name
    )
    return {r[0]: int(r[1]) for r in rows}


def after_flush(database, name, since, version):
    """The table statistics once the backend that served the last request has reported them.

    Every cached or uncached request reads the data version table once; a backend reports
    all its counters together, so a higher count on that table means the request's reads on
    every other table are counted too.
    """

    def poll() -> Check[dict[str, int]]:
        now = table_reads(database, name)
        done = now.get(version, 0) > since.get(version, 0)
        return Check(done, now, f"{version} reads: {since.get(version)} -> {now.get(version)}")

    # PostgreSQL reports a backend's table counters at most every second, within 10 s when idle.
    return wait_for("PostgreSQL to report the request's table reads", poll, timeout=30, interval=0.5)


# A backend that reported its counters less than a second ago defers the next report by up
# to 10 s (PGSTAT_IDLE_INTERVAL): the statistics are settled once nothing moved for longer.
SETTLE_SECONDS = 11


def quiet(database, tables: Tables):
    """The table statistics once nothing moved for SETTLE_SECONDS (earlier requests all reported)."""
    seen = []

    def poll() -> Check[dict[str, int]]:
        now = table_reads(database, tables.name)
        data = {t: n for t, n in now.items() if t not in tables.ignored}  # the probes keep reading those
        if not seen or seen[-1][1] != data:
            seen.append((time.monotonic(), data))
        steady = time.monotonic() - seen[-1][0]
        return Check(steady >= SETTLE_SECONDS, now, f"unchanged for {steady:.0f}s")

    return wait_for("PostgreSQL's table statistics to settle", poll, timeout=90, interval=1.0)


def data_reads(before, after, tables: Tables):
    return {t: after.get(t, 0) - n for t, n in before.items() if t not in tables.ignored and after.get(t, 0) != n}


def request_reads(api, database, tables: Tables, path, times=1):
    """`times` GETs of a path, their responses, and the data tables they read: statistics settled before,
    reported, settled after.

    A backend reports each table's counters separately and skips one whose entry is busy
    (to retry later), so the data version's counter alone does not prove everything arrived:
    the statistics must also settle again after the requests. A site without that table
    (not ours) gets the settling alone, longer than PostgreSQL's 10 s reporting interval.
    """
    before = quiet(database, tables)
    responses = [api.get(path) for _ in range(times)]
    if tables.version in before:
        after_flush(database, tables.name, before, tables.version)
    return responses, data_reads(before, quiet(database, tables), tables)


# --- static tier ----------------------------------------------------------------------------------


def _quantity(text: str | None) -> int | None:
    """A Redis memory setting (`48mb`, `100000000`, `1gb`) in bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?b?)\s*", (text or "").lower())
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def redis_settings(objects, workload, container) -> dict[str, str]:
    """Redis's `maxmemory` and `maxmemory-policy` as the container sets them: arguments, a mounted config, or
    its environment (any variable named after the directive), whichever it uses."""
    texts = [" ".join(map(str, (container.get("command") or []) + (container.get("args") or [])))]
    for volume in manifests.pod_spec(workload).get("volumes") or []:
        name = (volume.get("configMap") or {}).get("name")
        for obj in manifests.find(objects, "ConfigMap", name) if name else []:
            texts += [str(v) for v in (obj.get("data") or {}).values()]
    found = {}
    for text in texts:
        for key, value in re.findall(r"(?:--)?(maxmemory(?:-policy)?)[\s=]+([\w-]+)", text, re.IGNORECASE):
            found.setdefault(key.lower(), value)
    for name, env in discover.env_of(objects, container).items():
        key = re.sub(r"[^a-z]+", "-", name.lower()).strip("-")
        for directive in ("maxmemory-policy", "maxmemory"):
            if key.endswith(directive) and env.value and directive not in found:
                found[directive] = env.value
                break
    return found


def _cache(objects, suite):
    findings = discover.component_findings(objects, suite.target, "cache")
    checks.require("the cache (Redis)", findings)
    return discover.workloads(objects, suite.target, "cache")[0]


@pytest.mark.static
@pytest.mark.requirement("D14.1", "Redis with a password from a Secret, a memory limit, maxmemory and allkeys-lru")
def test_rendered_redis(suite, rendered):
    deployment = _cache(rendered, suite)
    container = manifests.containers(deployment)[0]
    env = discover.env_of(rendered, container)
    findings = []
    if not re.search(r"(^|/)(redis|valkey)[^/]*(:|@|$)", container.get("image", "")):
        findings.append(checks.Finding("cache image", "Redis (<repository>/redis:<tag>)", container.get("image")))
    from_secret = [n for n, v in env.items() if v.source == "secret"]
    if not from_secret:
        findings.append(checks.Finding("Redis password", "from a Secret (secretKeyRef or envFrom)", str(sorted(env))))
    limit = manifests.quantity(((container.get("resources") or {}).get("limits") or {}).get("memory"))
    settings = redis_settings(rendered, deployment, container)
    data = _quantity(settings.get("maxmemory"))
    if not limit or not data or data >= limit:
        findings.append(
            checks.Finding(
                "memory", "maxmemory below the container's memory limit", f"{settings.get('maxmemory')} / {limit}"
            )
        )
    if settings.get("maxmemory-policy") != "allkeys-lru":
        findings.append(checks.Finding("eviction", "allkeys-lru", str(settings.get("maxmemory-policy"))))
    checks.require("D14.1 Redis", findings)


@pytest.mark.static
@pytest.mark.requirement("D14.2", "a ClusterIP Service routes to Redis; the site gets its address from a Secret")
def test_rendered_service_and_site(suite, rendered):
    deployment = _cache(rendered, suite)
    services = discover.services_selecting(rendered, [manifests.pod_labels(deployment)])
    findings = []
    if not services:
        findings.append(
            checks.Finding("Services", f"a ClusterIP Service selecting {manifests.name_of(deployment)}", "none")
        )
    for service in services:
        findings += checks.service_type(service, "ClusterIP") + checks.service_routes_to(service, deployment)
    names = [svc["metadata"]["name"] for svc in services]
    for key in ("api", "public"):
        workloads = discover.workloads(rendered, suite.target, key, ("Deployment",))
        findings += discover.component_findings(rendered, suite.target, key, ("Deployment",))
        for dep in workloads:
            for container in manifests.containers(dep):
                env = discover.env_of(rendered, container)
                pointing = {n: v for n, v in env.items() if any(discover.mentions_host(v.value, h) for h in names)}
                where = f"{manifests.name_of(dep)} container {container.get('name')}"
                if not pointing:
                    findings.append(checks.Finding(where, f"a variable with the cache's address {names}", "none"))
                elif not any(v.source == "secret" for v in pointing.values()):
                    sources = {n: v.source for n, v in pointing.items()}
                    findings.append(
                        checks.Finding(where, "the cache's address (with its password) from a Secret", str(sources))
                    )
    checks.require("D14.2 Service and site", findings)


@pytest.mark.static
@pytest.mark.requirement("D14.5", "earlier stages (défi 11) render no cache")
def test_cache_off_before_defi14(suite):
    objects = stack.render(suite, "defi11", preset_only=True)
    found = [manifests.name_of(o) for o in discover.workloads(objects, suite.target, "cache")]
    assert not found, f"expected no cache workload at défi 11, found {found}"


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D14.1", "Redis refuses clients without the password; maxmemory and allkeys-lru are in force")
def test_redis_password_and_eviction(cluster, namespace, redis_pod, record):
    anonymous = redis_cli(cluster, namespace, redis_pod, "ping", auth=False)
    assert "NOAUTH" in anonymous, (
        f"expected Redis to refuse a client without the password (NOAUTH), found {anonymous!r}"
    )
    logged_in(cluster, namespace, redis_pod)
    policy = redis_cli(cluster, namespace, redis_pod, "config", "get", "maxmemory-policy").split()
    maxmemory = redis_cli(cluster, namespace, redis_pod, "config", "get", "maxmemory").split()
    record("redis_maxmemory_bytes", maxmemory[-1] if maxmemory else None)
    assert policy[-1:] == ["allkeys-lru"], f"expected maxmemory-policy allkeys-lru, found {policy}"
    pod = cluster.kube.core.read_namespaced_pod(redis_pod.pod, namespace)
    container = next(c for c in pod.spec.containers if c.name == redis_pod.container)
    limit = manifests.quantity(((container.resources and container.resources.limits) or {}).get("memory"))
    ok = maxmemory and maxmemory[-1].isdigit() and 0 < int(maxmemory[-1]) < (limit or 0)
    assert ok, f"expected maxmemory between 0 and the memory limit {limit}, found {maxmemory}"


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement(
    "D14.3", "the site reads through Redis: a page's next requests are Redis hits and read no table"
)
def test_second_request_reads_no_table(suite, cluster, namespace, api, database, tables, redis_pod, record):
    logged_in(cluster, namespace, redis_pod)
    # the site contract's API list, a query of its own making it a page nobody asked yet
    path = with_query(suite.target.site.api_list, f"probe={uuid.uuid4().hex[:8]}")
    start = redis_counters(cluster, namespace, redis_pod)
    (first,), first_reads = request_reads(api, database, tables, path)
    after_first = redis_counters(cluster, namespace, redis_pod)
    assert first.status == 200, f"expected 200 for {path}, found {first}"
    assert first_reads, "the first (uncached) request read no table: the statistics see nothing"
    assert after_first["keyspace_misses"] > start["keyspace_misses"], (
        f"expected the first request to miss in Redis (keyspace_misses up), found {start} -> {after_first}"
    )
    repeats, repeat_reads = request_reads(api, database, tables, path, times=REPEATS)
    after = redis_counters(cluster, namespace, redis_pod)
    hits = after["keyspace_hits"] - after_first["keyspace_hits"]
    record("scans_first_request", first_reads)
    record("scans_next_requests", repeat_reads)
    record("redis_hits_next_requests", hits)
    wrong = [(i, r.status) for i, r in enumerate(repeats) if r.status != 200 or r.body != first.body]
    assert not wrong, f"expected the same page {REPEATS} times, found different answers: {wrong}"
    assert hits >= REPEATS, f"expected each of the {REPEATS} next requests to hit in Redis, found {hits} hits"
    assert not repeat_reads, f"the cached requests still read tables: {repeat_reads}"


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D14.4", "after a write, the next reads show the new data")
def test_write_then_read_shows_new_data(suite, cluster, namespace, api, redis_pod):
    # Our site: its garage list (100 a page), a garage created, its name on every next read. A group's:
    # the target's write (api_write), then its path read with GET (the list it adds to): the next reads
    # must show the new {unique} word, or at least no longer be the answer cached before the write.
    contract = suite.target.site
    if not contract.knows("api_write"):
        pytest.skip(contract.unknown("api_write") + ": a write whose list the cache must not keep stale")
    logged_in(cluster, namespace, redis_pod)
    path = "/api/garages?page_size=100" if contract.ours else contract.write_path
    api.get(path)
    before = redis_counters(cluster, namespace, redis_pod)
    cached = api.get(path)
    after = redis_counters(cluster, namespace, redis_pod)
    assert cached.status == 200, f"expected 200 for {path}, found {cached}"
    if after["keyspace_hits"] <= before["keyspace_hits"]:
        pytest.skip(
            f"the page is not served from Redis (no hit: {before} -> {after}): nothing cached to go stale (D14.3)"
        )
    if contract.ours:
        name = f"cache-{uuid.uuid4().hex[:10]}"
        created = api.request(
            "POST",
            "/api/garages",
            headers={"Content-Type": "application/json"},
            body=f'{{"name": "{name}", "city": "Evry"}}',
        )
        assert created.status == 201, created
    else:
        body, name = contract.write_body()
        created = api.request(
            contract.write_method, contract.write_path, headers={"Content-Type": "application/json"}, body=body
        )
        assert 200 <= created.status < 300, f"expected {contract.api_write} (api_write) to succeed, found {created}"
    stale = []
    for i in range(FRESH_READS):
        fresh = api.get(path)
        shown = name in fresh.text or (not contract.ours and fresh.body != cached.body)
        if fresh.status != 200 or not shown:
            stale.append(i + 1)
    what = "the new garage" if contract.ours else f"the new object ({name}), or an answer other than the cached one"
    assert not stale, f"expected {what} on all {FRESH_READS} next reads of {path}, missing from reads {stale}"


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D14.3", "measured: latency and table scans per request, with and without the cache")
def test_measure_cache_gain(suite, cluster, namespace, api, database, tables, redis_pod, record):
    logged_in(cluster, namespace, redis_pod)
    listing = suite.target.site.api_list
    timings = {"miss": [], "hit": []}
    before = redis_counters(cluster, namespace, redis_pod)
    rounds = 15
    for i in range(rounds):
        path = with_query(listing, f"probe={uuid.uuid4().hex[:8]}{i}")
        for expected in ("miss", "hit"):
            start = time.perf_counter()
            response = api.get(path)
            timings[expected].append(time.perf_counter() - start)
            assert response.status == 200, (path, response)
    after = redis_counters(cluster, namespace, redis_pod)
    delta = {k: after[k] - before[k] for k in after}
    if delta["keyspace_misses"] < rounds or delta["keyspace_hits"] < rounds:
        pytest.skip(f"expected {rounds} misses then {rounds} hits in Redis, found {delta}: no cache to measure (D14.3)")
    medians = {k: round(statistics.median(v) * 1000, 1) for k, v in timings.items()}
    record("latency_median_ms", medians)
    path = with_query(listing, f"probe={uuid.uuid4().hex}")
    scans = {}
    for expected in ("miss", "hit"):
        (response,), scans[expected] = request_reads(api, database, tables, path)
        assert response.status == 200, response
    record("table_scans_per_request", {k: sum(v.values()) for k, v in scans.items()})
    record("table_scans_miss_detail", scans["miss"])
    assert medians["hit"] < medians["miss"] * 2, medians  # sanity: a hit is not slower than a miss


@pytest.mark.disruptive
@pytest.mark.needs("patch", "deployments/scale")
@pytest.mark.requirement("D14.6", "with Redis gone the site keeps answering 200, past its probes' deadlines")
def test_site_answers_without_redis(suite, cluster, namespace, redis, api, record):
    k = cluster.kube
    # Long enough for a readiness or liveness probe that depends on Redis to have failed: the slowest
    # of the site's probes (period x failure threshold), plus 10 s; at most 2 minutes.
    site_pods = [
        p
        for key in ("api", "public")
        for p in stack.running_pods(
            cluster, namespace, stack.resolve(cluster, namespace, suite.target.component(key)).selector
        )
    ]
    probes = [
        probe
        for p in site_pods
        for c in p.spec.containers
        for probe in (c.readiness_probe, c.liveness_probe)
        if probe is not None
    ]
    window = min(max(((p.period_seconds or 10) * (p.failure_threshold or 3) for p in probes), default=30) + 10, 120)
    size = k.apps.read_namespaced_deployment(redis.name, namespace).spec.replicas or 1
    k.apps.patch_namespaced_deployment_scale(redis.name, namespace, {"spec": {"replicas": 0}})
    try:
        wait_for(
            "Redis's pods to be gone",
            lambda: Check(not k.core.list_namespaced_pod(namespace, label_selector=redis.selector).items, None),
            timeout=timeouts.POD_READY,
        )
        # Each round asks every path 3 times (one per pod of a 3-pod component under round-robin),
        # every 5 s through the window.
        contract = suite.target.site  # its paths, and ours as well on our site
        paths = [contract.api_list, contract.api_probe, "/", contract.public_page]
        paths += OUR_PATHS_WITHOUT_REDIS if contract.ours else []
        wrong, rounds, start = [], 0, time.monotonic()
        while time.monotonic() - start < window:
            rounds += 1
            for path in paths:
                for _ in range(3):
                    status = api.get(path).status
                    if status != 200:
                        wrong.append((round(time.monotonic() - start), path, status))
            time.sleep(5)
        record("without_redis", {"seconds": window, "rounds": rounds, "not_200": len(wrong)})
        assert not wrong, (
            f"expected 200 everywhere for {window}s without Redis, found (second, path, status) {wrong[:20]}"
        )
    finally:
        k.apps.patch_namespaced_deployment_scale(redis.name, namespace, {"spec": {"replicas": size}})
        stack.wait_component(cluster, namespace, suite.target.component("cache"), timeouts.POD_READY)
