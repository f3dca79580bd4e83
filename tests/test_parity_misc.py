"""Parity with torch for the rest of the Tensor API: comparisons, unary +, all/any, in-place updates and
item assignment (values), iteration, and the small accessors (len, size, dim, numel, item, tolist...)."""
import operator

import numpy as np
import pytest
import torch

import tinytape
from harness import EXACT, Const, assert_close, check, np_dtype, randn

DTYPES = [np.float32, np.float64]
COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
           "ge": operator.ge}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", COMPARE)
def test_comparisons(op, dtype):
    """Bool results outside the graph, with broadcasting, scalars and arrays on either side."""
    a = np.round(randn(3, 4, dtype=dtype, seed=1))          # rounding makes equal elements
    b = np.round(randn(4, dtype=dtype, seed=2))
    f = COMPARE[op]
    out, *_ = check(lambda T, F, x, y: f(x, y), a, b, tol=EXACT)
    assert out[0].dtype == np.bool_ and not out[0].requires_grad
    check(lambda T, F, x: f(x, 0.0), a, tol=EXACT)
    check(lambda T, F, x: f(1, x), a, tol=EXACT)
    check(lambda T, F, x, c: f(x, c), a, Const(b), tol=EXACT)
    check(lambda T, F, x: f(x, x.max(1, keepdim=True).values), a, tol=EXACT, grad_tol=EXACT)


