"""The exercise checker: your hand-written gradients against the tape's, by name.

    loss.backward()
    ...                                   # your manual backward: dlogprobs, dprobs, ...
    result = tinytape.check.gradients({"logprobs": dlogprobs, "probs": dprobs, ...}, locals())

prints the lecture's table (`name | exact | approximate | maxdiff`) in backward order, and one
verdict that points at the first wrong gradient whose upstream is right:

    dcounts is wrong; its inputs dprobs and dcounts_sum are right: look at how counts is used twice ...

Manual gradients are numpy arrays or tinytape tensors, keyed by the forward tensor's name
(`"logprobs"` or `"dlogprobs"`). A gradient must have its tensor's exact shape: a (64,) where
(1, 64) is due fails, even though broadcasting would hide it in `==`. `approximate` uses the
float32 tolerance for composites of docs/precision.md (|d| <= rtol*|ref| + atol_scale*max|ref| +
atol_floor, rtol 1e-4; float64: 1e-10) unless you pass `rtol`/`atol` (then it is torch.allclose's test).
Input that cannot be checked (an empty dict, names that are no forward tensor, a value that is not an
array of numbers, tensors before backward) gets a message that says what is wrong. The returned
`Result` has `.rows`, `.verdict` ("pass", "fail" or "incomplete"), `.first_wrong` and `.message`.

`cmp(name, manual, tensor)` is the lecture's one-liner: one row, printed and returned.
"""
import difflib
import math
import sys
from dataclasses import dataclass, field

import numpy as np

from .tensor import Tensor
from .viz import Graph, sum_dims, vertex

# (rtol, atol scale on max|ref|, atol floor) for the less precise of the two dtypes compared
_TOL = {4: (1e-4, 1e-5, 1e-7), 8: (1e-10, 1e-12, 1e-15)}


@dataclass
class Row:
    """One gradient compared. status: right (approximately equal, same shape), wrong (values),
    shape (shapes differ), missing (not handed in), nograd (the tensor has no .grad), unknown
    (no forward tensor of that name), invalid (not an array of numbers)."""
    name: str
    status: str
    exact: bool = False
    approximate: bool = False
    maxdiff: float = math.nan
    shape: tuple = None             # the manual gradient's
    expected_shape: tuple = None    # the tensor's
    hint: str = ""

    @property
    def ok(self):
        return self.status == "right"

    def line(self):
        if self.status in ("missing", "nograd", "unknown", "invalid"):
            return f"{self.name:15s} | {self.hint}"
        s = (f"{self.name:15s} | exact: {str(self.exact):5s} | approximate: {str(self.approximate):5s} "
             f"| maxdiff: {self.maxdiff}")
        if self.status == "shape":
            s += f"  <- shape {_fmt(self.shape)}, expected {_fmt(self.expected_shape)}"
        return s


@dataclass
class Result:
    rows: list
    verdict: str                    # "pass": all handed in and right; "fail"; "incomplete"
    first_wrong: str = None         # the tensor name of the first wrong gradient, in backward order
    message: str = ""
    missing: list = field(default_factory=list)
    unknown: list = field(default_factory=list)

    @property
    def ok(self):
        return self.verdict == "pass"

    def row(self, name):
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def table(self):
        return "\n".join([r.line() for r in self.rows] + [self.message])

    __str__ = table


