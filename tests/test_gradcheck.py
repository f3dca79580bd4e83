"""Finite differences: tinytape.gradcheck on every op in float64, and gradcheck's own behaviour
(it catches a wrong rule, refuses float32, leaves its inputs as it found them)."""
import gc

import numpy as np
import pytest

import tinytape
import tinytape.functional as F
from tinytape import GradcheckError, gradcheck

RNG = np.random.default_rng(0)


def t(*shape, low=None, high=None, seed=None):
    """A small float64 leaf; values in [low, high] if given (away from kinks and poles)."""
    rng = np.random.default_rng(seed) if seed is not None else RNG
    a = rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)
    return tinytape.tensor(np.asarray(a), requires_grad=True)


def pos(*shape):
    return t(*shape, low=0.5, high=2.0)


def away(*shape):
    """Values with |x| in [0.2, 2]: finite differences never cross relu/abs kinks."""
    a = RNG.uniform(0.2, 2.0, shape) * RNG.choice([-1.0, 1.0], shape)
    return tinytape.tensor(np.asarray(a), requires_grad=True)


Y = np.array([1, 0, 3, 1])                     # targets with a repeat
IDX = np.array([[0, 2], [2, 2], [1, 0]])       # gather indices with repeats

CASES = {
    # arithmetic with broadcasting, scalars and arrays on either side
    "add": (lambda a, b: a + b, lambda: [t(2, 1), t(1, 3)]),
    "sub": (lambda a, b: a - b, lambda: [t(3), t(2, 3)]),
    "mul": (lambda a, b: a * b, lambda: [t(2, 3), t()]),
    "div": (lambda a, b: a / b, lambda: [t(2, 3), pos(3)]),
    "rdiv": (lambda a: 2.5 / a, lambda: [pos(2, 3)]),
    "scalars": (lambda a: (3.0 - a) * 2 + 1 - a / 4, lambda: [t(4)]),
    "array_left": (lambda a: np.arange(3.0) * a - np.ones(3) / a, lambda: [pos(2, 3)]),
    "neg": (lambda a: -a, lambda: [t(3, 2)]),
    "pow2": (lambda a: a ** 2, lambda: [t(5)]),
    "pow3": (lambda a: a ** 3, lambda: [t(5)]),
    "pow-1": (lambda a: a ** -1, lambda: [pos(5)]),
    "pow-0.5": (lambda a: a ** -0.5, lambda: [pos(5)]),
    "pow0.5": (lambda a: a ** 0.5, lambda: [pos(5)]),
    "pow0": (lambda a: a ** 0 + a, lambda: [pos(5)]),
    "rpow": (lambda a: 2.0 ** a, lambda: [t(5)]),
    "matmul": (lambda a, b: a @ b, lambda: [t(3, 4), t(4, 2)]),
    "matmul_vec": (lambda a, b, c: (a @ b) @ c, lambda: [t(4), t(4, 3), t(3)]),
    "matmul_batched": (lambda a, b: a @ b, lambda: [t(2, 1, 2, 3), t(3, 3, 2)]),
    "addmm": (lambda b, x, w: tinytape.addmm(b, x, w), lambda: [t(2), t(3, 4), t(4, 2)]),
    # elementwise
    "exp": (lambda a: a.exp(), lambda: [t(2, 3)]),
    "log": (lambda a: a.log(), lambda: [pos(2, 3)]),
    "tanh": (lambda a: a.tanh(), lambda: [t(2, 3)]),
    "sqrt": (lambda a: a.sqrt(), lambda: [pos(2, 3)]),
    "relu": (lambda a: a.relu(), lambda: [away(2, 3)]),
    "sigmoid": (lambda a: a.sigmoid(), lambda: [t(2, 3)]),
    "abs": (lambda a: a.abs(), lambda: [away(2, 3)]),
    "clamp": (lambda a: a.clamp(-0.5, 0.7), lambda: [tinytape.tensor(np.array([-1.0, -0.3, 0.1, 0.6, 1.2]),
                                                                      requires_grad=True)]),
    "where": (lambda a, b: tinytape.where(a > 0, a, b), lambda: [away(2, 3), t(3)]),
    "clone": (lambda a: a.clone() * a, lambda: [t(3)]),
    "cast": (lambda a: a.to(tinytape.float64) * a.double(), lambda: [t(3)]),
    # reductions
    "sum": (lambda a: a.sum(), lambda: [t(2, 3)]),
    "sum_dim": (lambda a: a.sum((0, 2), keepdim=True), lambda: [t(2, 3, 2)]),
    "mean": (lambda a: a.mean(-1), lambda: [t(2, 3)]),
    "var": (lambda a: a.var(0), lambda: [t(4, 3)]),
    "var_biased": (lambda a: a.var(1, unbiased=False, keepdim=True), lambda: [t(3, 4)]),
    "var_all": (lambda a: a.var(correction=2), lambda: [t(3, 4)]),
    "std": (lambda a: a.std(1), lambda: [t(3, 4)]),
    "max_dim": (lambda a: a.max(1, keepdim=True).values, lambda: [t(3, 4)]),
    "max_dim_tuple": (lambda a: a.max(0), lambda: [t(3, 4)]),
    "min_dim": (lambda a: a.min(0).values, lambda: [t(3, 4)]),
    "max_all": (lambda a: a.max(), lambda: [t(3, 4)]),
    "min_all": (lambda a: tinytape.min(a), lambda: [t(3, 4)]),
    # shape
    "view": (lambda a: a.view(-1, 2) * a.reshape(3, 2), lambda: [t(2, 3)]),
    "flatten": (lambda a: a.flatten(1), lambda: [t(2, 2, 2)]),
    "transpose": (lambda a: a.transpose(0, 2) * 1.0, lambda: [t(2, 3, 2)]),
    "T": (lambda a: a.T @ a, lambda: [t(3, 2)]),
    "permute": (lambda a: a.permute(2, 0, 1), lambda: [t(2, 3, 2)]),
    "unsqueeze": (lambda a: a.unsqueeze(1) * a.unsqueeze(0), lambda: [t(3)]),
    "squeeze": (lambda a: a.squeeze(1), lambda: [t(3, 1, 2)]),
    "expand": (lambda a: a.expand(3, 2, 4), lambda: [t(2, 1)]),
    "cat": (lambda a, b: tinytape.cat([a, b, a], 1), lambda: [t(2, 2), t(2, 1)]),
    "stack": (lambda a, b: tinytape.stack([a, b], -1), lambda: [t(2, 3), t(2, 3)]),
    # indexing
    "index_int_slice": (lambda a: a[1, ::2], lambda: [t(3, 4)]),
    "index_none_ellipsis": (lambda a: a[None, ..., -1], lambda: [t(2, 3, 2)]),
    "index_array_repeat": (lambda a: a[IDX], lambda: [t(3, 2)]),
    "index_pick": (lambda a: a[range(4), Y], lambda: [t(4, 5)]),
    "index_mask": (lambda a: a[a.detach() > 0], lambda: [away(3, 3)]),
    "index_tensor": (lambda a: a[tinytape.tensor([2, 2, 0])], lambda: [t(3, 2)]),
    # functional
    "softmax": (lambda a: F.softmax(a, 1), lambda: [t(3, 4)]),
    "log_softmax": (lambda a: F.log_softmax(a, 0), lambda: [t(3, 4)]),
    "cross_entropy": (lambda a: F.cross_entropy(a, Y), lambda: [t(4, 5)]),
    "cross_entropy_sum": (lambda a: F.cross_entropy(a, Y, reduction="sum"), lambda: [t(4, 5)]),
    "cross_entropy_none": (lambda a: F.cross_entropy(a, Y, reduction="none"), lambda: [t(4, 5)]),
    "cross_entropy_1d": (lambda a: F.cross_entropy(a, np.array(2)), lambda: [t(5)]),
    "nll_loss": (lambda a: F.nll_loss(F.log_softmax(a, 1), Y), lambda: [t(4, 5)]),
    "one_hot_mul": (lambda a: F.one_hot(tinytape.tensor(Y), 5) * a, lambda: [t(4, 5)]),
    "embedding": (lambda w: F.embedding(tinytape.tensor(IDX), w), lambda: [t(3, 2)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), lambda: [t(2, 3), t(4, 3), t(4)]),
    "mse_loss": (lambda x, y: F.mse_loss(x, y), lambda: [t(2, 3), t(2, 3)]),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                   lambda: [t(5, 3), pos(3), t(3)]),
    "batch_norm_unbiased": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, unbiased=True),
                            lambda: [t(5, 3), pos(1, 3), t(1, 3)]),
    "batch_norm_eval": (lambda x, w, b: F.batch_norm(x, np.zeros(3) + 0.3, np.ones(3) * 1.7, w, b),
                        lambda: [t(5, 3), pos(3), t(3)]),
}


