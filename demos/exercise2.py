"""Exercise 2: the cross-entropy backward in one formula.

    python -m demos.exercise2 [--names PATH] [--out DIR] [--no-torch]

    dlogits = softmax(logits); dlogits[range(n), Yb] -= 1; dlogits /= n

checked against the tape three ways: tinytape's fused F.cross_entropy (whose backward is this
formula, so exact), the chain of eight elementary ops of exercise 1 (approximate: other roundings),
and torch's F.cross_entropy when torch is installed (approximate). Saves the lecture's picture of
dlogits (gray: each row is softmax minus one-hot; the dark cell is the correct class) as a PNG when
matplotlib is installed.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

import tinytape
import tinytape.functional as F
from tinytape import check

from nn.data import NamesNotFoundError, command

from . import lecture

PNG_SIZE = (600, 600)       # pixels: figsize (6, 6) at 100 dpi


def softmax(x):
    """softmax over dim 1 in numpy, shifted by the row max as F.softmax is."""
    counts = np.exp(x - x.max(1, keepdims=True))
    return counts / counts.sum(1, keepdims=True)


def dlogits_formula(logits, Yb):
    """Exercise 2's answer, in numpy, as the lecture writes it."""
    n = logits.shape[0]
    dlogits = softmax(logits)
    dlogits[range(n), Yb] -= 1
    dlogits /= n
    return dlogits


def save_picture(dlogits, path):
    """The lecture's `plt.imshow(dlogits, cmap='gray')` as a PNG of PNG_SIZE. Returns the path, or
    None (with a note) when matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure          # no pyplot: no GUI backend, no global state
    except ImportError:
        print("(matplotlib is not installed: no dlogits picture; pip install matplotlib to get it)")
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(PNG_SIZE[0] / 100, PNG_SIZE[1] / 100), dpi=100)
    ax = fig.add_subplot()
    im = ax.imshow(dlogits, cmap="gray")
    ax.set_title("dlogits = (softmax - one_hot) / n\ndark: the correct class, pulled up; light: the rest, pushed down",
                 fontsize=9)
    if dlogits.shape[1] == lecture.VOCAB:
        ax.set_xticks(range(lecture.VOCAB), list(".abcdefghijklmnopqrstuvwxyz"), fontsize=7)
    ax.set_xlabel("next character")
    ax.set_ylabel("example in the batch")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.savefig(path, dpi=100)
    return path


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m demos.exercise2", description=__doc__.split("\n")[0])
    ap.add_argument("--names", help="path of names.txt (default: $TINYTAPE_NAMES, the cache, a download; "
                    "else a synthetic batch)")
    ap.add_argument("--out", default=None, help="directory for dlogits.png (default: out, or out/quick with --quick)")
    ap.add_argument("--no-torch", action="store_true", help="skip the comparison with torch")
    ap.add_argument("--quick", action="store_true", help="accepted for uniformity (this demo is quick): "
                    "writes into out/quick")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = "out/quick" if args.quick else "out"
    return args


def main(argv=None):
    """Runs exercise 2. Returns {"dlogits": the formula's, "Yb": the targets, "loss_chain",
    "loss_fused", "fused", "chain", "torch": check Rows (torch: None without torch), "png": path
    or None, "source"}."""
    args = parse(argv)
    torch = None if args.no_torch else lecture.try_torch()
    no_torch = "--no-torch given" if args.no_torch else "torch is not installed"
    s = lecture.setup(args.names, use_torch=torch is not None,
                      command=command("python -m demos.exercise2", argv))
    print(f"exercise 2: cross-entropy backward in one formula\n{s.source}")
    chain = lecture.run(tinytape, s)                    # exercise 1's chain of elementary ops
    logits_np = chain["logits"].detach().numpy()
    logits = tinytape.tensor(logits_np, requires_grad=True)
    loss_fast = F.cross_entropy(logits, tinytape.tensor(s.Yb))   # one fused op on the tape
    loss_fast.backward()
    loss_chain = chain["loss"].item()
    print(f"loss: fused {loss_fast.item():.6f}, chain {loss_chain:.6f}, "
          f"diff {loss_fast.item() - loss_chain:.3g}")
    dlogits = dlogits_formula(logits_np, s.Yb)
    print("\nthe formula against  fused: tinytape's F.cross_entropy (one op on the tape)\n"
          "                     chain: exercise 1's eight elementary ops on the tape\n"
          "                     torch: torch's F.cross_entropy")
    rows = {"fused": check.cmp("fused", dlogits, logits),
            "chain": check.cmp("chain", dlogits, chain["logits"]),
            "torch": None}
    if torch is not None:
        tl = torch.tensor(logits_np, requires_grad=True)
        torch.nn.functional.cross_entropy(tl, torch.tensor(s.Yb)).backward()
        rows["torch"] = check.cmp("torch", dlogits, tl)
    else:
        print(f"(no comparison with torch: {no_torch})")
    print(f"\neach row of dlogits sums to ~0 (max |row sum| {np.abs(dlogits.sum(1)).max():.2g}): the "
          f"correct class is pulled up by as much as the others are pushed down")
    png = save_picture(dlogits, Path(args.out) / "dlogits.png")
    if png:
        print(f"wrote {png}")
    return {"dlogits": dlogits, "Yb": s.Yb, "loss_fused": loss_fast.item(), "loss_chain": loss_chain, **rows,
            "png": png, "source": s.source}


if __name__ == "__main__":
    try:
        main()
    except NamesNotFoundError as e:
        sys.exit(f"error: {e}")
