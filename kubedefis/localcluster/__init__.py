"""Layer 2 (local cluster): the offline bootstrap of a kind cluster and the kind provider that runs it.

Everything a kind cluster needs is built here from the registries this machine reaches (Go
module proxy, Debian), cached in ~/.cache/kubedefis; `provider` creates, reuses and deletes the
cluster. Imports only from kubedefis.core.
"""
