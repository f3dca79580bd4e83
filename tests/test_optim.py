"""tinytape.optim against torch.optim (torch 2.13, foreach=False), on identical inputs.

Each optimizer runs over a grid of settings, float32 and float64, parameters of several shapes (a
scalar, sizes below and above the CPU kernels' vector width) made from the same numpy arrays in
both engines, 20 steps with the same random gradients (some exactly zero, some parameters without
a gradient at some steps); parameters and state are compared after every step:
- SGD: bit for bit;
- Adam, AdamW: bit for bit with torch's sqrt replaced by a correctly rounded one (numpy's), the
  only op whose rounding numpy cannot reproduce (torch's CPU sqrt is MKL's, off by one ulp on
  ~0.7% of elements); with torch's own sqrt, within a few ulps of the update (rtol below).
Then state dicts (torch's layout; tinytape -> tinytape and torch -> tinytape round trips),
zero_grad, parameter groups, versions, the schedulers' learning rates, and errors in torch's words.
"""
import copy
import itertools
import warnings

import numpy as np
import pytest
import torch

import tinytape
import tinytape.optim as optim
from tinytape.optim import _kernels, lr_scheduler

SHAPES = [(), (5,), (7, 3), (3, 37), (130, 9)]
STEPS = 20
TORCH = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}
TT = {"SGD": optim.SGD, "Adam": optim.Adam, "AdamW": optim.AdamW}


def bits(a):
    a = np.ascontiguousarray(np.asarray(a))
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_bits(x, t, what):
    x, t = np.asarray(x), t.detach().numpy()
    assert x.dtype == t.dtype and x.shape == t.shape, what
    if not np.array_equal(bits(x), bits(t)):
        d = np.abs(x.astype(np.float64) - t)
        raise AssertionError(f"{what}: {int((bits(x) != bits(t)).sum())} of {x.size} elements differ "
                             f"(max |diff| {d.max():.3g})")


