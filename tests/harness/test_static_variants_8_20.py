"""Défis 8, 9, 12-20, static tier: each variant breaks one requirement where it shows without a cluster (the
hand-in's manifests, or our chart rendered with the défi's values), and the module's static checks fail on
that requirement only.

A variant is a chart copy with one template edit (`chart(...)`), the défi's values with one change
(`values(...)`), or a hand-in with one mutation (`handin(...)`); it declares what it breaks with
`breaks(...)`, and its run (`-m static`, in this process: seconds, no cluster) must fail exactly
those requirement ids. The live-only requirements have their variants in test_broken_defi8_20.py
and test_broken_defi12_16.py.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from requirements import declared, failed_requirements, run_static
from variants import broken_chart, broken_handin, broken_values, of_kind

from kubedefis.core import paths
from kubedefis.core.helm import merge_values

Make = Callable[[Path], list[str]]


def values(preset: str, override: dict[str, Any]) -> Make:
    """The défi's preset and local.yaml, with one value changed."""
    return lambda tmp: ["--values", str(broken_values(tmp, preset, override))]


def chart(preset: str, file: str, old: str, new: str) -> Make:
    """Our chart with one template edit, rendered with the défi's preset."""
    return lambda tmp: [
        "--chart",
        str(broken_chart(tmp, file, old, new)),
        "--values",
        str(broken_values(tmp, preset, {})),
    ]


def handin(defi: str, mutate: Callable[[list[dict]], None]) -> Make:
    return lambda tmp: ["--handin", str(broken_handin(tmp, defi, mutate))]


def _replica_sts(docs):
    return [d for d in of_kind(docs, "StatefulSet") if d["metadata"]["name"] == "pg-replica"]


def replica_without_claims(docs):
    """Défi 12: the replicas keep their data in an emptyDir (lost with the pod), not on a claim each."""
    for sts in _replica_sts(docs):
        sts["spec"].pop("volumeClaimTemplates", None)
        sts["spec"]["template"]["spec"]["volumes"].append({"name": "data", "emptyDir": {}})


def read_service_selects_every_database_pod(docs):
    """Défi 12: the read Service selects by the common label, so the primary too."""
    for svc in of_kind(docs, "Service"):
        if svc["metadata"]["name"] == "pg-ro":
            svc["spec"]["selector"] = {"app.kubernetes.io/name": "postgresql"}


def readiness_same_as_liveness(docs):
    """Défi 12: the replicas are ready as soon as PostgreSQL answers, streaming or not."""
    for sts in _replica_sts(docs):
        for c in sts["spec"]["template"]["spec"]["containers"]:
            c["readinessProbe"]["exec"] = dict(c["livenessProbe"]["exec"])


REPLICATION_CHART = "charts/postgresql-replication"
REPLICA_HELPERS = f"{REPLICATION_CHART}/templates/_helpers.tpl"
DEPENDENCY = (
    "dependencies:\n  - name: postgresql-replication\n    version: 0.1.0\n    alias: replication\n"
    "    condition: replication.enabled\n"
)
CLOSE = "\n{{- end }}\n{{- end }}\n"  # the `with` of the subchart's context, then the `if` of the switch
SUBCHART_APP_VERSION = '(index .Subcharts "replication").Chart.AppVersion'


