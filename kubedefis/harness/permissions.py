"""What the credentials may do, asked once per right (SelfSubjectAccessReview), and skips for what they may not.

A teacher grading `u-42` on the course cluster has rights in that namespace only, and perhaps
no right to exec into pods or delete them. The suite asks the API server at session start for
every right it uses (`precheck`), reports the denied ones once, and a test that needs a right
(`@pytest.mark.needs("delete", "pods")`, or `require(...)` in a fixture) is skipped with the
reason "credentials cannot delete pods in u-42": never a pass, never a confusing 403 failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kubedefis.core.errors import KubedefisError

# The API group of each resource the suite touches (SelfSubjectAccessReview needs it).
GROUPS = {
    "pods": "",
    "services": "",
    "endpoints": "",
    "events": "",
    "configmaps": "",
    "secrets": "",
    "persistentvolumeclaims": "",
    "namespaces": "",
    "deployments": "apps",
    "statefulsets": "apps",
    "jobs": "batch",
    "cronjobs": "batch",
    "endpointslices": "discovery.k8s.io",
    "ingresses": "networking.k8s.io",
    "networkpolicies": "networking.k8s.io",
    "horizontalpodautoscalers": "autoscaling",
}
ALIASES = {"pvc": "persistentvolumeclaims", "hpa": "horizontalpodautoscalers", "netpol": "networkpolicies"}
CLUSTER_SCOPED = {"namespaces"}


@dataclass(frozen=True)
class Need:
    """One right: a verb on a resource (`pods`, `pods/exec`), in a namespace or cluster-wide."""

    verb: str
    resource: str
    namespace: str | None = None  # None: cluster-scoped, or (namespaced resource) every namespace

    @classmethod
    def of(cls, verb: str, resource: str, namespace: str | None = None) -> Need:
        base, _, sub = resource.partition("/")
        base = ALIASES.get(base, base)
        if base not in GROUPS:
            raise ValueError(f"unknown resource {resource!r} (known: {sorted(GROUPS)})")
        return cls(verb, f"{base}/{sub}" if sub else base, None if base in CLUSTER_SCOPED else namespace)

    @property
    def base(self) -> str:
        return self.resource.partition("/")[0]

    @property
    def subresource(self) -> str:
        return self.resource.partition("/")[2]

    @property
    def group(self) -> str:
        return GROUPS[self.base]

    def describe(self) -> str:
        """`delete pods in u-42`, `create namespaces`, `list pods in every namespace`."""
        if self.base in CLUSTER_SCOPED:
            return f"{self.verb} {self.resource}"
        return f"{self.verb} {self.resource} in {self.namespace or 'every namespace'}"


@dataclass(frozen=True)
class Decision:
    need: Need
    allowed: bool
    reason: str = ""  # the authorizer's reason, or why the question could not be asked
    unknown: bool = False  # the review itself failed: counted as allowed, the test will tell


# What the suite does, read-only first. `local` rights are only used when the suite makes its own
# namespaces (no target namespace); `install` ones only when it installs a stack (not deployed).
READ = [
    ("get", "pods"),
    ("list", "pods"),
    ("get", "pods/log"),
    ("list", "events"),
    ("list", "services"),
    ("list", "endpointslices"),
    ("list", "deployments"),
    ("list", "statefulsets"),
    ("list", "jobs"),
    ("watch", "jobs"),  # the hook Jobs an upgrade runs (défi 15), seen even when Helm deletes them
    ("list", "cronjobs"),  # the backup CronJob whose pod template `db backup` copies
    ("get", "persistentvolumeclaims"),
    ("list", "networkpolicies"),
    ("list", "horizontalpodautoscalers"),
    ("list", "ingresses"),
    ("get", "configmaps"),
    ("list", "configmaps"),  # the replication topology; no secret in a ConfigMap (défi 19)
    ("list", "secrets"),  # Helm's release records (helm history)
]
ACT = [
    ("create", "pods"),  # network probe, failover writer and attack pods
    ("delete", "pods"),  # removing those pods; disruptive checks; fencing the old primary
    ("create", "pods/exec"),  # psql, redis-cli, printenv in the pods
    ("create", "pods/portforward"),
    ("get", "services/proxy"),  # kubectl proxy
    ("create", "services/proxy"),  # the API's POSTs through kubectl proxy (défi 3)
    ("create", "configmaps"),  # the attack pod's script (défis 17-18)
    ("delete", "configmaps"),
    ("create", "jobs"),  # `db backup`, `db backups`, `db restore` (défis 15-16)
    ("delete", "persistentvolumeclaims"),  # a replica (défis 12-13) or the database (défi 16) losing its volume
    ("patch", "statefulsets/scale"),  # the primary lost (défi 13), the database stopped (défi 15)
    ("patch", "deployments/scale"),  # Redis scaled to 0 (défi 14)
    ("patch", "deployments"),  # `db restore` restarts the site when there is no Redis to flush
    ("patch", "configmaps"),  # `db promote`: the replication topology
    ("patch", "services"),  # `db promote`: the write Service's selector
    ("patch", "pods"),  # `db promote`: the pods' role labels
]
INSTALL = [
    ("create", "secrets"),  # Helm's release record
    ("create", "deployments"),
    ("create", "services"),
    ("create", "configmaps"),
]
LOCAL = [("create", "namespaces"), ("delete", "namespaces")]


def suite_needs(namespace: str | None, deployed: bool) -> list[Need]:
    """The rights the suite uses against this target."""
    pairs = READ + ACT + ([] if deployed else INSTALL) + (LOCAL if namespace is None else [])
    return [Need.of(verb, resource, namespace) for verb, resource in dict.fromkeys(pairs)]


class Permissions:
    """SelfSubjectAccessReviews through an AuthorizationV1Api, one per right, cached."""

    def __init__(self, authorization: Any) -> None:
        self._api = authorization
        self._cache: dict[tuple[str, str, str, str | None], Decision] = {}

    def check(self, verb: str, resource: str, namespace: str | None = None) -> Decision:
        need = Need.of(verb, resource, namespace)
        key = (need.verb, need.base, need.subresource, need.namespace)
        if key not in self._cache:
            self._cache[key] = self._review(need)
        return self._cache[key]

    def _review(self, need: Need) -> Decision:
        from kubernetes import client

        attributes = client.V1ResourceAttributes(
            verb=need.verb,
            group=need.group,
            resource=need.base,
            subresource=need.subresource or None,
            namespace=need.namespace or None,
        )
        spec = client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
        body = client.V1SelfSubjectAccessReview(spec=spec)
        try:
            if self._api is None:
                raise KubedefisError("no authorization API on this cluster handle")
            status = self._api.create_self_subject_access_review(body).status
        except Exception as exc:  # any failure to ask: do not skip on a guess
            detail = getattr(exc, "reason", None) or str(exc).splitlines()[0][:200]
            return Decision(need, True, f"could not ask the API server: {type(exc).__name__}: {detail}", unknown=True)
        return Decision(need, bool(status.allowed), status.reason or "")

    def precheck(self, needs: list[Need]) -> Precheck:
        return Precheck([self.check(n.verb, n.resource, n.namespace) for n in needs])


@dataclass
class Precheck:
    """The session-start answers: what is denied, what could not be asked."""

    decisions: list[Decision] = field(default_factory=list)

    @property
    def denied(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]

    @property
    def unknown(self) -> list[Decision]:
        return [d for d in self.decisions if d.unknown]

    def summary(self) -> str:
        """One line for the terminal, empty when every right is granted."""
        parts = []
        if self.denied:
            parts.append(
                f"the credentials cannot {', '.join(d.need.describe() for d in self.denied)}:"
                " the checks that need it are skipped"
            )
        if self.unknown:
            parts.append(f"{len(self.unknown)} right(s) could not be checked ({self.unknown[0].reason})")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report's header."""
        return {
            "checked": len(self.decisions),
            "denied": [d.need.describe() for d in self.denied],
            "unknown": [d.need.describe() for d in self.unknown],
        }