def init_arrays(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def grad_arrays(dtype, steps=STEPS, seed=1):
    """Per step, one gradient per parameter, or None (that parameter gets no gradient this step)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(steps):
        gs = []
        for i, s in enumerate(SHAPES):
            g = (rng.standard_normal(s) * 10.0 ** rng.uniform(-3, 1)).astype(dtype)
            if g.ndim:
                g.reshape(-1)[::7] = 0                 # exact zeros, as unused embedding rows get
            gs.append(None if (k + i) % 6 == 5 else g)
        out.append(gs)
    return out


def pair(dtype, seed=0):
    arrays = init_arrays(dtype, seed)
    return ([tinytape.tensor(a.copy(), requires_grad=True) for a in arrays],
            [torch.tensor(a.copy(), requires_grad=True) for a in arrays])


def set_grads(xs, ts, gs):
    for x, t, g in zip(xs, ts, gs):
        x.grad = None if g is None else tinytape.tensor(g.copy())
        t.grad = None if g is None else torch.tensor(g.copy())


def compare(x_opt, t_opt, xs, ts, exact, rtol, what, atol=0.0, exact_state=False):
    for i, (x, t) in enumerate(zip(xs, ts)):
        if exact:
            assert_bits(x, t, f"{what}: parameter {i}")
        else:
            np.testing.assert_allclose(np.asarray(x), t.detach().numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"{what}: parameter {i}")
        xst, tst = x_opt.state.get(x, {}), t_opt.state.get(t, {})
        assert list(xst) == list(tst), what
        for key in tst:
            if exact or exact_state or key == "step":
                assert_bits(xst[key], tst[key], f"{what}: state {key} of parameter {i}")
            else:
                np.testing.assert_allclose(np.asarray(xst[key]), tst[key].numpy(), rtol=rtol, atol=atol,
                                           err_msg=f"{what}: state {key} of parameter {i}")


def run(name, kwargs, dtype, exact=True, rtol=0.0, steps=STEPS, grads=None, atol=0.0, exact_state=False):
    xs, ts = pair(dtype)
    x_opt = TT[name](xs, foreach=False, **kwargs)
    t_opt = TORCH[name](ts, foreach=False, **kwargs)
    for k, gs in enumerate(grads or grad_arrays(dtype, steps)):
        set_grads(xs, ts, gs)
        x_opt.step()
        t_opt.step()
        compare(x_opt, t_opt, xs, ts, exact, rtol, f"{name}({kwargs}) {np.dtype(dtype).name} step {k + 1}", atol,
                exact_state)
    return x_opt, t_opt, xs, ts


@pytest.fixture
def rounded_sqrt(monkeypatch):
    """torch's Tensor.sqrt replaced by a correctly rounded one (numpy's), for the bit-for-bit runs."""
    monkeypatch.setattr(torch.Tensor, "sqrt", lambda self: torch.from_numpy(np.asarray(np.sqrt(self.numpy()))))


DTYPES = [np.float32, np.float64]
SGD_GRID = [dict(lr=lr, momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
            for lr, m, d, n, wd, mx in itertools.product([0.1], [0, 0.9], [0, 0.5], [False, True], [0, 0.01],
                                                         [False, True])
            if not (n and (m == 0 or d != 0))]
ADAM_GRID = [dict(lr=lr, betas=b, eps=eps, weight_decay=wd, amsgrad=a, maximize=mx)
             for lr, b, eps, wd, a, mx in itertools.product([0.01], [(0.9, 0.999), (0.3, 0.5)], [1e-8], [0, 0.1],
                                                            [False, True], [False, True])]
ADAM_GRID.append(dict(lr=0.2, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.5, amsgrad=True))


def label(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


# ---------------------------------------------------------------------------------- the steps
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kwargs", SGD_GRID, ids=label)
def test_sgd_bit_identical(kwargs, dtype):
    run("SGD", kwargs, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kwargs", ADAM_GRID, ids=label)
def test_adam_bit_identical_with_rounded_sqrt(rounded_sqrt, name, kwargs, dtype):
    run(name, kwargs, dtype)


# torch's own sqrt: one ulp of a denominator changes that step's update (at most ~lr) by about
# one ulp of it, and can flip the rounding of the parameter (an ulp of it): after 20 steps,
# |diff| <= 20 * 2^-23 * (lr + |p|) in float32 (2^-52 in float64). The running averages stay
# bit-identical unless Adam's L2 decay feeds the parameter into the gradient.
ADAM_TOL = {np.float32: (20 * 2.0 ** -23, 40 * 2.0 ** -24), np.float64: (20 * 2.0 ** -52, 40 * 2.0 ** -53)}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kwargs", ADAM_GRID[::3], ids=label)
def test_adam_close_to_torch_sqrt(name, kwargs, dtype):
    rtol, per_lr = ADAM_TOL[dtype]
    run(name, kwargs, dtype, exact=False, rtol=rtol, atol=per_lr * kwargs["lr"],
        exact_state=name == "AdamW" or kwargs["weight_decay"] == 0)


def test_fma_where_two_roundings_differ_from_one():
    """a*b + c whose float64 value sits on a float32 midpoint: the emulation rounds once, as torch's
    fused kernel (addcmul_) does, where float64 arithmetic then a cast would round the wrong way."""
    a = np.full(20, 2.0 ** -24 * (1 + 2.0 ** -15), np.float32)
    b = np.full(20, 1 - 2.0 ** -15, np.float32)
    c = np.full(20, 1 + 2.0 ** -23, np.float32)
    t = torch.from_numpy(c.copy()).addcmul_(torch.from_numpy(a), torch.from_numpy(b))
    x = c.copy()
    _kernels.addcmul_(x, a, b, 1.0)
    assert_bits(x, t, "addcmul_")
    assert (a.astype(np.float64) * b + c).astype(np.float32)[0] != x[0]      # the case is a real one


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_kernels_match_torch_ops(dtype):
    rng = np.random.default_rng(5)
    for n in (3, 16, 61, 4099):
        x0 = rng.standard_normal(n).astype(dtype)
        y = (rng.standard_normal(n) * 1e-3).astype(dtype)
        z = (np.abs(rng.standard_normal(n)) + 0.1).astype(dtype)
        for name, tfn, xfn in [
            ("add_", lambda t: t.add_(torch.from_numpy(y), alpha=-0.037), lambda x: _kernels.add_(x, y, -0.037)),
            ("lerp_ small", lambda t: t.lerp_(torch.from_numpy(y), 0.1), lambda x: _kernels.lerp_(x, y, 0.1)),
            ("lerp_ large", lambda t: t.lerp_(torch.from_numpy(y), 0.7), lambda x: _kernels.lerp_(x, y, 0.7)),
            ("addcmul_", lambda t: t.addcmul_(torch.from_numpy(y), torch.from_numpy(z), value=0.3),
             lambda x: _kernels.addcmul_(x, y, z, 0.3)),
            ("addcdiv_", lambda t: t.addcdiv_(torch.from_numpy(y), torch.from_numpy(z), value=-0.01),
             lambda x: _kernels.addcdiv_(x, y, z, -0.01)),
            ("mul_", lambda t: t.mul_(0.9), lambda x: _kernels.mul_(x, 0.9)),
        ]:
            x = x0.copy()
            xfn(x)
            assert_bits(x, tfn(torch.from_numpy(x0.copy())), f"{name} n={n}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)),
                                         ("Adam", dict(amsgrad=True, weight_decay=0.1)), ("AdamW", {})])
def test_non_finite_values_as_torch_and_silently(rounded_sqrt, name, kwargs, dtype):
    """inf, nan, overflowing and zero gradients: the same values as torch (nan where torch has nan),
    and no numpy warning (the suite turns RuntimeWarnings into errors)."""
    big = np.finfo(dtype).max / 4
    init = np.array([1.0, -2.0, big, -big, 0.0, 3.0, 1e-30, -0.0], dtype)
    grads = [np.array([np.inf, -np.inf, np.nan, big, 0.0, -big, 1e-30, -0.0], dtype),
             np.array([1.0, 2.0, 3.0, big, -big, 0.0, -0.0, 1e-30], dtype)]
    x, t = tinytape.tensor(init.copy(), requires_grad=True), torch.tensor(init.copy(), requires_grad=True)
    x_opt, t_opt = TT[name]([x], **kwargs), TORCH[name]([t], **kwargs)
    for g in grads:
        x.grad, t.grad = tinytape.tensor(g.copy()), torch.tensor(g.copy())
        x_opt.step()
        t_opt.step()
        np.testing.assert_array_equal(np.asarray(x), t.detach().numpy())
        num = ~np.isnan(np.asarray(x))                     # zeros' signs too (a NaN's sign is the CPU's)
        assert np.array_equal(np.signbit(np.asarray(x))[num], np.signbit(t.detach().numpy())[num])


# ---------------------------------------------------------------------------------- groups, versions
def test_param_groups_with_different_settings():
    xs, ts = pair(np.float32)
    groups = lambda ps: [{"params": ps[:2], "lr": 0.5}, {"params": ps[2:4], "momentum": 0.8},  # noqa: E731
                         {"params": ps[4:], "lr": 0.03, "nesterov": True, "momentum": 0.5}]
    x_opt, t_opt = optim.SGD(groups(xs), lr=0.01), torch.optim.SGD(groups(ts), lr=0.01)
    assert x_opt.state_dict()["param_groups"] == t_opt.state_dict()["param_groups"]
    for k, gs in enumerate(grad_arrays(np.float32)):
        set_grads(xs, ts, gs)
        x_opt.step()
        t_opt.step()
        compare(x_opt, t_opt, xs, ts, True, 0, f"step {k + 1}")
    x_opt.add_param_group({"params": [tinytape.zeros(2, requires_grad=True)], "lr": 7.0})
    t_opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": 7.0})
    assert x_opt.state_dict()["param_groups"] == t_opt.state_dict()["param_groups"]
    assert repr(x_opt) == repr(t_opt)


def test_named_parameters_give_param_names():
    xs, ts = pair(np.float64)
    x_opt = optim.AdamW([(f"p{i}", x) for i, x in enumerate(xs)])
    t_opt = torch.optim.AdamW([(f"p{i}", t) for i, t in enumerate(ts)])
    assert x_opt.state_dict()["param_groups"] == t_opt.state_dict()["param_groups"]


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", {}),
                                         ("AdamW", dict(amsgrad=True))])
def test_versions_move_as_torch(name, kwargs):
    """Every in-place write bumps the version as torch's does, so a graph that saved a parameter
    before the step refuses to backward after it, in torch's words."""
    x_opt, t_opt, xs, ts = run(name, kwargs, np.float32, exact=False, rtol=1e-5, atol=1e-7, steps=3)
    assert [x._version for x in xs] == [t._version for t in ts]
    for x, t in zip(xs, ts):
        assert {k: v._version for k, v in x_opt.state[x].items()} == \
               {k: v._version for k, v in t_opt.state[t].items()}
    x, t = xs[1], ts[1]
    y, z = (x * x).sum(), (t * t).sum()
    x.grad, t.grad = tinytape.ones(5), torch.ones(5)
    x_opt.step()
    t_opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()
    assert x.is_leaf and x.requires_grad and x.grad_fn is None


