"""Tape hygiene: what backward leaves behind (as torch: nodes that saved nothing), memory over many steps, deep graphs, reference
cycles, gradient accumulation and retention, retain_graph, failed backwards, aliasing, grad mode."""
import gc
import os
import sys
import time
import tracemalloc
import weakref

import numpy as np
import pytest
import torch

import tinytape
from tinytape import tape


def leaf(*shape, seed=0, dtype=np.float32):
    return tinytape.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


# ---------------------------------------------------------------------------------- what is left
def _names(t):
    """The grad_fn names of t's graph, from t down, depth first (leaves left out)."""
    out, todo = [], [t.grad_fn]
    while todo:
        n = todo.pop()
        if n is None or n.name() in ("torch::autograd::AccumulateGrad", "AccumulateGrad"):
            continue
        out.append(n.name())
        todo.extend(reversed([f for f, _ in n.next_functions]))
    return out


def test_backward_frees_what_the_rules_saved_and_keeps_the_rest_like_torch():
    """After backward, the nodes that saved values are freed (a second backward through them
    raises torch's error) and leave the tape; the nodes that saved nothing (mean) stay, as in torch."""
    tape.clear()
    a, b = (np.random.default_rng(s).standard_normal(shape).astype(np.float32) for s, shape in ((0, (4, 3)), (1, (3, 2))))
    runs = {}
    for lib in (tinytape, torch):
        x, w = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        h1 = x @ w
        h2 = h1.tanh()
        h3 = h2 ** 2
        loss = h3.mean()
        names = _names(loss)
        if lib is tinytape:
            assert len(tape.entries()) == 4 and [n.name() for n in tape.nodes()] == names[::-1]
        loss.backward()
        grad = x.grad.numpy().copy()
        second = []
        for t in (h1, h2, h3):
            with pytest.raises(RuntimeError) as info:
                t.sum().backward()
            second.append(str(info.value))
        np.testing.assert_array_equal(x.grad.numpy(), grad)      # the failed backwards added nothing
        runs[lib] = names, second, grad, (h1, h2, h3, loss)
    assert runs[tinytape][0] == runs[torch][0] == ["MeanBackward0", "PowBackward0", "TanhBackward0", "MmBackward0"]
    assert runs[tinytape][1] == runs[torch][1]
    np.testing.assert_allclose(runs[tinytape][2], runs[torch][2], rtol=1e-6, atol=1e-8)
    assert [n.name() for n in tape.nodes()] == ["MeanBackward0"]
    assert [tape.freed(t) for t in runs[tinytape][3]] == [True, True, True, False]


def test_backward_frees_only_its_own_graph():
    """A graph built earlier (and still held) keeps its nodes when another graph backpropagates."""
    a = np.random.default_rng(0).standard_normal(3).astype(np.float32)
    grads = []
    for lib in (tinytape, torch):
        x = lib.tensor(a, requires_grad=True)
        other = (x * 2).exp()                             # recorded first, backpropagated last
        before = tape.nodes() if lib is tinytape else None
        (x * x).sum().backward()
        if lib is tinytape:
            after = tape.nodes()
            assert all(any(n is m for m in after) for n in before)
            assert not tape.freed(other)
        other.sum().backward()                            # still usable
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


def test_an_abandoned_graph_disappears_with_its_tensors():
    """Weak references: a graph nobody holds (an evaluation forgotten outside no_grad) leaves nothing."""
    tape.clear()
    x = leaf(5)
    y = (x * 2).tanh().sum()
    r = weakref.ref(y)
    ty = (torch.tensor(np.asarray(x.detach()), requires_grad=True) * 2).tanh().sum()
    assert [n.name() for n in tape.nodes()] == _names(ty)[::-1] == ["MulBackward0", "TanhBackward0",
                                                                           "SumBackward0"]
    del y
    assert r() is None
    assert tape.nodes() == [] and tape.entries() == []


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


HEAVY = os.environ.get("TINYTAPE_HEAVY", "") not in ("", "0")       # docs/testing.md


def _deep(shape, n):
    """A graph of n ops: a chain y = y * 1.0 (backward must reach x through all of them), or one
    tensor used n times (its gradient accumulates n contributions). CPU seconds for forward and
    backward, and x's gradient."""
    x = tinytape.tensor(np.array([1.0, 2.0]), requires_grad=True)
    gc.collect()
    gc.disable()                  # (the collector's full passes cost time in proportion to the whole
    try:                          # heap of the test session: they would time the session, not the tape)
        start = time.process_time()
        if shape == "chain":
            y = x
            for _ in range(n):
                y = y * 1.0
            y.backward(np.array([2.0, 3.0]))
        else:
            y = x * 1.0
            for _ in range(n - 1):
                y = y + x
            y.sum().backward()
        seconds = time.process_time() - start
        del y
    finally:
        gc.enable()
    return seconds, x.grad


