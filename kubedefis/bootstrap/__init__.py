"""Offline bootstrap: everything a kind cluster needs, built from registries this machine reaches."""
