"""torch.nn.utils: clip_grad_norm_ (and clip_grad_value_), as torch computes them: the norm of
each gradient, the norm of those norms, every gradient multiplied by
min(1, max_norm / (total_norm + 1e-6)); the total norm is returned as a 0-d tensor."""
import types
import warnings

import numpy as np

import tinytape as _tt


def _vector_norm(a, norm_type):
    a = np.abs(a)
    if norm_type == float("inf"):
        return a.max() if a.size else a.dtype.type(0)
    if norm_type == float("-inf"):
        return a.min() if a.size else a.dtype.type(float("inf"))
    if norm_type == 0:
        return a.dtype.type(np.count_nonzero(a))
    if norm_type == 1:
        return a.sum(dtype=a.dtype)
    if norm_type == 2:
        return np.sqrt((a * a).sum(dtype=a.dtype))
    return (a ** a.dtype.type(norm_type)).sum(dtype=a.dtype) ** a.dtype.type(1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of `tensors` (a 0-d tensor; tensor(0.) for none)."""
    tensors = [tensors] if isinstance(tensors, _tt.Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return _tt.tensor(0.0)
    norms = [_vector_norm(np.asarray(t.detach()), norm_type) for t in tensors]
    dtype = np.result_type(*[np.asarray(t.detach()).dtype for t in tensors])
    total = _vector_norm(np.asarray(norms, dtype=dtype), norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return _tt.tensor(total, dtype=dtype)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Multiply every gradient by min(1, max_norm / (total_norm + 1e-6)), in place."""
    parameters = [parameters] if isinstance(parameters, _tt.Tensor) else list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    with _tt.no_grad():
        coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients of `parameters` so that their total norm is at most max_norm; returns
    the total norm before clipping."""
    if isinstance(parameters, _tt.Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient to [-clip_value, clip_value], in place."""
    if isinstance(parameters, _tt.Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    with _tt.no_grad():
        for p in parameters:
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)


__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]
