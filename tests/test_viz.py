"""tinytape.viz: the tape as a table in execution order, and as Graphviz DOT (SVG/PNG with `dot`)."""
import re
import shutil

import numpy as np
import pytest
import torch

import tinytape
from tinytape import viz
from demos import lecture
from images import png_size, svg_size

# the lecture's forward, one entry per op in demos/lecture.py's `forward`, in the order written, each
# named by torch's grad_fn (test_the_lecture_ops_are_torchs checks them against torch's own graph)
LECTURE_OPS = ["IndexBackward0", "ViewBackward0", "MmBackward0", "AddBackward0", "SumBackward1", "MulBackward0",
               "SubBackward0", "PowBackward0", "SumBackward1", "MulBackward0", "AddBackward0", "PowBackward0",
               "MulBackward0", "MulBackward0", "AddBackward0", "TanhBackward0", "MmBackward0", "AddBackward0",
               "MaxBackward0", "SubBackward0", "ExpBackward0", "SumBackward1", "PowBackward0", "MulBackward0",
               "LogBackward0", "IndexBackward0", "MeanBackward0", "NegBackward0"]


def lecture_tensors(backward=True, lib=tinytape):
    return lecture.run(lib, lecture.setup(use_torch=False), backward=backward)


def walk(tensors):
    """torch's public graph API, on torch or tinytape tensors: the grad_fn nodes reachable from the
    tensors (id -> node), the leaves (ids of AccumulateGrad's variables) and the number of edges."""
    fns, leaves, edges = {}, set(), 0
    stack = [v.grad_fn for v in tensors.values() if v.grad_fn is not None]
    while stack:
        f = stack.pop()
        if id(f) in fns:
            continue
        fns[id(f)] = f
        for u, _ in f.next_functions:
            if u is None:
                continue
            edges += 1
            if hasattr(u, "variable"):
                leaves.add(id(u.variable))
            else:
                stack.append(u)
    return fns, leaves, edges


def torch_freed(fn):
    """Whether torch's backward freed a node: reading one of its saved tensors raises."""
    for a in dir(fn):
        if a.startswith("_saved_"):
            try:
                getattr(fn, a)
            except RuntimeError:
                return True
    return False


def test_the_lecture_ops_are_torchs():
    ours, theirs = lecture_tensors(), lecture_tensors(lib=torch)
    for name, t in theirs.items():
        if t.grad_fn is not None:
            assert ours[name].grad_fn.name() == t.grad_fn.name(), name
    fns, leaves, edges = walk(ours)
    t_fns, t_leaves, t_edges = walk(theirs)
    assert sorted(f.name() for f in fns.values()) == sorted(f.name() for f in t_fns.values()) == sorted(LECTURE_OPS)
    assert len(leaves) == len(t_leaves) == 7 and edges == t_edges


def small():
    x = tinytape.tensor(np.arange(3.0).reshape(3, 1), requires_grad=True)
    w = tinytape.tensor(np.ones((1, 4)), requires_grad=True)
    y = x * w                                          # (3, 4): x over dim 1, w over dim 0
    s = y.sum(1)
    loss = s.mean()
    return {"x": x, "w": w, "y": y, "s": s, "loss": loss}


def test_entries_of_a_small_graph_name_ops_shapes_and_broadcast_sums():
    es = viz.entries(small())
    assert [(e.index, e.name, e.op, e.shape) for e in es] == [
        (1, "y", "MulBackward0", (3, 4)), (2, "s", "SumBackward1", (3,)), (3, "loss", "MeanBackward0", ())]
    assert es[0].inputs == [("x", (3, 1), (1,)), ("w", (1, 4), (0,))]
    assert es[1].inputs == [("y", (3, 4), ())]
    assert all(e.grad_norm is None for e in es)


def test_broadcast_sums_of_leading_dims_and_batched_matmul():
    a = tinytape.tensor(np.ones((2, 3, 4)), requires_grad=True)
    b = tinytape.tensor(np.ones(4), requires_grad=True)
    m = tinytape.tensor(np.ones((4, 5)), requires_grad=True)
    out = (a + b) @ m                                  # b: dims 0, 1; m: batch dim 0
    (e_add, e_mm) = viz.entries(out)
    ta, tb, tm = (torch.from_numpy(np.asarray(x)).requires_grad_() for x in (a, b, m))
    t_add = ta + tb
    assert (e_add.op, e_mm.op) == (t_add.grad_fn.name(), (t_add @ tm).grad_fn.name()) == \
        ("AddBackward0", "UnsafeViewBackward0")
    assert e_add.inputs[1][2] == (0, 1) and e_add.inputs[0][2] == ()
    assert e_mm.inputs[1][2] == (0,) and e_mm.inputs[0][2] == ()


