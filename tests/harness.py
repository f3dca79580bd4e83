"""One harness for parity with torch autograd: the same lambda runs on both engines.

    check(lambda T, F, x, y: x * y, a, b)                   # T: torch or tinytape, F: its functional

Inputs (numpy, so both engines start from identical bits):
- a float ndarray becomes a leaf tensor that requires grad on both sides;
- an int/bool ndarray becomes a tensor without grad (indices, masks, conditions);
- `NoGrad(a)` is a float tensor without grad;
- `Const(a)` reaches tinytape as the numpy array itself and torch as `torch.from_numpy(a)` (torch
  has no autograd for raw arrays; tinytape's convention is that an array operand is a tensor);
- anything else (Python or numpy scalars, ranges, lists, slices) is passed to both unchanged.

Every float output that requires grad gets a random normal upstream gradient (never a uniform one:
it hides transposes and wrong axes). Forward values, output dtypes, every input gradient and its
dtype are compared with the tolerance class of PRECISION.md. A gradient that the engine had to sum
over broadcast dimensions is a sum, so it is compared with at least the REDUCE class.
"""
import numpy as np
import torch
import torch.nn.functional as torch_F

import tinytape
import tinytape.functional as tt_F
from tinytape import tape

EXACT, ULP, REDUCE, COMPOSITE = "exact", "ulp", "reduce", "composite"
_ORDER = {EXACT: 0, ULP: 1, REDUCE: 2, COMPOSITE: 3}
MAXULP = 4

# (rtol, absolute floor as a fraction of max|reference|, absolute constant) per class and dtype
_TOL = {
    (REDUCE, np.float32): (1e-5, 1e-6, 0.0),
    (REDUCE, np.float64): (1e-12, 1e-14, 0.0),
    (COMPOSITE, np.float32): (1e-4, 1e-5, 1e-7),
    (COMPOSITE, np.float64): (1e-10, 1e-12, 0.0),
}


class Const:
    """A numpy array operand: raw for tinytape, torch.from_numpy for torch."""
    def __init__(self, a):
        self.a = np.asarray(a)


class NoGrad:
    """A float tensor that does not require grad."""
    def __init__(self, a):
        self.a = np.asarray(a)


def np_dtype(torch_dtype):
    return torch.empty(0, dtype=torch_dtype).numpy().dtype


def randn(*shape, dtype=np.float64, seed=0, scale=1.0):
    """Normal samples, non-trivial (never all zeros or ones), of the given dtype."""
    return np.array(scale * np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


def positive(*shape, dtype=np.float64, seed=0, low=0.5, high=2.0):
    return np.array(np.random.default_rng(seed).uniform(low, high, shape), dtype=dtype)


def broadcast_into(shape, out_shape):
    """True if `shape` broadcasts to a different `out_shape` (its gradient is then a sum)."""
    if shape == out_shape:
        return False
    try:
        return np.broadcast_shapes(shape, out_shape) == out_shape
    except ValueError:
        return False


def wider(a, b):
    return a if _ORDER[a] >= _ORDER[b] else b


# ---------------------------------------------------------------------------------- comparison
def assert_close(actual, ref, cls, what="", scale=None, precision=None):
    """Assert `actual` (tinytape) matches `ref` (torch) within the class `cls`, same shape and dtype.

    ULP: |a - b| <= 4 ulp of max(|a|, |b|, |scale|) elementwise; `scale` (the upstream gradient for
    a gradient) keeps rules like tanh's (1 - out**2) * g honest where out**2 cancels against 1.
    REDUCE/COMPOSITE: |a - b| <= rtol |b| + floor * max(|b|.max(), |scale|.max()) + atol; a `scale`
    says the magnitude the values were computed from, where the result cancels far below it (the
    variance of near-constant data is rounding noise in both engines).
    Infinities must match exactly and NaNs sit at the same places in every class. `precision` is
    the dtype the values were computed in, when less precise than their own (a float64 input's
    gradient summed from a float32 result)."""
    actual = np.asarray(actual)
    ref = np.asarray(ref)
    assert actual.shape == ref.shape, f"{what}: shape {actual.shape} != torch's {ref.shape}"
    assert actual.dtype == ref.dtype, f"{what}: dtype {actual.dtype} != torch's {ref.dtype}"
    if cls == EXACT or actual.dtype.kind != "f":
        np.testing.assert_array_equal(actual, ref, err_msg=f"{what}: not bit-identical to torch")
        return
    nan_a, nan_r = np.isnan(actual), np.isnan(ref)
    np.testing.assert_array_equal(nan_a, nan_r, err_msg=f"{what}: NaNs at different places")
    inf_r = np.isinf(ref) | np.isinf(actual)
    np.testing.assert_array_equal(actual[inf_r], ref[inf_r], err_msg=f"{what}: infinities differ")
    ok = ~(nan_r | inf_r)
    a = actual[ok].astype(np.float64)
    r = ref[ok].astype(np.float64)
    diff = np.abs(a - r)
    if cls == ULP:
        mag = np.maximum(np.abs(actual[ok]), np.abs(ref[ok]))
        if scale is not None:
            mag = np.maximum(mag, np.abs(np.broadcast_to(np.asarray(scale, actual.dtype), actual.shape)[ok]))
        bound = MAXULP * np.spacing(mag).astype(np.float64)
    else:
        rtol, floor, atol = _TOL[cls, np.dtype(precision or actual.dtype).type]
        top = np.abs(r).max() if r.size else 0.0
        if scale is not None:
            top = max(top, float(np.abs(scale).max()))
        bound = rtol * np.abs(r) + floor * top + atol
    bad = diff > bound
    if bad.any():
        i = np.argmax(diff - bound)
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} elements outside the {cls} "
                             f"tolerance; worst: tinytape {a[i]!r} torch {r[i]!r} "
                             f"(|diff| {diff[i]:.3g} > bound {bound[i]:.3g})")


