"""The lecture's whole graph: exercise 1's forward pass (seed 003), run as written on torch and on
tinytape from the same torch-initialised parameters and batch; all 26 gradients must agree.

The batch: with TINYTAPE_NAMES set, the lecture's own (names.txt shuffled with random.seed(42), the
first 80% for training, 32 rows drawn by the parameters' generator, as seed 003 does); without it,
32 random contexts and targets in [0, 27) from a fixed torch generator: the test never needs the file.
"""
import os
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as torch_F

import tinytape
import tinytape.functional as tt_F
from harness import COMPOSITE, assert_close

N_EMBD, N_HIDDEN, BLOCK, VOCAB, BATCH = 10, 64, 3, 27, 32

# the lecture's cmp order
NAMES = ["logprobs", "probs", "counts_sum_inv", "counts", "counts_sum", "norm_logits", "logit_maxes",
         "logits", "h", "W2", "b2", "hpreact", "bngain", "bnraw", "bnbias", "bndiff", "bnvar_inv", "bnvar",
         "bndiff2", "hprebn", "bnmeani", "embcat", "W1", "b1", "emb", "C"]
INTERMEDIATES = ["logprobs", "probs", "counts", "counts_sum", "counts_sum_inv", "norm_logits", "logit_maxes",
                 "logits", "h", "hpreact", "bnraw", "bnvar_inv", "bnvar", "bndiff2", "bndiff", "hprebn",
                 "bnmeani", "embcat", "emb"]


# name -> the gradient whose scale bounds it. b1: batchnorm subtracts the batch mean, which cancels
# any shift b1 makes; logit_maxes: softmax does not change when every logit moves together
ZERO_GRADS = {"b1": "W1", "logit_maxes": "logits"}


def _names_dataset(path):
    words = open(path).read().splitlines()
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    random.seed(42)
    random.shuffle(words)
    X, Y = [], []
    for w in words[:int(0.8 * len(words))]:
        context = [0] * BLOCK
        for ch in w + ".":
            X.append(context)
            Y.append(stoi[ch])
            context = context[1:] + [stoi[ch]]
    return torch.tensor(X), torch.tensor(Y)


def lecture_setup():
    """Parameters exactly as seed 003 draws them (b1 without the 0.1, "just for fun"), then the batch."""
    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((VOCAB, N_EMBD), generator=g)
    W1 = torch.randn((N_EMBD * BLOCK, N_HIDDEN), generator=g) * (5 / 3) / ((N_EMBD * BLOCK) ** 0.5)
    b1 = torch.randn(N_HIDDEN, generator=g)
    W2 = torch.randn((N_HIDDEN, VOCAB), generator=g) * 0.1
    b2 = torch.randn(VOCAB, generator=g) * 0.1
    bngain = torch.randn((1, N_HIDDEN), generator=g) * 0.1 + 1.0
    bnbias = torch.randn((1, N_HIDDEN), generator=g) * 0.1
    path = os.environ.get("TINYTAPE_NAMES")
    if path:
        Xtr, Ytr = _names_dataset(path)                  # a set but missing path is an error
        ix = torch.randint(0, Xtr.shape[0], (BATCH,), generator=g)
        Xb, Yb = Xtr[ix], Ytr[ix]
    else:
        gb = torch.Generator().manual_seed(42)
        Xb = torch.randint(0, VOCAB, (BATCH, BLOCK), generator=gb)
        Yb = torch.randint(0, VOCAB, (BATCH,), generator=gb)
    params = {"C": C, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "bngain": bngain, "bnbias": bnbias}
    return {k: v.numpy() for k, v in params.items()}, Xb.numpy(), Yb.numpy()


def forward(torch, F, C, W1, b1, W2, b2, bngain, bnbias, Xb, Yb):
    """Seed 003's forward pass, character for character (`torch` is torch or tinytape)."""
    n = BATCH
    emb = C[Xb]                                       # Embed characters into vectors
    embcat = emb.view(emb.shape[0], -1)               # Concatenate embedding for the context
    hprebn = embcat @ W1 + b1                         # pre-activation
    bnmeani = (1 / n)*hprebn.sum(0, keepdim=True)     # compute the mean of the batch
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = (1/(n-1)) * bndiff2.sum(0, keepdim=True)  # Bessel's correction: divide by n-1 not n
    bnvar_inv = (bnvar + 1e-5)**(-0.5)
    bnraw = bndiff * bnvar_inv                        # Divide by the variance
    hpreact = bngain * bnraw + bnbias                 # Shift and rescale the Batch Norm
    h = torch.tanh(hpreact)                           # Hidden layer
    logits = h @ W2 + b2
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum**-1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()
    return loss, dict(locals())


