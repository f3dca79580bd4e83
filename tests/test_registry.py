"""The registry of primitives: every primitive has a parity test against torch (the table below,
which must name exactly the registered primitives), each rule keeps no more than its `saves`
declares (what the version check and the freeing of nodes rely on), the math files stay pure,
and the derivatives table lists every primitive.
"""
import ast
import pathlib

import numpy as np
import pytest

import tinytape
from tinytape import derivatives, tape
from tinytape.registry import PRIMITIVES

from harness import COMPOSITE, REDUCE, ULP, Const, check, positive, randn

ROOT = pathlib.Path(tinytape.__file__).parent
a, b, m = randn(3, 4), randn(3, 4, seed=1), randn(4, 2, seed=2)
v, p = randn(4, seed=3), positive(3, 4)
rows = np.array([0, 2, 2, 1])
tgt = np.array([0, 3, 1])

# primitive -> (the public call that runs it, its inputs, the tolerance class)
PARITY = {
    "add": (lambda T, F, x, y: x + y, (a, b), None),
    "sub": (lambda T, F, x, y: x - y, (a, b), None),
    "mul": (lambda T, F, x, y: x * y, (a, b), None),
    "div": (lambda T, F, x, y: x / y, (a, p), ULP),
    "add_scalar": (lambda T, F, x: x + 1.5, (a,), None),
    "rsub_scalar": (lambda T, F, x: 1.5 - x, (a,), None),
    "mul_scalar": (lambda T, F, x: x * -0.5, (a,), None),
    "div_scalar": (lambda T, F, x: x / 3.0, (a,), ULP),
    "rdiv_scalar": (lambda T, F, x: 2.0 / x, (p,), ULP),
    "neg": (lambda T, F, x: -x, (a,), None),
    "pow_scalar": (lambda T, F, x: x ** -0.5, (p,), ULP),
    "rpow_scalar": (lambda T, F, x: 2.0 ** x, (a,), ULP),
    "matmul": (lambda T, F, x, w: x @ w, (a, m), REDUCE),
    "addmm": (lambda T, F, c, x, w: T.addmm(c, x, w), (randn(2, seed=4), a, m), REDUCE),
    "exp": (lambda T, F, x: x.exp(), (a,), ULP),
    "log": (lambda T, F, x: x.log(), (p,), ULP),
    "log10": (lambda T, F, x: x.log10(), (p,), ULP),
    "tanh": (lambda T, F, x: x.tanh(), (a,), ULP),
    "sqrt": (lambda T, F, x: x.sqrt(), (p,), ULP),
    "relu": (lambda T, F, x: x.relu(), (a,), None),
    "sigmoid": (lambda T, F, x: x.sigmoid(), (a,), ULP),
    "abs": (lambda T, F, x: x.abs(), (a,), None),
    "clamp": (lambda T, F, x: x.clamp(-0.5, 0.5), (a,), None),
    "where": (lambda T, F, x, y: T.where(x > y, x, y), (a, b), None),
    "clone": (lambda T, F, x: x.clone(), (a,), None),
    "cast": (lambda T, F, x: x.float(), (a,), None),
    "sum": (lambda T, F, x: x.sum(1), (a,), REDUCE),
    "mean": (lambda T, F, x: x.mean(0), (a,), REDUCE),
    "var": (lambda T, F, x: x.var(0), (a,), REDUCE),
    "std": (lambda T, F, x: x.std(1), (a,), REDUCE),
    "max_all": (lambda T, F, x: x.max(), (a,), None),
    "min_all": (lambda T, F, x: x.min(), (a,), None),
    "max_dim": (lambda T, F, x: x.max(1).values, (a,), None),
    "min_dim": (lambda T, F, x: x.min(0, keepdim=True).values, (a,), None),
    "reshape": (lambda T, F, x: x.view(2, 6), (a,), None),
    "permute": (lambda T, F, x: x.T, (a,), None),
    "expand": (lambda T, F, x: x.expand(3, 4), (v,), None),
    "cat": (lambda T, F, x, y: T.cat([x, y], 1), (a, b), None),
    "stack": (lambda T, F, x, y: T.stack([x, y], 0), (a, b), None),
    "basic_index": (lambda T, F, x: x[1:, 2], (a,), None),
    "gather": (lambda T, F, x, i: x[i], (a, np.array([0, 2, 2, 0])), None),
    "index_put": (lambda T, F, x, y: _index_put(T, x, y), (a, randn(2, 4, seed=5)), None),
    "softmax": (lambda T, F, x: F.softmax(x, 1), (a,), ULP),
    "log_softmax": (lambda T, F, x: F.log_softmax(x, 1), (a,), COMPOSITE),
    "cross_entropy": (lambda T, F, x, t: F.cross_entropy(x, t), (a, tgt), COMPOSITE),
    "embedding": (lambda T, F, w, i: F.embedding(i, w), (a, rows), None),
    "batch_norm": (lambda T, F, x, w, c: F.batch_norm(x, None, None, w, c, training=True),
                   (a, randn(4, seed=6), randn(4, seed=7)), COMPOSITE),
    # more_ops.py and fused.py: the later lectures' primitives (tests/test_parity_more.py tests them in depth)
    "sin": (lambda T, F, x: x.sin(), (a,), ULP),
    "cos": (lambda T, F, x: x.cos(), (a,), ULP),
    "rsqrt": (lambda T, F, x: x.rsqrt(), (p,), ULP),
    "log1p": (lambda T, F, x: x.log1p(), (p,), ULP),
    "erf": (lambda T, F, x: x.erf(), (a,), ULP),
    "silu": (lambda T, F, x: F.silu(x), (a,), COMPOSITE),
    "gelu": (lambda T, F, x: F.gelu(x), (a,), COMPOSITE),
    "maximum": (lambda T, F, x, y: T.maximum(x, y), (a, b), None),
    "minimum": (lambda T, F, x, y: T.minimum(x, y), (a, b), None),
    "remainder": (lambda T, F, x, y: x % y, (a, p), None),
    "tril": (lambda T, F, x: x.tril(), (a,), None),
    "triu": (lambda T, F, x: x.triu(1), (a,), None),
    "roll": (lambda T, F, x: x.roll(1, 0), (a,), None),
    "repeat": (lambda T, F, x: x.repeat(2, 1, 3), (a,), REDUCE),
    "cumsum": (lambda T, F, x: x.cumsum(1), (a,), REDUCE),
    "prod": (lambda T, F, x: x.prod(1), (a,), REDUCE),
    "norm": (lambda T, F, x: x.norm(dim=1), (a,), REDUCE),
    "amax": (lambda T, F, x: x.amax(0), (a,), None),
    "amin": (lambda T, F, x: x.amin(1), (a,), None),
    "sort": (lambda T, F, x: x.sort(1).values, (a,), None),
    "topk": (lambda T, F, x: x.topk(2).values, (a,), None),
    "nll_loss": (lambda T, F, x, t: F.nll_loss(x, t), (a, tgt), REDUCE),
    "mse_loss": (lambda T, F, x, y: F.mse_loss(x, y), (a, b), REDUCE),
    "layer_norm": (lambda T, F, x, w, c: F.layer_norm(x, (4,), w, c), (a, randn(4, seed=6), randn(4, seed=7)),
                   COMPOSITE),
    "logsumexp": (lambda T, F, x: x.logsumexp(1), (a,), COMPOSITE),
}


