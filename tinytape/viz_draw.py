"""The tape as a picture: DOT for Graphviz, and an SVG drawn without it (a layered layout), with
inline display in Jupyter. The graph model and the table are in viz.py."""
import math
import re
import shutil
import subprocess
from pathlib import Path


from .tape import Node
from .viz import Graph, _esc, _norm, _shape, _shape_of, sum_dims  # noqa: F401


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


