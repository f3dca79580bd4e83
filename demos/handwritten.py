"""The lecture's MLP trained with its hand-written backward, in plain numpy (exercise 4, no tape).

This is the reference a tape engine is measured against: the same forward pass, the fused
cross-entropy and batchnorm backward formulas of exercises 2 and 3, and the SGD update, written
as a learner writes them. Only the init comes from nn (nn.lecture_init, shared with nn.MLP); the
step itself uses numpy alone. `demos.exercise4` trains it side by side with the tape; `demos.bench`
times it against tinytape and torch.
"""
import numpy as np

from nn.model import LECTURE_NAMES, lecture_init

NAMES = LECTURE_NAMES                       # ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")


def init_params(rng, vocab_size=27, n_embd=10, block_size=3, n_hidden=200, dtype=np.float32):
    """The lecture's non-standard init, drawn from a numpy Generator: nn.lecture_init (the init
    nn.MLP uses, so both start from the same arrays), with this module's argument order."""
    return lecture_init(rng, vocab_size=vocab_size, block_size=block_size, n_embd=n_embd,
                        n_hidden=n_hidden, dtype=dtype)


def forward_backward(p, Xb, Yb):
    """The loss and the gradient of every parameter, by the lecture's formulas."""
    C, W1, b1, W2, b2, bngain, bnbias = (p[k] for k in NAMES)
    n = Xb.shape[0]
    # forward
    emb = C[Xb]
    embcat = emb.reshape(n, -1)
    hprebn = embcat @ W1 + b1
    bnmean = (1 / n) * hprebn.sum(0, keepdims=True)
    bndiff = hprebn - bnmean
    bnvar = (1 / (n - 1)) * (bndiff**2).sum(0, keepdims=True)
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = np.tanh(hpreact)
    logits = h @ W2 + b2
    shifted = logits - logits.max(1, keepdims=True)
    counts = np.exp(shifted)
    counts_sum = counts.sum(1, keepdims=True)
    loss = (np.log(counts_sum[:, 0]) - shifted[np.arange(n), Yb]).mean()
    # backward: exercise 2 (cross-entropy), then the layers, then exercise 3 (batchnorm)
    dlogits = counts / counts_sum
    dlogits[np.arange(n), Yb] -= 1
    dlogits /= n
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = (1.0 - h**2) * dh
    dbngain = (bnraw * dhpreact).sum(0, keepdims=True)
    dbnbias = dhpreact.sum(0, keepdims=True)
    dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    demb = dembcat.reshape(emb.shape)
    dC = np.zeros_like(C)
    np.add.at(dC, Xb, demb)                 # the lecture's loop: for k, j: dC[Xb[k, j]] += demb[k, j]
    grads = {"C": dC, "W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "bngain": dbngain, "bnbias": dbnbias}
    return float(loss), grads


def sgd_step(p, Xb, Yb, lr):
    """One training step: forward, hand-written backward, update in place. Returns the loss."""
    loss, grads = forward_backward(p, Xb, Yb)
    for k in NAMES:
        p[k] += -lr * grads[k]
    return loss
