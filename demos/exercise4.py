"""Exercise 4: train the lecture's MLP with the hand-written backward (no tape) and with the tape.

    python -m demos.exercise4 [--quick] [--steps N] [--hidden H] [--seed S] [--names PATH]

Default: 50,000 steps, as the lecture notebook's exercise 4 (about a minute for both runs;
--steps 200000 for the lecture's full training, 3 to 5 minutes); --quick: 1,000 steps.

Both runs start from the same init (nn.lecture_init, seed S) and see the same minibatches (drawn
from the same generator after the init, as the lecture's one torch generator; the sequence
`python -m nn.train --seed S` draws too) with the lecture's schedule (lr 0.1, then 0.01 from half
the steps on):
  hand-written: demos/handwritten.py, the lecture's exercise-4 loop in plain numpy (the fused
                cross-entropy and batchnorm backward formulas of exercises 2 and 3);
  tape:         nn.MLP trained with nn.fit, i.e. F.cross_entropy(model(Xb), Yb).backward().
It prints the two loss curves side by side and the final parameters' difference. tinytape's fused
ops have exactly these formulas as backward rules, so the runs agree to the bit (between two
different engines float32 runs drift by up to ~1e-6 relative: docs/precision.md). Then, on the tape model, the
lecture's batchnorm calibration over the training set, the train/val/test losses and 20 names.

Data: names.txt, found as everywhere in the project (--names PATH, $TINYTAPE_NAMES, the cache, a
checked download); when it cannot be had, a clearly labelled SYNTHETIC set of syllable words (the
comparison is the same, the losses and names are not the lecture's).
"""
import argparse
import os
import sys
import time

import numpy as np

import nn
from nn.data import ENV_VAR, NamesNotFoundError, command, find_names, shown

from . import handwritten
from .lecture import SEED

DEFAULT_STEPS = 50_000           # the lecture notebook's exercise-4 run; ~0.8 ms a step for both runs
QUICK_STEPS = 1_000
BATCH = 32
TOLERANCE = 1e-5                 # relative; between rounding drift (<= ~1e-6) and a subtle bug (~1e-4)
N_SAMPLES = 20
HOW_TO_PROVIDE = f"for the lecture's data pass --names PATH or set {ENV_VAR}=PATH"


def synthetic_words(n=4000, seed=0):
    """n made-up words of 2-4 consonant-vowel syllables ("kamo", "tirevu"): a stand-in for
    names.txt with a structure the MLP can learn. Not the lecture's data."""
    rng = np.random.default_rng(seed)
    cons, vows = "bdfghklmnprstvz", "aeiou"
    return ["".join(cons[rng.integers(len(cons))] + vows[rng.integers(len(vows))]
                    for _ in range(rng.integers(2, 5))) for _ in range(n)]


def load_data(names=None, block_size=3, argv=None):
    """(nn Dataset, description): names.txt, found as nn finds it (a given path or $TINYTAPE_NAMES
    that does not exist raises NamesNotFoundError, saying how to provide it), else the synthetic
    words."""
    path = find_names(names, command=command("python -m demos.exercise4", argv))
    if path is not None:
        data = nn.load_dataset(path, block_size)
        return data, f"names.txt ({shown(path)}: {len(data.Xtr):,} training examples)"
    tr, va, te = nn.split_words(synthetic_words())
    data = nn.Dataset(nn.build_dataset(tr, block_size), nn.build_dataset(va, block_size),
                      nn.build_dataset(te, block_size), block_size)
    return data, (f"SYNTHETIC syllable words ({len(data.Xtr):,} training examples; names.txt not "
                  f"found: {HOW_TO_PROVIDE})")


class Minibatches:
    """The minibatch index arrays of a run, replayable: every iteration restarts from the same
    generator state and yields `steps` arrays of `rng.integers(0, n, batch_size)`."""

    def __init__(self, state, n, steps, batch_size=BATCH):
        self.state, self.n, self.steps, self.batch_size = state, n, steps, batch_size

    def __iter__(self):
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = self.state
        for _ in range(self.steps):
            yield rng.integers(0, self.n, self.batch_size)


