"""Tape hygiene: what backward leaves behind (nothing), memory over many steps, deep graphs, reference
cycles, gradient accumulation and retention, retain_graph, failed backwards, aliasing, grad mode."""
import gc
import sys
import tracemalloc
import weakref

import numpy as np
import pytest
import torch

import tinytape
from tinytape import tape


def leaf(*shape, seed=0, dtype=np.float32):
    return tinytape.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


def same_refs(a, b):
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


# ---------------------------------------------------------------------------------- what is left
def test_tape_is_empty_after_backward():
    tape.clear()
    x, w = leaf(4, 3), leaf(3, 2, seed=1)
    loss = ((x @ w).tanh() ** 2).mean()
    assert len(tape.entries()) == 4
    loss.backward()
    assert tape.entries() == []
    assert tape._tape == []


def test_backward_removes_only_its_own_graph():
    """A graph built earlier (and still held) keeps its entries when another graph backpropagates."""
    x = leaf(3)
    other = (x * 2).exp()                                 # recorded first, never backpropagated
    before = list(tape._tape)
    y = (x * 3).sum()
    y.backward()
    assert same_refs(tape._tape, before)
    assert any(e is other for e in tape.entries())
    other.sum().backward()                                # still usable
    assert tape.entries() == []


def test_an_abandoned_graph_disappears_with_its_tensors():
    """Weak references: a graph nobody holds (an evaluation forgotten outside no_grad) leaves nothing."""
    tape.clear()
    x = leaf(5)
    y = (x * 2).tanh().sum()
    r = weakref.ref(y)
    assert len(tape.entries()) == 3
    del y
    assert r() is None
    assert tape.entries() == []


def test_the_tape_is_compacted_when_abandoned_graphs_pile_up():
    tape.clear()
    x = leaf(3)
    for _ in range(3 * tape._COMPACT_AT):
        (x * 2).sum()                                     # never backpropagated
    assert len(tape._tape) <= tape._COMPACT_AT + 1
    assert tape.entries() == []


def _train_steps(params, n):
    x = tinytape.tensor(np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32))
    y = tinytape.tensor(np.arange(8) % 3)
    for _ in range(n):
        W1, W2 = params
        loss = tinytape.functional.cross_entropy((x @ W1).tanh() @ W2, y)
        for p in params:
            p.grad = None
        loss.backward()
        with tinytape.no_grad():
            for p in params:
                p.data += -0.1 * p.grad


def _eval_steps(params, n):
    x = tinytape.tensor(np.ones((8, 4), dtype=np.float32))
    for _ in range(n):
        W1, W2 = params
        ((x @ W1).relu() @ W2).sum()                      # forgot no_grad: recorded, never used


@pytest.mark.parametrize("steps", [_train_steps, _eval_steps], ids=["train", "eval without no_grad"])
def test_memory_is_flat_over_thousands_of_steps(steps):
    params = [leaf(4, 16, seed=2), leaf(16, 3, seed=3)]
    steps(params, 300)                                    # warm up
    gc.collect()
    tracemalloc.start()
    try:
        steps(params, 300)
        first, _ = tracemalloc.get_traced_memory()
        steps(params, 2500)
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a leak of one small array per step would be > 2500 * 100 bytes; the tape's list of weak
    # references may legitimately hold up to a compaction's worth (4096 * 8 bytes) at any moment
    assert second - first < 100_000, f"memory grew by {second - first} bytes over 2500 steps"
    assert len(tape._tape) <= 2 * tape._COMPACT_AT