def test_step_runs_without_grad_and_closure_with_it():
    x = tinytape.tensor([1.0, -2.0], requires_grad=True)
    t = torch.tensor([1.0, -2.0], requires_grad=True)
    seen = []

    def closure(p, lib):
        def f():
            seen.append(lib.is_grad_enabled())
            p.grad = None
            loss = (p * p).sum()
            loss.backward()
            return loss
        return f
    x_opt, t_opt = optim.SGD([x], lr=0.1), torch.optim.SGD([t], lr=0.1)
    with tinytape.no_grad(), torch.no_grad():
        lx, lt = x_opt.step(closure(x, tinytape)), t_opt.step(closure(t, torch))
    assert seen == [True, True] and lx.item() == lt.item() == 5.0
    assert_bits(x, t, "after a closure step")
    assert tinytape.is_grad_enabled()


# ---------------------------------------------------------------------------------- zero_grad
@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    xs, ts = pair(np.float32)
    x_opt, t_opt = optim.SGD(xs, lr=0.1), torch.optim.SGD(ts, lr=0.1)
    set_grads(xs, ts, grad_arrays(np.float32, 1)[0])
    before = [x.grad for x in xs]
    x_opt.zero_grad(set_to_none=set_to_none)
    t_opt.zero_grad(set_to_none=set_to_none)
    for x, t, b in zip(xs, ts, before):
        assert (x.grad is None) == (t.grad is None)
        if t.grad is not None:
            assert x.grad is b and not x.grad.requires_grad          # zeroed in place, as torch
            assert_bits(x.grad, t.grad, "zeroed grad")


