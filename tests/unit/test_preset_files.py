"""Which values files a défi's stage reads in a chart: ours always has its local layer, a group's may not."""

from __future__ import annotations

from pathlib import Path

from kubedefis.stack import deploy


def test_our_chart_reads_the_preset_then_its_local_layer() -> None:
    values = deploy.CHART / "values"
    assert deploy.preset_files("defi11") == (values / "defi11.yaml", values / "local.yaml")
    assert deploy.preset_files("") == (values / "local.yaml",)


def test_a_group_chart_without_a_local_layer_reads_its_preset_alone(tmp_path: Path) -> None:
    (tmp_path / "values").mkdir()
    (tmp_path / "values" / "defi11.yaml").write_text("replication: {enabled: false}\n")
    assert deploy.preset_files("defi11", tmp_path) == (tmp_path / "values" / "defi11.yaml",)
    (tmp_path / "values" / "local.yaml").write_text("{}\n")  # with one, it is read last, as in ours
    assert deploy.preset_files("defi11", tmp_path) == (
        tmp_path / "values" / "defi11.yaml",
        tmp_path / "values" / "local.yaml",
    )
