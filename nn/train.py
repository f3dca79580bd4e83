"""python -m nn.train: train the lecture's MLP on names.txt, print split losses and 20 names,
save the parameters (.npz) and a loss plot (.png).

    python -m nn.train                          # 200,000 steps, hidden 200, as the lecture
    python -m nn.train --quick                  # 1,000 steps: a smoke test
    python -m nn.train --names ~/names.txt --steps 50000 --hidden 64 --out runs/h64 --dtype float64
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import data as nn_data
from .model import MLP
from .training import calibrate, fit, plot_losses, sample, split_losses

LECTURE_SEED = 2147483647


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m nn.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="SGD steps (default 200000; 1000 with --quick)")
    p.add_argument("--hidden", type=int, default=200, help="hidden units (default 200; the exercise-1 model has 64)")
    p.add_argument("--seed", type=int, default=LECTURE_SEED,
                   help="seeds the init and the minibatches (one numpy generator, as the lecture's one "
                        "torch generator); sampling uses seed + 42 (default %(default)s)")
    p.add_argument("--names", type=Path, default=None,
                   help=f"path to names.txt (default: ${nn_data.ENV_VAR}, then the cache, then a download)")
    p.add_argument("--out", type=Path, default=Path("out"), help="output directory (default out/)")
    p.add_argument("--quick", action="store_true", help="a short run (1000 steps unless --steps) without progress bar")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = p.parse_args(argv)
    if args.steps is None:
        args.steps = 1000 if args.quick else 200_000
    if args.steps < 1:
        p.error(f"--steps must be at least 1, got {args.steps}")
    if args.hidden < 1:
        p.error(f"--hidden must be at least 1, got {args.hidden}")
    if args.batch_size < 2:
        p.error(f"--batch-size must be at least 2 (batchnorm needs two examples), got {args.batch_size}")
    return args


def main(argv=None):
    args = parse_args(argv)
    t0 = time.perf_counter()
    try:
        data = nn_data.load_dataset(args.names)
    except (nn_data.NamesNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"error: cannot use --out {args.out} as the output directory: {e}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    model = MLP(n_hidden=args.hidden, generator=rng, dtype=args.dtype)
    print(f"MLP: {model.num_parameters():,} parameters ({args.dtype}); training on "
          f"{len(data.Ytr):,} examples, {args.steps:,} steps of batch {args.batch_size}")
    t1 = time.perf_counter()
    hist = fit(model, data.Xtr, data.Ytr, args.steps, batch_size=args.batch_size, generator=rng,
                 progress=not args.quick)
    t_train = time.perf_counter() - t1
    calibrate(model, data.Xtr)
    for split, loss in split_losses(model, data).items():
        print(f"{split:5s} {loss:.4f}")
    print("samples:")
    for name in sample(model, 20, generator=np.random.default_rng(args.seed + 42)):
        print(f"  {name}")
    params = model.save(args.out / "mlp.npz")
    print(f"saved {params}")
    try:
        print(f"saved {plot_losses(hist.lossi, args.out / 'loss.png', f'{args.steps} steps, hidden {args.hidden}')}")
    except ImportError as e:
        print(f"no loss plot: {e}", file=sys.stderr)
    wall = time.perf_counter() - t0
    print(f"wall time {wall:.1f} s (training {t_train:.1f} s, {1e3 * t_train / args.steps:.3f} ms/step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