# ---------------------------------------------------------------------------------- the harness
def _inputs(args, lib):
    out, wrt = [], []
    for v in args:
        if isinstance(v, Const):
            out.append(v.a if lib is tinytape else torch.from_numpy(v.a.copy()))
        elif isinstance(v, NoGrad):
            out.append(lib.tensor(v.a.copy()))
        elif isinstance(v, np.ndarray):
            rg = v.dtype.kind == "f"
            t = tinytape.tensor(v, requires_grad=rg) if lib is tinytape else \
                torch.tensor(v, requires_grad=rg)
            if rg:
                wrt.append((len(out), t))
            out.append(t)
        else:
            out.append(v)
    return out, wrt


def _outs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def run(fn, *args, upstream_seed=1, torch_fn=None):
    """Run fn on both engines and backpropagate the same random upstream gradients.
    Returns (tinytape outputs, torch outputs, tinytape grads, torch grads, upstreams)."""
    live_before = {id(n) for n in tape.nodes()}
    before = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]

    t_in, t_wrt = _inputs(args, torch)
    t_out = _outs((torch_fn or fn)(torch, torch_F, *t_in))
    a_in, a_wrt = _inputs(args, tinytape)
    a_out = _outs(fn(tinytape, tt_F, *a_in))
    assert len(a_out) == len(t_out), f"{len(a_out)} outputs, torch gives {len(t_out)}"

    rng = np.random.default_rng(upstream_seed)
    ups, t_roots, t_ups, a_roots = [], [], [], []
    for a, t in zip(a_out, t_out):
        assert isinstance(a, tinytape.Tensor), f"output is a {type(a).__name__}, not a Tensor"
        if t.requires_grad:
            assert a.requires_grad, "torch's output requires grad, tinytape's does not"
            g = rng.standard_normal(t.shape).astype(np_dtype(t.dtype))
            if g.size > 1:
                assert not np.all(g == g.flat[0])
            ups.append(g)
            t_roots.append(t)
            t_ups.append(torch.from_numpy(g.copy()))
            a_roots.append(a)
        else:
            assert not a.requires_grad, "tinytape's output requires grad, torch's does not"
            ups.append(None)
    if t_roots:
        torch.autograd.backward(t_roots, t_ups)
        for k, (a, g) in enumerate(zip(a_roots, [u for u in ups if u is not None])):
            g_copy = g.copy()
            a.backward(g, retain_graph=k < len(a_roots) - 1)
            np.testing.assert_array_equal(g, g_copy, err_msg="backward wrote into the user's gradient")

    t_grads = [t.grad.numpy() if t.grad is not None else None for _, t in t_wrt]
    a_grads = []
    for _, t in a_wrt:                                    # .grad is a tensor of the input's shape and dtype
        g = t.grad
        assert g is None or isinstance(g, tinytape.Tensor), f".grad is a {type(g).__name__}, not a Tensor"
        assert g is None or (g.shape == t.shape and g.dtype == t.dtype), f".grad {g.shape} {g.dtype} for {t.shape} {t.dtype}"
        a_grads.append(None if g is None else g.numpy())
    for a, b in zip(args, before):                        # the op never writes into its inputs
        if b is not None:
            np.testing.assert_array_equal(a, b, err_msg="an input array was modified")
    for (_, a), (_, t) in zip(a_wrt, t_wrt):
        np.testing.assert_array_equal(a.detach().numpy(), t.detach().numpy(), err_msg="input data changed")
    # backward frees every node that saved values (a second backward through it raises, as in
    # torch); nodes that saved nothing stay walkable, as torch's
    new = [n for n in tape.nodes() if id(n) not in live_before and n.saved is not None]
    assert not new, f"{len(new)} tape entries that saved values left after backward: {new}"
    return a_out, t_out, a_grads, t_grads, ups, a_wrt