def train_handwritten(params, X, Y, batches, steps, progress=False):
    """The lecture's exercise-4 loop, no tape: handwritten.sgd_step on each minibatch with the
    lecture's schedule. Updates `params` in place; returns the per-step losses."""
    losses = np.empty(steps)
    bar = nn.ProgressBar(steps) if progress else None
    try:
        for i, ix in enumerate(batches):
            losses[i] = handwritten.sgd_step(params, X[ix], Y[ix], nn.lecture_lr(i, steps))
            if bar is not None:
                bar.update(i + 1, losses[i])
    finally:
        if bar is not None:
            bar.close()
    return losses


def param_diffs(params, model):
    """name -> max |hand-written - tape| of each final parameter."""
    return {k: float(np.abs(params[k] - getattr(model, k).detach().numpy().reshape(params[k].shape)).max())
            for k in handwritten.NAMES}


def loss_table(hw, tape, every):
    """Rows (step, lr, hand-written loss, tape loss, max relative difference over the steps since
    the previous row) at step 0, every `every` steps, and the last step."""
    steps = len(hw)
    rel = np.abs(hw - tape) / np.abs(hw)
    marks = sorted(set(range(0, steps, every)) | {steps - 1})
    rows, start = [], 0
    for i in marks:
        rows.append((i, nn.lecture_lr(i, steps), float(hw[i]), float(tape[i]), float(rel[start:i + 1].max())))
        start = i + 1
    return rows


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m demos.exercise4", description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=None,
                    help=f"SGD steps of each run (default {DEFAULT_STEPS:,}, as the lecture notebook's "
                         f"exercise 4: about a minute for both runs; 200000, the lecture's full "
                         f"training, takes 3 to 5 minutes; {QUICK_STEPS:,} with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help=f"a short run ({QUICK_STEPS:,} steps unless --steps; a few seconds), no progress bar")
    ap.add_argument("--hidden", type=int, default=200, help="hidden units (default 200, the lecture's)")
    ap.add_argument("--seed", type=int, default=SEED,
                    help="seeds the init and then the minibatches (one generator, as the lecture's); "
                         "sampling uses seed + 42 (default %(default)s)")
    ap.add_argument("--names", help=f"path of names.txt (default: ${ENV_VAR}, the cache, a download; "
                    f"else a SYNTHETIC word list)")
    args = ap.parse_args(argv)
    if args.steps is None:
        args.steps = QUICK_STEPS if args.quick else DEFAULT_STEPS
    if args.steps < 1:
        ap.error(f"--steps must be at least 1, got {args.steps}")
    if args.hidden < 1:
        ap.error(f"--hidden must be at least 1, got {args.hidden}")
    return args


