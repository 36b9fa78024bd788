"""A small Graphviz DOT writer: nodes with HTML-like labels, nested clusters, edges.

Written here rather than pulled from a package: we need only text output, and
the `dot` binary does the drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class Html(str):
    """An HTML-like label: written <...> in DOT, not quoted."""


Attrs = dict[str, str]


def quote(text: str) -> str:
    """A DOT quoted string (IDs and plain attribute values)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def html_escape(text: object) -> str:
    # Graphviz knows the XML entities; a numeric one for the apostrophe is not needed
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def html_label(title: str, lines: Sequence[str] = (), kind: str = "") -> Html:
    """A label `<b>Kind</b> name` over smaller fact lines, as a DOT HTML-like label."""
    head = (f"<b>{html_escape(kind)}</b> " if kind else "") + html_escape(title)
    body = "".join(f'<br/><font point-size="9">{html_escape(line)}</font>' for line in lines if line)
    return Html(f"<{head}{body}>")


def _value(value: str) -> str:
    return value if isinstance(value, Html) else quote(value)


def _attrs(attrs: Attrs) -> str:
    if not attrs:
        return ""
    parts = []
    for key in sorted(attrs):
        parts.append(f"{key}={_value(attrs[key])}")
    return " [" + ", ".join(parts) + "]"


@dataclass
class Node:
    id: str
    attrs: Attrs = field(default_factory=dict)


@dataclass
class Edge:
    tail: str
    head: str
    attrs: Attrs = field(default_factory=dict)


@dataclass
class Cluster:
    id: str  # DOT wants cluster subgraphs named cluster*
    attrs: Attrs = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    same_rank: bool = False  # its own nodes in one column (left to right) or row

    def first_node(self) -> str | None:
        if self.nodes:
            return self.nodes[0].id
        return next((n for c in self.clusters if (n := c.first_node())), None)


@dataclass
class Graph:
    attrs: Attrs = field(default_factory=dict)
    node_defaults: Attrs = field(default_factory=dict)
    edge_defaults: Attrs = field(default_factory=dict)
    root: Cluster = field(default_factory=lambda: Cluster("root"))
    edges: list[Edge] = field(default_factory=list)

    def node_ids(self) -> set[str]:
        found: set[str] = set()

        def walk(cluster: Cluster) -> None:
            found.update(n.id for n in cluster.nodes)
            for sub in cluster.clusters:
                walk(sub)

        walk(self.root)
        return found

    def source(self, name: str = "infra") -> str:
        lines = [f"digraph {quote(name)} {{"]
        for key in sorted(self.attrs):
            lines.append(f"  {key}={_value(self.attrs[key])};")
        lines.append(f"  node{_attrs(self.node_defaults)};")
        lines.append(f"  edge{_attrs(self.edge_defaults)};")
        self._write_body(self.root, lines, "  ")
        lines.extend(f"  {quote(e.tail)} -> {quote(e.head)}{_attrs(e.attrs)};" for e in self.edges)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _write_body(self, cluster: Cluster, lines: list[str], indent: str) -> None:
        lines.extend(f"{indent}{quote(n.id)}{_attrs(n.attrs)};" for n in cluster.nodes)
        for sub in cluster.clusters:
            lines.append(f"{indent}subgraph {quote(sub.id)} {{")
            for key in sorted(sub.attrs):
                lines.append(f"{indent}  {key}={_value(sub.attrs[key])};")
            self._write_body(sub, lines, indent + "  ")
            if sub.same_rank and len(sub.nodes) > 1:
                lines.append(f"{indent}  {{rank=same; {' '.join(quote(n.id) for n in sub.nodes)}}}")
            lines.append(f"{indent}}}")
