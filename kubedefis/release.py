"""`kubedefis release`: a new version goes to production only after it passed on staging (défi 19).

    kubedefis release --release-tag v2 [--production-namespace kubedefis] [--staging-namespace kubedefis-staging]

The workflow, each step stopping the release when it fails:
1. build the images of the new version (the site built with KUBEDEFIS_RELEASE=<tag>) and load
   them into the cluster (kind), or use the tag given with --image-tag (a registry's);
2. install that version into the staging namespace (labelled for the restricted Pod Security
   Standard, like production) with the production values, and wait until it is ready;
3. run a fast subset of the conformance suite against staging (`pytest -m "not disruptive"` on
   défis 10 and 19 by default) and `helm test`;
4. only then `helm upgrade` the production release to the same version (a rolling update);
   production is never touched when staging failed.
The staging namespace is deleted at the end unless --keep-staging.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubedefis import paths, workloads
from kubedefis.errors import KubedefisError
from kubedefis.shell import Status, run

SITE = paths.REPO_ROOT / "workloads/site"
DEFAULT_VALUES = (paths.REPO_ROOT / "chart/values/defi19.yaml", paths.REPO_ROOT / "chart/values/local.yaml")
# Défis 10 (probes) and 19 (production settings) hold whatever the replica count; staging runs
# one pod per Deployment, so défi 5's "3 replicas" would not.
DEFAULT_SUITE = ("test_defi10.py", "test_defi19.py")
PSS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def site_variant(component: str, release_tag: str) -> workloads.WorkloadImage:
    """The image of one site component built with KUBEDEFIS_RELEASE=<release_tag> (défis 8, 19)."""
    return workloads.WorkloadImage(component, SITE, target=component, build_args=(("KUBEDEFIS_RELEASE", release_tag),))


def build_release(release_tag: str, status: Status, components: tuple[str, ...] = ("site", "api", "public")) -> str:
    """Build the site's components for a release; each gets the same tag (`<content hash>-<release>`).

    A release the site does not know (`broken`) builds fine but fails at start-up: the image of a
    release that must be stopped at staging.
    """
    images = [site_variant(c, release_tag) for c in components]
    tag = f"{images[0].tag()}-{release_tag}"
    for image in images:
        built = workloads.build(image, status)
        run(["docker", "tag", built, f"kubedefis/{image.name}:{tag}"])
    return tag


def release_refs(tag: str, components: tuple[str, ...] = ("site", "api", "public")) -> list[str]:
    return [f"kubedefis/{c}:{tag}" for c in components]


@dataclass
class ReleaseReport:
    """What happened at each step: the name, whether it passed, and the output that says why."""

    steps: list[tuple[str, bool, str]] = field(default_factory=list)

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
        return "\n".join(lines)


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


class ReleaseWorkflow:
    """The steps of `kubedefis release`, on a cluster reached through a kubeconfig."""

    def __init__(self, plan: ReleasePlan, helm: Any, kubectl: list[str], status: Status) -> None:
        self.plan, self.helm, self.kubectl, self.status = plan, helm, kubectl, status

    def version_values(self) -> dict[str, Any]:
        from kubedefis.harness.helm import merge_values

        tag = self.plan.image_tag
        return merge_values(self.plan.values, {"api": {"imageTag": tag}, "public": {"imageTag": tag}})

    def production_host(self) -> str:
        ingress = self.plan.values.get("ingress", {})
        return str(ingress.get("host") or f"django.{ingress.get('group')}.{ingress.get('domain')}")

    def staging_host(self) -> str:
        """Staging answers on its own host: two Ingresses for one host would share its traffic."""
        return f"staging.{self.production_host()}"

    def staging_values(self) -> dict[str, Any]:
        from kubedefis.harness.helm import merge_values

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
        run([*self.kubectl, "apply", "-f", "-"], input=manifest)

    def install_staging(self) -> None:
        self.label_restricted(self.plan.staging)
        self.helm.upgrade_install(
            self.plan.chart,
            self.plan.release_name,
            self.plan.staging,
            self.staging_values(),
            timeout=self.plan.helm_timeout,
        )

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
        except KubedefisError as exc:
            return False, str(exc)

    def promote(self) -> None:
        self.label_restricted(self.plan.production)
        self.helm.upgrade_install(
            self.plan.chart,
            self.plan.release_name,
            self.plan.production,
            self.version_values(),
            timeout=self.plan.helm_timeout,
        )

    def delete_staging(self) -> None:
        run(
            [*self.kubectl, "delete", "namespace", self.plan.staging, "--ignore-not-found", "--wait=true"],
            check=False,
            timeout=300,
        )

    def run(self) -> ReleaseReport:
        report = ReleaseReport()
        try:
            with self.status.step(f"install {self.plan.image_tag} into staging ({self.plan.staging})"):
                self.install_staging()
            report.add("staging install", True)
        except KubedefisError as exc:
            report.add("staging install", False, str(exc))
            return self._finish(report)
        with self.status.step("conformance subset on staging"):
            ok, out = self.conformance()
        report.add("conformance on staging", ok, out)
        if not ok:
            return self._finish(report)
        with self.status.step("helm test on staging"):
            ok, out = self.helm_test()
        report.add("helm test on staging", ok, out)
        if not ok:
            return self._finish(report)
        try:
            with self.status.step(f"upgrade production ({self.plan.production})"):
                self.promote()
            report.add("production upgrade", True)
        except KubedefisError as exc:
            report.add("production upgrade", False, str(exc))
        return self._finish(report)

    def _finish(self, report: ReleaseReport) -> ReleaseReport:
        if not self.plan.keep_staging:
            with self.status.step(f"delete staging ({self.plan.staging})"):
                self.delete_staging()
        return report


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `release` subcommand to the kubedefis command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "release",
        allow_abbrev=False,
        help="install a new version on staging, test it there, and only then upgrade production",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--release-tag", default="v2", help="the site's release to build (KUBEDEFIS_RELEASE)")
    parser.add_argument("--image-tag", help="use these already pushed images instead of building (kind: built)")
    parser.add_argument("--production-namespace", default="kubedefis")
    parser.add_argument("--staging-namespace", default="kubedefis-staging")
    parser.add_argument("--release", dest="release_name", default="kubedefis", help="Helm release name")
    parser.add_argument("--values", action="append", help="production values files (default: défi 19 + local)")
    parser.add_argument("--suite", action="append", help="conformance modules to run on staging (repeatable)")
    parser.add_argument("--kubeconfig", help="cluster to release on (default: the local kind cluster)")
    parser.add_argument("--context")
    parser.add_argument("--keep-staging", action="store_true", help="leave the staging namespace in place")
    parser.add_argument("--helm-timeout", type=float, default=300, help="seconds for each helm install/upgrade")
    parser.set_defaults(func=_command)
    return parser


def _command(args: argparse.Namespace, status: Status) -> None:
    report = release(args, status)
    print(report.text())
    if not report.promoted:
        raise SystemExit(1)


def release(args: argparse.Namespace, status: Status) -> ReleaseReport:
    from kubedefis import stack as local_stack
    from kubedefis.harness.helm import Helm, load_values, merge_values

    start = time.monotonic()
    values = load_values([Path(v) for v in args.values] if args.values else list(DEFAULT_VALUES))
    if args.kubeconfig:
        kubeconfig, helm_path, kubectl_path, spec = args.kubeconfig, "helm", "kubectl", None
    else:
        from kubedefis import cluster as provider
        from kubedefis.bootstrap import plan

        spec, tools = plan.cluster_spec(status, None)
        provider.ensure_cluster(spec, status)
        kubeconfig, helm_path, kubectl_path = str(spec.kubeconfig), str(tools.helm), str(tools.kubectl)
    image_tag = args.image_tag
    if spec is not None:
        from kubedefis import cluster as provider

        # The stack's own images (database, migrations) at the stack tag, the new site at its own.
        stack_tag, refs = local_stack.build_and_tag(status)
        values = merge_values(values, {"image": {"tag": stack_tag}})
        if not image_tag:
            image_tag = build_release(args.release_tag, status)
            refs += release_refs(image_tag)
        provider.load_images(spec, refs, status)
    if not image_tag:
        raise KubedefisError("--image-tag is needed on a cluster other than the local one (nothing to build into)")
    kubectl = [kubectl_path, "--kubeconfig", kubeconfig, *(["--context", args.context] if args.context else [])]
    workflow = ReleaseWorkflow(
        ReleasePlan(
            chart=local_stack.CHART,
            values=values,
            image_tag=image_tag,
            staging=args.staging_namespace,
            production=args.production_namespace,
            release_name=args.release_name,
            kubeconfig=kubeconfig,
            context=args.context,
            suite=tuple(args.suite or DEFAULT_SUITE),
            helm_timeout=args.helm_timeout,
            keep_staging=args.keep_staging,
        ),
        Helm(Path(helm_path), kubeconfig, args.context),
        kubectl,
        status,
    )
    report = workflow.run()
    status.info(f"release {'promoted' if report.promoted else 'stopped'} after {time.monotonic() - start:.0f}s")
    return report


def install_full_stack(
    cluster: Any, suite: Any, namespace: str, preset: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`helm upgrade --install` a défi's preset at its real size (défis 8, 9, 17-20).

    Unlike the défis 12-16 helper (harness/release.install), no replica count or CPU request is
    lowered: these défis measure rollouts of 3 pods, autoscaling on 100m requests and attacks on
    the course's sizes. Our images are built, loaded and tagged for any chart given (a broken
    copy too), as stack.install_chart only does it for the repository's own chart.
    """
    from kubedefis.harness import release as harness_release
    from kubedefis.harness import stack
    from kubedefis.harness.helm import merge_values

    extra: dict[str, Any] = {}
    if not suite.target.deployed and cluster.local_spec is not None:
        extra = {"image": {"tag": harness_release.local_images(cluster)}}
    return stack.install_chart(cluster, suite, namespace, preset, merge_values(extra, overrides or {}))


def install_ready_stack(
    cluster: Any, suite: Any, namespace: str, preset: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """install_full_stack, then wait until the database, api and public workloads have rolled out."""
    from kubedefis.harness import stack, timeouts

    values = install_full_stack(cluster, suite, namespace, preset, overrides)
    for name in ("database", "api", "public"):
        stack.wait_component(cluster, namespace, suite.target.component(name), timeouts.DATABASE_READY)
    return values
