"""Seeing the tape: the recorded graph as a table in execution order, and as Graphviz DOT.

    import tinytape.viz as viz
    print(viz.table(locals()))            # entry #, op, input shapes, output shape, broadcast sums
    viz.save(locals(), "out/tape.svg")    # tape.dot, plus tape.svg when Graphviz's `dot` is installed

Everything takes the graph as a tensor (its root), a list of tensors, or a dict of named tensors
(`locals()`: the names label the entries); `None` means the live tape. The graph is read from
the nodes the tape leaves on each result (`tape.op(t)`, `tape.inputs(t)`), which stay after
backward, so this works before and after `loss.backward()` (after it, each node shows the norm of
its gradient). Order: the tape's own recording order while it still holds the entries (before
backward, or after `backward(retain_graph=True)`); after a plain backward, a depth-first order
rebuilt from the nodes: the recording order for a forward pass written line by line, and a valid
topological order always.
"""
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import tape
from .shapes import broadcast_dims
from .tensor import Tensor

# ops whose rule returns a gradient of the output's shape for every input: the engine sums it
# back over the dims broadcasting stretched (tape._fit -> shapes.sum_to)
_ELEMENTWISE = frozenset({"add", "sub", "mul", "div", "where", "expand"})


# ---------------------------------------------------------------------------------- the graph
class Graph:
    """A recorded graph: its tensors in recording order, their names, and who consumes whom.

    nodes      recorded results (tensors with a node), in recording order
    leaves     leaf tensors that require grad (parameters), in order of first use
    names      id(tensor) -> the name it has in the dict it came from (first name, no `_` names)
    consumers  id(tensor) -> [(result, input position)] in recording order
    """

    def __init__(self, tensors=None):
        named, roots = _collect(tensors)
        self.names = {}
        for name, t in named:
            self.names.setdefault(id(t), name)
        self.nodes = _order(roots)
        self.index = {id(t): i for i, t in enumerate(self.nodes)}
        self.consumers = {}
        seen_leaves = {}
        for t in self.nodes:
            for pos, u in enumerate(tape.inputs(t)):
                if u is None:
                    continue
                self.consumers.setdefault(id(u), []).append((t, pos))
                if u._node is None and u._rg:
                    seen_leaves.setdefault(id(u), u)
        self.leaves = list(seen_leaves.values())
        self.tensors = {id(t): t for t in self.nodes + self.leaves}

    def name(self, t):
        return self.names.get(id(t))

    def label(self, t, depth=2):
        """A tensor's name, or the expression that made it: `neg(mean(index(logprobs)))`."""
        if t is None:
            return "c"
        name = self.names.get(id(t))
        if name is not None:
            return name
        if t._node is None:
            return "x" + _shape(t.shape)
        if depth == 0:
            return "..."
        op, inputs = tape.op(t), tape.inputs(t)
        return f"{op}({', '.join(self.label(u, depth - 1) for u in inputs)})"

    def expression(self, t):
        """`probs = mul(counts, counts_sum_inv)`: the entry that made t, with named operands. An
        unnamed result is shown inside the named one it leads to: `matmul(h, W2)` in `logits = ...`."""
        op, inputs = tape.op(t), tape.inputs(t)
        body = f"{op}({', '.join(self.label(u) for u in inputs)})"
        if id(t) in self.names:
            return f"{self.names[id(t)]} = {body}"
        ups = self.upstream(t)
        return f"{body}` in `{self.expression(ups[0])}" if ups else body

    def backward_order(self):
        """The order in which backward finishes each gradient: recorded results in reverse recording
        order (when the tape processes their entry), each leaf right after the entry of its first
        consumer (the last one backward reaches, so its gradient is complete there)."""
        keyed = []
        n = len(self.nodes)
        for i, t in enumerate(self.nodes):
            keyed.append(((n - 1 - i, 0, 0), t))
        for t in self.leaves:
            first, pos = self.consumers[id(t)][0]
            keyed.append(((n - 1 - self.index[id(first)], 1, pos), t))
        keyed.sort(key=lambda kt: kt[0])
        return [t for _, t in keyed]

    def upstream(self, t):
        """The nearest named tensors whose gradients flow into t's (through unnamed results), in
        backward order."""
        out, seen, todo = [], set(), [c for c, _ in self.consumers.get(id(t), [])]
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

    def uses(self, t):
        """[(result, input position)] for every use of t, in backward order."""
        return sorted(self.consumers.get(id(t), []), key=lambda cp: (-self.index[id(cp[0])], cp[1]))

    def roots(self):
        return [t for t in self.nodes if id(t) not in self.consumers]


def sum_dims(result, pos):
    """The dims of `result` over which the engine sums input `pos`'s gradient (broadcasting)."""
    op, inputs = tape.op(result), tape.inputs(result)
    x = inputs[pos]
    if x is None:
        return ()
    out_shape, in_shape = result.shape, x.shape
    if op in _ELEMENTWISE:
        return broadcast_dims(out_shape, in_shape)
    if op == "matmul" and x.ndim >= 2 and len(out_shape) > 2:
        return broadcast_dims(out_shape[:-2], in_shape[:-2])     # batch dims of a batched matmul
    return ()