def main(argv=None):
    """Runs exercise 4. Returns {"loss_handwritten", "loss_tape": per-step losses (numpy),
    "rel_diff": |hw - tape| / hw per step, "max_rel_diff", "init_maxdiff", "param_maxdiff": name ->
    max |hw - tape| of the final parameters, "param_max_rel": the largest of those over its
    parameter's largest |value|, "identical": losses and parameters equal to the bit, "table": the
    printed rows, "split_losses": {'train', 'val', 'test'} after calibration, "names": 20 samples,
    "steps", "hidden", "seed", "synthetic", "source", "seconds": {'handwritten', 'tape', 'total'}}."""
    args = parse(argv)
    t0 = time.perf_counter()
    data, source = load_data(args.names, argv=argv)
    X, Y, steps = data.Xtr, data.Ytr, args.steps
    print(f"exercise 4: training the MLP with the hand-written backward and with the tape\ndata: {source}")

    # the same init twice, independently: numpy arrays for the hand-written loop, an nn.MLP for the tape
    rng = np.random.default_rng(args.seed)
    params = handwritten.init_params(rng, n_hidden=args.hidden)
    batches = Minibatches(rng.bit_generator.state, len(X), steps)    # the generator goes on after the init
    model = nn.MLP(n_hidden=args.hidden, generator=np.random.default_rng(args.seed))
    init_maxdiff = max(param_diffs(params, model).values())
    print(f"MLP: {model.num_parameters():,} parameters, float32, init from seed {args.seed} "
          f"(max |difference| between the two inits: {init_maxdiff}); {steps:,} steps of batch {BATCH}")

    t1 = time.perf_counter()
    hw = train_handwritten(params, X, Y, batches, steps, progress=not args.quick)
    t2 = time.perf_counter()
    tape = nn.fit(model, X, Y, steps, batches=batches, progress=not args.quick).loss
    t3 = time.perf_counter()
    print(f"hand-written (numpy, no tape): {t2 - t1:.1f} s; tape (nn.MLP, nn.fit): {t3 - t2:.1f} s")

    rel = np.abs(hw - tape) / np.abs(hw)
    table = loss_table(hw, tape, max(1, steps // 10))
    w = len(str(steps))
    print(f"\n{'step':>{w}s}   lr    hand-written      tape     max rel diff (steps since last row)")
    for i, lr, a, b, d in table:
        print(f"{i:{w}d}  {lr:4.2f}  {a:12.7f}  {b:12.7f}   {d:.3g}")
    diffs = param_diffs(params, model)
    scale = {k: float(np.abs(params[k]).max()) for k in diffs}
    param_max_rel = max(diffs[k] / scale[k] for k in diffs)
    identical = bool(np.array_equal(hw, tape)) and all(d == 0.0 for d in diffs.values())
    print(f"\nlosses: max relative difference over all {steps:,} steps {rel.max():.3g}")
    print("final parameters, max |hand-written - tape|: "
          + ", ".join(f"{k} {d:.3g}" for k, d in diffs.items())
          + f" (largest relative to its parameter: {param_max_rel:.3g})")
    if identical:
        print("the two runs are identical to the bit: the tape's backward rules are the hand-written formulas")
    else:
        print(f"the runs {'agree' if max(rel.max(), param_max_rel) <= TOLERANCE else 'DISAGREE'} "
              f"(tolerance {TOLERANCE:g} relative): float32 rounding alone drifts ~1e-7 to 1e-6 over "
              f"thousands of steps (docs/precision.md); the subtlest wrong formula, n instead of n-1 in the "
              f"batchnorm backward, drifts ~1e-4 within a few hundred")

    nn.calibrate(model, X)                  # the lecture's bnmean, bnvar over the whole training set
    losses = nn.split_losses(model, data)
    print("\nafter batchnorm calibration over the training set (the tape model):")
    for split, loss in losses.items():
        print(f"{split:5s} {loss:.4f}")
    names = nn.sample(model, N_SAMPLES, generator=np.random.default_rng(args.seed + 42))
    print(f"{N_SAMPLES} names sampled (generator seed {args.seed + 42}):")
    print("  " + " ".join(names))
    total = time.perf_counter() - t0
    print(f"total {total:.1f} s")
    return {"loss_handwritten": hw, "loss_tape": tape, "rel_diff": rel, "max_rel_diff": float(rel.max()),
            "init_maxdiff": init_maxdiff, "param_maxdiff": diffs, "param_max_rel": param_max_rel,
            "identical": identical, "table": table, "split_losses": losses, "names": names,
            "steps": steps, "hidden": args.hidden, "seed": args.seed, "synthetic": source.startswith("SYNTHETIC"),
            "source": source, "seconds": {"handwritten": t2 - t1, "tape": t3 - t2, "total": total}}


if __name__ == "__main__":
    try:
        main()
    except NamesNotFoundError as e:
        sys.exit(f"error: {e}")
