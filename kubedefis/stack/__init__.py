"""Layer 3 (stack): our images, the one install path of a défi's stage, database operations, releases.

`images` builds, tags and loads the stack's images; `deploy.install` is how `kubedefis up`,
`kubedefis release` and the conformance suite put a stage in place; `dbops` and `database`
operate the stack's PostgreSQL; `release` is the staging-then-production workflow.
Imports only from kubedefis.core and kubedefis.localcluster.
"""
