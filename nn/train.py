"""python -m nn.train: train the lecture's MLP on names.txt, print split losses and 20 names,
save the parameters (.npz) and a loss plot (.png).

    python -m nn.train                          # 200,000 steps, hidden 200, as the lecture
    python -m nn.train --quick                  # 1,000 steps: a smoke test, into out/quick/
    python -m nn.train --names ~/names.txt --steps 50000 --hidden 64 --out runs/h64 --dtype float64
    python -m nn.train --resume out/checkpoint.npz   # go on after Ctrl-C, to the same result

Ctrl-C stops the run at the end of the current step and saves a checkpoint (by default
OUT/checkpoint.npz; also every --checkpoint-every steps). --resume PATH takes the run's settings from
the checkpoint and ends exactly as the uninterrupted run would have, to the bit. A run that
completes removes its checkpoint (the parameters are in mlp.npz). A run that is about to replace
another run's files in its output directory says so first.

Installed with pip, the same command is `tinytape-train`.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import data as nn_data
from .checkpoint import load_checkpoint
from .model import MLP
from .training import TrainingInterrupted, calibrate, fit, plot_losses, sample, split_losses

LECTURE_SEED = 2147483647
# the settings a checkpoint carries, with their defaults
RUN = {"steps": None, "hidden": 200, "seed": LECTURE_SEED, "batch_size": 32, "dtype": "float32", "quick": False,
       "out": None, "names": None}
PROG = "python -m nn.train"
OUTPUTS = ("mlp.npz", "loss.png")           # what a completed run leaves in its output directory


def prog():
    """How the user started this command: tinytape-train (the console script) or python -m nn.train
    (TINYTAPE_PROG, set by the Makefile, overrides both in the messages: make demo)."""
    return "tinytape-train" if Path(sys.argv[0]).name == "tinytape-train" else PROG


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=prog(), description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="SGD steps (default 200000; 1000 with --quick)")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (default 200; the exercise-1 model has 64)")
    p.add_argument("--seed", type=int, default=None,
                   help="seeds the init and the minibatches (one numpy generator, as the lecture's one "
                        f"torch generator); sampling uses seed + 42 (default {LECTURE_SEED})")
    p.add_argument("--names", type=Path, default=None,
                   help=f"path to names.txt (default: ${nn_data.ENV_VAR}, then the cache, then a download)")
    p.add_argument("--out", type=Path, default=None, help="output directory (default out/; out/quick/ with --quick)")
    p.add_argument("--quick", action="store_true", default=None,
                   help="a short run (1000 steps unless --steps) without progress bar, into out/quick/")
    p.add_argument("--batch-size", type=int, default=None, help="minibatch size (default 32)")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="where Ctrl-C (and --checkpoint-every) save the run (default OUT/checkpoint.npz)")
    p.add_argument("--checkpoint-every", type=int, default=10_000,
                   help="also save a checkpoint every N steps, 0 for never (default %(default)s)")
    p.add_argument("--resume", type=Path, default=None,
                   help="go on from a checkpoint, with the settings it was made with")
    args = p.parse_args(argv)
    args.given = {k for k in RUN if getattr(args, k) is not None}
    if args.resume is None:
        _fill(args, {})
    for flag, value, least in (("--steps", args.steps, 1), ("--hidden", args.hidden, 1),
                               ("--checkpoint-every", args.checkpoint_every, 0)):
        if value is not None and value < least:
            p.error(f"{flag} must be at least {least}, got {value}")
    if args.batch_size is not None and args.batch_size < 2:
        p.error(f"--batch-size must be at least 2 (batchnorm needs two examples), got {args.batch_size}")
    return args


def _fill(args, saved):
    """Each setting from the command line, else the checkpoint, else its default."""
    for k, default in RUN.items():
        if getattr(args, k) is None:
            setattr(args, k, saved.get(k, default))
    if args.steps is None:
        args.steps = 1000 if args.quick else 200_000
    if args.out is None:
        args.out = Path("out") / "quick" if args.quick else Path("out")
    args.out = Path(args.out)
    args.names = None if args.names is None else Path(args.names)
    if args.checkpoint is None:
        args.checkpoint = args.out / "checkpoint.npz"


def _settings(args):
    return {k: (str(getattr(args, k)) if k in ("out", "names") and getattr(args, k) is not None else getattr(args, k))
            for k in RUN}


def _replacing(args):
    """Notes for the files of an earlier run that this one will replace, said before it starts."""
    notes = []
    old = [args.out / f for f in OUTPUTS if (args.out / f).exists()]
    if old:
        notes.append(f"note: this run replaces {' and '.join(map(str, old))} from an earlier run "
                     f"(--out DIR keeps them)")
    if args.resume is None and args.checkpoint.exists():
        notes.append(f"note: {args.checkpoint} is an interrupted run's checkpoint; this run will replace it "
                     f"at its first save. To go on with it instead: "
                     f"{nn_data.command(prog(), [], f'--resume {args.checkpoint}')}")
    return notes


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    t0 = time.perf_counter()
    ckpt = None
    if args.resume is not None:
        try:
            ckpt = load_checkpoint(args.resume)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: cannot resume: {e}", file=sys.stderr)
            return 2
        saved = ckpt.config.get("meta", {}).get("args")
        if not isinstance(saved, dict):
            print(f"error: cannot resume: {args.resume} was not written by python -m nn.train "
                  f"(resume it with nn.fit(..., resume=PATH))", file=sys.stderr)
            return 2
        changed = [f"--{k.replace('_', '-')} {getattr(args, k)} (the checkpoint has {saved.get(k)})"
                   for k in sorted(args.given - {"out", "names", "quick"}) if getattr(args, k) != saved.get(k)]
        if changed:
            print(f"error: cannot resume with other settings: {', '.join(changed)}", file=sys.stderr)
            return 2
        _fill(args, saved)
    try:
        data = nn_data.load_dataset(args.names, command=nn_data.command(prog(), argv))
    except (nn_data.NamesNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"error: cannot use --out {args.out} as the output directory: {e}", file=sys.stderr)
        return 2
    for note in _replacing(args):
        print(note)
    rng = np.random.default_rng(args.seed)
    model = MLP(n_hidden=args.hidden, generator=rng, dtype=args.dtype)
    print(f"MLP: {model.num_parameters():,} parameters ({args.dtype}); training on "
          f"{len(data.Ytr):,} examples, {args.steps:,} steps of batch {args.batch_size}"
          + (f"; resuming after step {ckpt.step:,}" if ckpt is not None else ""))
    t1 = time.perf_counter()
    try:
        hist = fit(model, data.Xtr, data.Ytr, args.steps, batch_size=args.batch_size, generator=rng,
                   progress=not args.quick, checkpoint=args.checkpoint,
                   checkpoint_every=args.checkpoint_every or None, resume=ckpt, meta={"args": _settings(args)})
    except TrainingInterrupted as e:
        print(f"\n{e}\nresume with: {nn_data.command(prog(), [], f'--resume {e.path}')}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"\ninterrupted; the last checkpoint (if one was saved) is {args.checkpoint}", file=sys.stderr)
        return 130
    except ValueError as e:
        if ckpt is None:
            raise
        print(f"error: {args.resume}: {e}", file=sys.stderr)
        return 2
    t_train = time.perf_counter() - t1
    calibrate(model, data.Xtr)
    for split, loss in split_losses(model, data).items():
        print(f"{split:5s} {loss:.4f}")
    print("samples:")
    for name in sample(model, 20, generator=np.random.default_rng(args.seed + 42)):
        print(f"  {name}")
    params = model.save(args.out / "mlp.npz")
    print(f"saved {params}")
    args.checkpoint.unlink(missing_ok=True)              # the run is complete: nothing to resume
    try:
        print(f"saved {plot_losses(hist.lossi, args.out / 'loss.png', f'{args.steps} steps, hidden {args.hidden}')}")
    except ImportError as e:
        print(f"no loss plot: {e}", file=sys.stderr)
    wall = time.perf_counter() - t0
    print(f"wall time {wall:.1f} s (training {t_train:.1f} s, {1e3 * t_train / max(args.steps - (ckpt.step if ckpt else 0), 1):.3f} ms/step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
