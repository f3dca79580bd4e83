"""The lecture's fused ops, each one primitive with the lecture's own backward formula: softmax,
log_softmax, cross_entropy (exercise 2), batch_norm (exercise 3) and embedding. Arrays in
(checked by the front, functional.py), `(out, rule)` out, as in ops.py.
"""
import numpy as np

from .ops import forward_sum, primitive, scatter_add


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
def cross_entropy(logits, target, reduction):
    """The mean of -log softmax(logits)[i, target_i] over (N, C) logits, as one op. Its backward is
    exercise 2's: dlogits = softmax(logits); dlogits[range(n), Yb] -= 1; dlogits /= n"""
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


@primitive(saves="index")
def embedding(weight, index):
    """weight[index]: rows of a table. dweight is a scatter-add that accumulates repeated rows, in
    the lecture loop's order: `for k, j: dC[Xb[k, j]] += demb[k, j]`"""
    shape, dtype = weight.shape, weight.dtype          # not the table: an SGD update may write it

    def rule(g):                                       # flat positions row * d + column: the same
        dweight = np.zeros(shape, dtype)               # additions in the same order as on rows,
        d = shape[1]                                   # 2x (batch 32) to 5x (4096) faster
        scatter_add(dweight, index.reshape(-1, 1).astype(np.intp, copy=False) * d + np.arange(d),
                    g.reshape(index.size, d))
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
