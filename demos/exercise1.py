"""Exercise 1: backprop by hand through all 26 intermediates of the chunked forward pass.

    python -m demos.exercise1 [--names PATH] [--no-torch]

The forward pass is the lecture's (demos/lecture.py), recorded by tinytape. The backward below is
what a learner writes, in plain numpy: the lecture's formulas, one line per step. It is checked
against the tape's gradients with tinytape.check (exact: True on every row, because each of the
tape's rules is the same numpy expression in the same order), and against torch's autograd when
torch is installed (approximate: True on every row; float32 torch is not numpy to the bit).
"""
import argparse
import sys

import numpy as np

import tinytape
from tinytape import check

from nn.data import NamesNotFoundError, command

from . import lecture


def one_hot(idx, num_classes, dtype):
    """F.one_hot in numpy, as floats: row i has a 1 at idx[i]."""
    return np.eye(num_classes, dtype=dtype)[idx]


def manual_backward(v):
    """The lecture's manual backward in numpy. `v`: name -> forward value (numpy). Returns the 26
    gradients by name. Every line is the lecture's, translated to numpy (keepdim -> keepdims,
    torch.ones_like -> np.ones_like, .view -> .reshape, .clone -> .copy)."""
    Xb, Yb = v["Xb"], v["Yb"]
    C, W1, W2, bngain = v["C"], v["W1"], v["W2"], v["bngain"]
    emb, embcat, hprebn, bndiff, bndiff2 = v["emb"], v["embcat"], v["hprebn"], v["bndiff"], v["bndiff2"]
    bnvar, bnvar_inv, bnraw, h = v["bnvar"], v["bnvar_inv"], v["bnraw"], v["h"]
    logits, counts, counts_sum, counts_sum_inv = v["logits"], v["counts"], v["counts_sum"], v["counts_sum_inv"]
    probs, logprobs = v["probs"], v["logprobs"]
    n = Xb.shape[0]

    # loss = -logprobs[range(n), Yb].mean(): only the picked entries matter, each with -1/n
    dlogprobs = np.zeros_like(logprobs)
    dlogprobs[range(n), Yb] = -1.0/n
    dprobs = (1.0 / probs) * dlogprobs                         # d log(x) = 1/x
    dcounts_sum_inv = (counts * dprobs).sum(1, keepdims=True)  # replicated over dim 1: sum it back
    dcounts = counts_sum_inv * dprobs                          # first use of counts ...
    dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv
    dcounts += np.ones_like(counts) * dcounts_sum              # ... plus the second: counts_sum
    dnorm_logits = counts * dcounts                            # d exp(x) = exp(x)
    dlogits = dnorm_logits.copy()
    dlogit_maxes = (-dnorm_logits).sum(1, keepdims=True)
    dlogits += one_hot(logits.argmax(1), logits.shape[1], logits.dtype) * dlogit_maxes
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = (1.0 - h**2) * dh                               # d tanh(x) = 1 - tanh(x)**2
    dbngain = (bnraw * dhpreact).sum(0, keepdims=True)
    dbnraw = bngain * dhpreact
    dbnbias = dhpreact.sum(0, keepdims=True)
    dbndiff = bnvar_inv * dbnraw                               # first use of bndiff
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)
    dbnvar = (-0.5*(bnvar + 1e-5)**-1.5) * dbnvar_inv
    dbndiff2 = (1.0/(n-1)) * np.ones_like(bndiff2) * dbnvar
    dbndiff += (2*bndiff) * dbndiff2                           # second use of bndiff
    dhprebn = dbndiff.copy()
    dbnmeani = (-dbndiff).sum(0, keepdims=True)                # keepdims: bnmeani is (1, n_hidden)
    dhprebn += (1.0/n) * np.ones_like(hprebn) * dbnmeani
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)                                       # b1 is (n_hidden,): no keepdims
    demb = dembcat.reshape(emb.shape)
    dC = np.zeros_like(C)
    for k in range(Xb.shape[0]):                               # every row of C that was looked up
        for j in range(Xb.shape[1]):                           # gets the gradient of that lookup,
            ix = Xb[k, j]                                      # added up over repeats
            dC[ix] += demb[k, j]
    return dict(logprobs=dlogprobs, probs=dprobs, counts_sum_inv=dcounts_sum_inv, counts_sum=dcounts_sum,
                counts=dcounts, norm_logits=dnorm_logits, logit_maxes=dlogit_maxes, logits=dlogits, h=dh,
                W2=dW2, b2=db2, hpreact=dhpreact, bngain=dbngain, bnraw=dbnraw, bnbias=dbnbias,
                bndiff=dbndiff, bnvar_inv=dbnvar_inv, bnvar=dbnvar, bndiff2=dbndiff2, hprebn=dhprebn,
                bnmeani=dbnmeani, embcat=dembcat, W1=dW1, b1=db1, emb=demb, C=dC)


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m demos.exercise1", description=__doc__.split("\n")[0])
    ap.add_argument("--names", help="path of names.txt (default: $TINYTAPE_NAMES, the cache, a download; "
                    "else a synthetic batch)")
    ap.add_argument("--no-torch", action="store_true", help="skip the comparison with torch")
    ap.add_argument("--quick", action="store_true", help="accepted for uniformity: this demo is quick")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    return ap.parse_args(argv)


def main(argv=None):
    """Runs exercise 1. Returns {"loss", "tape": check.Result against the tape, "torch": Result
    against torch (None without torch), "manual": the 26 gradients, "source"}."""
    args = parse(argv)
    torch = None if args.no_torch else lecture.try_torch()
    no_torch = "--no-torch given" if args.no_torch else "torch is not installed"
    s = lecture.setup(args.names, args.hidden, args.batch, use_torch=torch is not None,
                      command=command("python -m demos.exercise1", argv))
    print(f"exercise 1: manual backprop through the chunked forward pass\n{s.source}")
    t = lecture.run(tinytape, s)                       # forward on the tape, then loss.backward()
    print(f"loss {t['loss'].item():.4f}\n")
    manual = manual_backward(lecture.values(t))
    print("manual (numpy) vs tinytape's tape:")
    tape_result = check.gradients(manual, t)
    torch_result, torch_loss = None, None
    if torch is not None:
        tt = lecture.run(torch, s)
        torch_loss = tt["loss"].item()
        print(f"\nmanual (numpy) vs torch {torch.__version__} autograd (loss {torch_loss:.4f}):")
        torch_result = check.against(manual, lecture.grads(tt))
    else:
        print(f"\n(no comparison with torch's autograd: {no_torch})")
    return {"loss": t["loss"].item(), "torch_loss": torch_loss, "tape": tape_result, "torch": torch_result,
            "manual": manual, "source": s.source}


if __name__ == "__main__":
    try:
        main()
    except NamesNotFoundError as e:
        sys.exit(f"error: {e}")
