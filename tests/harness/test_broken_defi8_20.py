"""Défis 8, 9, 17-20, live: each module fails on a stack that breaks its requirement, and only there.

Each case installs a deliberately broken stage in its own namespace and runs the module in a
subprocess (tests/harness/variants.py): the défi's values with one change, or a copy of the chart
with template edits. Each declares the requirement ids it breaks (`breaks`); the run must fail
exactly those (tests/harness/requirements.py). Where a fault also, and rightly, fails a later check
that depends on the same mechanism (a rollout that drops requests drops them on the rollback too),
that check is deselected with -k and the docstring says so. Each case is a full install, most under
load (5 to 10 minutes on the 2-CPU node): run them one at a time.
"""

from __future__ import annotations

import pytest
from requirements import caught, edited_chart
from variants import broken_chart, broken_values


@pytest.fixture(autouse=True)
def shorter_deadlines(monkeypatch):
    # Broken stacks never get where the deadlines wait for; working parts still need time on 2 cores.
    monkeypatch.setenv("KUBEDEFIS_TIMEOUT_SCALE", "0.75")


# --- défi 8 -----------------------------------------------------------------------------------------


@pytest.mark.breaks("D8.1", "D8.2")
def test_defi8_catches_a_rollout_that_drops_requests(request, pytester, tmp_path):
    """maxUnavailable 1 and no preStop sleep: pods stop while Traefik still sends them requests (the
    rollback would drop some too: deselected)."""
    change = {"django": {"preStopSleepSeconds": 0, "rollingUpdate": {"maxUnavailable": 1}}}
    values = broken_values(tmp_path, "defi8", change)
    caught(request, pytester, "test_defi8.py", "--values", str(values), "-k", "not rollback")


READY_AT_ONCE = [
    (
        "templates/_django.tpl",
        "          startupProbe:\n            httpGet:\n              path: /healthz\n              port: http\n"
        '            {{- include "kubedefis.probeTiming" $probes.startup | nindent 12 }}\n',
        "",
    ),
    (
        "templates/_django.tpl",
        "          readinessProbe:\n            httpGet:\n              path: /readyz\n              port: http\n",
        '          readinessProbe:\n            exec:\n              command: ["true"]\n',
    ),
    # gunicorn listens 8 s after the container starts (an app that loads for a while): a readiness that
    # does not ask the app lets traffic in all that time, whatever the node's speed (session 14, under
    # `tox -e harness -n 3`, gunicorn had bound before the endpoints were published: 0 failed of 501)
    (
        "templates/_django.tpl",
        "          {{- end }}\n          ports:\n",
        '          {{- end }}\n          command: ["sh", "-c", "sleep 8; exec gunicorn -c /app/gunicorn.conf.py"]\n'
        "          ports:\n",
    ),
]


@pytest.mark.breaks("D8.2")
def test_defi8_catches_pods_ready_before_they_serve(request, pytester, tmp_path):
    """A readiness probe that is always true (and no startup probe): every setting D8.1 reads is there,
    but a new pod gets traffic before gunicorn listens (8 s after it starts). The rollback suffers the
    same (deselected)."""
    chart = edited_chart(tmp_path, READY_AT_ONCE)
    caught(request, pytester, "test_defi8.py", "--chart", str(chart), "-k", "not rollback")


@pytest.mark.breaks("D8.3")
def test_defi8_catches_a_deployment_that_keeps_no_history(request, pytester, tmp_path):
    """revisionHistoryLimit 0: the old ReplicaSet is gone after the update (Helm's history is kept)."""
    chart = broken_chart(tmp_path, "templates/_django.tpl", "revisionHistoryLimit: 5", "revisionHistoryLimit: 0")
    caught(request, pytester, "test_defi8.py", "--chart", str(chart))


