"""Grading a second stack that is not ours, written as a student group would: every requirement's verdict.

tests/harness/studentstack is the "garagiste" group's chart: several template files, their own
names (garagiste-backend, garagiste-frontend, StatefulSet bdd, Services backend/frontend/bdd),
labels (app=garagiste, tier=backend|frontend|db), environment variables (DB_HOST, DB_PORT,
DB_NAME, DB_USER, DEBUG read by their settings), ports (Django on 8080 behind Services on 8000,
PostgreSQL on 5433), one Ingress, two HPAs (one autoscaling/v1, one v2) and secrets generated at
install. Later défis their way too: Redis (défi 14: Deployment garagiste-cache, tier=cache, Service
cache, REDIS_URL from Secret garagiste-cache, a password and maxmemory but no eviction policy); Helm
hooks (défi 15: RBAC, garagiste-preparer and garagiste-verifier writing ConfigMap
garagiste-deploiement from Python in the back's image, garagiste-sauvegarde-avant-maj dumping before
each upgrade but deleted on success only, garagiste-controle-maj reading that dump after it, the backup
claim garagiste-sauvegardes made by a pre-install hook); a nightly backup CronJob (défi 16:
garagiste-sauvegarde-nuit, pg_dump -Fc onto that claim, no retention; their restore is the target's
backup_restore). It is installed with helm into a fresh namespace and upgraded once as the group did for
défi 8 (the front's new tag, rolled out), then the défi 4-11 and 14-20 modules grade it
as a teacher would (`--target studentstack/target.yaml`, deployed: true, and the chart rendered as
it was then, without autoscaling, Redis, hooks or backups, as the défi 4-5 hand-ins). The report must give,
requirement by requirement, exactly the verdict the stack deserves: what it meets passes, what it
misses fails with what was expected and found, what grading a deployed stack may not do is skipped.

Défi 13 is graded on the chart alone (its static tier, no cluster): their Master/Slave chart of its own,
charts/bdd-replication (StatefulSets garagiste-bdd-maitre of 1 pod and garagiste-bdd-esclave of 1,
labels role=maitre|esclave, Services garagiste-bdd-ecriture and garagiste-bdd-lecture, replication by
the database image's own POSTGRES_ROLE=replica), included in their Chart.yaml under the condition
replication.enabled, off by default: values-replication.yaml switches it on, the single StatefulSet bdd
then gives way to it and the site gets DB_HOST on the write Service and DB_HOST_LECTURE on the read one.
It is graded through target-replication.yaml (the role label tells the primary from the replicas). The
install above keeps it off (its défis render as before); this replication is never installed or run live
by this module, so défi 13's live tier is not proven on it here.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from requirements import run_static
from variants import REAL_CACHE, install_group_chart, outcomes, short_nodeid

from kubedefis.core import kube, paths, timeouts
from kubedefis.core.helm import Helm, load_values, merge_values
from kubedefis.core.shell import Status
from kubedefis.core.tools import find_tool
from kubedefis.core.waits import Check, wait_for
from kubedefis.stack import images

STUDENTSTACK = Path(__file__).parent / "studentstack"
TARGET = STUDENTSTACK / "target.yaml"
RELEASE = "projet"
MODULES = tuple(f"test_defi{n}.py" for n in (4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20))
DEPLOYMENTS = ("garagiste-backend", "garagiste-frontend")
NEW_FRONT = "kubedefis/public:0.2.0"  # défi 8: the front's new version, under its own tag
# The défi 4-5 hand-ins: the chart as it was then, its Deployments at 3 replicas (no HPA yet), and
# nothing of the later défis (no Redis, no hooks, no backups).
THEN = {
    "backend": {"autoscaling": {"enabled": False}},
    "frontend": {"autoscaling": {"enabled": False}},
    "cache": {"enabled": False},
    "crochets": {"enabled": False},
    "sauvegarde": {"enabled": False},
    "replication": {"enabled": False},  # défi 13 (charts/bdd-replication): graded statically only, below
}

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# Every requirement of the fifteen défis, and why the stack gets that verdict.
EXPECTED_REQUIREMENTS = {
    # one Ingress, host django.<...>: `/` goes to Service frontend (the site, though the target
    # names no `site`), /api to Service backend; another host gets 404
    "D4.1": PASSED,
    "D4.2": PASSED,
    "D4.3": PASSED,
    # two images (kubedefis/api, kubedefis/public); the backend is limited to 256Mi, not 200Mi
    "D5.1": PASSED,
    "D5.2": FAILED,
    "D5.3": PASSED,
    # /api/cars reaches only backend pods, / and /voitures/ only frontend pods (30 answers each)
    "D5.4": PASSED,
    # a Helm release; DB_HOST, DB_PORT, DB_NAME, DB_USER from ConfigMap garagiste-env (the target
    # names them); the upgrade check never changes a group's release; lint and schema clean
    "D6.1": PASSED,
    "D6.2": PASSED,
    "D6.3": SKIPPED,
    "D6.4": PASSED,
    "D6.5": PASSED,
    # StatefulSet bdd of one replica; its claim asks 200Mi, not 0.1 Go; DB_HOST = bdd-0.bdd,
    # the pod's name under the headless Service bdd; deleting the pod is not done to a group
    "D7.1": PASSED,
    "D7.2": FAILED,
    "D7.3": PASSED,
    "D7.4": SKIPPED,
    # the front rolls out with maxUnavailable 0, a readiness probe and a preStop sleep of 5 s (the
    # kubelet's sleep action), but a grace period of 20 s, too short for 5 s + gunicorn's 20 s;
    # it was upgraded once (0.1.0 -> 0.2.0): two Deployment and Helm revisions; an upgrade or
    # rollback under load is not done to a group
    "D8.1": FAILED,
    "D8.2": SKIPPED,
    "D8.3": PASSED,
    "D8.4": SKIPPED,
    # HPA garagiste-backend (autoscaling/v1, as kubectl autoscale writes it): CPU 60 %, 3 to 10,
    # right; garagiste-frontend (v2): CPU 60 % but 3 to 5 pods; neither sets a scale-down window
    # (the course does not ask one); loading the site to scale it is disruptive
    "D9.1": FAILED,
    "D9.2": SKIPPED,
    # the frontend container has a readiness probe but no liveness probe; freezing is disruptive
    "D10.1": FAILED,
    "D10.2": SKIPPED,
    # NetworkPolicy bdd-acces: tier in (backend, frontend, migrate) on 5433, nobody else
    "D11.1": PASSED,
    "D11.2": PASSED,
    "D11.3": PASSED,
    "D11.4": PASSED,
    # Redis (Deployment garagiste-cache, tier=cache, kubedefis/redis run as `redis-server --requirepass
    # $(REDIS_PASSWORD) --maxmemory 100mb`, limit 200Mi): it refuses clients without the password, but
    # no eviction policy is set, so Redis keeps its default noeviction (a full cache refuses writes)
    "D14.1": FAILED,
    # ClusterIP Service cache; the back and the front get REDIS_URL (redis://:<password>@cache:6379/1)
    # from Secret garagiste-cache, their settings read it (as CACHE_URL)
    "D14.2": PASSED,
    # /api/cars?probe=...: the first request misses in Redis and reads tables, the next 12 hit and
    # read none (django_migrations and the data version aside); 15 misses then 15 hits measured
    "D14.3": PASSED,
    # the target names no write (api_write): nothing the suite may write to show a stale cache
    "D14.4": SKIPPED,
    # their chart has no values/defi11.yaml: no earlier stage of it to compare with
    "D14.5": SKIPPED,
    # scaling Redis to 0 is disruptive
    "D14.6": SKIPPED,
    # hooks garagiste-preparer (pre-install,pre-upgrade), garagiste-verifier (post-install,post-upgrade),
    # garagiste-sauvegarde-avant-maj (pre-upgrade, pg_dump onto claim garagiste-sauvegardes),
    # garagiste-controle-maj (post-upgrade, reads that claim): the right events
    "D15.1": PASSED,
    # weights in order (RBAC -10, preparer -5, backup 0; verifier 0, controle-maj 5), fixed names,
    # but the backup hook is deleted on success only (hook-succeeded): a failed one is left behind
    # and the next upgrade collides with it
    "D15.2": FAILED,
    # the backup hook runs pg_dump -Fc onto the claim the post-upgrade check reads
    "D15.3": PASSED,
    # garagiste-verifier, kept by its before-hook-creation policy, succeeded and patched ConfigMap
    # garagiste-deploiement (managedFields, Python-urllib) while it ran; Helm says deployed. The release
    # is at revision 2 (the défi 8 upgrade), which a group's release may be (the module asked
    # revision 1 of every stack until this stack showed it)
    "D15.4": PASSED,
    # upgrading the release (and failing its backup) is never done to a group's stack
    "D15.5": SKIPPED,
    "D15.6": SKIPPED,
    "D15.7": SKIPPED,
    # CronJob garagiste-sauvegarde-nuit (30 2 * * *, Forbid) runs pg_dump -Fc onto garagiste-sauvegardes
    # (a pre-install hook claim); a run made from it now writes a dump of the site's database
    "D16.1": PASSED,
    # our chart's base-backup option: not graded on a group's chart
    "D16.2": SKIPPED,
    # no retention: every dump is kept ("on fera le ménage plus tard"); the live check skips (no number
    # of backups kept to check), the rendered one fails
    "D16.3": FAILED,
    # destroying the data (a dropped table, the database volume) to restore it is disruptive
    "D16.4": SKIPPED,
    "D16.5": SKIPPED,
    # défi 17 attacks the course's reference site (our naive profile), never a group's deployed stack
    "D17.1": SKIPPED,
    "D17.2": SKIPPED,
    "D17.3": SKIPPED,
    # their Deployments run gunicorn, DEBUG off, with CPU and memory limits, but no PodDisruptionBudget
    # selects their pods, and the per-client limits the target names (ours: it names none) are unset;
    # 422/413 are our site's answers (another site's defences are proved by the attack); the attack is
    # disruptive
    "D18.1": FAILED,
    "D18.2": SKIPPED,
    "D18.3": SKIPPED,
    # DEBUG False from their ConfigMap (error pages without details, over HTTPS as production is
    # reached); no securityContext anywhere and the namespace admits privileged pods; no tls on the
    # Ingress, no redirect; SECRET_KEY and DB_PASSWORD generated into a Secret, nothing secret
    # elsewhere; the staging workflow is not run on a group's stack; the target names no write
    "D19.1": PASSED,
    "D19.2": FAILED,
    "D19.3": FAILED,
    "D19.4": PASSED,
    "D19.5": SKIPPED,
    "D19.6": SKIPPED,
    # their migrations run in Job garagiste-migrate-<revision>, not a hook (and with no lock timeout);
    # the post-upgrade backup check, which reads django_migrations, runs no migration; the rename under
    # load is not done to a group's release
    "D20.1": FAILED,
    "D20.2": SKIPPED,
}
# What each failure must say (expected / found), so that it fails for the stack's reason.
FAILURE_SAYS = {
    "test_defi5.py::test_three_ready_replicas_with_resources[api]": "limits.memory = 200Mi",
    "test_defi5.py::test_handin_three_replicas_with_resources[api]": "limits.memory = 200Mi",
    "test_defi7.py::test_database_volume_is_a_bound_100mi_claim": "expected 100Mi",
    "test_defi7.py::test_rendered_database_claims_100mi": "expected 100Mi",
    "test_defi10.py::test_rendered_containers_have_fitting_probes": "container django",
    "test_defi10.py::test_live_containers_have_fitting_probes": "container django",
    "test_defi8.py::test_rendered_rolling_update_settings": (
        "Deployment/garagiste-frontend: expected terminationGracePeriodSeconds > 5 + 20, found 20"
    ),
    "test_defi9.py::test_rendered_autoscalers": (
        "HorizontalPodAutoscaler/garagiste-frontend: expected 3 to 10 replicas, found 3 to 5"
    ),
    "test_defi9.py::test_live_autoscalers_read_metrics": (
        "HorizontalPodAutoscaler/garagiste-frontend: expected 3 to 10 replicas, found 3 to 5"
    ),
    "test_defi14.py::test_rendered_redis": "eviction: expected allkeys-lru, found None",
    "test_defi14.py::test_redis_password_and_eviction": (
        "expected maxmemory-policy allkeys-lru, found ['maxmemory-policy', 'noeviction']"
    ),
    "test_defi15.py::test_rendered_hook_weights_and_policies": (
        "Job/garagiste-sauvegarde-avant-maj: expected delete policy before-hook-creation, found hook-succeeded"
    ),
    "test_defi16.py::test_rendered_retention": (
        "expected the CronJob to keep a number of backups (a KEEP or RETENTION setting, or --keep N), "
        "found the settings none"
    ),
    "test_defi19.py::test_rendered_restricted_pods": "expected runAsNonRoot",
    "test_defi19.py::test_namespace_enforces_restricted": "found it was admitted",
    "test_defi19.py::test_restricted_namespace_runs_everything": "expected runAsNonRoot",
    "test_defi19.py::test_rendered_https": "expected a tls section on each",
    "test_defi18.py::test_rendered_defences": (
        "Deployment/garagiste-backend: expected a PodDisruptionBudget selecting its pods, found none"
    ),
    "test_defi20.py::test_rendered_migration_hooks": (
        "expected migration Jobs as pre- and post-upgrade hooks, found {'Job/garagiste-migrate-1': 'no hook'}"
    ),
}


def _scaled_and_rolled_out(cluster, namespace: str) -> None:
    """Until both Deployments are rolled out at the 3 replicas their HPAs set (the chart sets none)."""

    def ready() -> Check[None]:
        checks = [kube.deployment_ready(cluster.kube, namespace, name) for name in DEPLOYMENTS]
        done = all(c.done and c.value.spec.replicas == 3 for c in checks)
        return Check(done, state="; ".join(c.state for c in checks))

    wait_for(
        f"the garagiste Deployments at 3 replicas in {namespace}",
        ready,
        timeout=timeouts.ROLLOUT,
        evidence=lambda: kube.evidence(cluster.kube, namespace),
    )


@pytest.fixture(scope="module")
def garagiste(cluster, namespace):
    """The chart installed as its authors would (`helm install`), then upgraded to the front's new tag
    (défi 8), each migration Job done, both Deployments at the HPAs' 3 replicas; the Ingress host.
    Their hooks ran as Helm runs them: at the install, preparer and verifier; at the upgrade, preparer,
    the backup onto garagiste-sauvegardes (which binds that claim), verifier and controle-maj."""
    # kubedefis/api|public|postgres|redis:0.1.0 (the site, the database and its backups, the cache)
    images.publish_stack(Status(), cluster.local_spec, tag=images.HANDIN_TAG)
    name, tag = NEW_FRONT.split("/")[1].split(":")
    images.publish([images.site_image(name)], tag, Status(), cluster.local_spec)
    host = f"django.garagiste-{namespace}.localhost"
    install_group_chart(cluster, STUDENTSTACK, RELEASE, namespace, {"host": host}, "garagiste-migrate-1")
    _scaled_and_rolled_out(cluster, namespace)
    upgrade = {"host": host, "images": {"frontend": NEW_FRONT}}
    install_group_chart(cluster, STUDENTSTACK, RELEASE, namespace, upgrade, "garagiste-migrate-2")
    _scaled_and_rolled_out(cluster, namespace)
    return host


def _handin(cluster, host: str, folder: Path) -> Path:
    """The défi 4 and 5 hand-ins as the group would give them: their chart rendered, one file per object."""
    objects = cluster.helm().template(STUDENTSTACK, RELEASE, {"host": host, **THEN})
    for defi in ("defi4", "defi5"):
        (folder / defi).mkdir(parents=True)
        for i, obj in enumerate(objects):
            name = f"{i:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
            (folder / defi / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    return folder


def test_the_report_gives_each_requirement_the_verdict_the_stack_deserves(
    suite, cluster, namespace, garagiste, pytester, tmp_path
):
    handin = _handin(cluster, garagiste, tmp_path / "handin")
    report_dir = tmp_path / "report"
    args = [str(paths.REPO_ROOT / "conformance" / m) for m in MODULES[1:]]
    args += [
        "--target",
        str(TARGET),
        "--namespace",
        namespace,
        "--handin",
        str(handin),
        "--report-dir",
        str(report_dir),
    ]
    if suite.cluster_name:
        args += ["--cluster-name", suite.cluster_name]
    outcomes(pytester, MODULES[0], *args)
    report = json.loads((report_dir / "report.json").read_text())
    tests = {short_nodeid(t["nodeid"]): t for t in report["tests"]}
    details = {n: (t["outcome"], t["message"][:400] or t["skip_reason"]) for n, t in tests.items()}
    requirements = {cell["id"]: cell["status"] for defi in report["defis"] for cell in defi["requirements"]}
    assert requirements == EXPECTED_REQUIREMENTS, details
    # no harness exception: every test ended passed, failed on an assertion, or skipped with a reason
    assert not [n for n, t in tests.items() if t["outcome"] == "error"], details
    for nodeid, says in FAILURE_SAYS.items():
        assert tests[nodeid]["outcome"] == FAILED and says in tests[nodeid]["message"], details[nodeid]
    failed = {n for n, t in tests.items() if t["outcome"] == FAILED}
    # the D5.2 failure is the backend's alone, the D10.1 and D9.1 ones the frontend's
    assert "test_defi5.py::test_three_ready_replicas_with_resources[public]" not in failed, details
    for nodeid in (
        "test_defi10.py::test_live_containers_have_fitting_probes",
        "test_defi9.py::test_rendered_autoscalers",
        "test_defi9.py::test_live_autoscalers_read_metrics",
    ):
        assert "garagiste-frontend" in tests[nodeid]["message"], details[nodeid]
        assert "garagiste-backend" not in tests[nodeid]["message"], details[nodeid]
    # D14.1 and D15.2 fail for one reason each: the eviction policy, the backup hook's delete policy
    for nodeid in ("test_defi14.py::test_rendered_redis", "test_defi15.py::test_rendered_hook_weights_and_policies"):
        assert tests[nodeid]["message"].count(" expected ") == 1, details[nodeid]
    # D16.3 on the live stack: no number of backups kept to check (skipped), not a failure of its runs
    retention = "test_defi16.py::test_retention_keeps_the_last_n"
    assert tests[retention]["outcome"] == SKIPPED, details[retention]
    assert "no one number of backups kept" in tests[retention]["skip_reason"], details[retention]
    # the kubelet's preStop sleep action counts as the sleep: the grace period alone fails D8.1
    assert "expected a preStop" not in tests["test_defi8.py::test_rendered_rolling_update_settings"]["message"]
    assert "controle-maj" not in tests["test_defi20.py::test_rendered_migration_hooks"]["message"]
    # défi 17 skips for what a deployed stack is (not the reference), D20.2 as disruptive
    for name in ("test_rendered_naive_profile", "test_naive_site_has_the_weaknesses"):
        assert "course's reference site" in tests[f"test_defi17.py::{name}"]["skip_reason"], details
    assert "--allow-disruption" in tests["test_defi20.py::test_rename_under_load"]["skip_reason"]
    for nodeid, t in tests.items():
        if t["outcome"] == SKIPPED:
            assert t["skip_reason"], f"{nodeid} skipped without a reason"
    assert report["header"]["target"]["namespace"] == namespace


# The static tier of the added défis on the chart alone (seconds, no cluster): the rendered chart's
# verdicts, the same as in the report above, for the same reasons.
STATIC = {
    "test_defi8.py": {"D8.1": FAILED},
    "test_defi9.py": {"D9.1": FAILED},
    "test_defi14.py": {"D14.1": FAILED, "D14.2": PASSED, "D14.5": SKIPPED},
    "test_defi15.py": {"D15.1": PASSED, "D15.2": FAILED, "D15.3": PASSED},
    "test_defi16.py": {"D16.1": PASSED, "D16.2": SKIPPED, "D16.3": FAILED},
    "test_defi17.py": {"D17.1": SKIPPED},
    "test_defi18.py": {"D18.1": FAILED},
    "test_defi19.py": {"D19.1": PASSED, "D19.2": FAILED, "D19.3": FAILED, "D19.4": PASSED},
    "test_defi20.py": {"D20.1": FAILED},
}


@pytest.mark.parametrize("module", sorted(STATIC))
def test_the_static_tier_gives_the_rendered_chart_its_verdicts(module, pytester):
    found = run_static(pytester, module, "--target", str(TARGET), "--namespace", "u-garagiste")
    assert found == STATIC[module], found
    report = ET.parse(pytester.path / f"static-{module}.xml").getroot()
    messages = {
        f"{module}::{case.get('name')}": failure.get("message", "")
        for case in report.iter("testcase")
        for failure in case.iter("failure")
    }
    for nodeid, says in FAILURE_SAYS.items():
        if nodeid in messages:
            assert says in messages[nodeid], messages[nodeid]
    if module == "test_defi9.py":  # the right HPA is autoscaling/v1, with no scale-down window: not found wrong
        assert "garagiste-backend" not in messages[f"{module}::test_rendered_autoscalers"]
    if module in ("test_defi14.py", "test_defi15.py"):  # one finding each: the eviction policy, the backup's policy
        failed = {"test_defi14.py": "test_rendered_redis", "test_defi15.py": "test_rendered_hook_weights_and_policies"}
        assert messages[f"{module}::{failed[module]}"].count(" expected ") == 1, messages
    if module == "test_defi8.py":  # the kubelet's preStop sleep action is read: only the grace period is short
        assert "expected a preStop" not in messages[f"{module}::test_rendered_rolling_update_settings"]
    if module == "test_defi20.py":  # their post-upgrade backup check reads django_migrations: no migration Job
        assert "controle-maj" not in messages[f"{module}::test_rendered_migration_hooks"]


# The other way of D15.2 and D16.3 on a group's chart: what Helm and the course accept passes, whatever
# our chart does. The student chart copied with one edit, graded through a copy of its target file.
ACCEPTED = {
    # no delete policy on the backup hook: Helm's default is before-hook-creation (a rerun replaces it)
    "D15.2-helm-default-policy": (
        "test_defi15.py",
        "templates/crochets.yaml",
        '    "helm.sh/hook-delete-policy": hook-succeeded\n',
        "",
        {"D15.1": PASSED, "D15.2": PASSED, "D15.3": PASSED},
    ),
    # their own retention, 7 dumps (the course names no number; our chart's 2 is ours)
    "D16.3-keeps-their-own-seven": (
        "test_defi16.py",
        "templates/sauvegarde.yaml",
        "                  ls -l /sauvegardes/nuit\n              env:\n",
        "                  ls -1t /sauvegardes/nuit/*.dump | tail -n +$((RETENTION + 1)) | xargs -r rm --\n"
        '              env:\n                - name: RETENTION\n                  value: "7"\n',
        {"D16.1": PASSED, "D16.2": SKIPPED, "D16.3": PASSED},
    ),
}


def edited_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """Their chart copied with one edit (`old` must occur once in `file`: else the case is stale)."""
    chart = tmp_path / "studentstack"
    shutil.copytree(STUDENTSTACK, chart)
    template = chart / file
    text = template.read_text()
    assert text.count(old) == 1, f"{file} no longer contains {old!r} once: update the case"
    template.write_text(text.replace(old, new))
    return chart


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_the_static_tier_accepts_what_helm_and_the_course_accept(case, pytester, tmp_path):
    module, file, old, new, expected = ACCEPTED[case]
    chart = edited_copy(tmp_path, file, old, new)
    found = run_static(pytester, module, "--target", str(chart / TARGET.name), "--namespace", "u-garagiste")
    assert found == expected, found


# D18.1 judges the container that runs the site, not the pod's first: a group may put a sidecar first
# (a log shipper here). The student chart copied with a PodDisruptionBudget for each Deployment and the
# target's `limits_env: {}` (a group whose limits the attack of D18.3 proves alone), so that D18.1 turns
# on the containers only; then a sidecar is put before the backend's `django` container.
WRONG_SIDECAR = """      containers:
        - name: journaux
          image: fluent/fluent-bit:3.0
          command: ["python", "manage.py", "runserver"]
          env:
            - name: FLB_DEBUG
              value: "on"
