import json
from pathlib import Path

import pytest

from kubedefis.core.errors import KubedefisError
from kubedefis.harness import target


def test_defaults_match_our_stack():
    t = target.Target()
    assert t.namespace is None and not t.external
    assert t.components["web"].selector == "app=csc8567"


def test_file_overrides_and_keeps_default_components(tmp_path: Path):
    f = tmp_path / "u-123.yaml"
    f.write_text(
        "namespace: u-123\ndeployed: true\ncomponents:\n  web: {name: site, selector: app=site, service: site}\n"
        "  api: {selector: tier=backend, container: django}\n"
    )
    t = target.load(f)
    assert t.namespace == "u-123" and t.deployed and t.external
    assert t.components["web"].name == "site"
    assert t.component("api").container == "django" and t.component("web").container == ""
    assert "web-nodb" in t.components


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("namespce: u-1\n", "unknown keys ['namespce']"),
        ("ingress_http_port: http\n", "ingress_http_port must be a port number"),
        ("deployed: yes please\n", "deployed must be true or false"),
        ("components:\n  web: {image: x}\n", "components.web takes the keys"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: [\n", "not valid YAML"),
        ("site_port: 80000\n", "site_port must be a port number"),
        ("database_port: '5432'\n", "database_port must be a port number"),
        ("web_port: true\n", "web_port must be a port number"),
        ("database_env: DB_HOST\n", "database_env must be a mapping"),
        ("database_env: {hostname: DB_HOST}\n", "database_env takes the keys"),
        ("database_env: {host: DB HOST}\n", "database_env.host must be an environment variable name"),
        ("database_env: {port: 5432}\n", "database_env.port must be an environment variable name"),
        ("limits_env: [RATE]\n", "limits_env must be a mapping"),
        ("limits_env: {burst: RATE}\n", "limits_env takes the keys"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, message: str):
    f = tmp_path / "t.yaml"
    f.write_text(text)
    with pytest.raises(KubedefisError, match=message.replace("[", r"\[").replace("]", r"\]")):
        target.load(f)


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(KubedefisError, match="does not exist"):
        target.load(tmp_path / "nope.yaml")


def test_chart_and_values_are_relative_to_the_file(tmp_path: Path):
    f = tmp_path / "groups" / "g7.yaml"
    f.parent.mkdir()
    f.write_text("namespace: u-7\ndeployed: true\nchart: ../g7/chart\nvalues: ../g7/values.yaml\n")
    t = target.load(f)
    assert t.chart == str(tmp_path / "g7" / "chart")
    assert t.values == (str(tmp_path / "g7" / "values.yaml"),)
    f.write_text("values: {a: 1}\n")
    with pytest.raises(KubedefisError, match="values must be a file name or a list"):
        target.load(f)


def test_a_workload_is_found_as_the_target_names_it():
    t = target.Target(
        components={
            "api": target.Component(selector="app=garage-web,tier=backend"),
            "public": target.Component(selector="app=garage-web,tier=frontend"),
            "database": target.Component(name="garage-db", selector="app=garage-web"),
        }
    )
    among = ("api", "public", "database")
    assert t.component_of("garage-api", {"app": "garage-web", "tier": "backend"}, among) == "api"
    assert t.component_of("x", {"app": "garage-web", "tier": "frontend", "extra": "1"}, among) == "public"
    assert t.component_of("garage-db", {"app": "garage-db"}, among) == "database"  # by name, labels aside
    assert t.component_of("other", {"app": "garage-web"}, among) is None  # a partial match is no match


def test_grading_a_deployed_stack_renders_only_the_chart_the_target_names(tmp_path: Path):
    from kubedefis.harness.options import OWN_CHART, SuiteOptions

    def options(chart: Path, deployed: bool, named: bool) -> SuiteOptions:
        tgt = target.Target(namespace="u-7", deployed=deployed)
        return SuiteOptions(tgt, tmp_path, chart, (), False, False, None, chart_named=named)

    assert options(OWN_CHART, deployed=False, named=False).chart_under_test() == OWN_CHART
    assert options(tmp_path, deployed=True, named=True).chart_under_test() == tmp_path
    # our own stack graded as a group's: the target names our chart, which is then rendered
    assert options(OWN_CHART, deployed=True, named=True).chart_under_test() == OWN_CHART
    with pytest.raises(pytest.skip.Exception, match="the target names no chart"):
        options(OWN_CHART, deployed=True, named=False).chart_under_test()


def test_write_endpoint_and_credentials_are_validated(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        'api_write: POST /api/garages\napi_write_body: \'{"name": "g-{unique}"}\'\napi_token_secret: creds/TOKEN\n'
    )
    loaded = target.load(good)
    assert (loaded.api_write, loaded.api_token_secret) == ("POST /api/garages", "creds/TOKEN")
    for text, word in (
        ("api_write: GET /api/garages\n", "api_write"),
        ("api_write: POST api\n", "api_write"),
        ("api_write_body: '{not json'\n", "api_write_body"),
        ("api_token_secret: creds\n", "api_token_secret"),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(KubedefisError, match=word):
            target.load(bad)


def test_what_the_suite_must_know_defaults_to_our_chart(tmp_path: Path):
    t = target.Target()
    assert (t.web_port, t.site_port, t.database_port) == (5000, 8000, 5432)
    assert t.database_env == {
        "host": "POSTGRES_HOST",
        "port": "POSTGRES_PORT",
        "name": "POSTGRES_DB",
        "user": "POSTGRES_USER",
    }
    f = tmp_path / "t.yaml"
    f.write_text("site_port: 8080\ndatabase_port: 5433\ndatabase_env: {host: DB_HOST, port: DB_PORT}\n")
    t = target.load(f)
    assert (t.web_port, t.site_port, t.database_port) == (5000, 8080, 5433)
    # the settings the file names replace ours; the others keep our names
    assert t.database_env == {"host": "DB_HOST", "port": "DB_PORT", "name": "POSTGRES_DB", "user": "POSTGRES_USER"}
    assert target.Target().database_env["host"] == "POSTGRES_HOST"  # the default is not shared


def test_limits_env_replaces_ours_whole(tmp_path: Path):
    assert target.Target().limits_env["rate"] == "DJANGO_RATELIMIT_RATE"
    f = tmp_path / "t.yaml"
    f.write_text("limits_env: {rate: RATE_LIMIT}\n")
    assert target.load(f).limits_env == {"rate": "RATE_LIMIT"}  # their only setting: ours are not asked for
    f.write_text("limits_env: {}\n")
    assert target.load(f).limits_env == {}  # limits that are no env settings: défi 18's attack proves them


def test_the_site_contract_defaults_to_our_site_and_knows_it_on_our_stack() -> None:
    site = target.Target().site
    assert (site.api_list, site.public_page, site.api_probe) == ("/api/cars", "/voitures/", "/api/stats")
    assert (site.write_method, site.write_path) == ("POST", "/api/garages")
    assert site.ours and site.knows("api_write", "public_page") and not site.named
    body, word = site.write_body()
    assert json.loads(body)["name"].endswith(word) and "{unique}" not in body
    assert site.environment()["KUBEDEFIS_SITE"] == "garage"
    assert site.environment()["KUBEDEFIS_API_WRITE"] == "POST /api/garages"


def test_a_deployed_target_knows_only_the_site_keys_it_names(tmp_path: Path) -> None:
    f = tmp_path / "g.yaml"
    f.write_text("namespace: u-7\ndeployed: true\napi_list: /api/v1/vehicles?format=json\n")
    site = target.load(f).site
    assert site.api_list == "/api/v1/vehicles?format=json" and site.public_page == "/voitures/"  # ours elsewhere
    assert not site.ours and site.knows("api_list") and not site.knows("api_write")
    assert "api_write" in site.unknown("api_write") and "KUBEDEFIS_API_WRITE" not in site.environment()
    assert site.environment()["KUBEDEFIS_SITE"] == "contract"
    f.write_text(
        "namespace: u-7\ndeployed: true\npublic_page: /catalogue/\napi_probe: /api/health/db\n"
        "api_write: PUT /api/items/1\napi_write_body: {label: 'item {unique}', n: 1}\n"
    )
    site = target.load(f).site
    assert (site.public_page, site.api_probe, site.write_method, site.write_path) == (
        "/catalogue/",
        "/api/health/db",
        "PUT",
        "/api/items/1",
    )
    body, word = site.write_body()  # a YAML mapping is taken as the JSON it writes
    assert json.loads(body) == {"label": f"item {word}", "n": 1}
    assert site.knows("api_write", "public_page") and site.environment()["KUBEDEFIS_API_WRITE"] == "PUT /api/items/1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api_list: api/cars\n", "api_list must be a path starting with /"),
        ("public_page: /a page/\n", "public_page must be a path starting with /"),
        ("api_probe: 42\n", "api_probe must be a path starting with /"),
        ("api_write: POST /api/x\n", "api_write and api_write_body go together"),
        ("api_write_body: '{}'\n", "api_write and api_write_body go together"),
        ("api_write: POST /x\napi_write_body: 12\n", "api_write_body must be JSON"),
    ],
)
def test_site_contract_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(text)
    with pytest.raises(KubedefisError, match=message):
        target.load(f)


