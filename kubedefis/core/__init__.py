"""Layer 1 (primitives): Kubernetes API access, waits with deadlines, commands, Helm, manifests, tools.

Nothing here knows about défis, the local cluster or the test framework; every other layer
builds on these.
"""