@pytest.mark.parametrize("name", CASES)
def test_gradcheck_every_op(name):
    fn, make = CASES[name]
    inputs = make()
    assert gradcheck(fn, inputs) is True


def test_gradcheck_the_lecture_chain():
    """A miniature of the lecture's forward, every op of it at once."""
    rng = np.random.default_rng(3)
    C, W1, W2 = (tinytape.tensor(rng.standard_normal(s), requires_grad=True) for s in [(5, 2), (4, 3), (3, 5)])
    X, Yb = np.array([[0, 3], [4, 4], [1, 0], [3, 2]]), np.array([1, 4, 4, 0])

    def forward(C, W1, W2):
        emb = C[X]
        h = emb.view(4, -1) @ W1
        h = (h - h.mean(0, keepdim=True)) * (h.var(0, keepdim=True) + 1e-5) ** -0.5
        logits = h.tanh() @ W2
        norm = logits - logits.max(1, keepdim=True).values
        counts = norm.exp()
        probs = counts * counts.sum(1, keepdims=True) ** -1
        return -probs.log()[range(4), Yb].mean()
    assert gradcheck(forward, [C, W1, W2])


def _like(real, fn):
    """fn as a primitive that saves what `real` saves (not registered: ops.PRIMITIVES stays as it is)."""
    fn.saves, fn.saved_args, fn.saves_out = real.saves, real.saved_args, real.saves_out
    return fn


