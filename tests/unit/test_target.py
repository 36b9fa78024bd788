from pathlib import Path

import pytest

from kubedefis.errors import KubedefisError
from kubedefis.harness import target


def test_defaults_match_our_stack():
    t = target.Target()
    assert t.namespace is None and not t.external
    assert t.components["web"].selector == "app=csc8567"


def test_file_overrides_and_keeps_default_components(tmp_path: Path):
    f = tmp_path / "u-123.yaml"
    f.write_text(
        "namespace: u-123\ndeployed: true\ncomponents:\n  web: {name: site, selector: app=site, service: site}\n"
    )
    t = target.load(f)
    assert t.namespace == "u-123" and t.deployed and t.external
    assert t.components["web"].name == "site"
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
    from kubedefis.pytest_plugin import OWN_CHART, SuiteOptions

    def options(chart: Path, deployed: bool, named: bool) -> SuiteOptions:
        tgt = target.Target(namespace="u-7", deployed=deployed)
        return SuiteOptions(tgt, tmp_path, chart, (), False, False, None, chart_named=named)

    assert options(OWN_CHART, deployed=False, named=False).chart_under_test() == OWN_CHART
    assert options(tmp_path, deployed=True, named=True).chart_under_test() == tmp_path
    # our own stack graded as a group's: the target names our chart, which is then rendered
    assert options(OWN_CHART, deployed=True, named=True).chart_under_test() == OWN_CHART
    with pytest.raises(pytest.skip.Exception, match="the target names no chart"):
        options(OWN_CHART, deployed=True, named=False).chart_under_test()
