"""The conformance suite's plugin (options, fixtures, evidence on failure) lives in kubedefis."""

pytest_plugins = ["kubedefis.pytest_plugin"]