def test_lecture_tape_in_execution_order_before_and_after_backward():
    t = lecture_tensors(backward=False)
    before = viz.entries(t)                            # the tape's own order
    t["loss"].backward()
    after = viz.entries(t)                             # rebuilt from the nodes
    assert [e.op for e in before] == LECTURE_OPS == [e.op for e in after]
    assert [e.name for e in before] == [e.name for e in after]
    assert before[0].name == "emb" and after[-1].name == "loss"
    named = {e.name: e for e in after if e.name}
    for name, e in named.items():
        assert e.grad_norm == pytest.approx(float(np.linalg.norm(np.asarray(t[name].grad, np.float64))))
    assert all(e.grad_norm is None for e in after if not e.name)    # an unnamed intermediate is gone: no .grad
    assert not any(e.freed for e in before)
    # freed where torch's backward frees (reading a saved tensor raises), but for a product with a Python
    # number (`1/n*hprebn.sum(0)`): torch saves the number as a tensor, tinytape's rule needs nothing saved
    fns, _, _ = walk(lecture_tensors(lib=torch))
    scalar_mul = lambda op, n_in: op == "MulBackward0" and n_in == 1          # noqa: E731
    theirs = sorted((f.name(), torch_freed(f)) for f in fns.values()
                    if not scalar_mul(f.name(), sum(u is not None for u, _ in f.next_functions)))
    ours = sorted((e.op, e.freed) for e in after if not scalar_mul(e.op, len(e.inputs)))
    assert ours == theirs and len(ours) == len(LECTURE_OPS) - 2
    assert [e.freed for e in after if scalar_mul(e.op, len(e.inputs))] == [False, False]
    assert named["probs"].inputs[1] == ("counts_sum_inv", (32, 1), (1,))
    assert named["hprebn"].inputs[1] == ("b1", (64,), (0,))


def test_table_text_has_one_line_per_entry(capsys):
    t = lecture_tensors()
    text = viz.table(t)
    lines = text.splitlines()
    assert len(lines) == 2 + len(LECTURE_OPS)
    assert lines[0].split("|")[0].strip() == "#"
    row = next(line for line in lines if " probs " in line)
    assert "counts_sum_inv over dim 1" in row and "(32, 27)" in row


def test_live_tape_is_the_default():
    before = len(viz.entries())                        # whatever other live graphs hold
    t = small()
    live = viz.entries()
    assert len(live) == before + 3 and [e.op for e in live[-3:]] == ["MulBackward0", "SumBackward1", "MeanBackward0"]
    t["loss"].backward()
    # backward freed the entry that saved values (mul: still in the graph, as torch's, but freed); the two
    # that saved nothing stay on the tape, walkable again
    after = viz.entries()
    assert len(after) == before + 3 and [(e.op, e.freed) for e in after[-3:]] == [
        ("MulBackward0", True), ("SumBackward1", False), ("MeanBackward0", False)]
    del t, after
    assert len(viz.entries()) == before                # nobody holds the graph any more: it is gone


def test_dot_has_a_node_per_tensor_and_an_edge_per_input():
    t = lecture_tensors()
    text = viz.dot(t)
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    nodes = re.findall(r"^\s+(t\d+) \[label=", text, re.M)
    edges = re.findall(r"^\s+(t\d+) -> (t\d+)", text, re.M)
    # counted with torch's graph API (grad_fn, next_functions): the ops, the leaves they use, their inputs
    fns, leaves, n_inputs = walk(t)
    assert len(nodes) == len(set(nodes)) == len(fns) + len(leaves) == len(LECTURE_OPS) + 7
    assert len(edges) == n_inputs == walk(lecture_tensors(lib=torch))[2]
    # after backward, every box whose tensor is alive (the named ones) has its norm; unnamed intermediates are gone
    _, boxes_, _ = viz.parse_dot(text)
    named = [lines for _, lines, _ in boxes_ if lines[0] in t]
    assert len(named) == sum(v.requires_grad for v in t.values()) == 20 + 7
    assert text.count("|grad|") == len(named) and all(lines[-1].startswith("|grad|") for lines in named)
    assert 'label="sum dims 1"' in text
    assert "|grad|" not in viz.dot(small())            # before backward: no norms


