"""Layer 4 (test harness): the pytest plugin and what the conformance modules use.

Primitives with no test framework live in kubedefis.core (as in CloudNativePG's e2e suite);
this package composes them into fixtures (`plugin`), components found through the target file
(`target`, `stage`), access from outside (`access`, `site`), requirement checks (`checks`),
load (`load`), network probes (`probes`), the static tier (`static`), measures and permissions.
"""