def _index_put(T, x, y):
    z = x * 1.0
    z[[0, 2]] = y
    return z


def test_every_primitive_has_a_parity_test():
    assert set(PARITY) == set(PRIMITIVES), (f"without a parity test: {sorted(set(PRIMITIVES) - set(PARITY))}; "
                                            f"not primitives: {sorted(set(PARITY) - set(PRIMITIVES))}")


@pytest.mark.parametrize("name", sorted(PARITY))
def test_primitive_parity(name):
    fn, args, tol = PARITY[name]
    check(fn, *args, **({"tol": tol} if tol else {}))


def _arrays(v, seen=None):
    """The numpy arrays a rule keeps: in its closure, nested closures, tuples and Index objects."""
    seen = set() if seen is None else seen
    if id(v) in seen:
        return []
    seen.add(id(v))
    if isinstance(v, np.ndarray):
        return [v]
    if isinstance(v, (tuple, list)):
        return [x for e in v for x in _arrays(e, seen)]
    if callable(v) and getattr(v, "__closure__", None):
        return [x for c in v.__closure__ for x in _arrays(c.cell_contents, seen)]
    if hasattr(v, "__slots__") and type(v).__name__ == "Index":
        return [x for s in v.__slots__ for x in _arrays(getattr(v, s), seen)]
    return []


