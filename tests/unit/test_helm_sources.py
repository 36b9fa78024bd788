"""`Helm.template_sources`: each rendered object with the template that made it (a subchart's or not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import Helm
from kubedefis.core.tools import find_tool


def chart(folder: Path, name: str, templates: dict[str, str]) -> Path:
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    for file, text in templates.items():
        (folder / "templates" / file).write_text(text)
    return folder


def configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  who: '{{{{ .Values.who }}}}'\n"


@pytest.fixture
def helm() -> Helm:
    try:
        return Helm(find_tool("helm"))
    except KubedefisError as error:
        pytest.skip(f"no helm here: {error}")


def test_each_object_comes_with_its_template(tmp_path: Path, helm: Helm) -> None:
    main = chart(tmp_path / "site", "site", {"a.yaml": configmap("main") + "---\n" + configmap("second")})
    chart(main / "charts" / "bdd", "bdd", {"sts.yaml": configmap("from-the-subchart")})

    rendered = helm.template_sources(main, "kd", {"who": "values", "bdd": {"who": "sub"}})

    by_name = {obj["metadata"]["name"]: (source, obj) for source, obj in rendered}
    assert set(by_name) == {"main", "second", "from-the-subchart"}
    assert by_name["main"][0] == by_name["second"][0] == "site/templates/a.yaml"
    assert by_name["from-the-subchart"][0] == "site/charts/bdd/templates/sts.yaml"
    assert by_name["main"][1]["data"] == {"who": "values"}  # the values given are used
    assert by_name["from-the-subchart"][1]["data"] == {"who": "sub"}


def test_a_chart_helm_refuses_is_a_clear_error(tmp_path: Path, helm: Helm) -> None:
    main = chart(tmp_path / "site", "site", {"a.yaml": "{{ .Values.missing.key }}\n"})
    with pytest.raises(KubedefisError, match=r"nil pointer|missing"):
        helm.template_sources(main, "kd", {})