def test_comparison_of_int_and_float_tensors():
    check(lambda T, F, x, y: x < y, np.array([1, 2, 3]), np.array([1.5, 2.0, 2.5]), tol=EXACT)
    check(lambda T, F, x, y: x == y, np.array([1, 2, 3]), np.array([1.0, 2.0, 2.5]), tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_plus_and_abs_builtin(dtype):
    check(lambda T, F, x: +x, randn(3, dtype=dtype), tol=EXACT)
    check(lambda T, F, x: abs(x) * +x, randn(3, dtype=dtype), tol=EXACT)


def test_all_and_any():
    for a in (np.array([[True, False], [True, True]]), np.array([1.0, 0.0]), np.array([2, 3]),
              np.zeros((0,)), np.array(True)):
        for f in (lambda T, F, x: x.all(), lambda T, F, x: x.any(), lambda T, F, x: T.all(x),
                  lambda T, F, x: T.any(x)):
            out, *_ = check(f, a if a.dtype != np.float64 else a.astype(np.int64), tol=EXACT)
            assert out[0].dtype == np.bool_


@pytest.mark.parametrize("dtype", DTYPES)
def test_iterating_over_rows(dtype):
    """`for row in x`: each row is x[i], and the gradients of the rows meet in x."""
    check(lambda T, F, x: T.stack([row * k for k, row in enumerate(x)]), randn(4, 3, dtype=dtype), tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
@pytest.mark.parametrize("other", ["2.5", "np.float64(0.5)", "y", "y[0]", "A", "y.data"])
def test_in_place_updates_under_no_grad(op, other, dtype):
    """The lecture's update `p.data += -lr * p.grad` and friends: same values as torch, dtype kept.
    A numpy array A (float64) counts as torch.from_numpy(A): the in-place result keeps x's dtype."""
    a, b = randn(2, 3, dtype=dtype, seed=1), randn(2, 3, dtype=dtype, seed=2) + 3
    A = np.full(3, 3.0)
    results = []
    for lib in (tinytape, torch):
        x = lib.tensor(a, requires_grad=True)
        y = lib.tensor(b)
        env = {"x": x, "y": y, "np": np, "A": A if lib is tinytape else torch.from_numpy(A)}
        with lib.no_grad():
            exec(f"x {op} {other}", env)
        results.append(env["x"])
    assert results[0].requires_grad and results[0].grad_fn is None
    assert_close(results[0].detach().numpy(), results[1].detach().numpy(), EXACT, f"x {op} {other}")


def test_data_update_keeps_the_same_array():
    """The lecture's `p.data += -lr * p.grad`: written into p's own memory, as torch does (.data
    is a tensor that shares p's memory and version counter), with torch's values and version."""
    a, g = randn(3, dtype=np.float32), randn(3, dtype=np.float32, seed=1)
    results = []
    for lib in (tinytape, torch):
        x = lib.tensor(a, requires_grad=True)
        memory = np.asarray(x.detach())
        x.grad = lib.tensor(g)
        x.data += -0.1 * x.grad                            # exactly the lecture's line
        assert np.shares_memory(np.asarray(x.detach()), memory)
        assert x.requires_grad and x.is_leaf and x.dtype == lib.float32
        results.append(x)
    assert_close(results[0].detach().numpy(), results[1].detach().numpy(), EXACT, "p.data += -lr * p.grad")
    with pytest.raises(TypeError, match="^assigned grad expected to be a Tensor or None but got grad of type "
                       "numpy.ndarray$") as info:
        results[0].grad = g
    with pytest.raises(TypeError) as torch_info:
        results[1].grad = g
    assert str(info.value) == str(torch_info.value)


def test_data_has_its_own_version_counter_like_torch():
    """torch: writes through `.data` are invisible to autograd (no version bump on x, so a backward
    through a saved x uses the new values), unlike writes through `detach()`."""
    a = randn(3, dtype=np.float32)
    seen = []
    for lib in (tinytape, torch):
        x = lib.tensor(a, requires_grad=True)
        y = x * x                                          # saves x
        x.data.mul_(2.0)
        x_version = x._version
        y.sum().backward()                                 # no error: the new values are used
        x.detach().add_(0.0)
        seen.append((x_version, x._version, x.grad.numpy().tolist()))
    assert seen[0] == seen[1]


@pytest.mark.parametrize("index,value", [("0", "5.0"), ("(slice(None), 1)", "T.tensor([7.0, 8.0])"),
                                         ("[0, 1]", "-1.0"), ("(1, [0, 2])", "T.tensor([1.5, 2.5])"),
                                         ("X > 0", "0.0"), ("..., -1", "T.tensor(9.0)"),
                                         ("(0, slice(None), [2, 0])", "T.tensor([[1.0, 2.0]])"),
                                         ("(None, [1, 0], ..., [0, 2])", "T.tensor([[4.0, 5.0]])")])
def test_item_assignment(index, value):
    a = randn(2, 3, dtype=np.float32) if "slice(None), [2, 0]" not in index else randn(2, 2, 3, dtype=np.float32)
    results = []
    for lib in (tinytape, torch):
        x = lib.tensor(a)
        env = {"x": x, "T": lib, "X": lib.tensor(a)}
        exec(f"x[{index}] = {value}", env)
        results.append(x)
    assert_close(results[0].numpy(), results[1].numpy(), EXACT, "setitem")


def test_accessors_like_torch():
    a = randn(2, 3, dtype=np.float32)
    x, t = tinytape.tensor(a), torch.tensor(a)
    assert len(x) == len(t)
    assert x.size() == tuple(t.size()) and x.size(1) == t.size(1) and x.size(-1) == t.size(-1)
    assert x.shape == tuple(t.shape) and x.dim() == t.dim() and x.ndim == t.ndim
    assert x.numel() == t.numel() == x.nelement() == tinytape.numel(x)
    assert x.tolist() == t.tolist()
    assert x[0, 1].item() == t[0, 1].item() and isinstance(x[0, 1].item(), float)
    assert int(tinytape.tensor(3.7)) == int(torch.tensor(3.7))
    assert float(tinytape.tensor([2])) == float(torch.tensor([2]))
    assert operator.index(tinytape.tensor(2)) == 2
    assert bool(tinytape.tensor([0.0])) is bool(torch.tensor([0.0]))
    assert tinytape.equal(x, x.clone()) and not tinytape.equal(x, x + 1)
    assert tinytape.allclose(x, x + 1e-9) and tinytape.is_tensor(x) and not tinytape.is_tensor(a)
    assert x.contiguous() is x
    assert np_dtype(t.dtype) == x.dtype and x.device == "cpu"


def test_detach_in_place():
    x = tinytape.tensor(randn(3, dtype=np.float32), requires_grad=True)
    y = x * 2
    assert y.detach_() is y
    assert y.is_leaf and not y.requires_grad and y.grad_fn is None
