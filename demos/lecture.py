"""The lecture's setup for exercises 1-3: parameters, one batch, the chunked forward pass.

`forward` is the lecture's code as written; it runs unchanged on tinytape and on torch (pass the
module), which is the point of tinytape's API. Parameters and the batch come from
`Generator().manual_seed(2147483647)`: tinytape's, which reproduces torch's stream bit for bit, so
the numbers are the lecture's with or without torch (use_torch=True draws them with torch itself).
The batch comes from names.txt, found as everywhere in the project (nn.data: --names PATH, then
TINYTAPE_NAMES, then ~/.cache/tinytape, then a checked download); when it cannot be had, a clearly
labelled synthetic batch of random contexts.
"""
from dataclasses import dataclass

import numpy as np

SEED = 2147483647
VOCAB, N_EMBD, BLOCK = 27, 10, 3

# the 26 gradients of exercise 1, in the lecture's order
NAMES = ("logprobs", "probs", "counts_sum_inv", "counts_sum", "counts", "norm_logits", "logit_maxes",
         "logits", "h", "W2", "b2", "hpreact", "bngain", "bnraw", "bnbias", "bndiff", "bnvar_inv",
         "bnvar", "bndiff2", "hprebn", "bnmeani", "embcat", "W1", "b1", "emb", "C")
PARAMS = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")