def test_none_grad_skips_but_zero_grad_steps():
    """A parameter whose grad is None is not touched; one whose grad is zeros is (momentum, decay)."""
    xs, ts = pair(np.float32)
    x_opt = optim.AdamW(xs, lr=0.1)
    t_opt = torch.optim.AdamW(ts, lr=0.1)
    set_grads(xs, ts, grad_arrays(np.float32, 1, seed=3)[0])
    x_opt.step()
    t_opt.step()
    x_opt.zero_grad(set_to_none=False)
    t_opt.zero_grad(set_to_none=False)
    xs[0].grad = None
    ts[0].grad = None
    frozen = np.asarray(xs[0]).copy()
    x_opt.step()
    t_opt.step()
    assert np.array_equal(np.asarray(xs[0]), frozen) and x_opt.state[xs[0]]["step"].item() == 1
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(np.asarray(x), t.detach().numpy(), rtol=1e-6)
        assert x_opt.state[x]["step"].item() == t_opt.state[t]["step"].item()


# ---------------------------------------------------------------------------------- state dicts
def _structure(sd):
    def leaf(v):
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            return ("tensor", tuple(v.shape), str(v.dtype).split(".")[-1])
        return v
    return {"state": {k: [(n, leaf(v)) for n, v in s.items()] for k, s in sd["state"].items()},
            "param_groups": sd["param_groups"]}


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                         ("SGD", dict(lr=0.05)), ("Adam", dict(amsgrad=True, weight_decay=0.1)),
                                         ("AdamW", dict(lr=0.02))])