"""
RIGHT_SIDECAR = """      containers:
        - name: journaux
          image: fluent/fluent-bit:3.0
          resources:
            limits: {cpu: 50m, memory: 64Mi}
"""
SITE_DEBUG_ON = (
    "templates/backend.yaml",
    '            - name: GUNICORN_WORKERS\n              value: "1"\n',
    '            - name: GUNICORN_WORKERS\n              value: "1"\n            - name: DJANGO_DEBUG\n'
    '              value: "true"\n',
)
PDBS = """{{- range $tier := list "backend" "frontend" }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: garagiste-{{ $tier }}
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: garagiste, tier: {{ $tier }}}
{{- end }}
"""
# case -> (the backend's containers: line and sidecar, further edits, D18.1's verdict, what its failure says)
SIDECARS = {
    # no sidecar: the copy passes D18.1 as it is (the baseline of the cases below)
    "no-sidecar": ("      containers:\n", [], PASSED, None),
    # the sidecar (first) has no limits, a DEBUG on and runs runserver; the site's container is right
    "sidecar-wrong-site-right": (WRONG_SIDECAR, [], PASSED, None),
    # the sidecar (first) is right (limits, nothing on); the site's container has DEBUG on
    "sidecar-right-site-wrong": (
        RIGHT_SIDECAR,
        [SITE_DEBUG_ON],
        FAILED,
        "Deployment/garagiste-backend container django: expected DEBUG off",
    ),
    # no sidecar; the back starts the development server through its `sh -c` script, as it starts gunicorn
    "site-runserver-in-a-script": (
        "      containers:\n",
        [
            (
                "templates/backend.yaml",
                '(printf "gunicorn -c /app/gunicorn.conf.py --bind 0.0.0.0:%v" .Values.port)',
                '(printf "python manage.py runserver 0.0.0.0:%v" .Values.port)',
            )
        ],
        FAILED,
        "Deployment/garagiste-backend container django: expected gunicorn",
    ),
}


@pytest.mark.parametrize("case", sorted(SIDECARS))
def test_the_static_tier_judges_the_site_container_not_a_sidecar_put_first(case, pytester, tmp_path):
    sidecar, edits, verdict, says = SIDECARS[case]
    chart = tmp_path / "studentstack"
    shutil.copytree(STUDENTSTACK, chart)
    (chart / "templates" / "pdb.yaml").write_text(PDBS)
    target = chart / TARGET.name
    target.write_text(target.read_text() + "limits_env: {}\n")
    for file, old, new in [("templates/backend.yaml", "      containers:\n", sidecar), *edits]:
        text = (chart / file).read_text()
        assert text.count(old) == 1, f"{file} no longer contains {old!r} once: update the case"
        (chart / file).write_text(text.replace(old, new))
    found = run_static(pytester, "test_defi18.py", "--target", str(target), "--namespace", "u-garagiste")
    assert found == {"D18.1": verdict}, found
    report = ET.parse(pytester.path / "static-test_defi18.py.xml").getroot()
    messages = " ".join(f.get("message", "") for f in report.iter("failure"))
    if says:
        assert says in messages, messages
    assert "journaux" not in messages, messages  # the sidecar is never what is judged


# D12 through a teacher's target: a bare selector for the primary (app.kubernetes.io/name=postgresql, which
# the replicas' StatefulSet carries too) is reported as défi 13 reports it, not the first StatefulSet taken.
def test_the_static_tier_reports_a_primary_selector_matching_several_statefulsets(pytester, tmp_path):
    target = tmp_path / "target.yaml"
    target.write_text("components:\n  database: {selector: app.kubernetes.io/name=postgresql}\n")
    found = run_static(pytester, "test_defi12.py", "--target", str(target))
    assert found == {"D12.1": FAILED, "D12.2": FAILED, "D12.3": FAILED}, found
    report = ET.parse(pytester.path / "static-test_defi12.py.xml").getroot()
    messages = [f.get("message", "") for f in report.iter("failure")]
    assert len(messages) == 3, messages
    for message in messages:
        assert "the database component: expected one StatefulSet with pods labelled" in message, message
        assert "StatefulSet/pg-primary" in message and "StatefulSet/pg-replica" in message, message


# Défi 13 on the chart alone (static tier, no cluster): their replication subchart switched on by
# values-replication.yaml, graded through target-replication.yaml (role=maitre / role=esclave tell the
# primary from the replicas; target.yaml's tier=db would match both). Never installed by this module.
TARGET_REPLICATION = STUDENTSTACK / "target-replication.yaml"
REPLICATION = {
    # both StatefulSets come from garagiste/charts/bdd-replication/templates/ (the subchart Chart.yaml
    # includes under the condition replication.enabled): a chart of its own, included
    "D13.1": PASSED,
    # garagiste-bdd-maitre at 1 pod, garagiste-bdd-esclave at 1 (the course names no number: one slave
    # is a Master/Slave structure), each pod on a claim (volumeClaimTemplates donnees)
    "D13.2": PASSED,
    # ClusterIP garagiste-bdd-ecriture selects role=maitre only, garagiste-bdd-lecture role=esclave only;
    # each StatefulSet is governed by a headless Service of its own name that selects its pods
    "D13.3": PASSED,
    # the replicas' probes copied from the primary's ("mêmes sondes que le maître"): pg_isready for both
    # readiness and liveness, so a replica that no longer streams stays Ready and serves stale reads
    "D13.4": FAILED,
    # both site containers get DB_HOST = garagiste-bdd-ecriture and DB_HOST_LECTURE = garagiste-bdd-lecture
    # from ConfigMap garagiste-env (their run script hands them to the image as POSTGRES_HOST and
    # POSTGRES_REPLICA_HOST)
    "D13.5": PASSED,
    # our chart's défi-11 stage (values/defi11.yaml) rendered with replication off: their chart has no
    # such file (their switch is values-replication.yaml), so there is no earlier stage to render
    "D13.6": SKIPPED,
}
# test name -> what its failure (or skip) must say
REPLICATION_SAYS = {
    "test_rendered_probes": (
        "StatefulSet/garagiste-bdd-esclave container postgres: "
        "expected readiness (streaming, lag) checking more than liveness, found the same check"
    ),
}
REPLICATION_SKIP_SAYS = {
    "test_replication_off_leaves_single_database": (
        "has no values/defi11.yaml and the target names no stages: defi11: no earlier stage of this chart"
    ),
}


def _junit(pytester: pytest.Pytester, module: str, tag: str) -> dict[str, str]:
    """Test name -> the message of its <failure> or <skipped> (tag) in the static run's JUnit report."""
    report = ET.parse(pytester.path / f"static-{module}.xml").getroot()
    return {
        case.get("name", ""): element.get("message", "")
        for case in report.iter("testcase")
        for element in case.iter(tag)
    }


