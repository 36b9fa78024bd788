"""The full stack on the local cluster: build its images, load them, `helm upgrade --install` the chart."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from kubedefis import kube, paths, workloads
from kubedefis.bootstrap import gobuild
from kubedefis.harness.helm import Helm, load_values, merge_values
from kubedefis.shell import Status, run

RELEASE = os.environ.get("KUBEDEFIS_RELEASE", "kubedefis")
CHART = paths.REPO_ROOT / "chart"
LOCAL_VALUES = CHART / "values/local.yaml"
SITE_TARGETS = ("site", "api", "public")


def stack_images() -> list[workloads.WorkloadImage]:
    site = paths.REPO_ROOT / "workloads/site"
    return [
        *(workloads.WorkloadImage(target, site, target=target) for target in SITE_TARGETS),
        workloads.WorkloadImage("postgres", paths.REPO_ROOT / "workloads/postgres"),
    ]


def stack_tag(images: list[workloads.WorkloadImage]) -> str:
    """One tag for the whole stack (the chart's image.tag): a hash of every image's content hash."""
    return hashlib.sha256(" ".join(i.tag() for i in images).encode()).hexdigest()[:12]


def build_and_tag(status: Status) -> tuple[str, list[str]]:
    """Build every stack image (cached by content) and tag it kubedefis/<name>:<stack tag>."""
    images = stack_images()
    tag = stack_tag(images)
    refs = []
    for image in images:
        built = workloads.build(image, status)
        ref = f"kubedefis/{image.name}:{tag}"
        run(["docker", "tag", built, ref])
        refs.append(ref)
    return tag, refs


def values_for(tag: str, extra: list[Path] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return merge_values(load_values([LOCAL_VALUES, *(extra or [])]), {"image": {"tag": tag}}, overrides or {})


def deploy_full(spec: Any, client: kube.Kube, status: Status, namespace: str) -> str:
    from kubedefis import cluster

    tag, refs = build_and_tag(status)
    cluster.load_images(spec, refs, status)
    helm = Helm(gobuild.tool("helm").binary(), str(spec.kubeconfig))
    values = values_for(tag)
    with status.step(f"helm upgrade --install {RELEASE} (namespace {namespace})"):
        helm.upgrade_install(CHART, RELEASE, namespace, values, timeout=600)
    host = values.get("ingress", {}).get("host") or "django.kubedefis.localhost"
    return f"http://{host}:{spec.http_port}/"
