"""gradcheck: compare the tape's gradients with central finite differences, in float64.

    tinytape.gradcheck(lambda x, w: (x @ w).tanh(), [x, w])     # True, or GradcheckError says where

For every output element the tape's backward gives one row of the Jacobian; for every input
element (f(x + eps) - f(x - eps)) / 2eps gives one column. They must agree within
|analytic - numeric| <= atol + rtol * |numeric|. Float32 finite differences are too coarse to
check anything (PRECISION.md): inputs must be float64.
"""
import numpy as np

from .tape import no_grad
from .tensor import Tensor, _make


class GradcheckError(RuntimeError):
    pass


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check fn's tape gradients for every input that requires grad against finite differences."""
    inputs = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    wrt = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradcheck expects at least one input tensor that requires grad")
    for i in wrt:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs (input {i} is {inputs[i].dtype}): "
                            f"float32 finite differences are too coarse to check anything")
    saved = {i: inputs[i].grad for i in wrt}              # the caller's gradients, restored at the end
    with no_grad():
        outs = _outputs(fn, inputs)
    sizes = [o._data.size for o in outs]

    # analytic: one backward per output element, a one-hot upstream gradient
    analytic = {i: np.zeros((sum(sizes), inputs[i]._data.size)) for i in wrt}
    row = 0
    try:
        for k, size in enumerate(sizes):
            for j in range(size):
                for i in wrt:
                    inputs[i].grad = None
                out = _outputs(fn, inputs)[k]
                if out.requires_grad:
                    seed = np.zeros(out._data.shape, out._data.dtype)
                    seed.flat[j] = 1.0
                    out.backward(_make(seed))
                    for i in wrt:
                        g = inputs[i].grad
                        if g is not None:
                            analytic[i][row] = g._data.ravel()
                row += 1
    finally:
        for i in wrt:
            inputs[i].grad = saved[i]

    # numeric: central differences, one input element at a time
    for i in wrt:
        x = inputs[i]._data              # perturbed in place under no_grad (no version bump), restored after
        numeric = np.zeros_like(analytic[i])
        for e in range(x.size):
            orig = x.flat[e]
            try:
                with no_grad():
                    x.flat[e] = orig + eps
                    plus = np.concatenate([o._data.ravel() for o in _outputs(fn, inputs)] or [np.zeros(0)])
                    x.flat[e] = orig - eps
                    minus = np.concatenate([o._data.ravel() for o in _outputs(fn, inputs)] or [np.zeros(0)])
            finally:
                x.flat[e] = orig
            numeric[:, e] = (plus - minus) / (2 * eps)
        bad = np.abs(analytic[i] - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            msg = (f"Jacobian mismatch for input {i} (shape {tuple(x.shape)}): output element {r}, "
                   f"input element {c}: tape {analytic[i][r, c]!r}, finite difference {numeric[r, c]!r} "
                   f"({int(bad.sum())} of {bad.size} entries differ)")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
