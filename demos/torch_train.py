"""The lecture's torch code for the whole training run: 200,000 steps of the batchnorm MLP with
torch's autograd, to time against `python -m nn.train` on the same machine.

    python -m demos.torch_train [--steps 200000] [--hidden 200] [--seed S] [--threads 2] [--names PATH]

The training loop, calibration and split losses are the lecture's (makemore part 4, exercise 4's
loop with `loss.backward()`), with two choices made so that it runs the very same work as
`python -m nn.train --seed S`: the init is nn.lecture_init from numpy's `default_rng(S)` (the
lecture's scales; torch's generator would give other numbers), and the minibatch indices come from
that same numpy generator after the init, as nn.fit draws them. torch is optional in tinytape: this
script exits with a message when it is not installed. `demos.bench` times `lecture_step` below, on
torch and, unchanged, on tinytape.
"""
import argparse
import os
import sys
import time

import numpy as np

LECTURE_SEED = 2147483647


def parameters_from(arrays, torch):
    """The lecture's `parameters` list [C, W1, b1, W2, b2, bngain, bnbias] as torch leaves (copies)."""
    from nn.model import LECTURE_NAMES
    parameters = [torch.tensor(np.array(arrays[k])) for k in LECTURE_NAMES]
    for p in parameters:
        p.requires_grad = True
    return parameters


def lecture_step(torch, F, parameters, Xb, Yb, lr):
    """One step of the lecture's training loop: forward, loss.backward(), `p.data += -lr * p.grad`.

    Written once for any library with torch's API: `torch` is the module (torch, or tinytape) and F
    its functional module; demos.bench runs this very function on both. `.data` and `.grad` are
    tensors on both: the update is the tensor's in-place add into the parameter's own memory."""
    C, W1, b1, W2, b2, bngain, bnbias = parameters
    # forward pass
    emb = C[Xb]                                    # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)            # concatenate the vectors
    hprebn = embcat @ W1 + b1                      # hidden layer pre-activation
    bnmean = hprebn.mean(0, keepdim=True)          # batchnorm
    bnvar = hprebn.var(0, keepdim=True, unbiased=True)
    bnvar_inv = (bnvar + 1e-5)**-0.5
    bnraw = (hprebn - bnmean) * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)                        # hidden layer
    logits = h @ W2 + b2                           # output layer
    loss = F.cross_entropy(logits, Yb)             # loss function
    # backward pass
    for p in parameters:
        p.grad = None
    loss.backward()
    # update
    for p in parameters:
        p.data += -lr * p.grad
    return loss


def train(torch, F, parameters, Xtr, Ytr, steps, rng, batch_size=32, progress=True):
    """The lecture's loop (lr 0.1, then 0.01 from half the steps on); returns the per-step losses."""
    import nn
    Xt, Yt = torch.from_numpy(Xtr), torch.from_numpy(Ytr)
    losses = np.empty(steps)
    bar = nn.ProgressBar(steps) if progress else None
    for i in range(steps):
        ix = torch.from_numpy(rng.integers(0, len(Xtr), batch_size))
        lr = 0.1 if i < steps // 2 else 0.01       # step learning rate decay
        loss = lecture_step(torch, F, parameters, Xt[ix], Yt[ix], lr)
        losses[i] = loss.item()
        if bar is not None:
            bar.update(i + 1, losses[i])
    if bar is not None:
        bar.close()
    return losses


def split_losses(torch, F, parameters, data):
    """The lecture's calibration (bnmean, bnvar over the training set) and split_loss on each split."""
    C, W1, b1, W2, b2, bngain, bnbias = parameters
    with torch.no_grad():
        emb = C[torch.from_numpy(data.Xtr)]
        hpreact = emb.view(emb.shape[0], -1) @ W1 + b1
        bnmean = hpreact.mean(0, keepdim=True)
        bnvar = hpreact.var(0, keepdim=True, unbiased=True)
        out = {}
        for split in ("train", "val", "test"):
            x, y = (torch.from_numpy(a) for a in data[split])
            emb = C[x]
            hpreact = emb.view(emb.shape[0], -1) @ W1 + b1
            hpreact = bngain * (hpreact - bnmean) * (bnvar + 1e-5)**-0.5 + bnbias
            h = torch.tanh(hpreact)
            logits = h @ W2 + b2
            out[split] = F.cross_entropy(logits, y).item()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m demos.torch_train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="SGD steps (default 200000; 1000 with --quick)")
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--seed", type=int, default=LECTURE_SEED)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--names", default=None, help="path of names.txt (default: $TINYTAPE_NAMES, cache, download)")
    ap.add_argument("--quick", action="store_true", help="1000 steps unless --steps, no progress bar")
    args = ap.parse_args(argv)
    args.argv = argv
    if args.steps is None:
        args.steps = 1000 if args.quick else 200_000
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # see demos/bench.py: spinning threads cost 10x here
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("error: torch is not installed (pip install torch): this script times the lecture's torch code",
              file=sys.stderr)
        return 2
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args, torch, F)
    finally:
        torch.set_num_threads(threads)


def _run(args, torch, F):
    import nn
    t0 = time.perf_counter()
    try:
        data = nn.load_dataset(args.names, command=nn.data.command("python -m demos.torch_train", args.argv))
    except nn.NamesNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    parameters = parameters_from(nn.lecture_init(rng, n_hidden=args.hidden), torch)
    print(f"torch {torch.__version__}, {args.threads} threads: the lecture's MLP, "
          f"{sum(p.nelement() for p in parameters):,} parameters; {args.steps:,} steps of batch 32")
    t1 = time.perf_counter()
    train(torch, F, parameters, data.Xtr, data.Ytr, args.steps, rng, progress=not args.quick)
    t_train = time.perf_counter() - t1
    for split, loss in split_losses(torch, F, parameters, data).items():
        print(f"{split:5s} {loss:.4f}")
    wall = time.perf_counter() - t0
    print(f"wall time {wall:.1f} s (training {t_train:.1f} s, {1e3 * t_train / args.steps:.3f} ms/step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
