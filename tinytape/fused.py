"""The lecture's fused ops, each one primitive with the lecture's own backward formula: softmax,
log_softmax, cross_entropy (exercise 2), batch_norm (exercise 3) and embedding; and the later
lectures' layer_norm (exercise 3's formula over a row) and logsumexp. Arrays in
(checked by the front, functional.py), `(out, rule)` out, as in ops.py.
"""
import numpy as np

from .ops import forward_sum, primitive, scatter_add
from .shapes import unsqueeze_axes


def _softmax(x, axis):
    """exp(x - max) / sum(exp(x - max)): the max shift changes nothing but avoids overflow."""
    counts = np.exp(x - x.max(axis=axis, keepdims=True))
    return counts / counts.sum(axis=axis, keepdims=True)


@primitive(saves="out")
def softmax(x, axis):
    """softmax along axis: dx = out * (g - (g * out).sum(axis))"""
    out = _softmax(x, axis)
    return out, lambda g: (out * (g - (g * out).sum(axis=axis, keepdims=True)),)


@primitive(saves="out")
def log_softmax(x, axis):
    """log softmax along axis: dx = g - exp(out) * g.sum(axis)"""
    shifted = x - x.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return out, lambda g: (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)


@primitive(saves="x")
def cross_entropy(logits, target, reduction, ignore_index=-100, smoothing=0.0):
    """The mean of -log softmax(logits)[i, target_i] over (N, C) logits, as one op. Its backward is
    exercise 2's: dlogits = softmax(logits); dlogits[range(n), Yb] -= 1; dlogits /= n
    (with ignored targets, label smoothing or (N, C, d...) logits: _cross_entropy_nd)"""
    if logits.ndim != 2 or smoothing or (target == ignore_index).any():
        return _cross_entropy_nd(logits, target, reduction, ignore_index, smoothing)
    n = logits.shape[0]
    rows = np.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)
    counts = np.exp(shifted)
    counts_sum = counts.sum(axis=1, keepdims=True)
    losses = np.log(counts_sum[:, 0]) - shifted[rows, target]
    if reduction == "mean":
        out = losses.mean() if n else np.float64("nan")   # an empty batch: nan, as torch
    else:
        out = losses.sum() if reduction == "sum" else losses

    def rule(g):
        dlogits = counts / counts_sum                     # softmax
        dlogits[rows, target] -= 1
        if reduction == "mean":
            dlogits /= n
            dlogits *= g
        else:
            dlogits *= g if reduction == "sum" else np.reshape(g, (n, 1))
        return (dlogits,)
    return np.asarray(out, logits.dtype), rule


def _cross_entropy_nd(logits, target, reduction, ignore_index, eps):
    """torch's cross_entropy in general: class dim 1, targets equal to ignore_index left out
    (the mean divides by the number kept), label smoothing eps mixing (1 - eps) of the target's
    loss with eps of the mean loss over all C classes. The backward, per kept position:
    dlogits = softmax - (1 - eps) * onehot(target) - eps / C, times its weight."""
    x = np.moveaxis(logits, 1, -1)                         # (N, d..., C)
    c = x.shape[-1]
    shifted = x - x.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    keep = target != ignore_index
    t = np.where(keep, target, 0)[..., None]
    nll = np.where(keep, -np.take_along_axis(logp, t, -1)[..., 0], 0)
    smooth = np.where(keep, -logp.sum(axis=-1), 0) if eps else 0 * nll
    count = keep.sum()
    if reduction == "none":
        out = (1 - eps) * nll + smooth * (eps / c) if eps else nll
    else:
        div = count if reduction == "mean" else 1
        out = (1 - eps) * (nll.sum() / div) + (smooth.sum() / div) * (eps / c) if eps else nll.sum() / div

    def rule(g):
        w = np.where(keep, g / count if reduction == "mean" else g, 0)[..., None]
        d = np.exp(logp)                                   # softmax
        np.put_along_axis(d, t, np.take_along_axis(d, t, -1) - (1 - eps), -1)
        if eps:
            d -= eps / c
        return (np.moveaxis(d * w, -1, 1),)
    return np.asarray(out, logits.dtype), rule