def test_state_dict_layout_and_round_trips(rounded_sqrt, name, kwargs):
    grads = grad_arrays(np.float32, 16)
    x_opt, t_opt, xs, ts = run(name, kwargs, np.float32, steps=8, grads=grads[:8])
    xsd, tsd = x_opt.state_dict(), t_opt.state_dict()
    assert _structure(xsd) == _structure(tsd)
    for k in tsd["state"]:
        for key, v in tsd["state"][k].items():
            assert_bits(xsd["state"][k][key], v, f"state {k} {key}")
    # tinytape -> tinytape: a new optimizer on equal parameters continues exactly as the first. As
    # in torch, a state dict holds the optimizer's own tensors, and loading one keeps tensors of the
    # right dtype as they are: deepcopy it (as saving it to a file would) so the two do not share them
    ys = [tinytape.tensor(np.asarray(x).copy(), requires_grad=True) for x in xs]
    y_opt = TT[name](ys, **kwargs)
    y_opt.load_state_dict(copy.deepcopy(xsd))
    assert _structure(y_opt.state_dict()) == _structure(xsd)
    # torch -> tinytape: torch's state dict (torch tensors) loads too
    zs = [tinytape.tensor(t.detach().numpy().copy(), requires_grad=True) for t in ts]
    z_opt = TT[name](zs, **kwargs)
    z_opt.load_state_dict(tsd)
    assert _structure(z_opt.state_dict()) == _structure(tsd)
    for gs in grads[8:]:
        set_grads(xs, ts, gs)
        for ps in (ys, zs):
            for p, g in zip(ps, gs):
                p.grad = None if g is None else tinytape.tensor(g.copy())
        for o in (x_opt, t_opt, y_opt, z_opt):
            o.step()
        for p, q, r, t in zip(xs, ys, zs, ts):
            assert_bits(p, t, "continued")
            assert_bits(q, t, "tinytape -> tinytape")
            assert_bits(r, t, "torch -> tinytape")


def test_state_dicts_hold_the_optimizers_tensors_as_torch():
    """state_dict() gives the optimizer's own state tensors, and load_state_dict() keeps tensors of
    the parameter's dtype as they are (no copy), in both engines."""
    found = []
    for lib, mod in ((tinytape, optim), (torch, torch.optim)):
        p, q = lib.zeros(3, requires_grad=True), lib.zeros(3, requires_grad=True)
        a = mod.Adam([p])
        p.grad = lib.ones(3)
        a.step()
        sd = a.state_dict()
        b = mod.Adam([q])
        b.load_state_dict(sd)
        found.append((sd["state"][0]["exp_avg"] is a.state[p]["exp_avg"],
                      b.state[q]["exp_avg"] is sd["state"][0]["exp_avg"], b.state[q]["step"] is sd["state"][0]["step"],
                      b.param_groups[0]["params"][0] is q, b.param_groups[0] is not sd["param_groups"][0]))
    assert found[0] == found[1] == (True,) * 5


def test_load_state_dict_casts_to_the_parameters_dtype():
    p64 = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    t_opt = torch.optim.Adam([p64])
    p64.grad = torch.ones(3, dtype=torch.float64)
    t_opt.step()
    x = tinytape.zeros(3, requires_grad=True)
    x_opt = optim.Adam([x])
    x_opt.load_state_dict(t_opt.state_dict())
    t32 = torch.zeros(3, requires_grad=True)
    t32_opt = torch.optim.Adam([t32])
    t32_opt.load_state_dict(t_opt.state_dict())
    assert _structure(x_opt.state_dict()) == _structure(t32_opt.state_dict())


def test_load_state_dict_errors_in_torchs_words():
    xs, ts = pair(np.float32)
    cases = [lambda ps: [{"params": ps[:2]}], lambda ps: [{"params": ps[:2]}, {"params": ps[2:4]}]]
    full_x = optim.SGD([{"params": xs[:2]}, {"params": xs[2:]}])
    full_t = torch.optim.SGD([{"params": ts[:2]}, {"params": ts[2:]}])
    for make in cases:
        with pytest.raises(ValueError) as ex:
            full_x.load_state_dict(optim.SGD(make(xs)).state_dict())
        with pytest.raises(ValueError) as et:
            full_t.load_state_dict(torch.optim.SGD(make(ts)).state_dict())
        assert str(ex.value) == str(et.value)