def test_the_static_tier_grades_their_replication_subchart(pytester):
    found = run_static(pytester, "test_defi13.py", "--target", str(TARGET_REPLICATION), "--namespace", "u-garagiste")
    assert found == REPLICATION, found
    failures, skips = _junit(pytester, "test_defi13.py", "failure"), _junit(pytester, "test_defi13.py", "skipped")
    assert set(failures) == set(REPLICATION_SAYS), failures
    for name, says in REPLICATION_SAYS.items():
        assert says in failures[name], failures[name]
    # one finding: the replicas' container (the primary's identical probes are right for a primary)
    assert failures["test_rendered_probes"].count(" expected ") == 1, failures
    assert set(skips) == set(REPLICATION_SKIP_SAYS), skips
    for name, says in REPLICATION_SKIP_SAYS.items():
        assert says in skips[name], skips[name]


def _rendered_database(values: list[Path], extra: dict | None = None) -> tuple[list[str], list[str], dict]:
    """Their chart rendered: the subcharts' templates used, the StatefulSets, ConfigMap garagiste-env's data."""
    rendered = Helm(find_tool("helm")).template_sources(
        STUDENTSTACK, RELEASE, merge_values(load_values(values), extra or {}), namespace="u-garagiste"
    )
    subcharts = sorted({source for source, _ in rendered if "/charts/" in source})
    sets = sorted(o["metadata"]["name"] for _, o in rendered if o["kind"] == "StatefulSet")
    env = next(o["data"] for _, o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "garagiste-env")
    return subcharts, sets, env


