"""Layer 5 (commands): the `kubedefis` command line (argparse) on top of every other layer."""
