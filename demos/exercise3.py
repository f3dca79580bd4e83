"""Exercise 3: the batchnorm backward in one formula.

    python -m demos.exercise3 [--names PATH] [--no-torch]

    dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))

checked against the tape two ways: the chain of elementary ops of exercise 1's forward
(approximate: the formula rounds differently), and tinytape's fused F.batch_norm(...,
unbiased=True), whose backward is this formula (exact); and against torch's autograd through the
same chain when torch is installed (approximate).
"""
import argparse
import sys

import numpy as np

import tinytape
import tinytape.functional as F
from tinytape import check

from nn.data import NamesNotFoundError, command

from . import lecture


def dhprebn_formula(dhpreact, bngain, bnvar_inv, bnraw):
    """Exercise 3's answer, in numpy, exactly as the lecture writes it."""
    n = dhpreact.shape[0]
    return bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m demos.exercise3", description=__doc__.split("\n")[0])
    ap.add_argument("--names", help="path of names.txt (default: $TINYTAPE_NAMES, the cache, a download; "
                    "else a synthetic batch)")
    ap.add_argument("--no-torch", action="store_true", help="skip the comparison with torch")
    ap.add_argument("--quick", action="store_true", help="accepted for uniformity: this demo is quick")
    return ap.parse_args(argv)


def main(argv=None):
    """Runs exercise 3. Returns {"dhprebn": the formula's, "forward_maxdiff": |fused - chunked|
    forward, "chain", "fused", "fused_bngain", "fused_bnbias", "torch": check Rows (torch: None
    without torch), "source"}."""
    args = parse(argv)
    torch = None if args.no_torch else lecture.try_torch()
    no_torch = "--no-torch given" if args.no_torch else "torch is not installed"
    s = lecture.setup(args.names, use_torch=torch is not None,
                      command=command("python -m demos.exercise3", argv))
    print(f"exercise 3: batchnorm backward in one formula\n{s.source}")
    t = lecture.run(tinytape, s)                        # exercise 1's chunked forward and its tape
    v = lecture.values(t)
    dhpreact = t["hpreact"].grad.numpy()                # the gradient arriving at batchnorm's output
    dhprebn = dhprebn_formula(dhpreact, v["bngain"], v["bnvar_inv"], v["bnraw"])

    # the same batchnorm as one fused op, fed the same upstream gradient
    hprebn = tinytape.tensor(v["hprebn"], requires_grad=True)
    bngain = tinytape.tensor(v["bngain"], requires_grad=True)
    bnbias = tinytape.tensor(v["bnbias"], requires_grad=True)
    hpreact = F.batch_norm(hprebn, None, None, bngain, bnbias, training=True, unbiased=True)
    hpreact.backward(tinytape.tensor(dhpreact))
    fwd = float(np.abs(hpreact.detach().numpy() - v["hpreact"]).max())
    print(f"forward: fused F.batch_norm vs the chunked batchnorm, max diff {fwd}")

    print("\nthe formula against  chain: the tape through exercise 1's elementary ops\n"
          "                     fused: tinytape's F.batch_norm(..., unbiased=True), one op\n"
          "                     torch: torch's autograd through the same chain")
    rows = {"chain": check.cmp("chain", dhprebn, t["hprebn"]),
            "fused": check.cmp("fused", dhprebn, hprebn), "torch": None}
    if torch is not None:
        tt = lecture.run(torch, s)
        rows["torch"] = check.cmp("torch", dhprebn, tt["hprebn"])
    else:
        print(f"(no comparison with torch: {no_torch})")
    print("and the fused op's parameter gradients against exercise 1's formulas:")
    rows["fused_bngain"] = check.cmp("fused bngain", (v["bnraw"] * dhpreact).sum(0, keepdims=True), bngain)
    rows["fused_bnbias"] = check.cmp("fused bnbias", dhpreact.sum(0, keepdims=True), bnbias)
    return {"dhprebn": dhprebn, "forward_maxdiff": fwd, **rows, "source": s.source}


if __name__ == "__main__":
    try:
        main()
    except NamesNotFoundError as e:
        sys.exit(f"error: {e}")