REFUSE_ROLLBACK = """apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-refuse-rollback
  annotations:
    helm.sh/hook: pre-rollback
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: refuse
          image: {{ include "kubedefis.image" (dict "ctx" . "component" "api") }}
          command: ["false"]
"""


@pytest.mark.breaks("D8.4")
def test_defi8_catches_a_rollback_that_fails(request, pytester, tmp_path):
    """A pre-rollback hook that fails: `helm rollback` stops, the new version stays."""
    chart = edited_chart(tmp_path, [], {"refuse-rollback.yaml": REFUSE_ROLLBACK})
    caught(request, pytester, "test_defi8.py", "--chart", str(chart))


# --- défi 9 -----------------------------------------------------------------------------------------


@pytest.mark.breaks("D9.1", "D9.2")
def test_defi9_catches_a_stack_without_autoscalers(request, pytester, tmp_path):
    values = broken_values(tmp_path, "defi9", {"autoscaling": {"enabled": False}})
    caught(request, pytester, "test_defi9.py", "--values", str(values))


@pytest.mark.breaks("D9.2")
def test_defi9_catches_one_deployment_that_never_scales(request, pytester, tmp_path):
    """public's HPA may never scale up (selectPolicy Disabled): its settings are right, api scales, public
    stays at 3. One HPA scaling was enough before; each must."""
    chart = broken_chart(
        tmp_path,
        "templates/hpa.yaml",
        "  behavior:\n    scaleDown:",
        '  behavior:\n    {{- if eq $component "public" }}\n    scaleUp:\n      selectPolicy: Disabled\n'
        "    {{- end }}\n    scaleDown:",
    )
    caught(request, pytester, "test_defi9.py", "--chart", str(chart))


# --- défis 17, 18 -----------------------------------------------------------------------------------


@pytest.mark.breaks("D17.1", "D17.2", "D17.3")
def test_defi17_catches_a_site_that_survives(request, pytester, tmp_path):
    """The défi 17 test on the defended (default) profile: the attack does not bring it down."""
    values = broken_values(tmp_path, "", {"migration": {"sampleSize": "large"}})
    caught(request, pytester, "test_defi17.py", "--values", str(values))


@pytest.mark.breaks("D17.2")
def test_defi17_catches_a_naive_site_with_little_data(request, pytester, tmp_path):
    """The naive profile loaded with the small sample whatever the values say: no list of 5000 cars."""
    chart = broken_chart(
        tmp_path, "templates/migrate-job.yaml", '(list "load_sample" "--size" $m.sampleSize)',
        '(list "load_sample" "--size" "small")',
    )  # fmt: skip
    caught(request, pytester, "test_defi17.py", "--chart", str(chart))


@pytest.mark.breaks("D18.1", "D18.2", "D18.3")
def test_defi18_catches_the_naive_profile(request, pytester, tmp_path):
    """The défi 18 test on défi 17's naive profile: legitimate users are not served."""
    values = broken_values(tmp_path, "naive", {})
    caught(request, pytester, "test_defi18.py", "--values", str(values))


@pytest.mark.breaks("D18.2")
def test_defi18_catches_a_body_limit_too_high(request, pytester, tmp_path):
    """Bodies up to 1 MiB accepted: a 200 kB body is read (the 150 MB bodies of the attack still get 413)."""
    chart = broken_chart(
        tmp_path, "templates/configmap.yaml", "  DJANGO_BODY_TIMEOUT: {{ .limits.bodyTimeoutSeconds | int64 | quote }}",
        '  DJANGO_BODY_TIMEOUT: {{ .limits.bodyTimeoutSeconds | int64 | quote }}\n  DJANGO_MAX_BODY_BYTES: "1048576"',
    )  # fmt: skip
    values = broken_values(tmp_path, "", {"migration": {"sampleSize": "large"}})
    caught(request, pytester, "test_defi18.py", "--chart", str(chart), "--values", str(values))