def run_both(dtype, retain_grad=False):
    params, Xb, Yb = lecture_setup()
    t_p = {k: torch.tensor(v.astype(dtype), requires_grad=True) for k, v in params.items()}
    a_p = {k: tinytape.tensor(v.astype(dtype), requires_grad=True) for k, v in params.items()}
    t_loss, T = forward(torch, torch_F, **t_p, Xb=torch.tensor(Xb), Yb=torch.tensor(Yb))
    for name in INTERMEDIATES:
        T[name].retain_grad()
    t_loss.backward()
    a_loss, A = forward(tinytape, tt_F, **a_p, Xb=tinytape.tensor(Xb), Yb=tinytape.tensor(Yb))
    if retain_grad:                                   # accepted for ported code, never needed
        for name in INTERMEDIATES:
            A[name].retain_grad()
    a_loss.backward()
    return t_loss, T, a_loss, A


def compare(T, A, name, dtype):
    """(exact, approximate, maxdiff) of tinytape's gradient against torch's; approximate is the
    composite tolerance, or for a gradient that is zero in exact arithmetic an absolute bound of
    1e-5 (float64: 1e-12) times its neighbour's largest gradient."""
    a, t = A[name].grad, T[name].grad.numpy()
    maxdiff = float(np.abs(a - t).max())
    if name in ZERO_GRADS:
        atol = (1e-5 if dtype == np.float32 else 1e-12) * np.abs(T[ZERO_GRADS[name]].grad.numpy()).max()
        approx = np.abs(a).max() <= atol and maxdiff <= atol
    else:
        try:
            assert_close(a, t, COMPOSITE, name)
            approx = True
        except AssertionError:
            approx = False
    return bool(np.array_equal(a, t)), bool(approx), maxdiff


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_26_gradients_match_torch(dtype):
    t_loss, T, a_loss, A = run_both(dtype)
    assert a_loss.dtype == dtype
    assert_close(a_loss.data, t_loss.detach().numpy(), COMPOSITE, "loss")
    for name in INTERMEDIATES:                             # the forward, value by value
        assert_close(A[name].data, T[name].detach().numpy(), COMPOSITE, f"forward {name}")
    for name in NAMES:
        assert A[name].grad is not None, f"{name} kept no gradient"
        assert A[name].grad.dtype == dtype, name
    rows = {name: compare(T, A, name, dtype) for name in NAMES}
    print(f"\nloss torch {t_loss.item():.6f} tinytape {a_loss.item():.6f} ({np.dtype(dtype).name})")
    for name, (exact, approx, maxdiff) in rows.items():   # the lecture's cmp table
        print(f"{name:15s} | exact: {str(exact):5s} | approximate: {str(approx):5s} | maxdiff: {maxdiff}")
    assert [n for n, (_, approx, _) in rows.items() if not approx] == []
    # the walk freed every entry that saved values; what stays on the tape saved nothing (view, add, sum, ...)
    # and stays walkable, as torch's; a second backward reaches a freed entry and raises torch's error
    left = tinytape.tape.entries()
    assert all(not tinytape.tape.freed(e) for e in left)
    assert {tinytape.tape.op(e) for e in left} <= {"ViewBackward0", "AddBackward0", "SubBackward0", "SumBackward1",
                                                   "MeanBackward0", "NegBackward0", "MulBackward0"}
    for loss in (t_loss, a_loss):
        with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
            loss.backward()


def test_the_lecture_code_runs_with_retain_grad_and_gives_the_same_gradients():
    _, T, _, A = run_both(np.float32, retain_grad=True)
    _, _, _, B = run_both(np.float32)
    for name in NAMES:
        np.testing.assert_array_equal(A[name].grad, B[name].grad)


def test_the_batch_does_not_need_names_txt(monkeypatch):
    monkeypatch.delenv("TINYTAPE_NAMES", raising=False)
    _, Xb, Yb = lecture_setup()
    assert Xb.shape == (32, 3) and Yb.shape == (32,)
    assert Xb.min() >= 0 and Xb.max() < 27 and len(np.unique(Xb)) > 10   # repeats for C[Xb], and variety


def test_a_missing_names_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYTAPE_NAMES", str(tmp_path / "missing.txt"))
    with pytest.raises(FileNotFoundError):
        lecture_setup()
