"""Layer 3 (stack): infrastructure diagrams of a namespace (live) or of a hand-in's manifests, drawn with Graphviz.

Reads objects through the primitives (kubedefis.core) only; the `kubedefis diagram` command
(kubedefis.commands.diagram) and the suite's `--diagrams` option use it.
"""