def boxes(svg_text):
    """node key -> (x, y, width, height) of its box in an SVG that viz.svg drew."""
    import xml.etree.ElementTree as ET
    ns = "{http://www.w3.org/2000/svg}"
    out = {}
    for g in ET.fromstring(svg_text).iter(ns + "g"):
        if g.get("class") == "node":
            r = g.find(ns + "rect")
            out[g.get("id").removeprefix("node_")] = tuple(float(r.get(a)) for a in ("x", "y", "width", "height"))
    return out


def test_without_graphviz_tinytape_draws_the_graph_itself(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not viz.have_dot()
    t = lecture_tensors()
    out = viz.save(t, tmp_path / "g.svg")
    assert out == tmp_path / "g.svg" and (tmp_path / "g.dot").read_text() == viz.dot(t)
    w, h = svg_size(out)
    assert h > 3 * w > 300                                # a chain of 35 boxes, drawn bottom to top
    assert capsys.readouterr().out == ""                   # nothing to say: the picture is there
    _, nodes, edges = viz.parse_dot(viz.dot(t))
    pos = boxes(out.read_text())
    assert len(pos) == len(nodes) == len(LECTURE_OPS) + 7 and len(edges) == len(re.findall('class="edge"', out.read_text()))
    for u, v, _ in edges:                                  # every input sits below the result it feeds
        assert pos[u][1] > pos[v][1] + pos[v][3], (u, v)
    rects = list(pos.values())                             # and no two boxes overlap
    for i, (x, y, bw, bh) in enumerate(rects):
        for (x2, y2, bw2, bh2) in rects[i + 1:]:
            assert x + bw <= x2 or x2 + bw2 <= x or y + bh <= y2 or y2 + bh2 <= y
    text = out.read_text()
    for word in ("loss", "logprobs", "W1", "sum dims 1", "|grad|"):
        assert word in text


def test_without_graphviz_a_png_is_drawn_as_svg_and_foreign_dot_is_left_as_dot(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = viz.save(small(), tmp_path / "g.png")
    assert out == tmp_path / "g.svg" and svg_size(out) and not (tmp_path / "g.png").exists()
    note = capsys.readouterr().out
    assert "drew" in note and "PNG needs Graphviz" in note and "apt-get install graphviz" in note
    foreign = 'digraph G { a -> b; }'
    assert viz.render(foreign, tmp_path / "f.svg") is None
    assert (tmp_path / "f.dot").read_text() == foreign and not (tmp_path / "f.svg").exists()
    note = capsys.readouterr().out
    assert "not installed" in note and "dot -Tsvg" in note


def test_the_table_and_the_graph_show_inline_in_jupyter(monkeypatch):
    t = lecture_tensors()
    table = viz.table(t)
    assert isinstance(table, str) and table == str(table)  # print() and string use are unchanged
    html = table._repr_html_()
    assert html.count("<tr>") == len(LECTURE_OPS) + 1 and "<b>logprobs</b>" in html and "bnvar_inv over dim 0" in html
    monkeypatch.setattr(shutil, "which", lambda name: None)
    picture = viz.graph(t, title="the forward pass")
    svg = picture._repr_svg_()
    assert svg.startswith("<svg") and "the forward pass" in svg and len(boxes(svg)) == len(LECTURE_OPS) + 7
    assert picture.dot == viz.dot(t, title="the forward pass")


def test_parse_dot_reads_back_what_dot_writes():
    t = lecture_tensors()
    title, nodes, edges = viz.parse_dot(viz.dot(t, title='a "quoted" title'))
    assert title == 'a "quoted" title'
    assert [lines[0] for _, lines, _ in nodes if lines[0] == "loss"] == ["loss"]
    assert sum(color == viz.LEAF for _, _, color in nodes) == 7 and sum(color == viz.ROOT for _, _, color in nodes) == 1
    assert ("sum dims 1" in {label for _, _, label in edges}) and viz.parse_dot("graph { }") is None


def test_render_rejects_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="format"):
        viz.render(viz.dot(small()), tmp_path / "g.jpg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_with_graphviz_writes_valid_svg_and_png_of_the_same_size(tmp_path):
    t = lecture_tensors()
    text = viz.dot(t)
    svg = viz.render(text, tmp_path / "tape.svg")
    png = viz.render(text, tmp_path / "tape.png")
    w_pt, h_pt = svg_size(svg)
    w_px, h_px = png_size(png)
    assert h_pt > 3 * w_pt                             # a chain of 35 boxes, drawn bottom to top
    assert abs(w_px - w_pt * 96 / 72) <= 2 and abs(h_px - h_pt * 96 / 72) <= 2   # dot's 96 dpi
    assert svg.read_text().count("<g id=\"node") == len(LECTURE_OPS) + 7