# Their switch, both ways: off (values.yaml, as target.yaml grades it, and the défi 4-5 hand-in's THEN)
# the chart renders no template of the subchart, StatefulSet bdd alone and DB_HOST on its pod, as before
# défi 13; on (values-replication.yaml), bdd gives way to the primary and the replicas.
def test_the_static_render_keeps_replication_off_unless_switched_on(monkeypatch):
    monkeypatch.setenv("KUBEDEFIS_CACHE", REAL_CACHE)
    values = STUDENTSTACK / "values.yaml"
    for extra in ({}, THEN):
        subcharts, sets, env = _rendered_database([values], extra)
        assert (subcharts, sets) == ([], ["bdd"]), (subcharts, sets)
        assert env["DB_HOST"] == "bdd-0.bdd" and "DB_HOST_LECTURE" not in env, env
    subcharts, sets, env = _rendered_database([values, STUDENTSTACK / "values-replication.yaml"])
    assert sets == ["garagiste-bdd-esclave", "garagiste-bdd-maitre"], sets
    assert {s.split("/templates/")[0] for s in subcharts} == {"garagiste/charts/bdd-replication"}, subcharts
    assert (env["DB_HOST"], env["DB_HOST_LECTURE"]) == ("garagiste-bdd-ecriture", "garagiste-bdd-lecture"), env


