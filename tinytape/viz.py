"""Seeing the tape: the recorded graph as a table in execution order, and as a picture.

    import tinytape.viz as viz
    print(viz.table(locals()))            # entry #, op, input shapes, output shape, broadcast sums
    viz.save(locals(), "out/tape.svg")    # tape.dot and tape.svg (Graphviz's drawing, or tinytape's own)
    viz.graph(locals())                   # in Jupyter: the picture inline (viz.table too shows as a table)

Graphviz's `dot` program, when installed, lays the graph out; without it tinytape draws it itself
(`svg()`: boxes in layers from the parameters up to the loss), so a picture is always there.

Everything takes the graph as a tensor (its root), a list of tensors, or a dict of named tensors
(`locals()`: the names label the entries); `None` means the live tape. The graph is read from the
nodes, as torch's `grad_fn` / `next_functions`: each recorded op is one node, named as torch names
it (`MulBackward0`), and a node stays after backward (only its saved values go), so this works
before and after `loss.backward()` (after it, each entry whose tensor is still alive shows the norm
of its gradient; an unnamed intermediate that nobody holds is gone, its node stays). Order: the
tape's own recording order while it still holds the nodes (before backward, or after
`backward(retain_graph=True)`); after a plain backward, a depth-first order rebuilt from the nodes:
the recording order for a forward pass written line by line, and a valid topological order always.
"""
import math
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import tape
from .shapes import broadcast_dims
from .tape import Node
from .tensor import Tensor

# ops whose rule returns a gradient of the output's shape for every input: the engine sums it
# back over the dims broadcasting stretched (tape._fit -> shapes.sum_to)
_ELEMENTWISE = frozenset({"AddBackward0", "SubBackward0", "MulBackward0", "DivBackward0", "WhereBackward0",
                          "ExpandBackward0"})


def vertex(t):
    """A tensor's vertex in the graph: the node that made it (its grad_fn), or itself for a leaf."""
    node = t.grad_fn
    return t if node is None else node


def _inputs(v):
    """A vertex's inputs, torch's next_functions: nodes, leaf tensors that require grad, or None
    (a constant, or a tensor that does not require grad)."""
    return v.inputs if type(v) is Node else ()


def _shape_of(v):
    return tuple(v.shape)


def op_name(name):
    """torch's grad_fn name as the aten op it comes from: MulBackward0 -> mul, NllLossBackward0 ->
    nll_loss, CopySlices -> copy_slices (for expressions, which read like the code)."""
    base = re.sub(r"Backward\d*$", "", name)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", base).lower()


