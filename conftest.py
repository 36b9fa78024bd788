"""The conformance suite's plugins (options, fixtures, evidence on failure; grading reports) live in kubedefis."""

pytest_plugins = ["kubedefis.harness.plugin", "kubedefis.report.pytest_report", "pytester"]
