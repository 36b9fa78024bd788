"""What the suite runs against: the target, the hand-ins, the chart and its values, and what it may disturb."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kubedefis.core import paths
from kubedefis.core.errors import KubedefisError
from kubedefis.harness import target as target_mod
from kubedefis.stack import deploy

# pytest-kind (installed with us) already registers --kubeconfig (grade that cluster instead
# of creating one), --cluster-name, --kind-image and --kind-bin: we honour those.
PYTEST_KIND_DEFAULT_NAME = "pytest-kind"


@dataclass(frozen=True)
class SuiteOptions:
    target: target_mod.Target
    handin: Path
    chart: Path
    values: tuple[Path, ...]
    keep_namespaces: bool
    allow_disruption: bool
    cluster_name: str | None
    chart_named: bool = False  # given with --chart or the target file (not our default)
    handin_named: bool = False  # given with --handin

    def chart_under_test(self) -> Path:
        """The chart the static checks render; grading a deployed stack, only one the target names."""
        if self.target.deployed and not self.chart_named:
            pytest.skip("the target names no chart (chart: and values: in the target file, or --chart/--values)")
        return self.chart


OWN_CHART = paths.REPO_ROOT / "chart"
OWN_HANDIN = paths.REPO_ROOT / "defis"


def from_config(config: pytest.Config) -> SuiteOptions:
    opt = config.getoption
    tgt = target_mod.load(Path(opt("--target"))) if opt("--target") else target_mod.Target()
    overrides = {
        "kubeconfig": opt("--kubeconfig"),
        "context": opt("--context"),
        "namespace": opt("--namespace"),
        "release": opt("--release"),
    }
    tgt = target_mod.Target(**{**tgt.__dict__, **{k: v for k, v in overrides.items() if v}})
    if tgt.deployed and not tgt.namespace:
        # grading installs nothing and must touch nothing outside the graded namespace
        raise KubedefisError("a deployed target needs its namespace (namespace: in the target file, or --namespace)")
    return SuiteOptions(
        target=tgt,
        handin=Path(opt("--handin") or OWN_HANDIN),
        chart=Path(opt("--chart") or tgt.chart or OWN_CHART),
        chart_named=bool(opt("--chart") or tgt.chart),
        handin_named=bool(opt("--handin")),
        values=tuple(Path(v) for v in (opt("--values") or tgt.values)),
        keep_namespaces=opt("--keep-namespaces"),
        allow_disruption=opt("--allow-disruption") or not tgt.external,
        cluster_name=None if opt("--cluster-name") == PYTEST_KIND_DEFAULT_NAME else opt("--cluster-name"),
    )


def values_files(suite: SuiteOptions, preset: str) -> tuple[Path, ...]:
    """The values a défi's stage is made of: those given (--values, the target's), else the chart's preset."""
    return suite.values or deploy.preset_files(preset, suite.chart)
