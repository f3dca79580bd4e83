"""Random graphs built side by side in tinytape and torch (a hypothesis state machine), with
backward from random nodes, repeatedly, with retain_graph: every node's .grad (leaves and, through
torch's retain_grad, intermediates), accumulated across calls, cleared at random, must match.

A graph mixes elementwise, broadcasting, reducing (keepdim), indexing (with repeats), outer-product
matmul, softmax, cross_entropy and eval-mode batch_norm ops, over shapes that all broadcast
together; some nodes are constants (made under no_grad or detached). In float32 the reference is
torch in float32 and the truth torch in float64: tinytape must stay within the composite class of
the truth widened by 8 times torch's own float32 error (softmax then sum, say, has a true gradient
of 0 that both engines round to noise). The conftest profile sets the number of runs; each run
takes up to 25 steps.
"""
import numpy as np
import torch
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, initialize, invariant, multiple,
                                 precondition, rule)

import tinytape
import tinytape.functional as F
from tinytape import tape

TF = torch.nn.functional
SHAPES = [(), (3,), (2, 1), (1, 3), (2, 3)]          # every pair broadcasts, into one of these


class Node:
    """One value in every engine: tinytape's, torch's in the test dtype, torch's in float64."""

    def __init__(self, tt, ref, truth):
        self.tt, self.ref, self.truth = tt, ref, truth
        self.shape = tuple(tt.shape)


def _apply(f, nodes, const=False):
    """f(lib, functional, *tensors) on each engine's tensors."""
    outs = []
    for lib, fl, k in ((tinytape, F, "tt"), (torch, TF, "ref"), (torch, TF, "truth")):
        ts = [getattr(n, k) for n in nodes]
        if const:
            with lib.no_grad():
                out = f(lib, fl, *ts)
        else:
            out = f(lib, fl, *ts)
        if lib is torch and out.requires_grad:
            out.retain_grad()
        outs.append(out)
    return Node(*outs)


UNARY = {
    "tanh": lambda T, F, x: x.tanh(),
    "sigmoid": lambda T, F, x: x.sigmoid(),
    "exp": lambda T, F, x: x.clamp(-2, 2).exp(),
    "log": lambda T, F, x: (x * x + 1).log(),
    "sqrt": lambda T, F, x: (x * x + 0.5).sqrt(),
    "abs": lambda T, F, x: x.abs(),
    "relu": lambda T, F, x: x.relu(),
    "neg": lambda T, F, x: -x,
    "scale": lambda T, F, x: x * 0.75 - 0.5,
    "square": lambda T, F, x: x ** 2,
    "rsqrt": lambda T, F, x: (x * x + 1) ** -0.5,
    "clone": lambda T, F, x: x.clone(),
    "where": lambda T, F, x: T.where(x > 0, x, x * 0.1),
}
BINARY = {
    "add": lambda T, F, x, y: x + y,
    "sub": lambda T, F, x, y: x - y,
    "mul": lambda T, F, x, y: x * y,
    "div": lambda T, F, x, y: x / (y * y + 1),
    "where": lambda T, F, x, y: T.where(x > y, x, y),
}


def _reduce(name, dim):
    if name == "sum":
        return lambda T, F, x: x.sum() if dim is None else x.sum(dim, keepdim=True)
    if name == "mean":
        return lambda T, F, x: x.mean() if dim is None else x.mean(dim, keepdim=True)
    if name == "max":
        return lambda T, F, x: x.max() if dim is None else x.max(dim, keepdim=True).values
    return lambda T, F, x: x.var() if dim is None else x.var(dim, keepdim=True)