def test_default_dtype_float64_makes_a_float64_step():
    old_t, old_x = torch.get_default_dtype(), tinytape.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        tinytape.set_default_dtype(tinytape.float64)
        x, t = tinytape.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
        x_opt, t_opt = optim.Adam([x]), torch.optim.Adam([t])
        x.grad, t.grad = tinytape.ones(2), torch.ones(2)
        x_opt.step()
        t_opt.step()
        assert str(x_opt.state[x]["step"].dtype).split(".")[-1] == str(t_opt.state[t]["step"].dtype).split(".")[-1]
    finally:
        torch.set_default_dtype(old_t)
        tinytape.set_default_dtype(old_x)


# ---------------------------------------------------------------------------------- schedulers
def _two_group_optimizers():
    xs, ts = pair(np.float32)
    return (optim.SGD([{"params": xs[:2]}, {"params": xs[2:], "lr": 0.3}], lr=0.1, momentum=0.9),
            torch.optim.SGD([{"params": ts[:2]}, {"params": ts[2:], "lr": 0.3}], lr=0.1, momentum=0.9), xs, ts)


class Halve:
    """A callable object: LambdaLR's state dict keeps its __dict__."""
    def __init__(self):
        self.rate = 0.5

    def __call__(self, epoch):
        return self.rate ** (epoch // 3)


SCHEDULERS = [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.95 ** e)),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1 / (e + 1), Halve()])),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=lambda v: v if isinstance(v, str) else "")
def test_scheduler_lrs_as_torch(name, kwargs):
    """30 epochs (past T_max: the cosine's restart branch), the same floats as torch's each epoch;
    the optimizer's steps use them (bit-identical parameters); state dicts as torch's; a scheduler
    loaded from a state dict continues the same."""
    x_opt, t_opt, xs, ts = _two_group_optimizers()
    xs_sched = getattr(lr_scheduler, name)(x_opt, **kwargs)
    ts_sched = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    assert xs_sched.get_last_lr() == ts_sched.get_last_lr()
    grads = grad_arrays(np.float32, 30)
    torch_lrs = []
    for epoch in range(30):
        set_grads(xs, ts, grads[epoch])
        x_opt.step()
        t_opt.step()
        xs_sched.step()
        ts_sched.step()
        torch_lrs.append(ts_sched.get_last_lr())
        assert xs_sched.get_last_lr() == torch_lrs[-1], f"epoch {epoch}"
        assert [g["lr"] for g in x_opt.param_groups] == [g["lr"] for g in t_opt.param_groups]
        compare(x_opt, t_opt, xs, ts, True, 0, f"epoch {epoch}")
        if epoch == 14:
            sched_sd, opt_sd = xs_sched.state_dict(), x_opt.state_dict()
            assert sched_sd == ts_sched.state_dict()
            assert opt_sd["param_groups"] == t_opt.state_dict()["param_groups"]
    # resume from epoch 14 as torch's docs say: scheduler first, then the optimizer's state, then the scheduler's
    y_opt = _two_group_optimizers()[0]
    again = getattr(lr_scheduler, name)(y_opt, **kwargs)
    y_opt.load_state_dict(opt_sd)
    again.load_state_dict(sched_sd)
    for epoch in range(15, 30):
        again.step()
        assert again.get_last_lr() == torch_lrs[epoch], f"resumed, epoch {epoch}"


def test_scheduler_warnings_as_torch():
    x_opt, t_opt, _, _ = _two_group_optimizers()
    xs, ts = lr_scheduler.StepLR(x_opt, 2), torch.optim.lr_scheduler.StepLR(t_opt, 2)
    with warnings.catch_warnings(record=True) as wx:
        warnings.simplefilter("always")
        xs.step()
        xs.step(5)
    with warnings.catch_warnings(record=True) as wt:
        warnings.simplefilter("always")
        ts.step()
        ts.step(5)
    assert [str(w.message) for w in wx] == [str(w.message) for w in wt] and len(wx) == 2
    assert xs.get_last_lr() == ts.get_last_lr()                   # the closed form at epoch 5