def _collect(tensors):
    """(named tensors as [(name, tensor)], roots to walk from) from what the caller passed."""
    if tensors is None:
        live = tape.entries()
        return [], live
    if isinstance(tensors, Tensor):
        return [], [tensors]
    if isinstance(tensors, dict):
        named = [(k, v) for k, v in tensors.items()
                 if isinstance(v, Tensor) and not str(k).startswith("_") and (v._node is not None or v._rg)]
        return named, [t for _, t in named]
    ts = [t for t in tensors if isinstance(t, Tensor)]
    return [], ts


def _order(roots):
    """Recorded results reachable from roots, in recording order (the tape's, when it has them)."""
    order, seen = [], set()
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            t, done = stack.pop()
            if done:
                order.append(t)
                continue
            if id(t) in seen:
                continue
            seen.add(id(t))
            if t._node is None:
                continue
            stack.append((t, True))
            for u in reversed(tape.inputs(t)):
                if u is not None and u._node is not None and id(u) not in seen:
                    stack.append((u, False))
    live = {id(t): i for i, t in enumerate(tape.entries())}
    if order and all(id(t) in live for t in order):
        order.sort(key=lambda t: live[id(t)])
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
    op: str
    inputs: list                    # [(label, shape, dims its gradient is summed over)]
    shape: tuple                    # the output's
    grad_norm: float = None         # ||grad|| after backward, else None
    freed: bool = field(default=False)   # backward has run without retain_graph: the rule is gone


def entries(tensors=None):
    """The graph's tape entries in execution order (see the module docstring for `tensors`)."""
    g = Graph(tensors)
    out = []
    for i, t in enumerate(g.nodes, 1):
        ins = [(g.label(u, depth=1), tuple(u.shape), sum_dims(t, pos))
               for pos, u in enumerate(tape.inputs(t)) if u is not None]
        out.append(Entry(i, g.name(t) or "", tape.op(t), ins, tuple(t.shape), _norm(t.grad), tape.freed(t)))
    return out


def table(tensors=None):
    """The tape as text, one entry a line: #, name, op, inputs with shapes, output shape, and the
    dims each input's gradient is summed over because broadcasting replicated it."""
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
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- DOT
def _quote(s, lines=None):
    """A DOT string; `lines` joined with DOT's centred line break."""
    esc = (lambda x: str(x).replace("\\", "\\\\").replace('"', '\\"'))
    return '"' + ("\\n".join(map(esc, lines)) if lines is not None else esc(s)) + '"'


def dot(tensors=None, title="tinytape"):
    """The graph in Graphviz DOT: one box per tensor (name, op, shape, and ||grad|| once backward
    has run), an edge from each input to each result, labelled with the dims backward sums over.
    Parameters (leaves) are blue, the loss (a root) is orange."""
    g = Graph(tensors)
    lines = [f"digraph {_quote(title)} {{", "  rankdir=BT;",
             '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    ids = {}
    roots = {id(t) for t in g.roots()}
    for t in g.leaves + g.nodes:
        ids[id(t)] = f"t{len(ids)}"
        name = g.name(t)
        op = "leaf" if t._node is None else tape.op(t)
        parts = ([name] if name else []) + [op, _shape(t.shape)]
        norm = _norm(t.grad)
        if norm is not None:
            parts.append(f"|grad| {norm:.3g}")
        color = "#cfe2ff" if t._node is None else "#ffd8a8" if id(t) in roots else "white"
        lines.append(f"  {ids[id(t)]} [label={_quote(None, parts)}, fillcolor={_quote(color)}];")
    for t in g.nodes:
        for pos, u in enumerate(tape.inputs(t)):
            if u is None or id(u) not in ids:
                continue
            d = sum_dims(t, pos)
            attr = f" [label={_quote('sum dims ' + ','.join(map(str, d)))}]" if d else ""
            lines.append(f"  {ids[id(u)]} -> {ids[id(t)]}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def have_dot():
    """True when Graphviz's `dot` program is on the PATH (needed for SVG/PNG, not for DOT)."""
    return shutil.which("dot") is not None


MISSING_DOT = ("Graphviz's `dot` program is not installed, so only the .dot file was written. To see "
               "the picture, install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
               "install graphviz) and run: dot -Tsvg {dot} -o {svg}  (or paste the .dot file into any "
               "online Graphviz viewer).")


def render(dot_source, path, quiet=False):
    """Write DOT to `path`. For a .svg or .png path, also write the .dot beside it and render with
    Graphviz; without `dot` installed, print a note saying how and return None. Returns the path of
    the picture (or of the .dot file for a .dot path)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower()
    dot_path = path if fmt in ("dot", "gv") else path.with_suffix(".dot")
    dot_path.write_text(dot_source)
    if dot_path == path:
        return path
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"render: unknown picture format {fmt!r} (use .svg, .png, .pdf or .dot)")
    exe = shutil.which("dot")
    if exe is None:
        if not quiet:
            print(MISSING_DOT.format(dot=dot_path, svg=path.with_suffix(".svg")))
        return None
    subprocess.run([exe, f"-T{fmt}", str(dot_path), "-o", str(path)], check=True,
                   capture_output=True, timeout=60)
    return path


def save(tensors, path, title="tinytape", quiet=False):
    """dot(tensors) rendered to `path` (see render)."""
    return render(dot(tensors, title), path, quiet=quiet)


__all__ = ["Graph", "Entry", "entries", "table", "dot", "render", "save", "have_dot", "sum_dims"]