class Graphs(RuleBasedStateMachine):
    nodes = Bundle("nodes")

    def __init__(self):
        super().__init__()
        self.all = []
        self.rng = np.random.default_rng(0)
        self.dtype = np.float64

    @initialize(target=nodes, dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
    def start(self, dtype, seed):
        """A first graph that uses every kind of op once, on nodes picked at random (by the seed)."""
        self.dtype, self.rng = dtype, np.random.default_rng(seed)
        for shape in SHAPES:
            self.leaf(shape, grad=bool(self.rng.random() < 0.85))
        pick = lambda: self.all[self.rng.integers(len(self.all))]         # noqa: E731
        steps = [("unary", n) for n in UNARY] + [("binary", n) for n in BINARY] + \
                [("reduce", n) for n in ("sum", "mean", "max", "var")] + [("index", k) for k in ("rows", "cols", "repeat")]
        for i in self.rng.permutation(len(steps)):
            kind, name = steps[i]
            if kind == "unary":
                self.unary(pick(), name, const=False)
            elif kind == "binary":
                self.binary(pick(), pick(), name)
            elif kind == "reduce":
                self.reduce(pick(), name, int(self.rng.integers(3)))
            else:
                self.index(pick(), name)
        self.softmax(pick())
        self.outer(0)
        self.cross_entropy(int(self.rng.integers(100)), int(self.rng.integers(3)), int(self.rng.integers(3)))
        self.batch_norm_eval(int(self.rng.integers(100)))
        self.backward(self.all[-1])
        return multiple(*self.all)

    def _keep(self, node):
        self.all.append(node)
        return node

    @rule(target=nodes, shape=st.sampled_from(SHAPES), grad=st.booleans())
    def leaf(self, shape, grad):
        a = self.rng.uniform(-2, 2, shape).astype(self.dtype)
        return self._keep(Node(tinytape.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad),
                               torch.tensor(a.astype(np.float64), requires_grad=grad)))

    @rule(target=nodes, x=nodes, name=st.sampled_from(sorted(UNARY)), const=st.booleans())
    def unary(self, x, name, const):
        return self._keep(_apply(UNARY[name], [x], const=const and self.rng.random() < 0.2))

    @rule(target=nodes, x=nodes, y=nodes, name=st.sampled_from(sorted(BINARY)))
    def binary(self, x, y, name):
        return self._keep(_apply(BINARY[name], [x, y]))

    @precondition(lambda self: any(n.shape == (2, 1) for n in self.all) and any(n.shape == (1, 3) for n in self.all))
    @rule(target=nodes, pick=st.integers(0, 100))
    def outer(self, pick):
        cols = [n for n in self.all if n.shape == (2, 1)]
        rows = [n for n in self.all if n.shape == (1, 3)]
        return self._keep(_apply(lambda T, F, a, b: a @ b, [cols[pick % len(cols)], rows[pick % len(rows)]]))

    @rule(target=nodes, x=nodes, name=st.sampled_from(["sum", "mean", "max", "var"]), which=st.integers(0, 2))
    def reduce(self, x, name, which):
        dim = None if which == 2 or not x.shape else which % len(x.shape)
        if name == "var" and (dim is None and np.prod(x.shape) < 2 or dim is not None and x.shape[dim] < 2):
            name = "sum"
        return self._keep(_apply(_reduce(name, dim), [x]))

    @rule(target=nodes, x=nodes, kind=st.sampled_from(["rows", "cols", "repeat"]))
    def index(self, x, kind):
        if not x.shape:
            return self._keep(_apply(lambda T, F, a: a * 1.0, [x]))
        if kind == "rows":                                # a slice: (2, 3) -> (1, 3), (3,) -> (3,)
            return self._keep(_apply(lambda T, F, a: a[-1:] if a.ndim == 2 else a[::1], [x]))
        if kind == "cols":
            return self._keep(_apply(lambda T, F, a: a[..., 1:2] if a.ndim == 2 and a.shape[1] == 3 else a[..., :], [x]))
        n = x.shape[0]
        idx = np.array([n - 1, 0, n - 1] if n == 3 else [n - 1] * n)     # repeats: scatter-add
        return self._keep(_apply(lambda T, F, a: a[T.tensor(idx)], [x]))

    @rule(target=nodes, x=nodes)
    def softmax(self, x):
        if not x.shape:
            return self._keep(_apply(lambda T, F, a: a.sigmoid(), [x]))
        return self._keep(_apply(lambda T, F, a: F.softmax(a, -1), [x]))

    @precondition(lambda self: any(n.shape == (2, 3) for n in self.all))
    @rule(target=nodes, pick=st.integers(0, 100), t0=st.integers(0, 2), t1=st.integers(0, 2))
    def cross_entropy(self, pick, t0, t1):
        xs = [n for n in self.all if n.shape == (2, 3)]
        return self._keep(_apply(lambda T, F, a: F.cross_entropy(a, T.tensor([t0, t1])), [xs[pick % len(xs)]]))

    @precondition(lambda self: any(n.shape == (2, 3) for n in self.all))
    @rule(target=nodes, pick=st.integers(0, 100))
    def batch_norm_eval(self, pick):
        xs = [n for n in self.all if n.shape == (2, 3)]
        rm, rv = self.rng.uniform(-1, 1, 3).astype(self.dtype), self.rng.uniform(0.5, 2, 3).astype(self.dtype)

        def f(T, F, a):
            dt = a.dtype
            return F.batch_norm(a, T.tensor(rm).to(dt), T.tensor(rv).to(dt), training=False)
        return self._keep(_apply(f, [xs[pick % len(xs)]]))

    @rule(x=nodes)
    def backward(self, x):
        if not x.tt.requires_grad:
            assert not x.ref.requires_grad
            return
        g = self.rng.standard_normal(x.shape).astype(self.dtype)
        x.tt.backward(g, retain_graph=True)
        x.ref.backward(torch.from_numpy(g.copy()), retain_graph=True)
        x.truth.backward(torch.from_numpy(g.astype(np.float64)), retain_graph=True)

    @rule()
    def zero_grad(self):
        for n in self.all:
            n.tt.grad = None
            n.ref.grad = None
            n.truth.grad = None

    @invariant()
    def same_values_and_gradients(self):
        grads = [(n, n.tt.grad, n.ref.grad, n.truth.grad) for n in self.all]
        scale = max([float(np.abs(t.numpy()).max(initial=0)) for _, _, _, t in grads if t is not None] + [0.0])
        for k, (n, a, r, t) in enumerate(grads):
            assert n.tt.requires_grad == n.ref.requires_grad, f"node {k}"
            assert n.tt.dtype == n.ref.detach().numpy().dtype, f"node {k}: dtype"
            _close(n.tt.detach().numpy(), n.ref.detach().numpy(), n.truth.detach().numpy(), 0.0, f"node {k} value")
            if r is None:
                assert a is None or not np.any(a), f"node {k}: torch has no gradient"
                continue
            assert a is not None, f"node {k}: torch has a gradient, tinytape None"
            assert isinstance(a, tinytape.Tensor), f"node {k}: .grad is a {type(a).__name__}"
            assert a.dtype == n.tt.dtype and a.shape == n.shape, f"node {k}: gradient dtype/shape"
            _close(a.numpy(), r.numpy(), t.numpy(), scale, f"node {k} gradient")

    def teardown(self):
        self.all.clear()
        assert tinytape.is_grad_enabled()


def _close(actual, ref, truth, scale, what):
    rtol, floor, tiny = (1e-4, 1e-5, 1e-6) if actual.dtype == np.float32 else (1e-10, 1e-12, 1e-15)
    truth = truth.astype(np.float64)
    err_ref = np.abs(ref.astype(np.float64) - truth)
    bound = 8 * err_ref + rtol * np.abs(truth) + floor * np.abs(truth).max(initial=0) + tiny * scale
    diff = np.abs(actual.astype(np.float64) - truth)
    nan = np.isnan(truth)
    assert (np.isnan(actual) == nan).all(), f"{what}: nan at other places"
    bad = (diff > bound) & ~nan
    assert not bad.any(), (f"{what}: {int(bad.sum())} elements off; tinytape {actual[bad]}, torch {ref[bad]}, "
                           f"float64 {truth[bad]}")


Graphs.TestCase.settings = settings(settings(), stateful_step_count=25)
TestGraphs = Graphs.TestCase
