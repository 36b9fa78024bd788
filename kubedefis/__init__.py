"""kubedefis: reference stack and conformance grader for the CSC8567 Kubernetes project."""

__version__ = "0.1.0"