def test_with_query_adds_to_a_path_s_own_query() -> None:
    assert target.with_query("/api/cars", "probe=1") == "/api/cars?probe=1"
    assert target.with_query("/api/cars?format=json", "probe=1") == "/api/cars?format=json&probe=1"


def test_stages_name_a_groups_earlier_values_files_next_to_the_target(tmp_path: Path):
    (tmp_path / "values.yaml").write_text("replication: {enabled: false}\n")
    good = tmp_path / "target.yaml"
    good.write_text("stages: {defi11: values.yaml}\n")
    assert target.load(good).stages == {"defi11": (str(tmp_path / "values.yaml"),)}
    assert target.Target().stages == {}  # none named: the chart's values/defi11.yaml (our layout)
    for bad, says in (
        ("stages: [values.yaml]", "must map a défi"),
        ("stages: {onze: [values.yaml]}", "is not a défi's stage"),
        ("stages: {defi11: []}", "must name values files"),
        ("stages: {defi11: [absent.yaml]}", "no such values file"),
    ):
        good.write_text(bad + "\n")
        with pytest.raises(KubedefisError, match=says):
            target.load(good)


def test_runs_postgres_is_the_server_not_a_client_naming_it():
    from kubedefis.stack.database import runs_postgres

    def workload(**container):
        return {"kind": "StatefulSet", "spec": {"template": {"spec": {"containers": [{"name": "c", **container}]}}}}

    for server in (
        {"image": "postgres:16"},
        {"image": "registry.local:5000/bitnami/postgresql"},
        {"image": "kubedefis/postgres:0.1.0@sha256:abc"},
        {"image": "debian:trixie-slim", "command": ["/usr/lib/postgresql/17/bin/postgres", "-D", "/data"]},
        {"image": "debian:trixie-slim", "args": ["pg_ctl", "start"]},
    ):
        assert runs_postgres(workload(**server)), server
    site = {"image": "garagiste/api:1", "command": ["sh", "-c", 'export POSTGRES_HOST="$DB_HOST"; exec gunicorn']}
    assert not runs_postgres(workload(**site))
    assert not runs_postgres(workload(image="postgres-client-tools/psql"))
