"""The static tier: checks that need no cluster (schemas of rendered manifests, helm lint)."""