@primitive(saves="x weight")
def layer_norm(x, weight, bias, k, eps):
    """Normalisation of each row over its last k dims (the Transformer's): xhat = (x - mean) *
    rstd, rstd = 1 / sqrt(var + eps) (biased var), out = weight * xhat + bias. The backward is
    batch_norm's formula (exercise 3) over the row instead of the batch, n the row's size:
      dx = rstd / n * (n * gw - gw.sum() - xhat * (gw * xhat).sum()),  gw = g * weight
      dweight = g * xhat, dbias = g (summed over the rows by the engine)"""
    axes = tuple(range(x.ndim - k, x.ndim))
    n = 1
    for a in axes:
        n *= x.shape[a]
    diff = x - forward_sum(x, axes, True) / n
    rstd = 1 / np.sqrt(forward_sum(diff * diff, axes, True) / n + eps)
    xhat = diff * rstd
    out = xhat if weight is None else xhat * weight
    out = out if bias is None else out + bias

    def rule(g):
        gw = g if weight is None else g * weight
        dx = rstd / n * (n * gw - gw.sum(axis=axes, keepdims=True) - xhat * (gw * xhat).sum(axis=axes, keepdims=True))
        return dx, g * xhat, g
    return out.astype(x.dtype, copy=False), rule


@primitive(saves="x out")
def logsumexp(x, axes, keepdim):
    """log(sum(exp(x))) over axes, shifted by the max (an infinite max by 0, as torch):
    dx = exp(x - out) * g, the softmax times g"""
    m = x.max(axis=axes, keepdims=True, initial=-np.inf)
    m = np.where(np.isinf(m), 0, m)
    out = np.log(forward_sum(np.exp(x - m), axes, True)) + m
    out_k = out if keepdim else np.squeeze(out, axes)
    return out_k.astype(x.dtype, copy=False), lambda g: (np.exp(x - out) * unsqueeze_axes(g, axes, keepdim),)


@primitive(saves="index")
def embedding(weight, index):
    """weight[index]: rows of a table. dweight is a scatter-add that accumulates repeated rows, in
    the lecture loop's order: `for k, j: dC[Xb[k, j]] += demb[k, j]`"""
    shape, dtype = weight.shape, weight.dtype          # not the table: an SGD update may write it

    def rule(g):                                       # flat positions row * d + column: the same
        dweight = np.zeros(shape, dtype)               # additions in the same order as on rows,
        d = shape[1]                                   # 2x (batch 32) to 5x (4096) faster
        scatter_add(dweight, index.reshape(-1, 1).astype(np.intp, copy=False) * d + np.arange(d),
                    g.reshape(-1, d))
        return (dweight,)
    return weight[index], rule


@primitive(saves="weight")
def batch_norm(x, weight, bias, eps, unbiased):
    """Batch normalisation of (N, C) over the batch, in training (weight, bias: (1, C) or None).
    The backward is exercise 3's formula (raw = the normalised input):
      dx = gain*var_inv/n * (n*g - g.sum(0) - n/(n-1)*raw*(g*raw).sum(0))      (unbiased)
      dx = gain*var_inv/n * (n*g - g.sum(0) - raw*(g*raw).sum(0))              (biased)
    Also returns the batch mean and the unbiased variance, for the running statistics."""
    n = x.shape[0]
    gain = 1.0 if weight is None else weight
    mean = 1 / n * forward_sum(x, (0,), True)          # the plain x.sum(0) below 1024 rows
    diff = x - mean
    sq = forward_sum(diff**2, (0,), True)
    var = (1 / (n - 1) if unbiased else 1 / n) * sq
    var_inv = (var + eps) ** -0.5
    raw = diff * var_inv
    out = (gain * raw + (0.0 if bias is None else bias)).astype(x.dtype, copy=False)

    def rule(g):
        dgain = (raw * g).sum(0, keepdims=True)         # dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
        dshift = g.sum(0, keepdims=True)                # dbnbias = dhpreact.sum(0, keepdim=True)
        # exercise 3's formula; its two sums g.sum(0) and (g*raw).sum(0) are dshift and dgain
        if unbiased:
            dx = gain*var_inv/n * (n*g - dshift - n/(n-1)*raw*dgain)
        else:
            dx = gain*var_inv/n * (n*g - dshift - raw*dgain)
        return dx, dgain, dshift
    return (out, mean, (1 / (n - 1)) * sq), rule