@pytest.mark.parametrize("shape", ["chain", "fan-out"])
def test_100000_ops_deep_or_wide_backpropagate_in_linear_time_at_the_default_recursion_limit(shape):
    """The walk is a loop over the tape and freeing the chain does not recurse either; ten times the
    ops take about ten times the CPU time (a bound of 25: a quadratic walk would take 100)."""
    small, big = (100_000, 1_000_000) if HEAVY else (10_000, 100_000)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)                           # Python's default
    try:
        t_small = min(_deep(shape, small)[0] for _ in range(3))
        t_big, grad = _deep(shape, big)
        gc.collect()
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_array_equal(grad, [2.0, 3.0] if shape == "chain" else [big, big])
    assert t_big / t_small < 25, f"{big} ops took {t_big:.2f} s, {small} took {t_small:.3f} s"
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
    np.testing.assert_allclose(xs[0].grad.numpy(), xs[1].grad.numpy(), rtol=1e-6)
    x = xs[0]
    first = x.grad.numpy().copy()
    x.grad = None                                         # the lecture's zero_grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * a)
    assert not np.array_equal(first, x.grad.numpy())


def test_backward_of_a_leaf_itself():
    x = leaf(3)
    g = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    x.backward(g)
    x.backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * g)


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
    grad = x.grad.numpy().copy()
    with pytest.raises(RuntimeError) as torch_error:
        ty.backward()
    with pytest.raises(RuntimeError) as tt_error:
        y.backward()
    assert str(tt_error.value) == str(torch_error.value)
    assert "Trying to backward through the graph a second time" in str(tt_error.value)
    np.testing.assert_array_equal(x.grad.numpy(), grad)


def test_a_failed_backward_changes_no_grad():
    """Backward through a graph half freed by another backward raises, and writes nothing."""
    x = leaf(3)
    y = x.exp()
    z = (y * 3).sum()
    w = (y * 4).sum()
    z.backward()                                          # frees y's entry
    before = x.grad.numpy().copy(), y.grad.numpy().copy()
    with pytest.raises(RuntimeError, match="second time"):
        w.backward()
    np.testing.assert_array_equal(x.grad.numpy(), before[0])
    np.testing.assert_array_equal(y.grad.numpy(), before[1])
    assert w.grad is None


def test_a_rule_that_raises_changes_no_grad(monkeypatch):
    x = leaf(3)
    x.grad = tinytape.ones(3)
    a = x * 2

    def broken(t):
        return np.tanh(t), lambda g: 1 / 0
    broken.saves, broken.saved_args, broken.saves_out = (), (), False
    monkeypatch.setattr(tinytape.api, "tanh", tinytape.api._unary(broken, "TanhBackward0"))
    b = a.tanh()
    loss = (b * a).sum()                                  # a reached by two paths: one fails
    with pytest.raises(ZeroDivisionError):
        loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3))
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
        assert isinstance(g, tinytape.Tensor) and g.numpy().flags.writeable, name
        assert not np.shares_memory(g.numpy(), G), name
        assert not np.shares_memory(g.numpy(), x.detach().numpy()), name
        assert not np.shares_memory(g.numpy(), w.detach().numpy()), name
    names = list(grads)
    for i, m in enumerate(names):
        for n in names[i + 1:]:
            assert not np.shares_memory(grads[m].numpy(), grads[n].numpy()), (m, n)
    copies = {n: g.numpy().copy() for n, g in grads.items()}
    e.grad[0] = 123.0                                     # writing one gradient touches no other
    assert G[0] == G_copy[0] and e.grad[0].item() == 123.0
    for n in names[:-1]:
        np.testing.assert_array_equal(grads[n].numpy(), copies[n], err_msg=n)


def test_a_leaf_seeded_directly_does_not_alias_the_users_gradient():
    x = leaf(3)
    G = np.ones(3, dtype=np.float32)
    x.backward(G)
    assert not np.shares_memory(x.grad.numpy(), G)
    y = x + x                                             # both inputs are the same leaf
    y.backward(G)
    np.testing.assert_array_equal(x.grad.numpy(), 3 * G)


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
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 2.0))


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
    assert np.shares_memory(dy.numpy(), y.detach().numpy()) and dy._version == y._version
    dy.add_(1.0)                                          # one version counter, as torch's detach()
    assert y._version == dy._version == 1