PRECHECK = pytest.StashKey[Precheck]()


def for_cluster(cluster: Any) -> Permissions:
    """The cluster handle's Permissions (one cache per handle, hence per session)."""
    perms = getattr(cluster, "_kubedefis_permissions", None)
    if perms is None:
        perms = Permissions(getattr(cluster.kube, "authorization", None))
        cluster._kubedefis_permissions = perms
    return perms


def namespace_problem(perms: Permissions, core: Any, namespace: str) -> str | None:
    """Why a deployed stack in `namespace` cannot be graded at all, or None.

    Every check reads the namespace's pods; without that right each would fail or skip, and the group
    would get a column of failures for what is a matter of credentials or of a wrong namespace. A
    namespace-limited account may not read Namespace objects: a 403 there says nothing, a 404 does.
    """
    exists: bool | None = None
    try:
        core.read_namespace(namespace)
        exists = True
    except Exception as exc:  # ApiException 404 / 403, or the API server unreachable
        status = getattr(exc, "status", None)
        if status == 404:
            exists = False
        elif status not in (401, 403):
            return f"cannot read namespace {namespace}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    if exists is False:
        return f"namespace {namespace} does not exist"
    decision = perms.check("list", "pods", namespace)
    if not decision.allowed and not decision.unknown:
        hint = "" if exists else " (no Role bound there, or the namespace does not exist)"
        return f"the credentials cannot list pods in namespace {namespace}{hint}"
    return None


def require(cluster_or_permissions: Any, verb: str, resource: str, namespace: str | None = None) -> None:
    """Skip the current test (reason: "credentials cannot delete pods in u-42") unless the right is granted."""
    perms = (
        cluster_or_permissions
        if isinstance(cluster_or_permissions, Permissions)
        else for_cluster(cluster_or_permissions)
    )
    decision = perms.check(verb, resource, namespace)
    if not decision.allowed:
        pytest.skip(f"credentials cannot {decision.need.describe()}")