def replication_inlined(tmp: Path) -> list[str]:
    """Défi 13 without a subchart: the replication chart's templates copied into the main chart's templates/,
    each under `{{ if .Values.replication.enabled }}`, and its defaults under `replication:` in values.yaml.

    The group's shortcut: the same objects rendered at each défi (défi 11 still renders no replica,
    D13.6), but the replication chart is no dependency of the main chart any more (D13.1).
    """
    chart = broken_chart(tmp, "Chart.yaml", DEPENDENCY, "")
    sub = chart / REPLICATION_CHART
    meta = yaml.safe_load((sub / "Chart.yaml").read_text())
    # what the subchart's templates read from `.`, now the main chart's (the alias is the chart's name)
    context = (
        '{{- $sub := dict "Values" .Values.replication "Release" .Release "Capabilities" .Capabilities "Chart" '
        f'(dict "Name" "replication" "Version" "{meta["version"]}" "AppVersion" "{meta["appVersion"]}") }}}}\n'
    )
    target = chart / "templates" / "replication"
    target.mkdir()
    for template in sorted((sub / "templates").iterdir()):
        text = template.read_text()
        if not template.name.startswith("_"):
            text = "{{- if .Values.replication.enabled }}\n" + context + "{{- with $sub }}\n" + text + CLOSE
        (target / template.name).write_text(text)
    values = yaml.safe_load((chart / "values.yaml").read_text())
    defaults = yaml.safe_load((sub / "values.yaml").read_text())
    values["replication"] = merge_values(defaults, values.get("replication") or {})
    (chart / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    shutil.rmtree(sub)
    helpers = chart / "templates" / "_helpers.tpl"
    text = helpers.read_text()
    assert SUBCHART_APP_VERSION in text, f"{helpers.name} no longer reads the subchart's appVersion: update the variant"
    helpers.write_text(text.replace(SUBCHART_APP_VERSION, ".Chart.AppVersion"))
    return ["--chart", str(chart), "--values", str(broken_values(tmp, "defi13", {}))]


CASES = [
    # --- défi 8: rolling update settings
    pytest.param(
        "test_defi8.py",
        values("defi8", {"django": {"rollingUpdate": {"maxUnavailable": 1}}}),
        marks=pytest.mark.breaks("D8.1"),
        id="D8.1-max-unavailable-1",
    ),
    pytest.param(
        "test_defi8.py",
        values("defi8", {"django": {"preStopSleepSeconds": 1, "terminationGracePeriodSeconds": 30}}),
        marks=pytest.mark.breaks("D8.1"),
        id="D8.1-prestop-shorter-than-propagation",
    ),
    # --- défi 9: autoscalers
    pytest.param(
        "test_defi9.py",
        values("defi9", {"autoscaling": {"targetCPUUtilizationPercentage": 80}}),
        marks=pytest.mark.breaks("D9.1"),
        id="D9.1-cpu-target-80",
    ),
    pytest.param(
        "test_defi9.py",
        chart(
            "defi9",
            "templates/hpa.yaml",
            '{{- range $i, $component := list "api" "public" }}',
            '{{- range $i, $component := list "api" }}',
        ),
        marks=pytest.mark.breaks("D9.1"),
        id="D9.1-public-without-autoscaler",
    ),
    # --- défi 12: the hand-in's manifests
    pytest.param(
        "test_defi12.py",
        handin("defi12", replica_without_claims),
        marks=pytest.mark.breaks("D12.1"),
        id="D12.1-emptydir",
    ),
    pytest.param(
        "test_defi12.py",
        handin("defi12", read_service_selects_every_database_pod),
        marks=pytest.mark.breaks("D12.2"),
        id="D12.2-read-service-selects-primary",
    ),
    pytest.param(
        "test_defi12.py",
        handin("defi12", readiness_same_as_liveness),
        marks=pytest.mark.breaks("D12.3"),
        id="D12.3-readiness-is-liveness",
    ),
    # --- défi 13: the replication subchart
    pytest.param(
        "test_defi13.py",
        # an unconditional subchart is still the course's "included in the global chart" (D13.1 passes);
        # only our chart's défi-by-défi switch is broken
        chart("defi13", "Chart.yaml", "    condition: replication.enabled\n", ""),
        marks=pytest.mark.breaks("D13.6"),
        id="D13.6-dependency-always-on",
    ),
    pytest.param(
        "test_defi13.py",
        replication_inlined,
        marks=pytest.mark.breaks("D13.1"),
        id="D13.1-replication-templates-in-the-main-chart",
    ),
    pytest.param(
        "test_defi13.py",
        chart("defi13", "Chart.yaml", "condition: replication.enabled", "condition: replication.alwaysOn"),
        marks=pytest.mark.breaks("D13.6"),
        id="D13.6-switched-by-a-value-never-set",
    ),
    pytest.param(
        "test_defi13.py",
        # one replica is Master/Slave still; none is not (our values refuse 0: the template says it)
        chart(
            "defi13",
            REPLICA_HELPERS,
            '{{ ternary 1 $v.replicas (eq $member "primary") }}',
            '{{ ternary 1 0 (eq $member "primary") }}',
        ),
        marks=pytest.mark.breaks("D13.2"),
        id="D13.2-no-replica",
    ),
    pytest.param(
        "test_defi13.py",
        chart(
            "defi13",
            "charts/postgresql-replication/templates/ro-service.yaml",
            "kubedefis.io/role: replica",
            "app.kubernetes.io/part-of: kubedefis",
        ),
        marks=pytest.mark.breaks("D13.3"),
        id="D13.3-read-service-selects-primary",
    ),
    pytest.param(
        "test_defi13.py",
        chart("defi13", REPLICA_HELPERS, '(append $probe "ready")', '(append $probe "live")'),
        marks=pytest.mark.breaks("D13.4"),
        id="D13.4-readiness-is-liveness",
    ),
    pytest.param(
        "test_defi13.py",
        values("defi13", {"replication": {"readsToReplicas": False}}),
        marks=pytest.mark.breaks("D13.5"),
        id="D13.5-reads-from-the-primary",
    ),
    # --- défi 14: Redis
    pytest.param(
        "test_defi14.py",
        values("defi14", {"cache": {"maxmemoryPolicy": "noeviction"}}),
        marks=pytest.mark.breaks("D14.1"),
        id="D14.1-noeviction",
    ),
    pytest.param(
        "test_defi14.py",
        values("defi14", {"cache": {"maxmemory": "512mb"}}),
        marks=pytest.mark.breaks("D14.1"),
        id="D14.1-maxmemory-above-the-limit",
    ),
    pytest.param(
        "test_defi14.py",
        chart("defi14", "templates/cache-service.yaml", "  type: ClusterIP", "  type: NodePort"),
        marks=pytest.mark.breaks("D14.2"),
        id="D14.2-nodeport",
    ),
    pytest.param(
        "test_defi14.py",
        chart(
            "defi14",
            "templates/_helpers.tpl",
            "{{- if .Values.cache.enabled }}\n  # Défi 14",
            "{{- if false }}\n  # Défi 14",
        ),
        marks=pytest.mark.breaks("D14.2"),
        id="D14.2-site-not-told-the-cache",
    ),
    pytest.param(
        "test_defi14.py",
        chart("defi14", "templates/cache-deployment.yaml", "{{- if .Values.cache.enabled }}", "{{- if true }}"),
        marks=pytest.mark.breaks("D14.5"),
        id="D14.5-redis-always-on",
    ),
    # --- défi 15: hooks
    pytest.param(
        "test_defi15.py",
        chart(
            "defi15",
            "templates/hook-backup-job.yaml",
            '"events" "pre-upgrade" "weight" 0',
            '"events" "post-upgrade" "weight" 0',
        ),
        marks=pytest.mark.breaks("D15.1"),
        id="D15.1-backup-after-the-upgrade",
    ),
    pytest.param(
        "test_defi15.py",
        chart(
            "defi15",
            "templates/hook-backup-job.yaml",
            '"events" "pre-upgrade" "weight" 0',
            '"events" "pre-upgrade" "weight" -10',
        ),
        marks=pytest.mark.breaks("D15.2"),
        id="D15.2-backup-before-its-volume",
    ),
    pytest.param(
        "test_defi15.py",
        chart(
            "defi15",
            "templates/hook-backup-job.yaml",
            '(list "pg-backup" "logical" $label)',
            '(list "pg-backup" "base" $label)',
        ),
        marks=pytest.mark.breaks("D15.3"),
        id="D15.3-physical-copy-not-a-dump",
    ),
    # --- défi 16: backups
    pytest.param(
        "test_defi16.py",
        chart("defi16", "templates/backup-cronjob.yaml", "concurrencyPolicy: Forbid", "concurrencyPolicy: Allow"),
        marks=pytest.mark.breaks("D16.1"),
        id="D16.1-runs-overlap",
    ),
    pytest.param(
        "test_defi16.py",
        chart(
            "defi16",
            "templates/backup-cronjob.yaml",
            "  concurrencyPolicy: Forbid",
            "  concurrencyPolicy: Forbid\n  suspend: true",
        ),
        marks=pytest.mark.breaks("D16.1"),
        id="D16.1-suspended",
    ),
    pytest.param(
        "test_defi16.py",
        chart(
            "defi16",
            "templates/backup-cronjob.yaml",
            "pg-backup logical scheduled && pg-backup base scheduled",
            "pg-backup logical scheduled",
        ),
        marks=pytest.mark.breaks("D16.2"),
        id="D16.2-base-backup-option-ignored",
    ),
    pytest.param(
        "test_defi16.py",
        chart("defi16", "templates/backup-pod.tpl", "value: {{ $ctx.Values.backup.keep | quote }}", 'value: "30"'),
        marks=pytest.mark.breaks("D16.3"),
        id="D16.3-keeps-thirty",
    ),
    # --- défis 17, 18: the naive profile and its defences
    pytest.param(
        "test_defi17.py",
        values("naive", {"django": {"server": "gunicorn"}}),
        marks=pytest.mark.breaks("D17.1"),
        id="D17.1-gunicorn",
    ),
    pytest.param(
        "test_defi18.py",
        values("", {"podDisruptionBudget": {"enabled": False}}),
        marks=pytest.mark.breaks("D18.1"),
        id="D18.1-no-disruption-budget",
    ),
    pytest.param(
        "test_defi18.py",
        values("", {"django": {"limits": {"concurrency": 0}}}),
        marks=pytest.mark.breaks("D18.1"),
        id="D18.1-no-per-client-concurrency-limit",
    ),
    # --- défi 19: production
    pytest.param(
        "test_defi19.py",
        values("defi19", {"django": {"debug": True}}),
        marks=pytest.mark.breaks("D19.1"),
        id="D19.1-debug",
    ),
    pytest.param(
        "test_defi19.py",
        chart("defi19", "templates/_helpers.tpl", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"),
        marks=pytest.mark.breaks("D19.2"),
        id="D19.2-privilege-escalation",
    ),
    pytest.param(
        "test_defi19.py",
        values("defi19", {"django": {"security": {"hstsSeconds": 3600}}}),
        marks=pytest.mark.breaks("D19.3"),
        id="D19.3-hsts-one-hour",
    ),
    pytest.param(
        "test_defi19.py",
        values("defi19", {"django": {"security": {"httpsRedirect": False}}}),
        marks=pytest.mark.breaks("D19.3"),
        id="D19.3-no-https-redirect",
    ),
    pytest.param(
        "test_defi19.py",
        chart(
            "defi19",
            "templates/configmap.yaml",
            "  POSTGRES_USER: {{ .Values.database.user | quote }}",
            "  POSTGRES_USER: {{ .Values.database.user | quote }}\n  POSTGRES_PASSWORD: hunter2hunter2",
        ),
        marks=pytest.mark.breaks("D19.4"),
        id="D19.4-password-in-the-configmap",
    ),
    # --- défi 20: migrations
    pytest.param(
        "test_defi20.py",
        chart(
            "defi20-initial",
            "templates/migrate-job.yaml",
            "            - name: DJANGO_MIGRATION_LOCK_TIMEOUT\n              value: {{ $m.lockTimeout | quote }}\n",
            "",
        ),
        marks=pytest.mark.breaks("D20.1"),
        id="D20.1-no-lock-timeout",
    ),
]


@pytest.mark.parametrize(("module", "make"), CASES)
def test_static_variant_fails_its_requirement_only(module, make, request, pytester, tmp_path):
    found = run_static(pytester, module, *make(tmp_path))
    skipped = sorted(rid for rid, state in found.items() if state == "skipped")
    assert failed_requirements(found) == declared(request), found
    assert not skipped, f"static requirements skipped: {skipped}"


def test_every_static_requirement_of_defis_8_to_20_has_a_variant():
    """Each id a static tier of défis 8, 9, 12-20 checks is broken alone by a variant above."""
    ids = set()
    for number in (8, 9, *range(12, 21)):
        text = (paths.REPO_ROOT / "conformance" / f"test_defi{number}.py").read_text()
        for block in text.split("@pytest.mark.static\n")[1:]:
            ids.add(re.match(r'@pytest.mark.requirement\(\s*"([^"]+)"', block).group(1))
    alone = {p.marks[0].args[0] for p in CASES if len(p.marks[0].args) == 1}
    missing = ids - alone
    assert not missing, f"static requirements without a variant breaking them alone: {sorted(missing)}"


def test_defi18_reads_the_limits_where_the_target_says(pytester, tmp_path):
    """A chart whose rate limit is another variable: D18.1 fails with our names, passes once the target names it."""
    renamed = broken_chart(tmp_path, "templates/configmap.yaml", "DJANGO_RATELIMIT_RATE:", "RATE_LIMIT_RPS:")
    args = ["--chart", str(renamed), "--values", str(broken_values(tmp_path, "", {}))]
    assert failed_requirements(run_static(pytester, "test_defi18.py", *args)) == {"D18.1"}
    target = tmp_path / "target.yaml"
    target.write_text(
        "limits_env: {rate: RATE_LIMIT_RPS, concurrency: DJANGO_CLIENT_MAX_CONCURRENCY,"
        " body_timeout: DJANGO_BODY_TIMEOUT}\n"
    )
    found = run_static(pytester, "test_defi18.py", *args, "--target", str(target))
    assert found.get("D18.1") == "passed", found


def test_defi13_accepts_what_the_course_asks_not_our_choices(pytester, tmp_path):
    """Master/Slave with one replica, its chart included without a condition: D13.1 and D13.2 pass
    (our chart's 2 replicas and its switch are our choices; the switch alone is D13.6's)."""
    unswitched = broken_chart(tmp_path, "Chart.yaml", "    condition: replication.enabled\n", "")
    one_replica = broken_values(tmp_path, "defi13", {"replication": {"replicas": 1}})
    found = run_static(pytester, "test_defi13.py", "--chart", str(unswitched), "--values", str(one_replica))
    assert (found.get("D13.1"), found.get("D13.2")) == ("passed", "passed"), found