# Défi 13 the other way: their chart copied with one edit in the subchart, graded through a copy of
# target-replication.yaml. case -> (file, old, new, the verdicts, test name -> what its failure says)
REPLICATION_EDITS = {
    # their deliberate mistake fixed: the replicas are ready only while they stream from the primary
    # (pg_stat_wal_receiver, as superuser over the socket), liveness stays pg_isready: D13.4 passes
    "D13.4-ready-while-streaming": (
        "charts/bdd-replication/templates/esclaves.yaml",
        "          readinessProbe:\n            exec:\n"
        '              command: ["pg_isready", "-h", "/var/run/postgresql", "-U", {{ .Values.utilisateur | quote }}]\n',
        "          readinessProbe:   # prête = copie le maître en ce moment\n            exec:\n"
        '              command: ["sh", "-c", "psql -h /var/run/postgresql -U postgres -d postgres -Atc'
        " 'SELECT status FROM pg_stat_wal_receiver' | grep -qx streaming\"]\n",
        {**REPLICATION, "D13.4": PASSED},
        {},
    ),
    # the read Service selecting both roles (the primary too): no Service reads from the replicas only,
    # D13.3 fails; the site still reads through a Service that reaches them, D13.5 passes
    "D13.3-reads-on-both-roles": (
        "charts/bdd-replication/templates/services.yaml",
        "  name: garagiste-bdd-lecture\n  labels:\n    app: garagiste\nspec:\n  selector:\n"
        "    app: garagiste\n    tier: db\n    role: esclave\n",
        "  name: garagiste-bdd-lecture\n  labels:\n    app: garagiste\nspec:\n  selector:\n"
        "    app: garagiste\n    tier: db   # les lectures sur toutes les bases, maître compris\n",
        {**REPLICATION, "D13.3": FAILED},
        {
            "test_rendered_services": (
                "Services: expected a ClusterIP Service selecting every pod of StatefulSet/garagiste-bdd-esclave "
                "and not the primary, found none"
            ),
            **REPLICATION_SAYS,
        },
    ),
    # writes to the primary's pod by its DNS name under its headless Service (as D7.3 asks for défi 7's
    # StatefulSet): it reaches the primary, D13.5 passes (it failed before session 12's fix)
    "D13.5-writes-to-the-primary-pod-by-name": (
        "templates/config.yaml",
        "  DB_HOST: garagiste-bdd-ecriture           # défi 13: les écritures, sur le maître\n",
        "  DB_HOST: garagiste-bdd-maitre-0.garagiste-bdd-maitre   # le pod du maître, par son nom\n",
        REPLICATION,
        REPLICATION_SAYS,
    ),
    # writes to one replica's pod: not the primary, D13.5 fails and says what the container is told
    "D13.5-writes-to-a-replica": (
        "templates/config.yaml",
        "  DB_HOST: garagiste-bdd-ecriture           # défi 13: les écritures, sur le maître\n",
        "  DB_HOST: garagiste-bdd-esclave-0.garagiste-bdd-esclave   # erreur : un esclave\n",
        {**REPLICATION, "D13.5": FAILED},
        {
            "test_rendered_site_settings": "'DB_HOST': 'garagiste-bdd-esclave-0.garagiste-bdd-esclave'",
            **REPLICATION_SAYS,
        },
    ),
    # their défi-11 stage named in the target (`stages`), their chart has no values/defi11.yaml: with
    # values.yaml alone the replication is off and the single database is StatefulSet bdd of 1 pod, which
    # the primary's selector (role=maitre) does not match; it is found as the one workload running
    # PostgreSQL (the site's commands export POSTGRES_HOST: clients, not databases). D13.6 passes
    "D13.6-their-defi11-stage-named": (
        "target-replication.yaml",
        "values: [values.yaml, values-replication.yaml]\n",
        "values: [values.yaml, values-replication.yaml]\nstages: {defi11: [values.yaml]}\n",
        {**REPLICATION, "D13.6": PASSED},
        REPLICATION_SAYS,
    ),
    # the same key naming a défi-11 stage that keeps the replication on: D13.6 fails naming the replica
    "D13.6-their-defi11-stage-keeps-replication": (
        "target-replication.yaml",
        "values: [values.yaml, values-replication.yaml]\n",
        "values: [values.yaml, values-replication.yaml]\nstages: {defi11: [values.yaml, values-replication.yaml]}\n",
        {**REPLICATION, "D13.6": FAILED},
        {
            "test_replication_off_leaves_single_database": (
                "expected no replica workload with replication off, found ['StatefulSet/garagiste-bdd-esclave']"
            ),
            **REPLICATION_SAYS,
        },
    ),
}