def _fmt(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _array(x):
    if isinstance(x, Tensor):
        return np.asarray(x)
    if hasattr(x, "detach") and hasattr(x, "numpy"):        # a torch tensor, say
        return x.detach().numpy()
    return np.asarray(x)


def _not_numbers(name, value):
    """Why `value` cannot be a gradient, or None when it can."""
    if value is None:
        return f"d{name} is None, not an array (was it computed?)"
    try:
        a = _array(value)
    except Exception as e:                                  # noqa: BLE001 - anything a user may pass
        return f"d{name} is a {type(value).__name__}, not an array of numbers ({e})"
    if a.dtype.kind not in "biuf":
        return f"d{name} is a {type(value).__name__} of {a.dtype}, not an array of numbers"
    return None


def _dict_of(arg, what, example):
    if isinstance(arg, dict):
        return arg
    raise TypeError(f"check.gradients takes {what} as a dict (name -> {example}), got a {type(arg).__name__}")


def _tolerance(m, r, rtol, atol):
    if rtol is not None or atol is not None:
        return (1e-5 if rtol is None else rtol), 0.0, (1e-8 if atol is None else atol)
    sizes = [a.dtype.itemsize for a in (m, r) if a.dtype.kind == "f"]
    return _TOL[8 if sizes and min(sizes) >= 8 else 4]


def compare(name, manual, expected, rtol=None, atol=None):
    """One Row: `manual` against `expected` (arrays). Shapes must match exactly."""
    if expected is None:
        return Row(name, "nograd", hint="no gradient to compare with")
    m, r = _array(manual), _array(expected)
    row = Row(name, "right", shape=tuple(m.shape), expected_shape=tuple(r.shape))
    try:
        diff = np.abs(m - r)                    # broadcast, as the lecture's `dt - t.grad` would
        row.maxdiff = float(diff.max()) if diff.size else 0.0
    except ValueError:
        diff = None
    if m.shape != r.shape:
        row.status = "shape"
        return row
    if diff is None or not diff.size:
        row.exact = row.approximate = True
        return row
    rt, scale, floor = _tolerance(m, r, rtol, atol)
    big = float(np.abs(r).max()) if np.isfinite(r).all() else 0.0
    with np.errstate(invalid="ignore"):
        row.exact = bool((m == r).all())
        row.approximate = bool((diff <= floor + scale * big + rt * np.abs(r)).all())
    row.status = "right" if row.approximate else "wrong"
    return row


def cmp(name, manual, tensor, rtol=None, atol=None, file=None):
    """The lecture's `cmp(s, dt, t)`: compare a manual gradient with `tensor.grad`, print one line."""
    grad = getattr(tensor, "grad", None)
    if grad is None:
        row = Row(name, "nograd", hint=f"{name} has no .grad: call loss.backward() first")
    else:
        row = compare(name, manual, grad, rtol, atol)
    print(row.line(), file=file or sys.stdout)
    return row


def _times(k):
    return {2: "twice", 3: "three times"}.get(k, f"{k} times")


def _names(ts, g, d="d"):
    words = [d + g.name(t) for t in ts]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _shape_hint(t, row, m, r, g):
    """t: the vertex (node or leaf) of the wrong gradient's tensor."""
    name, hints = g.name(t), []
    if m.size == r.size and np.allclose(m.reshape(r.shape), r, equal_nan=True):
        fix = ("keep the summed dim: keepdims=True" if m.ndim < r.ndim else
               "drop the size-1 dim: no keepdims" if m.ndim > r.ndim else f".reshape({_fmt(r.shape)})")
        hints.append(f"the values are right, only the shape is wrong ({fix})")
    for c, pos in g.uses(t):
        dims = sum_dims(c, pos)
        if dims and tuple(m.shape) == tuple(c.shape):
            keep = ", keepdims=True" if len(r.shape) == len(c.shape) else ""
            dims_s = dims[0] if len(dims) == 1 else dims
            hints.append(f"{name} {_fmt(r.shape)} is broadcast over dim {', '.join(map(str, dims))} in "
                         f"`{g.expression(c)}`: sum its gradient over it: .sum({dims_s}{keep})")
            break
    return (f"d{name} has shape {_fmt(m.shape)} but {name} is {_fmt(r.shape)}"
            + (": " + "; ".join(hints) if hints else ": a gradient has its tensor's shape"))


def _value_hint(t, g):
    name, uses = g.name(t), g.uses(t)
    if len(uses) >= 2:
        exprs = "; ".join(f"`{g.expression(c)}`" for c, _ in uses)
        return (f"look at how {name} is used {_times(len(uses))} ({exprs}): its gradient is the sum "
                f"of one contribution per use")
    if not uses:
        return f"look at how {name} is computed"
    c, pos = uses[0]
    dims = sum_dims(c, pos)
    s = f"look at the backward of `{g.expression(c)}`"
    if dims:
        s += (f": {name} {_fmt(tuple(t.shape))} is broadcast there over dim {', '.join(map(str, dims))}, "
              f"so its gradient sums over it")
    return s


def _upstream_phrase(t, g, by_id):
    ups = g.upstream(t)
    if not ups or all(id(u) not in g.consumers and id(u) not in by_id for u in ups):
        return "it comes straight from the loss"
    right = [u for u in ups if id(u) in by_id and by_id[id(u)].ok]
    other = [u for u in ups if id(u) in by_id and not by_id[id(u)].ok]
    absent = [u for u in ups if id(u) not in by_id and id(u) in g.consumers]
    parts = []
    if right:
        parts.append(f"its input{'s' if len(right) > 1 else ''} {_names(right, g)} "
                     f"{'are' if len(right) > 1 else 'is'} right")
    if other:
        parts.append(f"{_names(other, g)} {'are' if len(other) > 1 else 'is'} not right either")
    if absent:
        parts.append(f"{_names(absent, g)} {'were' if len(absent) > 1 else 'was'} not handed in "
                     f"(the mistake may be upstream)")
    return "; ".join(parts) if parts else "it comes straight from the loss"


def _lookup(key, named):
    if key in named:
        return named[key]
    if key.startswith("d") and key[1:] in named:
        return named[key[1:]]
    return None


def gradients(manual, tensors, rtol=None, atol=None, file=None, quiet=False):
    """Check manual gradients (name -> array) against the tape's, given the forward tensors
    (name -> tinytape tensor, e.g. `locals()` after `loss.backward()`). Prints the table in backward
    order and a verdict; returns a Result. See the module docstring."""
    manual = _dict_of(manual, "your gradients", "array, e.g. {'logprobs': dlogprobs}")
    tensors = _dict_of(tensors, "the forward tensors", "tensor, e.g. locals() after loss.backward()")
    out = file or sys.stdout
    if not manual:
        return _early("nothing to check: the dict of gradients is empty. Hand in your gradients by name, "
                      "e.g. check.gradients({'logprobs': dlogprobs, 'probs': dprobs}, locals())", out, quiet)
    if not any(isinstance(t, Tensor) for t in tensors.values()):
        torch_like = any(hasattr(t, "detach") and hasattr(t, "grad_fn") for t in tensors.values())
        why = ("they are torch tensors: check.gradients reads tinytape's tape; compare with torch's gradients "
               "with check.against(mine, {k: tensors[k].grad.numpy() for k in mine})" if torch_like else
               "pass the forward pass's tensors, e.g. locals() after loss.backward() in the cell or function "
               "that ran the forward pass")
        n = len(tensors)
        return _early(f"no tinytape tensors among the {n} name{'s' if n != 1 else ''} given as the forward "
                      f"tensors: {why}", out, quiet)
    g = Graph(tensors)
    named = {}                                              # name -> vertex (the tensor's node, or the leaf)
    for name, t in tensors.items():
        if isinstance(t, Tensor) and id(vertex(t)) in g.vertices and g.names.get(id(vertex(t))) == name:
            named[name] = vertex(t)
    by_id, unknown_rows, arrays = {}, [], {}
    for key, value in manual.items():
        key = str(key)
        t = _lookup(key, named)
        if t is None:
            d = "d" if key.startswith("d") and key[1:] not in named else ""
            close = difflib.get_close_matches(key.removeprefix(d), list(named), n=1)
            hint = f"no forward tensor named {key.removeprefix(d)!r}" + (
                f" (did you mean {d + close[0]!r}?)" if close else "")
            unknown_rows.append(Row(key, "unknown", hint=hint))
            continue
        bad = _not_numbers(g.name(t), value)
        if bad is not None:
            unknown_rows.append(Row(key, "invalid", hint=bad))
            continue
        m = _array(value)
        arrays[id(t)] = m
        grad = g.grad(t)
        if grad is None:
            by_id[id(t)] = Row(g.name(t), "nograd", hint=f"{g.name(t)} has no .grad: call loss.backward() "
                                                         f"first (or {g.name(t)} does not lead to the loss)")
        else:
            by_id[id(t)] = compare(g.name(t), m, grad, rtol, atol)

    # the tensors that take part with the handed-in ones (their connected part of the graph)
    part, todo = set(), [g.vertices[i] for i in by_id]
    while todo:
        t = todo.pop()
        if id(t) in part:
            continue
        part.add(id(t))
        todo.extend(u for u in getattr(t, "inputs", ()) if u is not None and id(u) in g.vertices)
        todo.extend(c for c, _ in g.consumers.get(id(t), []))
    rows, missing = [], []
    for t in g.backward_order():
        if id(t) in by_id:
            rows.append(by_id[id(t)])
        elif (id(t) in part and id(t) in g.names and g.grad(t) is not None and id(t) in g.consumers):
            missing.append(g.name(t))
            rows.append(Row(g.name(t), "missing", hint=f"not handed in (d{g.name(t)})"))
    rows.extend(unknown_rows)

    first = next((r for r in rows if r.status in ("wrong", "shape")), None)
    handed = [r for r in rows if r.status not in ("missing", "unknown", "invalid")]
    if first is not None:
        t = named[first.name]
        why = _shape_hint(t, first, arrays[id(t)], _array(g.grad(t)), g) if first.status == "shape" else \
            _value_hint(t, g)
        message = f"d{first.name} is wrong; {_upstream_phrase(t, g, by_id)}: {why}"
        verdict = "fail"
    elif not by_id:
        message = "nothing checked: " + "; ".join(r.hint for r in unknown_rows)
        verdict = "incomplete"
    elif all(r.status == "nograd" for r in by_id.values()):
        message = ("nothing checked: no forward tensor has a gradient yet; call loss.backward() first "
                   "(then hand in locals())")
        verdict = "incomplete"
    elif missing or unknown_rows or any(r.status == "nograd" for r in rows):
        right = sum(r.ok for r in handed)
        bits = [f"the {right} gradient{'s' if right != 1 else ''} handed in {'are' if right != 1 else 'is'} right"]
        if missing:
            bits.append("not handed in: " + ", ".join("d" + n for n in missing))
        bits += [r.hint for r in unknown_rows] + [r.hint for r in rows if r.status == "nograd"]
        message, verdict = "incomplete: " + "; ".join(bits), "incomplete"
    else:
        exact = sum(r.exact for r in handed)
        message = f"all {len(handed)} gradients are right ({exact} exact)"
        verdict = "pass"
    result = Result(rows, verdict, first.name if first else None, message, missing,
                    [r.name for r in unknown_rows if r.status == "unknown"])
    if not quiet:
        print(result.table(), file=file or sys.stdout)
    return result


def _early(message, file, quiet):
    """A Result for input that could not be checked at all."""
    result = Result([], "incomplete", None, message)
    if not quiet:
        print(message, file=file)
    return result


def against(manual, reference, rtol=None, atol=None, file=None, quiet=False):
    """Manual gradients against reference arrays (say torch's), both name -> array, in the order
    of `manual`. No graph, so the verdict names the first wrong row without a pointer."""
    if not manual:
        return _early("nothing to check: the dict of gradients is empty", file or sys.stdout, quiet)
    rows = []
    for name, m in manual.items():
        ref = reference.get(name)
        if ref is None:
            rows.append(Row(name, "missing", hint="no reference gradient"))
        else:
            rows.append(compare(name, m, ref, rtol, atol))
    first = next((r for r in rows if r.status in ("wrong", "shape")), None)
    if first is not None:
        verdict, message = "fail", f"d{first.name} differs from the reference"
    elif any(r.status == "missing" for r in rows):
        verdict, message = "incomplete", "no reference for: " + ", ".join(r.name for r in rows if r.status == "missing")
    else:
        verdict = "pass"
        message = f"all {len(rows)} gradients agree ({sum(r.exact for r in rows)} exact)"
    result = Result(rows, verdict, first.name if first else None, message)
    if not quiet:
        print(result.table(), file=file or sys.stdout)
    return result


__all__ = ["gradients", "against", "compare", "cmp", "Row", "Result"]
