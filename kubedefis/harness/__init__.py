"""Helpers every défi module shares: access to services, manifests, object checks, evidence.

Layering (as in CloudNativePG's e2e suite): `kubedefis.kube` and `kubedefis.waits` are
primitives with no test framework; this package composes them into assertions the
défi modules call; `kubedefis.pytest_plugin` turns them into fixtures.
"""