# ---------------------------------------------------------------------------------- the graph
class Graph:
    """A recorded graph: its nodes in recording order, their names, and who consumes whom.

    A vertex is a recorded op's node (torch's grad_fn) or a leaf tensor that requires grad;
    `vertex(t)` is a tensor's.
    nodes      the recorded nodes, in recording order
    leaves     leaf tensors that require grad (parameters), in order of first use
    names      id(vertex) -> the name its tensor has in the dict it came from (first name, no `_` names)
    consumers  id(vertex) -> [(node, input position)] in recording order
    vertices   id(vertex) -> vertex, for every node and leaf
    """

    def __init__(self, tensors=None):
        named, roots = _collect(tensors)
        self.names, self._tensor = {}, {}
        for name, t in named:
            v = vertex(t)
            self.names.setdefault(id(v), name)
            self._tensor.setdefault(id(v), t)
        self.nodes = _order(roots)
        self.index = {id(n): i for i, n in enumerate(self.nodes)}
        self.consumers = {}
        seen_leaves = {}
        for n in self.nodes:
            for pos, u in enumerate(n.inputs):
                if u is None:
                    continue
                self.consumers.setdefault(id(u), []).append((n, pos))
                if type(u) is not Node:
                    seen_leaves.setdefault(id(u), u)
        self.leaves = list(seen_leaves.values())
        self.vertices = {id(v): v for v in self.nodes + self.leaves}

    def name(self, v):
        return self.names.get(id(v))

    def tensor(self, v):
        """The live tensor of a vertex (the named one first), or None once nobody holds it."""
        if type(v) is not Node:
            return v
        t = self._tensor.get(id(v))
        if t is None:
            t = v.out()
        return t if t is not None and t._node is v else None

    def grad(self, v):
        t = self.tensor(v)
        return None if t is None else t.grad

    def label(self, v, depth=2):
        """A vertex's name, or the expression that made it: `neg(mean(index(logprobs)))`."""
        if v is None:
            return "c"
        name = self.names.get(id(v))
        if name is not None:
            return name
        if type(v) is not Node:
            return "x" + _shape(v.shape)
        if depth == 0:
            return "..."
        return f"{op_name(v.name())}({', '.join(self.label(u, depth - 1) for u in v.inputs)})"

    def expression(self, v):
        """`probs = mul(counts, counts_sum_inv)`: the op that made v, with named operands. An
        unnamed result is shown inside the named one it leads to: `mm(h, W2)` in `logits = ...`."""
        body = f"{op_name(v.name())}({', '.join(self.label(u) for u in v.inputs)})"
        if id(v) in self.names:
            return f"{self.names[id(v)]} = {body}"
        ups = self.upstream(v)
        return f"{body}` in `{self.expression(ups[0])}" if ups else body

    def backward_order(self):
        """The order in which backward finishes each gradient: nodes in reverse recording order
        (when the tape processes them), each leaf right after its first consumer (the last one
        backward reaches, so its gradient is complete there)."""
        keyed = []
        n = len(self.nodes)
        for i, node in enumerate(self.nodes):
            keyed.append(((n - 1 - i, 0, 0), node))
        for t in self.leaves:
            first, pos = self.consumers[id(t)][0]
            keyed.append(((n - 1 - self.index[id(first)], 1, pos), t))
        keyed.sort(key=lambda kv: kv[0])
        return [v for _, v in keyed]

    def upstream(self, v):
        """The nearest named vertices whose gradients flow into v's (through unnamed results), in
        backward order."""
        out, seen, todo = [], set(), [c for c, _ in self.consumers.get(id(v), [])]
        while todo:
            c = todo.pop(0)
            if id(c) in seen:
                continue
            seen.add(id(c))
            if id(c) in self.names:
                out.append(c)
            else:
                todo.extend(cc for cc, _ in self.consumers.get(id(c), []))
        return sorted(out, key=lambda c: -self.index[id(c)])

    def uses(self, v):
        """[(node, input position)] for every use of v, in backward order."""
        return sorted(self.consumers.get(id(v), []), key=lambda cp: (-self.index[id(cp[0])], cp[1]))

    def roots(self):
        return [n for n in self.nodes if id(n) not in self.consumers]


def sum_dims(result, pos):
    """The dims of `result` (a node, or the tensor it made) over which the engine sums input
    `pos`'s gradient (broadcasting)."""
    node = result if type(result) is Node else result.grad_fn
    x = node.inputs[pos]
    if x is None:
        return ()
    out_shape, in_shape = node.shape, _shape_of(x)
    op = node.name()
    if op in _ELEMENTWISE or (op == "AddmmBackward0" and pos == 0):     # addmm's bias: broadcast too
        return broadcast_dims(out_shape, in_shape)
    if op == "UnsafeViewBackward0" and len(node.inputs) == 2 and len(in_shape) >= 2 and len(out_shape) > 2:
        return broadcast_dims(out_shape[:-2], in_shape[:-2])     # batch dims of a batched matmul
    return ()


def _collect(tensors):
    """(named tensors as [(name, tensor)], root vertices to walk from) from what the caller passed."""
    if tensors is None:
        return [], tape.nodes()
    if isinstance(tensors, Tensor):
        return [], [vertex(tensors)]
    if isinstance(tensors, dict):
        named = [(k, v) for k, v in tensors.items()
                 if isinstance(v, Tensor) and not str(k).startswith("_") and (v.grad_fn is not None or v._rg)]
        return named, [vertex(t) for _, t in named]
    return [], [vertex(t) for t in tensors if isinstance(t, Tensor)]


