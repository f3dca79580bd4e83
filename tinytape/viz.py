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
import re
from dataclasses import dataclass, field

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


# ---------------------------------------------------------------------------------- pictures
from .viz_draw import (DRAWN_WITHOUT_DOT, LEAF, MISSING_DOT, NODE, ROOT, Picture, dot, graph, have_dot, parse_dot, render,  # noqa: E402,F401
                       save, svg)


__all__ = ["Graph", "vertex", "op_name", "Entry", "TapeTable", "Picture", "entries", "table", "dot", "parse_dot", "svg", "graph",
           "render", "save", "have_dot", "sum_dims"]
