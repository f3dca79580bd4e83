"""micrograd's engine tests that compare against torch, run on tinytape.

karpathy/micrograd's `test/test_engine.py` (MIT) checks its scalar `Value` against torch with the
expressions below. Here the same expressions, written as that file writes them for torch
(`torch.Tensor([-4.0]).double()`, `x.requires_grad = True`, `.relu()`, `**`, `.data.item()`,
`.grad.item()`), run once with `torch` and once with `tinytape` in its place; tinytape's values and
gradients must equal torch's within micrograd's tolerance, 1e-6.

Two variants beyond the file's own: the operands as 0-d tensors (`torch.tensor(-4.0)`), and
test_more_ops with micrograd's in-place accumulation (`c += c + 1`, as the file writes it for
`Value`; torch accepts it on tensors in the graph, since `add_` needs no saved input).
"""
import pytest
import torch

import tinytape

TOL = 1e-6
ENGINES = [torch, tinytape]

def leaf(torch, x, zero_d):
    """micrograd's `torch.Tensor([x]).double()`, or a 0-d tensor."""
    return torch.tensor(x).double() if zero_d else torch.Tensor([x]).double()

# ------------------------------------------------------------------------------ the file's expressions
def sanity_check(torch, zero_d=False):
    x = leaf(torch, -4.0, zero_d)
    x.requires_grad = True
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    xpt, ypt = x, y
    return ypt.data.item(), xpt.grad.item()

def more_ops(torch, zero_d=False):
    a = leaf(torch, -4.0, zero_d)
    b = leaf(torch, 2.0, zero_d)
    a.requires_grad = True
    b.requires_grad = True
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    apt, bpt, gpt = a, b, g
    return gpt.data.item(), apt.grad.item(), bpt.grad.item()

def more_ops_inplace(torch, zero_d=False):
    """test_more_ops as micrograd writes it for Value: the accumulations in place."""
    a = leaf(torch, -4.0, zero_d)
    b = leaf(torch, 2.0, zero_d)
    a.requires_grad = True
    b.requires_grad = True
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    return g.data.item(), a.grad.item(), b.grad.item()

def unary_tensor_fn(torch, fn_name, x, zero_d=False):
    xt = leaf(torch, x, zero_d)
    xt.requires_grad = True
    yt = getattr(torch.Tensor, fn_name)(xt)
    yt.backward()
    return yt.data.item(), xt.grad.item()

def _agree(expected, got):
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        assert isinstance(g, float), f"tinytape gave {type(g).__name__} {g!r}, torch the float {e!r}"
        assert abs(e - g) < TOL, f"torch {e!r}, tinytape {g!r}"

SHAPES = [pytest.param(False, id="1-element"), pytest.param(True, id="0-d")]

@pytest.mark.parametrize("zero_d", SHAPES)
def test_sanity_check(zero_d):
    _agree(sanity_check(torch, zero_d), sanity_check(tinytape, zero_d))

@pytest.mark.parametrize("zero_d", SHAPES)
def test_more_ops(zero_d):
    _agree(more_ops(torch, zero_d), more_ops(tinytape, zero_d))

@pytest.mark.parametrize("zero_d", SHAPES)
def test_more_ops_inplace(zero_d):
    expected = more_ops_inplace(torch, zero_d)
    assert expected == pytest.approx(more_ops(torch, zero_d), abs=TOL)   # the two spellings agree on torch
    _agree(expected, more_ops_inplace(tinytape, zero_d))

@pytest.mark.parametrize("zero_d", SHAPES)
@pytest.mark.parametrize("fn_name", ["tanh", "exp"])
@pytest.mark.parametrize("x", [-1., .123, 2.])
def test_unary_tensor_fns(x, fn_name, zero_d):
    _agree(unary_tensor_fn(torch, fn_name, x, zero_d), unary_tensor_fn(tinytape, fn_name, x, zero_d))
