"""Shared helpers of the tinytape.nn tests: a module built twice (torch.nn and tinytape.nn) from one
state dict, then run on identical inputs with forward, input gradients and every parameter
gradient compared."""
from collections import OrderedDict

import numpy as np
import torch

import tinytape
import tinytape.nn

TOL = dict(rtol=1e-5, atol=1e-6)
DEEP = dict(rtol=1e-4, atol=1e-5)                        # float32 through several layers


def to_tinytape(state):
    """torch's state dict as tinytape tensors (through .numpy()), keys and order kept."""
    return OrderedDict((k, tinytape.tensor(v.detach().numpy())) for k, v in state.items())


def twin(make, seed=0):
    """make(T, nn) builds the same module with torch (T=torch, nn=torch.nn) and tinytape; the
    tinytape one gets torch's state dict."""
    torch.manual_seed(seed)
    tm = make(torch, torch.nn)
    mm = make(tinytape, tinytape.nn)
    result = mm.load_state_dict(to_tinytape(tm.state_dict()))
    assert repr(result) == "<All keys matched successfully>"
    return tm, mm


def same_repr(tm, mm):
    assert repr(mm) == repr(tm).replace("torch.", "tinytape."), (repr(mm), repr(tm))


def assert_close(a, b, tol=TOL, exact=False):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    if exact:
        np.testing.assert_array_equal(b, a)
    else:
        np.testing.assert_allclose(b, a, **tol)


def run(tm, mm, *inputs, grad_inputs=True, tol=TOL, seed=1):
    """Forward both modules on the same inputs (numpy arrays: floats become leaves requiring grad
    when grad_inputs), backward a random upstream gradient through both, compare the outputs,
    the inputs' gradients and every parameter's gradient. Returns the two outputs."""
    t_in, m_in = [], []
    for x in inputs:
        x = np.asarray(x)
        rg = grad_inputs and x.dtype.kind == "f"
        t_in.append(torch.tensor(x, requires_grad=rg))
        m_in.append(tinytape.tensor(x, requires_grad=rg))
    t_out, m_out = tm(*t_in), mm(*m_in)
    assert_close(t_out, m_out, tol)
    if t_out.requires_grad:
        up = np.random.default_rng(seed).standard_normal(tuple(t_out.shape)).astype(t_out.detach().numpy().dtype)
        t_out.backward(torch.tensor(up))
        m_out.backward(tinytape.tensor(up))
        for t, m in zip(t_in, m_in):
            if t.requires_grad:
                assert_close(t.grad, m.grad, tol)
    t_params, m_params = dict(tm.named_parameters()), dict(mm.named_parameters())
    assert list(t_params) == list(m_params)
    for name, p in t_params.items():
        if p.grad is None:
            assert m_params[name].grad is None, name
        else:
            assert_close(p.grad, m_params[name].grad, tol)
    return t_out, m_out


def same_state(tm, mm, tol=TOL):
    """Equal state dicts: keys in order, shapes, dtypes and values."""
    ts, ms = tm.state_dict(), mm.state_dict()
    assert list(ts) == list(ms)
    for k in ts:
        assert_close(ts[k], ms[k], tol)


def error_text(fn):
    try:
        fn()
    except Exception as e:                                # noqa: BLE001  (the text is what is compared)
        return type(e).__name__, str(e).replace("torch.", "tinytape.")
    raise AssertionError("no error raised")


def same_error(t_fn, m_fn):
    """Both raise: the same exception type and text (torch. read as tinytape.)."""
    t, m = error_text(t_fn), error_text(m_fn)
    assert m == t, (m, t)
    return m