@pytest.mark.breaks("D18.3")
def test_defi18_catches_a_rate_limit_nobody_reaches(request, pytester, tmp_path):
    """Per-client limits set but out of reach (100 000 requests a second, 1 000 of one client's requests
    at once): the flood is never refused. (With the rate alone out of reach, the per-client concurrency
    limit still refused the flood and the site was served: D18.3 rightly passed, session 11. With the
    concurrency limit off (0), D18.1 failed too: a limit switched off is one it sees.)"""
    limits = {"rate": 100000, "burst": 100000, "concurrency": 1000}
    change = {"migration": {"sampleSize": "large"}, "django": {"limits": limits}}
    values = broken_values(tmp_path, "", change)
    caught(request, pytester, "test_defi18.py", "--values", str(values))


# --- défis 19, 20 -----------------------------------------------------------------------------------

# D19.5's two releases (a broken one stopped, a working one installed) build and release other
# images; a variant breaking another requirement leaves them out (its staging would fail too).
WITHOUT_RELEASES = "not broken_release and not working_release"


@pytest.mark.breaks("D19.1", "D19.3")
def test_defi19_catches_debug_and_plain_http(request, pytester, tmp_path):
    change = {"django": {"debug": True, "security": {"httpsRedirect": False, "hstsSeconds": 0}}}
    values = broken_values(tmp_path, "defi19", change)
    caught(request, pytester, "test_defi19.py", "--values", str(values), "-k", WITHOUT_RELEASES)


@pytest.mark.breaks("D19.2")
def test_defi19_catches_a_pod_the_restricted_standard_refuses(request, pytester, tmp_path):
    escalation = "allowPrivilegeEscalation"
    chart = broken_chart(tmp_path, "templates/_helpers.tpl", f"{escalation}: false", f"{escalation}: true")
    # Pods refused by the namespace: the stage never comes up, so only the checks of D19.2 and the
    # static tier run (the live checks of the others would only report the failed install).
    caught(request, pytester, "test_defi19.py", "--chart", str(chart), "-k", "rendered or restricted or enforces")


@pytest.mark.breaks("D19.5")
def test_defi19_catches_a_release_that_goes_through_untested(request, pytester, tmp_path):
    """The chart ignores the apps' own image tag (api.imageTag, public.imageTag), the version a release
    installs: staging runs the old version, passes, and the broken release is promoted to production."""
    chart = broken_chart(
        tmp_path,
        "templates/_helpers.tpl",
        '{{- if and (kindIs "map" $own) (get $own "imageTag") }}{{ $tag = get $own "imageTag" }}{{ end -}}',
        "",
    )
    caught(request, pytester, "test_defi19.py", "--chart", str(chart))


@pytest.mark.breaks("D20.2")
def test_defi20_catches_a_column_dropped_before_the_rollout(request, pytester, tmp_path):
    """The contract migration (drop `make`) run by the pre-upgrade hook, while the old pods still use it."""
    chart = broken_chart(
        tmp_path,
        "templates/migrate-job.yaml",
        '(list "migrate_stage" "--phase" "pre")',
        '(list "migrate_stage" "--phase" "post" "--settle-timeout" "0")',
    )
    caught(request, pytester, "test_defi20.py", "--chart", str(chart))


@pytest.mark.breaks("D19.6")
def test_defi19_catches_a_token_the_site_never_learns(request, pytester, tmp_path):
    """The chart makes the token's Secret but no step registers the token with the site (the migration Job's
    `api_token ensure` dropped): anonymous writes are refused, and so are those carrying the token. The
    release workflow (D19.5) builds and releases another image and writes nothing: deselected."""
    chart = broken_chart(
        tmp_path,
        "templates/migrate-job.yaml",
        '{{- $token = list (dict "name" "api-token" "args" $tokenArgs "secret" true) -}}',
        "{{- $token = list -}}",
    )
    caught(request, pytester, "test_defi19.py", "--chart", str(chart), "-k", WITHOUT_RELEASES)