def try_torch():
    """torch, or None when it is not installed (it is optional everywhere in the demos)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


@dataclass
class Setup:
    params: dict            # name -> float32 numpy array
    Xb: np.ndarray          # (batch, 3) int64 contexts
    Yb: np.ndarray          # (batch,) int64 next characters
    source: str             # where the batch and the parameters came from, for people


SYNTHETIC_NOTE = ("names.txt not found: pass --names PATH or set TINYTAPE_NAMES for the lecture's batch")


def load_train(names=None, command=None):
    """(Xtr, Ytr, description) from names.txt, or None when none was asked for and none can be had
    (a given path or TINYTAPE_NAMES that does not exist raises nn.NamesNotFoundError)."""
    from nn import data
    path = data.find_names(names, command=command)
    if path is None:
        return None
    ds = data.load_dataset(path)
    return ds.Xtr, ds.Ytr, f"names.txt ({data.shown(path)}: {len(ds.Xtr)} training examples)"


def setup(names=None, n_hidden=64, batch_size=32, use_torch=None, seed=SEED, command=None):
    """The lecture's parameters (its init, n_hidden 64) and one batch of `batch_size`. `command`:
    how the user passes --names in the command they ran (for the error message)."""
    torch = try_torch() if use_torch else None
    if use_torch and torch is None:
        raise RuntimeError("use_torch=True but torch is not installed")
    train = load_train(names, command)
    fan_in = N_EMBD * BLOCK
    if torch is not None:
        g = torch.Generator().manual_seed(seed)

        def randn(*shape):
            return torch.randn(shape, generator=g)

        def randint(high, size):
            return torch.randint(0, high, (size,), generator=g).numpy()
        gen = f"torch.Generator().manual_seed({seed})"
    else:
        import tinytape
        g = tinytape.Generator().manual_seed(seed)

        def randn(*shape):
            return np.asarray(tinytape.randn(shape, generator=g))    # float32 arithmetic below, as torch's

        def randint(high, size):
            return np.asarray(tinytape.randint(0, high, (size,), generator=g))
        gen = f"tinytape.Generator().manual_seed({seed}) (torch's stream)"
    # the lecture's init, written as it writes it, in its order (then the batch indices come from
    # the same generator); non-standard scales on purpose: "initializing with all zeros could mask
    # an incorrect implementation of the backward pass"
    p = {}
    p["C"] = randn(VOCAB, N_EMBD)
    p["W1"] = randn(fan_in, n_hidden) * (5/3) / (fan_in**0.5)
    p["b1"] = randn(n_hidden)                     # useless because of batchnorm: its gradient is ~0
    p["W2"] = randn(n_hidden, VOCAB) * 0.1
    p["b2"] = randn(VOCAB) * 0.1
    p["bngain"] = randn(1, n_hidden)*0.1 + 1.0
    p["bnbias"] = randn(1, n_hidden)*0.1
    p = {k: np.array(v if isinstance(v, np.ndarray) else v.numpy(), dtype=np.float32) for k, v in p.items()}
    if train is not None:
        Xtr, Ytr, what = train
        ix = randint(Xtr.shape[0], batch_size)
        Xb, Yb = Xtr[ix], Ytr[ix]
    else:
        Xb = np.stack([randint(VOCAB, batch_size) for _ in range(BLOCK)], axis=1)
        Yb = randint(VOCAB, batch_size)
        what = f"SYNTHETIC batch of random contexts ({SYNTHETIC_NOTE})"
    return Setup(p, np.asarray(Xb, np.int64), np.asarray(Yb, np.int64), f"batch: {what}; parameters: {gen}")


def leaves(lib, s):
    """The parameters as `lib` tensors that require grad, and the batch as `lib` int64 tensors."""
    p = {k: lib.tensor(v.copy()) for k, v in s.params.items()}
    for t in p.values():
        t.requires_grad = True
    return p, lib.tensor(s.Xb), lib.tensor(s.Yb)


def forward(torch, C, W1, b1, W2, b2, bngain, bnbias, Xb, Yb):
    """The lecture's forward pass, chunked into the steps exercise 1 backpropagates through one by one.
    `torch` is a module: tinytape or torch. Returns the named tensors, as `locals()` would."""
    n = Xb.shape[0]
    emb = C[Xb]                                        # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)                # concatenate the vectors
    hprebn = embcat @ W1 + b1                          # hidden layer pre-activation
    bnmeani = 1/n*hprebn.sum(0, keepdim=True)          # batchnorm
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = 1/(n-1)*(bndiff2).sum(0, keepdim=True)     # Bessel's correction: n-1, not n
    bnvar_inv = (bnvar + 1e-5)**-0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)                            # hidden layer
    logits = h @ W2 + b2                               # output layer
    logit_maxes = logits.max(1, keepdim=True).values   # cross-entropy, by hand
    norm_logits = logits - logit_maxes                 # subtract the max for numerical stability
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum**-1                    # not (1.0 / counts_sum): then not bit exact
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()
    for t in [logprobs, probs, counts, counts_sum, counts_sum_inv, norm_logits, logit_maxes, logits,
              h, hpreact, bnraw, bnvar_inv, bnvar, bndiff2, bndiff, hprebn, bnmeani, embcat, emb]:
        t.retain_grad()                                # torch needs it; tinytape keeps them anyway
    return dict(C=C, W1=W1, b1=b1, W2=W2, b2=b2, bngain=bngain, bnbias=bnbias, Xb=Xb, Yb=Yb, emb=emb,
                embcat=embcat, hprebn=hprebn, bnmeani=bnmeani, bndiff=bndiff, bndiff2=bndiff2,
                bnvar=bnvar, bnvar_inv=bnvar_inv, bnraw=bnraw, hpreact=hpreact, h=h, logits=logits,
                logit_maxes=logit_maxes, norm_logits=norm_logits, counts=counts, counts_sum=counts_sum,
                counts_sum_inv=counts_sum_inv, probs=probs, logprobs=logprobs, loss=loss)


def run(lib, s, backward=True):
    """The chunked forward on `lib` (tinytape or torch) from setup `s`, then loss.backward()."""
    p, Xb, Yb = leaves(lib, s)
    t = forward(lib, Xb=Xb, Yb=Yb, **p)
    if backward:
        t["loss"].backward()
    return t


def grads(t, names=NAMES):
    """name -> gradient as a numpy array, from tinytape or torch tensors."""
    return {k: t[k].grad.detach().numpy() for k in names}


def values(t):
    """name -> forward value as a numpy array (what a learner's numpy backward reads)."""
    return {k: v.detach().numpy() for k, v in t.items()}