def test_a_graph_100000_ops_deep_backpropagates_at_the_default_recursion_limit():
    """The walk is a loop over the tape, and freeing the chain does not recurse either."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)                           # Python's default
    try:
        x = tinytape.tensor(np.array([1.0]), requires_grad=True)
        y = x
        for _ in range(100_000):
            y = y * 1.0
        y.backward(np.array([2.0]))
        np.testing.assert_array_equal(x.grad, [2.0])
        del y
        gc.collect()
    finally:
        sys.setrecursionlimit(limit)
    assert tape.entries() == []


# ---------------------------------------------------------------------------------- cycles
@pytest.mark.parametrize("how", ["backward", "retain_graph", "no backward"])
def test_no_reference_cycles_keep_a_graph_alive(how):
    """With the cycle collector off, an intermediate dies as soon as the user drops the graph."""
    gc.collect()
    gc.disable()
    try:
        x = leaf(4, 3)
        w = leaf(3, 3, seed=1)
        h = (x @ w).tanh()
        logits = h[[0, 0, 2]] - h.max(1, keepdim=True).values[:3]
        loss = tinytape.functional.cross_entropy(logits, tinytape.tensor([0, 1, 2])) + h.var(0).sum()
        refs = [weakref.ref(t) for t in (h, logits, loss)]
        if how != "no backward":
            loss.backward(retain_graph=how == "retain_graph")
        del h, logits, loss
        assert [r() for r in refs] == [None, None, None]
        assert x.grad is None or x.grad.shape == (4, 3)
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------- accumulation
def test_leaf_grads_accumulate_across_backward_calls_like_torch():
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    xs = [tinytape.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)]
    for x in xs:
        (x * x).sum().backward()
        x.tanh().sum().backward()
        (x.exp() * 0.5).mean().backward()
    np.testing.assert_allclose(xs[0].grad, xs[1].grad.numpy(), rtol=1e-6)
    x = xs[0]
    first = x.grad.copy()
    x.grad = None                                         # the lecture's zero_grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * a)
    assert not np.array_equal(first, x.grad)


def test_backward_of_a_leaf_itself():
    x = leaf(3)
    g = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    x.backward(g)
    x.backward(g)
    np.testing.assert_array_equal(x.grad, 2 * g)


def test_every_intermediate_keeps_its_grad_without_retain_grad():
    """tinytape keeps what torch gives only after retain_grad() on each intermediate."""
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    got = {}
    for lib in (tinytape, torch):
        t = {"x": lib.tensor(a, requires_grad=True)}
        t["h"] = t["x"].tanh()
        t["s"] = t["h"].sum(1, keepdim=True)
        t["p"] = t["h"] * t["s"] ** -1
        t["loss"] = t["p"].abs().log().mean()
        if lib is torch:
            for k in ("h", "s", "p", "loss"):
                t[k].retain_grad()
        t["loss"].backward()
        got[lib] = {k: np.asarray(v.grad) for k, v in t.items()}
    for k in ("x", "h", "s", "p", "loss"):
        np.testing.assert_allclose(got[tinytape][k], got[torch][k], rtol=1e-5, atol=1e-7, err_msg=k)


def test_tensors_that_do_not_require_grad_get_no_grad():
    x = leaf(3)
    c = tinytape.tensor([1.0, 2.0, 3.0])
    d = c * 2                                             # outside the graph
    (x * d).sum().backward()
    assert c.grad is None and d.grad is None and not d.requires_grad


# ---------------------------------------------------------------------------------- retain_graph
def _graph(lib, a):
    x = lib.tensor(a, requires_grad=True)
    h = x.tanh()
    if lib is torch:
        h.retain_grad()
    return x, h, (h * h).sum()


def test_retain_graph_allows_a_second_backward_like_torch():
    a = np.random.default_rng(0).standard_normal(5).astype(np.float32)
    (x, h, y), (tx, th, ty) = _graph(tinytape, a), _graph(torch, a)
    y.backward(retain_graph=True)
    ty.backward(retain_graph=True)
    y.backward()
    ty.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(h.grad, th.grad.numpy(), rtol=1e-6)   # intermediates accumulate too


def test_a_second_backward_without_retain_graph_raises_torchs_error():
    a = np.ones(3, dtype=np.float32)
    (x, h, y), (tx, th, ty) = _graph(tinytape, a), _graph(torch, a)
    y.backward()
    ty.backward()
    grad = x.grad.copy()
    with pytest.raises(RuntimeError) as torch_error:
        ty.backward()
    with pytest.raises(RuntimeError) as tt_error:
        y.backward()
    assert str(tt_error.value) == str(torch_error.value)
    assert "Trying to backward through the graph a second time" in str(tt_error.value)
    np.testing.assert_array_equal(x.grad, grad)


def test_a_failed_backward_changes_no_grad():
    """Backward through a graph half freed by another backward raises, and writes nothing."""
    x = leaf(3)
    y = x.exp()
    z = (y * 3).sum()
    w = (y * 4).sum()
    z.backward()                                          # frees y's entry
    before = x.grad.copy(), y.grad.copy()
    with pytest.raises(RuntimeError, match="second time"):
        w.backward()
    np.testing.assert_array_equal(x.grad, before[0])
    np.testing.assert_array_equal(y.grad, before[1])
    assert w.grad is None


def test_a_rule_that_raises_changes_no_grad(monkeypatch):
    x = leaf(3)
    x.grad = np.ones(3, dtype=np.float32)
    a = x * 2

    def broken(t):
        return tinytape.ops._result(np.tanh(t.data), "tanh", (t,), lambda g: 1 / 0)
    monkeypatch.setattr(tinytape.ops, "tanh", broken)
    b = a.tanh()
    loss = (b * a).sum()                                  # a reached by two paths: one fails
    with pytest.raises(ZeroDivisionError):
        loss.backward()
    np.testing.assert_array_equal(x.grad, np.ones(3))
    assert a.grad is None and b.grad is None and loss.grad is None


# ---------------------------------------------------------------------------------- aliasing
def test_no_two_gradients_share_memory_and_the_user_gradient_is_not_aliased():
    x, w = leaf(4, 3), leaf(3, 3, seed=1)
    a = x @ w
    b = a + a[0]                                          # add hands the same g to both inputs
    c = b.reshape(12)                                     # the reshape rule returns a view of g
    d = c.sum() * 1.0                                     # sum's rule returns a broadcast view
    e = c * d
    G = np.random.default_rng(2).standard_normal(12).astype(np.float32)
    G_copy = G.copy()
    e.backward(G)
    np.testing.assert_array_equal(G, G_copy)
    grads = {name: t.grad for name, t in dict(x=x, w=w, a=a, b=b, c=c, d=d, e=e).items()}
    for name, g in grads.items():
        assert isinstance(g, np.ndarray) and g.flags.writeable, name
        assert not np.shares_memory(g, G), name
        assert not np.shares_memory(g, x.data) and not np.shares_memory(g, w.data), name
    names = list(grads)
    for i, m in enumerate(names):
        for n in names[i + 1:]:
            assert not np.shares_memory(grads[m], grads[n]), (m, n)
    e.grad[0] = 123.0                                     # writing one gradient touches no other
    assert G[0] == G_copy[0]


def test_a_leaf_seeded_directly_does_not_alias_the_users_gradient():
    x = leaf(3)
    G = np.ones(3, dtype=np.float32)
    x.backward(G)
    assert not np.shares_memory(x.grad, G)
    y = x + x                                             # both inputs are the same leaf
    y.backward(G)
    np.testing.assert_array_equal(x.grad, 3 * G)


# ---------------------------------------------------------------------------------- grad mode
def test_no_grad_as_a_context_manager_records_nothing():
    tape.clear()
    x = leaf(3)
    with tinytape.no_grad():
        assert not tinytape.is_grad_enabled()
        y = (x * 2).exp()
    assert tinytape.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert tape.entries() == []


def test_no_grad_as_a_decorator():
    x = leaf(3)

    @tinytape.no_grad()
    def evaluate(t):
        assert not tinytape.is_grad_enabled()
        return t * 2
    assert evaluate.__name__ == "evaluate"
    assert not evaluate(x).requires_grad
    assert tinytape.is_grad_enabled()
    assert (x * 2).requires_grad


def test_bare_decorators_like_torch():
    x = leaf(3)

    @tinytape.no_grad
    def evaluate(t):
        return t * 2

    @tinytape.enable_grad
    def train(t):
        return t * 2
    assert evaluate.__name__ == "evaluate" and not evaluate(x).requires_grad
    with tinytape.no_grad():
        assert train(x).requires_grad
    assert tinytape.is_grad_enabled()


def test_no_grad_restores_the_mode_on_exceptions():
    x = leaf(3)
    with pytest.raises(ValueError):
        with tinytape.no_grad():
            raise ValueError("inside")
    assert tinytape.is_grad_enabled()

    @tinytape.no_grad()
    def fails():
        raise KeyError("inside")
    with pytest.raises(KeyError):
        fails()
    assert tinytape.is_grad_enabled()
    assert (x * 2).requires_grad


def test_nested_no_grad_and_enable_grad():
    x = leaf(3)
    guard = tinytape.no_grad()
    with guard:
        with guard:                                       # one instance re-entered
            assert not tinytape.is_grad_enabled()
            with tinytape.enable_grad():
                assert tinytape.is_grad_enabled()
                y = x * 2
            assert not tinytape.is_grad_enabled()
        assert not tinytape.is_grad_enabled()
    assert tinytape.is_grad_enabled()
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 2.0))


def test_set_grad_enabled_like_torch():
    x = leaf(3)
    with tinytape.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert tinytape.is_grad_enabled()
    tinytape.set_grad_enabled(False)                      # also works as a plain call, as torch's
    try:
        assert not tinytape.is_grad_enabled()
    finally:
        tinytape.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_detach_shares_data_and_leaves_the_graph():
    x = leaf(3)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    y = x * 1.0
    dy = y.detach()
    assert np.shares_memory(dy.data, y.data)