def _magnitudes(fn, args, ups):
    """fn's forward values and gradients on |inputs| with |upstream|: for sums of products (matmul,
    sum, broadcast gradients) the sum of the absolute terms, what rounding error is relative to."""
    def mag(a):
        return np.array(np.abs(a), dtype=a.dtype)         # (np.abs of a 0-d array is a scalar)
    absolute = [Const(mag(v.a)) if isinstance(v, Const) and v.a.dtype.kind == "f" else
                NoGrad(mag(v.a)) if isinstance(v, NoGrad) else
                mag(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v for v in args]
    t_in, t_wrt = _inputs(absolute, torch)
    outs = _outs(fn(torch, torch_F, *t_in))
    roots = [o for o in outs if o.requires_grad]
    torch.autograd.backward(roots, [torch.from_numpy(mag(u)) for u in ups if u is not None])
    return ([o.detach().numpy() for o in outs],
            [None if t.grad is None else t.grad.numpy() for _, t in t_wrt])


def check(fn, *args, tol=EXACT, grad_tol=None, torch_fn=None, upstream_seed=1, fwd_scale=None,
          grad_scale=None, magnitudes=False):
    """Compare forward values and every input gradient of fn between tinytape and torch.

    tol is the class of the forward; grad_tol (default: tol) the class of the gradients; a gradient
    summed over broadcast dimensions is compared with at least REDUCE. fwd_scale/grad_scale: the
    magnitude the forward/gradients are computed from, when they may cancel far below it;
    magnitudes=True takes them from fn run on absolute values (for sums of products)."""
    grad_tol = grad_tol or tol
    a_out, t_out, a_grads, t_grads, ups, a_wrt = run(fn, *args, upstream_seed=upstream_seed,
                                                     torch_fn=torch_fn)
    fwd_scales = [fwd_scale] * len(a_out)
    grad_scales = [grad_scale] * len(a_wrt)
    if magnitudes:
        fwd_scales, grad_scales = _magnitudes(torch_fn or fn, args, ups)
    for k, (a, t) in enumerate(zip(a_out, t_out)):
        assert_close(a.detach().numpy(), t.detach().numpy(), tol, f"output {k}", scale=fwd_scales[k])
    up = [u for u in ups if u is not None]
    precision = np.float32 if any(u.dtype == np.float32 for u in up) else None
    out_shape = tuple(t_out[0].shape)
    for (pos, t), ga, gt, gs in zip(a_wrt, a_grads, t_grads, grad_scales):
        what = f"gradient of input {pos} (shape {t.shape}, {t.dtype})"
        if gt is None:
            assert ga is None or not np.any(ga), f"{what}: torch gives None, tinytape {ga}"
            continue
        assert ga is not None, f"{what}: torch has a gradient, tinytape None"
        assert isinstance(ga, np.ndarray), f"{what}: .grad is a {type(ga).__name__}"
        assert ga.dtype == t.dtype, f"{what}: dtype {ga.dtype} is not the input's"
        cls = grad_tol
        if broadcast_into(tuple(t.shape), out_shape):
            cls = wider(cls, REDUCE)
        scale = gs
        if cls == ULP and len(up) == 1 and scale is None:
            scale = up[0] if up[0].shape == ga.shape else np.abs(up[0]).max()
        assert_close(ga, gt, cls, what, scale=scale, precision=precision)
    return a_out, t_out, a_grads, t_grads