def _broken_tanh(x):
    """tanh whose rule forgets the square: (1 - out) * g."""
    out = np.tanh(x)
    return out, lambda g: ((1.0 - out) * g,)


def test_gradcheck_catches_a_wrong_rule(monkeypatch):
    x = t(2, 3)
    assert gradcheck(lambda a: a.tanh(), [x])
    broken = tinytape.api._unary(_like(tinytape.ops.tanh, _broken_tanh), "TanhBackward0")
    monkeypatch.setattr(tinytape.api, "tanh", broken)
    with pytest.raises(GradcheckError, match="Jacobian mismatch for input 0"):
        gradcheck(lambda a: a.tanh(), [x])
    assert gradcheck(lambda a: a.tanh(), [x], raise_exception=False) is False


def test_gradcheck_catches_a_transposed_rule(monkeypatch):
    """A matmul rule with da = g @ b (no transpose) is caught (square shapes, so no shape error)."""
    real = tinytape.ops.matmul

    def broken(x, y):
        out, _ = real(x, y)
        return out, lambda g: (g @ y, x.T @ g)
    a, b = t(3, 3), t(3, 3)
    assert gradcheck(lambda a, b: a @ b, [a, b])
    monkeypatch.setattr(tinytape.ops, "matmul", _like(real, broken))
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda a, b: a @ b, [a, b])


def test_gradcheck_catches_a_rule_that_drops_repeated_indices(monkeypatch):
    """`dx[idx] = g` keeps one contribution per distinct index: gradcheck sees it on C[Xb]."""
    real = tinytape.ops.gather

    def broken(x, index):
        out, _ = real(x, index)
        shape, dtype = x.shape, x.dtype

        def rule(g):
            dx = np.zeros(shape, dtype)
            index.put(dx, g)
            return (dx,)
        return out, rule
    assert gradcheck(lambda w: w[IDX], [t(3, 2)])
    monkeypatch.setattr(tinytape.ops, "gather", _like(real, broken))
    with pytest.raises(GradcheckError):
        gradcheck(lambda w: w[IDX], [t(3, 2)])


def test_gradcheck_refuses_float32_and_no_grad_inputs():
    x32 = tinytape.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda a: a * 2, [x32])
    with pytest.raises(ValueError, match="requires grad"):
        gradcheck(lambda a: a * 2, [tinytape.tensor(np.ones(3))])


def test_gradcheck_leaves_inputs_as_it_found_them():
    x, w = t(2, 3), t(3, 2)
    users = x.grad = tinytape.full((2, 3), 7.0, dtype=tinytape.float64)
    before = x.data.clone(), w.data.clone()
    arrays = x.detach().numpy(), w.detach().numpy()
    versions = x._version, w._version
    assert gradcheck(lambda a, b: (a @ b).tanh(), [x, w])
    np.testing.assert_array_equal(x.data, before[0])
    np.testing.assert_array_equal(w.data, before[1])
    assert x.detach().numpy() is arrays[0] and w.detach().numpy() is arrays[1]   # the same memory
    assert (x._version, w._version) == versions
    assert x.grad is users                                           # the user's gradient is kept
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 7.0))
    assert w.grad is None
    gc.collect()                  # graphs earlier tests left in reference cycles (pytest.raises' tracebacks)
    assert tinytape.tape.entries() == []


def test_gradcheck_single_tensor_input_and_tuple_outputs():
    x = t(3, 4)
    assert gradcheck(lambda a: a.max(1), x)
    assert gradcheck(lambda a: (a.exp(), a.sum(0)), [x])


@pytest.mark.parametrize("fail_at", [3, 6], ids=["during backward rows", "during finite differences"])
def test_gradcheck_restores_inputs_when_fn_raises(fail_at):
    x = t(3)
    x.grad = tinytape.ones(3, dtype=tinytape.float64)
    before = x.data.clone()
    calls = []

    def fn(a):
        calls.append(1)
        if len(calls) == fail_at:                         # 1 plain call, 3 rows, then differences
            raise ValueError("boom")
        return a * 2
    with pytest.raises(ValueError, match="boom"):
        gradcheck(fn, [x])
    np.testing.assert_array_equal(x.data, before)
    np.testing.assert_array_equal(x.grad, np.ones(3))