def _order(roots):
    """Nodes reachable from roots, in recording order (the tape's, when it has them all)."""
    order, seen = [], set()
    for root in roots:
        if type(root) is not Node or id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            n, done = stack.pop()
            if done:
                order.append(n)
                continue
            if id(n) in seen:
                continue
            seen.add(id(n))
            stack.append((n, True))
            for u in reversed(n.inputs):
                if type(u) is Node and id(u) not in seen:
                    stack.append((u, False))
    live = {id(n): i for i, n in enumerate(tape.nodes())}
    if order and all(id(n) in live for n in order):
        order.sort(key=lambda n: live[id(n)])
    return order


def _shape(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _norm(g):
    return None if g is None else float(np.linalg.norm(np.asarray(g, dtype=np.float64)))


# ---------------------------------------------------------------------------------- the table
@dataclass
class Entry:
    """One tape entry: what `table` prints."""
    index: int                      # 1-based, in execution (recording) order
    name: str                       # the variable name, or "" when unnamed
    op: str                         # torch's grad_fn name: MulBackward0
    inputs: list                    # [(label, shape, dims its gradient is summed over)]
    shape: tuple                    # the output's
    grad_norm: float = None         # ||grad|| after backward (while the tensor is alive), else None
    freed: bool = field(default=False)   # backward has run without retain_graph: the saved values are gone


def entries(tensors=None):
    """The graph's tape entries in execution order (see the module docstring for `tensors`)."""
    g = Graph(tensors)
    out = []
    for i, n in enumerate(g.nodes, 1):
        ins = [(g.label(u, depth=1), _shape_of(u), sum_dims(n, pos))
               for pos, u in enumerate(n.inputs) if u is not None]
        out.append(Entry(i, g.name(n) or "", n.name(), ins, tuple(n.shape), _norm(g.grad(n)), n.rule is None))
    return out


def table(tensors=None):
    """The tape as text, one entry a line: #, name, op, inputs with shapes, output shape, and the
    dims each input's gradient is summed over because broadcasting replicated it. The text is a
    TapeTable: a str that Jupyter displays as an HTML table."""
    es = entries(tensors)
    rows = [("#", "name", "op", "inputs", "output", "backward sums", "|grad|")]
    for e in es:
        ins = ", ".join(f"{lab} {_shape(s)}" for lab, s, _ in e.inputs)
        sums = "; ".join(f"{lab} over dim {', '.join(map(str, d))}" for lab, _, d in e.inputs if d)
        norm = "" if e.grad_norm is None else f"{e.grad_norm:.4g}"
        rows.append((str(e.index), e.name, e.op, ins, _shape(e.shape), sums, norm))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return TapeTable("\n".join(lines), es)


# ---------------------------------------------------------------------------------- the table, in Jupyter
class TapeTable(str):
    """The text of `table()`, which Jupyter shows as an HTML table (print() shows the text)."""

    def __new__(cls, text, entries=()):
        self = super().__new__(cls, text)
        self.entries = list(entries)
        return self

    def _repr_html_(self):
        head = ("#", "name", "op", "inputs", "output", "backward sums", "|grad|")
        rows = []
        for e in self.entries:
            ins = "<br>".join(f"{_esc(lab)} {_shape(s)}" for lab, s, _ in e.inputs)
            sums = "<br>".join(f"{_esc(lab)} over dim {', '.join(map(str, d))}" for lab, _, d in e.inputs if d)
            norm = "" if e.grad_norm is None else f"{e.grad_norm:.4g}"
            cells = (str(e.index), f"<b>{_esc(e.name)}</b>", _esc(e.op), ins, _shape(e.shape), sums, norm)
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        style = ' style="text-align:left; font-family:monospace; font-size:12px"'
        return (f"<table{style}><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
                + "".join(rows) + "</tbody></table>")

    def _repr_pretty_(self, p, cycle):          # IPython's plain text: the table, not its repr
        p.text(str(self))


def _esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ---------------------------------------------------------------------------------- DOT
# ---------------------------------------------------------------------------------- DOT
def _quote(s, lines=None):
    """A DOT string; `lines` joined with DOT's centred line break."""
    esc = (lambda x: str(x).replace("\\", "\\\\").replace('"', '\\"'))
    return '"' + ("\\n".join(map(esc, lines)) if lines is not None else esc(s)) + '"'


LEAF, ROOT, NODE = "#cfe2ff", "#ffd8a8", "white"


def _model(g):
    """The picture's content: nodes [(key, label lines, fill colour)] (leaves first, then the
    recorded ops in recording order) and edges [(input key, result key, label)]."""
    nodes, edges, ids = [], [], {}
    roots = {id(n) for n in g.roots()}
    for v in g.leaves + g.nodes:
        ids[id(v)] = f"t{len(ids)}"
        name = g.name(v)
        leaf = type(v) is not Node
        parts = ([name] if name else []) + ["leaf" if leaf else v.name(), _shape(_shape_of(v))]
        norm = _norm(g.grad(v))
        if norm is not None:
            parts.append(f"|grad| {norm:.3g}")
        color = LEAF if leaf else ROOT if id(v) in roots else NODE
        nodes.append((ids[id(v)], parts, color))
    for n in g.nodes:
        for pos, u in enumerate(n.inputs):
            if u is None or id(u) not in ids:
                continue
            d = sum_dims(n, pos)
            edges.append((ids[id(u)], ids[id(n)], "sum dims " + ",".join(map(str, d)) if d else ""))
    return nodes, edges


def dot(tensors=None, title="tinytape"):
    """The graph in Graphviz DOT: one box per recorded op and per parameter (name, torch's grad_fn
    name or "leaf", shape, and ||grad|| once backward has run, while the tensor is alive), an edge
    from each input to each result, labelled with the dims backward sums over.
    Parameters (leaves) are blue, the loss (a root) is orange."""
    nodes, edges = _model(Graph(tensors))
    lines = [f"digraph {_quote(title)} {{", "  rankdir=BT;",
             '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    for key, parts, color in nodes:
        lines.append(f"  {key} [label={_quote(None, parts)}, fillcolor={_quote(color)}];")
    for u, v, label in edges:
        lines.append(f"  {u} -> {v}" + (f" [label={_quote(label)}]" if label else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


_DOT_STR = r'"((?:[^"\\]|\\.)*)"'


def _unquote(s):
    return re.sub(r"\\(.)", lambda m: m.group(1), s)


def parse_dot(text):
    """(title, nodes, edges) of DOT text written by `dot()`, or None for any other DOT."""
    head = re.match(r"\s*digraph " + _DOT_STR + r" \{", text)
    if head is None:
        return None
    nodes, edges = [], []
    for line in text.splitlines()[1:]:
        m = re.fullmatch(r"\s*(t\d+) \[label=" + _DOT_STR + ", fillcolor=" + _DOT_STR + r"\];", line)
        if m:
            nodes.append((m[1], [_unquote(x) for x in m[2].split("\\n")], _unquote(m[3])))
            continue
        m = re.fullmatch(r"\s*(t\d+) -> (t\d+)(?: \[label=" + _DOT_STR + r"\])?;", line)
        if m:
            edges.append((m[1], m[2], _unquote(m[3] or "")))
    keys = {k for k, _, _ in nodes}
    if not nodes or any(u not in keys or v not in keys for u, v, _ in edges):
        return None
    return _unquote(head[1]), nodes, edges


# ---------------------------------------------------------------------------------- SVG without Graphviz
FONT, CHAR_W, LINE_H, PAD, GAP_X, GAP_Y, MARGIN = 11, 6.6, 14, 6, 18, 34, 12


def _layers(nodes, edges):
    """A layered layout: each result one layer above its highest input, each leaf right below its
    first consumer; inside a layer, boxes ordered by the mean position of their neighbours."""
    ins, outs = {k: [] for k, _, _ in nodes}, {k: [] for k, _, _ in nodes}
    for u, v, _ in edges:
        ins[v].append(u)
        outs[u].append(v)
    order = [k for k, _, _ in nodes]
    rank = {}
    for k in order:                              # recording order is a topological order
        if ins[k]:
            rank[k] = 1 + max(rank.get(u, 0) for u in ins[k])
    for k in reversed(order):
        if not ins[k]:
            rank[k] = max(0, min((rank[v] for v in outs[k] if v in rank), default=1) - 1)
    layers = {}
    for k in order:
        layers.setdefault(rank[k], []).append(k)
    levels = [layers[r] for r in sorted(layers)]
    pos = {k: i for level in levels for i, k in enumerate(level)}
    for sweep in range(4):                       # barycentre sweeps, up then down
        for level in (levels if sweep % 2 == 0 else reversed(levels)):
            near = ins if sweep % 2 == 0 else outs

            def centre(k):
                ns = [pos[n] for n in near[k]]
                return sum(ns) / len(ns) if ns else pos[k]
            level.sort(key=centre)
            for i, k in enumerate(level):
                pos[k] = i
    return levels, ins


def svg(dot_source):
    """An SVG picture of DOT text written by `dot()`, drawn here without Graphviz: boxes in
    layers from the parameters (bottom) to the loss (top), curved edges with their labels."""
    parsed = parse_dot(dot_source)
    if parsed is None:
        raise ValueError("svg() draws the DOT that tinytape.viz.dot() writes; render other DOT with Graphviz")
    title, nodes, edges = parsed
    label = {k: lines for k, lines, _ in nodes}
    fill = {k: c for k, _, c in nodes}
    levels, ins = _layers(nodes, edges)
    size = {k: (max(len(x) for x in label[k]) * CHAR_W + 2 * PAD, len(label[k]) * LINE_H + 2 * PAD) for k in label}
    x = {}
    for level in levels:                         # left to right, each box near its inputs
        want = {k: (sum(x[u] for u in ins[k] if u in x) / max(1, sum(u in x for u in ins[k])))
                if any(u in x for u in ins[k]) else 0.0 for k in level}
        right, placed = -math.inf, []
        for k in level:
            w = size[k][0]
            cx = max(want[k], right + GAP_X + w / 2)
            placed.append(cx)
            right = cx + w / 2
        shift = sum(c - want[k] for c, k in zip(placed, level)) / len(level)
        for c, k in zip(placed, level):
            x[k] = c - shift
    heights = [max(size[k][1] for k in level) for level in levels]
    left = min(x[k] - size[k][0] / 2 for k in x) - MARGIN
    width = max(x[k] + size[k][0] / 2 for k in x) - left + MARGIN + 60     # room for the long edges
    height = sum(heights) + GAP_Y * (len(levels) - 1) + 2 * MARGIN + LINE_H
    y, top = {}, height - MARGIN
    for level, h in zip(levels, heights):        # the first layer at the bottom
        for k in level:
            y[k] = top - h / 2
        top -= h + GAP_Y
    width, height = math.ceil(width), math.ceil(height)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}px" height="{height}px" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="{FONT}">',
           f"<title>{_esc(title)}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555555"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{MARGIN}" y="{MARGIN + FONT}" font-weight="bold">{_esc(title)}</text>']
    level_of = {k: i for i, level in enumerate(levels) for k in level}
    lanes = {}                                   # long edges go round the layers they skip, on the right
    for u, v, text in edges:
        a, b = level_of[u], level_of[v]
        if b - a > 1:
            edge_right = max(x[k] + size[k][0] / 2 for level in levels[a:b + 1] for k in level)
            lane = lanes.setdefault((round(edge_right), a, b), len(lanes))
            xr = edge_right - left + 10 + 7 * (lane % 6)
            x1, y1 = x[u] - left + size[u][0] / 2, y[u]
            x2, y2 = x[v] - left + size[v][0] / 2, y[v]
            d = (f"M {x1:.1f} {y1:.1f} C {xr:.1f} {y1:.1f}, {xr:.1f} {y1:.1f}, {xr:.1f} {y1 - 12:.1f} "
                 f"L {xr:.1f} {y2 + 12:.1f} C {xr:.1f} {y2:.1f}, {xr:.1f} {y2:.1f}, {x2:.1f} {y2:.1f}")
            tx, ty = xr + 3, (y1 + y2) / 2
        else:
            x1, y1 = x[u] - left, y[u] - size[u][1] / 2
            x2, y2 = x[v] - left, y[v] + size[v][1] / 2
            my = (y1 + y2) / 2
            d = f"M {x1:.1f} {y1:.1f} C {x1:.1f} {my:.1f}, {x2:.1f} {my:.1f}, {x2:.1f} {y2:.1f}"
            tx, ty = (x1 + x2) / 2 + 4, my + 3
        out.append(f'<g class="edge"><path d="{d}" fill="none" stroke="#555555" marker-end="url(#arrow)"/>')
        if text:
            out.append(f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="{FONT - 2}" fill="#555555">{_esc(text)}</text>')
        out.append("</g>")
    for k, lines, _ in nodes:
        w, h = size[k]
        cx, cy = x[k] - left, y[k]
        out.append(f'<g class="node" id="node_{k}"><rect x="{cx - w / 2:.1f}" y="{cy - h / 2:.1f}" width="{w:.1f}" '
                   f'height="{h:.1f}" rx="5" fill="{_esc(fill[k])}" stroke="black"/>')
        for i, line in enumerate(lines):
            ty = cy - h / 2 + PAD + (i + 0.8) * LINE_H
            bold = ' font-weight="bold"' if i == 0 and len(lines) > 2 else ""
            out.append(f'<text x="{cx:.1f}" y="{ty:.1f}" text-anchor="middle"{bold}>{_esc(line)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def have_dot():
    """True when Graphviz's `dot` program is on the PATH (its layout is finer; without it, svg()
    draws the graph)."""
    return shutil.which("dot") is not None


MISSING_DOT = ("Graphviz's `dot` program is not installed, so only the .dot file was written. To see "
               "the picture, install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
               "install graphviz) and run: dot -Tsvg {dot} -o {svg}")
DRAWN_WITHOUT_DOT = ("drew {svg} without Graphviz ({fmt} needs Graphviz's `dot` program: apt-get install "
                     "graphviz, or brew install graphviz)")


def render(dot_source, path, quiet=False):
    """Write DOT to `path`. For a .svg, .png or .pdf path, also write the .dot beside it and render
    it with Graphviz. Without Graphviz's `dot`, tinytape draws the graph itself (svg()): as `path`
    for .svg; for .png and .pdf as the .svg beside it, with a note. Returns the path of the picture
    (or of the .dot file for a .dot path); None only for DOT that tinytape did not write, without
    Graphviz (a note says how to render it)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("dot", "gv", "svg", "png", "pdf"):
        raise ValueError(f"render: unknown picture format {fmt!r} (use .svg, .png, .pdf or .dot)")
    path.parent.mkdir(parents=True, exist_ok=True)
    dot_path = path if fmt in ("dot", "gv") else path.with_suffix(".dot")
    dot_path.write_text(dot_source)
    if dot_path == path:
        return path
    exe = shutil.which("dot")
    if exe is None:
        picture = path.with_suffix(".svg")
        if parse_dot(dot_source) is None:
            if not quiet:
                print(MISSING_DOT.format(dot=dot_path, svg=picture))
            return None
        picture.write_text(svg(dot_source))
        if fmt != "svg" and not quiet:
            print(DRAWN_WITHOUT_DOT.format(svg=picture, fmt=fmt.upper()))
        return picture
    subprocess.run([exe, f"-T{fmt}", str(dot_path), "-o", str(path)], check=True,
                   capture_output=True, timeout=60)
    return path


def save(tensors, path, title="tinytape", quiet=False):
    """dot(tensors) rendered to `path` (see render)."""
    return render(dot(tensors, title), path, quiet=quiet)


class Picture:
    """The graph as a picture that Jupyter shows inline: `.dot` (the DOT text), `.svg()` (Graphviz's
    drawing when `dot` is installed, else tinytape's own), `.save(path)`."""

    def __init__(self, dot_source):
        self.dot = dot_source

    def svg(self):
        exe = shutil.which("dot")
        if exe is not None:
            done = subprocess.run([exe, "-Tsvg"], input=self.dot, capture_output=True, text=True, timeout=60)
            if done.returncode == 0:
                return done.stdout
        return svg(self.dot)

    def _repr_svg_(self):
        return self.svg()

    def save(self, path, quiet=False):
        return render(self.dot, path, quiet=quiet)


def graph(tensors=None, title="tinytape"):
    """The graph as a Picture: in Jupyter, `viz.graph(locals())` as a cell's last line draws it."""
    return Picture(dot(tensors, title))


__all__ = ["Graph", "vertex", "op_name", "Entry", "TapeTable", "Picture", "entries", "table", "dot", "parse_dot", "svg", "graph",
           "render", "save", "have_dot", "sum_dims"]
