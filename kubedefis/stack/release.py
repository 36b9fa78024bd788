"""`kubedefis release`: a new version goes to production only after it passed on staging (défi 19).

    kubedefis release --site-version v2 [--production-namespace kubedefis] [--staging-namespace kubedefis-staging]

The workflow, each step stopping the release when it fails:
1. build the images of the new version (the site built with SITE_VERSION=<version>) and load
   them into the cluster (kind), or use the tag given with --image-tag (a registry's);
2. install that version into the staging namespace (labelled for the restricted Pod Security
   Standard, like production) with the production values, and wait until it is ready;
3. check that staging's pods run that version's images (a chart that ignores the tag would test
   the old one), run a fast subset of the conformance suite against staging (`pytest -m "not disruptive"` on
   défis 10 and 19 by default) and `helm test`;
4. only then `helm upgrade` the production release to the same version (a rolling update);
   production is never touched when staging failed.
The staging namespace is deleted at the end unless --keep-staging.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubedefis.core import kube, manifests, paths
from kubedefis.core.errors import CommandError, KubedefisError
from kubedefis.core.helm import Helm, failed_test_pods, merge_values
from kubedefis.core.shell import Status, run
from kubedefis.stack import deploy

DEFAULT_VALUES = (paths.REPO_ROOT / "chart/values/defi19.yaml", paths.REPO_ROOT / "chart/values/local.yaml")
# Défis 10 (probes) and 19 (production settings) hold whatever the replica count; staging runs
# one pod per Deployment, so défi 5's "3 replicas" would not.
DEFAULT_SUITE = ("test_defi10.py", "test_defi19.py")
PSS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


@dataclass
class ReleaseReport:
    """What happened at each step: the name, whether it passed, and the output that says why."""

    steps: list[tuple[str, bool, str]] = field(default_factory=list)
    # The images staging's pods ran, read before the namespace goes: a stop only means the new
    # version failed if staging ran it (a chart that ignores the release's tag tests the old one).
    staging_images: set[str] = field(default_factory=set)

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.steps.append((name, ok, detail))

    @property
    def promoted(self) -> bool:
        return any(name == "production upgrade" and ok for name, ok, _ in self.steps)

    def text(self) -> str:
        lines = []
        for name, ok, detail in self.steps:
            lines.append(f"{'✓' if ok else '✗'} {name}")
            if detail and not ok:
                lines += [f"    {line}" for line in detail.strip().splitlines()[-25:]]
        if self.staging_images:
            lines.append("staging ran: " + ", ".join(sorted(self.staging_images)))
        return "\n".join(lines)

    def staging_ran(self, tag: str) -> bool:
        """Whether a staging pod ran an image of this tag."""
        return any(has_tag(image, tag) for image in self.staging_images)


def has_tag(image: str, tag: str) -> bool:
    """Whether an image reference (`registry:5000/repo:tag` or `repo:tag@digest`) carries this tag."""
    return image.rsplit("/", 1)[-1].split("@", 1)[0].endswith(f":{tag}")


@dataclass
class ReleasePlan:
    chart: Path
    values: dict[str, Any]  # production values; the image tags are set on top
    image_tag: str  # tag of site/api/public for this release
    staging: str
    production: str
    release_name: str
    kubeconfig: str
    context: str | None
    suite: tuple[str, ...]
    pytest_args: tuple[str, ...] = ()
    helm_timeout: float = 300
    keep_staging: bool = False
    staging_replicas: int = 1  # api and public pods on staging (it shares the cluster with production)
    # The pods' requests on staging and production (deploy.SIZES): "course" as the course asks; the
    # suite's défi 19 passes "small" so that its stage and staging fit beside the course-size lane.
    size: deploy.Size = "course"


class ReleaseWorkflow:
    """The steps of `kubedefis release`, on a cluster reached through a kubeconfig."""

    def __init__(self, plan: ReleasePlan, client: kube.Kube, helm: Helm, kubectl: list[str], status: Status) -> None:
        self.plan, self.client, self.helm, self.kubectl, self.status = plan, client, helm, kubectl, status

    def install(self, namespace: str, values: dict[str, Any]) -> None:
        """The one install path, with values complete (images and hosts are this workflow's)."""
        stage = deploy.Stage(
            namespace, self.plan.release_name, self.plan.chart, (), values, self.plan.size, self.plan.helm_timeout
        )
        deploy.install(stage, self.client, self.helm, None, self.status)

    def version_values(self) -> dict[str, Any]:
        tag = self.plan.image_tag
        return merge_values(self.plan.values, {"api": {"imageTag": tag}, "public": {"imageTag": tag}})

    def production_host(self) -> str:
        ingress = self.plan.values.get("ingress", {})
        return str(ingress.get("host") or f"django.{ingress.get('group')}.{ingress.get('domain')}")

    def staging_host(self) -> str:
        """Staging answers on its own host: two Ingresses for one host would share its traffic."""
        return f"staging.{self.production_host()}"

    def staging_values(self) -> dict[str, Any]:
        https_host = self.plan.values.get("django", {}).get("security", {}).get("httpsHost") or ""
        size = {"replicaCount": self.plan.staging_replicas}
        return merge_values(
            self.version_values(),
            {
                "ingress": {"host": self.staging_host()},
                "django": {"security": {"httpsHost": https_host.replace(self.production_host(), self.staging_host())}},
                "api": size,
                "public": size,
            },
        )

    def label_restricted(self, namespace: str) -> None:
        manifest = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n  labels:\n" + "".join(
            f"    {k}: {v}\n" for k, v in PSS_LABELS.items()
        )
        manifests.kubectl_apply([*self.kubectl, "apply", "-f", "-"], input=manifest)

    def install_staging(self) -> None:
        self.label_restricted(self.plan.staging)
        self.install(self.plan.staging, self.staging_values())

    def conformance(self) -> tuple[bool, str]:
        """The fast subset of the suite against staging (grading mode: nothing installed by pytest)."""
        target = Path(self.plan.kubeconfig).with_name(f"target-{self.plan.staging}.yaml")
        target.write_text(
            f"kubeconfig: {self.plan.kubeconfig}\nnamespace: {self.plan.staging}\n"
            f"release: {self.plan.release_name}\ndeployed: true\ningress_host: {self.staging_host()}\n"
            + (f"context: {self.plan.context}\n" if self.plan.context else "")
        )
        modules = [str(paths.REPO_ROOT / "conformance" / m) for m in self.plan.suite]
        command = [
            sys.executable,
            "-m",
            "pytest",
            *modules,
            "--target",
            str(target),
            "-m",
            "not disruptive and not static",
            "-p",
            "no:cacheprovider",
            "-q",
            *self.plan.pytest_args,
        ]
        proc = subprocess.run(command, cwd=paths.REPO_ROOT, capture_output=True, text=True)
        return proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

    def helm_test(self) -> tuple[bool, str]:
        try:
            return True, self.helm.test(self.plan.release_name, self.plan.staging, timeout=self.plan.helm_timeout)
        except CommandError as exc:
            logs = [self.pod_log(pod) for pod in failed_test_pods(exc.output)]
            return False, "\n".join([str(exc), *logs])
        except KubedefisError as exc:
            return False, str(exc)

    def pod_log(self, pod: str) -> str:
        """A staging pod's log, for a failed step's report (what there is of it)."""
        try:
            text = self.client.core.read_namespaced_pod_log(pod, self.plan.staging, tail_lines=40)
        except Exception as exc:  # the report says why not; the step has failed already
            return f"--- {pod}: no log ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        return f"--- {pod}:\n{text}"

    def promote(self) -> None:
        self.label_restricted(self.plan.production)
        self.install(self.plan.production, self.version_values())

    def delete_staging(self) -> None:
        run(
            # not awaited: production is already decided, and the namespace's pods go on their own
            [*self.kubectl, "delete", "namespace", self.plan.staging, "--ignore-not-found", "--wait=false"],
            check=False,
            timeout=60,
        )

    def run(self) -> ReleaseReport:
        report = ReleaseReport()
        try:
            self._steps(report)
        finally:  # whatever stopped the steps (an API error too), staging's images are read and it goes
            self._finish(report)
        return report

    def _steps(self, report: ReleaseReport) -> None:
        """Each step in turn, until one fails (its output kept in the report) or production is upgraded."""
        try:
            with self.status.step(f"install {self.plan.image_tag} into staging ({self.plan.staging})"):
                self.install_staging()
            report.add("staging install", True)
        except KubedefisError as exc:
            report.add("staging install", False, str(exc))
            return
        # A chart that ignores the release's tag installs the old version: staging would test it
        # and production would be "upgraded" to a version nobody tested.
        report.staging_images = self.staging_images()
        tag = self.plan.image_tag
        runs_it = report.staging_ran(tag)
        ran = ", ".join(sorted(report.staging_images)) or "no pods"
        report.add("staging runs the new version", runs_it, "" if runs_it else f"no staging pod runs {tag}: {ran}")
        if not runs_it:
            return
        with self.status.step("conformance subset on staging"):
            ok, out = self.conformance()
        report.add("conformance on staging", ok, out)
        if not ok:
            return
        with self.status.step("helm test on staging"):
            ok, out = self.helm_test()
        report.add("helm test on staging", ok, out)
        if not ok:
            return
        try:
            with self.status.step(f"upgrade production ({self.plan.production})"):
                self.promote()
            report.add("production upgrade", True)
        except KubedefisError as exc:
            report.add("production upgrade", False, str(exc))

    def staging_images(self) -> set[str]:
        """The images of staging's pods, init containers included, as their specs name them."""
        pods = self.client.core.list_namespaced_pod(self.plan.staging).items
        return {c.image for p in pods for c in [*(p.spec.init_containers or []), *p.spec.containers]}

    def _finish(self, report: ReleaseReport) -> None:
        try:  # what staging ran at the end (a failed install's pods too), read before it goes
            report.staging_images = self.staging_images()
        finally:
            if not self.plan.keep_staging:
                with self.status.step(f"delete staging ({self.plan.staging})"):
                    self.delete_staging()
