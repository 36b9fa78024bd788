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