# ---------------------------------------------------------------------------------- errors
def _leaf(lib):
    return lib.ones(3, requires_grad=True)


def _same_error(make, libs=(tinytape, torch), warns=False):
    """make(lib, optim_module) raises (or warns) the same type and text in both engines."""
    got = []
    for lib, mod in zip(libs, (optim, torch.optim)):
        if warns:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                make(lib, mod)
            got.append([(x.category, str(x.message)) for x in w])
        else:
            with pytest.raises(Exception) as e:
                make(lib, mod)
            got.append((type(e.value), str(e.value).replace("torch.", "tinytape.")))
    assert got[0] == got[1]
    return got[0]


ERRORS = {
    "lr": lambda lib, o: o.SGD([_leaf(lib)], lr=-0.1),
    "momentum": lambda lib, o: o.SGD([_leaf(lib)], momentum=-1),
    "sgd weight_decay": lambda lib, o: o.SGD([_leaf(lib)], weight_decay=-1e-4),
    "nesterov no momentum": lambda lib, o: o.SGD([_leaf(lib)], nesterov=True),
    "nesterov dampening": lambda lib, o: o.SGD([_leaf(lib)], momentum=0.9, dampening=0.1, nesterov=True),
    "adam lr": lambda lib, o: o.Adam([_leaf(lib)], lr=-1),
    "eps": lambda lib, o: o.Adam([_leaf(lib)], eps=-1e-8),
    "beta0": lambda lib, o: o.AdamW([_leaf(lib)], betas=(1.0, 0.999)),
    "beta1": lambda lib, o: o.Adam([_leaf(lib)], betas=(0.9, -0.5)),
    "betas not floats": lambda lib, o: o.Adam([_leaf(lib)], betas=(0, 0.999)),
    "adam weight_decay": lambda lib, o: o.AdamW([_leaf(lib)], weight_decay=-0.01),
    "a tensor, not an iterable": lambda lib, o: o.SGD(_leaf(lib)),
    "empty": lambda lib, o: o.Adam([]),
    "not a tensor": lambda lib, o: o.SGD([1.5]),
    "a numpy array": lambda lib, o: o.SGD([np.zeros(3)]),
    "non-leaf": lambda lib, o: o.SGD([_leaf(lib) * 2]),
    "a set": lambda lib, o: o.SGD([{"params": {_leaf(lib)}}]),
    "in two groups": lambda lib, o: (lambda p: o.SGD([{"params": [p]}, {"params": [p]}]))(_leaf(lib)),
    "group not a dict": lambda lib, o: o.SGD([_leaf(lib)]).add_param_group([_leaf(lib)]),
    "names missing": lambda lib, o: o.SGD([("w", _leaf(lib)), _leaf(lib)]),
    "named group into unnamed": lambda lib, o: o.SGD([_leaf(lib)]).add_param_group({"params": [("b", _leaf(lib))]}),
    "scheduler without optimizer": lambda lib, o: o.lr_scheduler.StepLR([_leaf(lib)], 3),
    "lambdas count": lambda lib, o: o.lr_scheduler.LambdaLR(o.SGD([_leaf(lib)]), [abs, abs]),
    "resume without initial_lr": lambda lib, o: o.lr_scheduler.StepLR(o.SGD([_leaf(lib)]), 3, last_epoch=4),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_in_torchs_words(case):
    _same_error(ERRORS[case])


def test_duplicate_parameters_warn_as_torch():
    w = _same_error(lambda lib, o: (lambda p: o.SGD([p, p]))(_leaf(lib)), warns=True)
    assert len(w) == 1 and "duplicate parameters" in w[0][1]


def test_tensor_hyperparameters_are_refused_clearly():
    with pytest.raises(TypeError, match="lr as a Python number"):
        optim.Adam([_leaf(tinytape)], lr=tinytape.tensor(0.01))