@pytest.mark.parametrize("name", sorted(PARITY))
def test_a_rule_keeps_no_more_than_it_declares(name):
    """An array a rule keeps that shares memory with an input tensor or the output must be declared
    in `saves`: otherwise writing that tensor in place would give a silently wrong gradient."""
    fn, args, _ = PARITY[name]
    prim = PRIMITIVES[name]
    inputs = [tinytape.tensor(x, requires_grad=x.dtype.kind == "f") for x in args]
    out = fn(tinytape, tinytape.functional, *inputs)
    node = next(n for n in reversed(tape.nodes()) if n.rule is not None and n.out() is not None
                and any(n.out() is t for t in [out]))
    kept = _arrays(node.rule)
    for k, t in enumerate(inputs):
        shared = [x for x in kept if np.shares_memory(x, t._data)]
        if shared and k not in prim.saved_args:
            pytest.fail(f"{name}'s rule keeps input {k}'s memory without declaring it in saves={prim.saves}")
    if any(np.shares_memory(x, out._data) for x in kept):
        assert prim.saves_out or name in ("basic_index",), f"{name}'s rule keeps its output without saves='out'"


def _module(name):
    return ast.parse((ROOT / name).read_text())


@pytest.mark.parametrize("filename", ["ops.py", "more_ops.py", "fused.py"])
def test_the_math_is_pure(filename):
    """ops.py, more_ops.py and fused.py: numpy in, (out, rule) out. No raise, no dtype logic, no
    Tensor, no warnings plumbing; imports numpy, math (erf), shapes, the registry and ops only."""
    tree = _module(filename)
    allowed = {"numpy", "math", "shapes", "registry", "ops"}
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Raise), f"{filename}:{node.lineno} raises"
        if isinstance(node, ast.Import):
            assert all(n.name in allowed for n in node.names), f"{filename}:{node.lineno} imports {node.names[0].name}"
        if isinstance(node, ast.ImportFrom):
            assert (node.module or "") in allowed, f"{filename}:{node.lineno} imports from {node.module}"
        if isinstance(node, ast.Name):
            assert node.id not in ("Tensor", "dtypes", "quiet", "warnings", "errstate"), \
                f"{filename}:{node.lineno} uses {node.id}"
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("errstate", "_data", "_rg", "_node"), f"{filename}:{node.lineno} uses .{node.attr}"


def test_file_budgets():
    """The math stays one readable file; no file of the engine grows past what a reader holds."""
    assert len((ROOT / "ops.py").read_text().splitlines()) <= 350
    for f in ROOT.glob("*.py"):
        assert len(f.read_text().splitlines()) <= 460, f"{f.name} has grown past ~450 lines: split it by purpose"


def test_the_derivatives_table_lists_every_primitive_with_its_rule():
    rows = {name: (saves, rule, lecture) for name, saves, rule, lecture in derivatives.rows()}
    assert set(rows) == set(PRIMITIVES)
    assert "dx = (1 - out**2) * g" in rows["tanh"][1] and "h**2" in rows["tanh"][2]
    assert rows["mul"][0] == "x y" and rows["exp"][0] == "out"
    table = derivatives.table()
    assert table.count("\n") == len(PRIMITIVES) + 1