@pytest.mark.parametrize("case", sorted(REPLICATION_EDITS))
def test_the_static_tier_judges_their_replication_both_ways(case, pytester, tmp_path):
    file, old, new, expected, says = REPLICATION_EDITS[case]
    chart = edited_copy(tmp_path, file, old, new)
    target = chart / TARGET_REPLICATION.name
    found = run_static(pytester, "test_defi13.py", "--target", str(target), "--namespace", "u-garagiste")
    assert found == expected, found
    failures = _junit(pytester, "test_defi13.py", "failure")
    assert set(failures) == set(says), failures
    for name, message in says.items():
        assert message in failures[name], failures[name]


# D14.5 on their chart through the target's `stages` (their chart has no values/defi11.yaml): their
# défi-11 stage as a values file of their own. case -> (that file's text, D14.5's verdict, what its
# failure says)
DEFI11_STAGES = {
    # the chart as it was at défi 11: Redis off, no cache workload rendered
    "cache-off": ("cache:\n  enabled: false\n", PASSED, None),
    # a défi-11 stage that still switches Redis on: the cache was there before défi 14
    "cache-on": (
        "cache:\n  enabled: true\n",
        FAILED,
        "expected no cache workload at défi 11, found ['Deployment/garagiste-cache']",
    ),
}


@pytest.mark.parametrize("case", sorted(DEFI11_STAGES))
def test_the_static_tier_judges_their_defi11_stage_when_the_target_names_it(case, pytester, tmp_path):
    text, verdict, says = DEFI11_STAGES[case]
    chart = edited_copy(tmp_path, TARGET.name, "values: [values.yaml]\n", "values: [values.yaml]\n"
                        "stages: {defi11: [values.yaml, values-defi11.yaml]}\n")  # fmt: skip
    (chart / "values-defi11.yaml").write_text(text)
    found = run_static(pytester, "test_defi14.py", "--target", str(chart / TARGET.name), "--namespace", "u-garagiste")
    assert found == {**STATIC["test_defi14.py"], "D14.5": verdict}, found
    failures = _junit(pytester, "test_defi14.py", "failure")
    if says:
        assert says in failures["test_cache_off_before_defi14"], failures
    else:
        assert "test_cache_off_before_defi14" not in failures, failures
