"""python -m demos.bench: one training step of the lecture's MLP (hidden 200) on tinytape, on
hand-written numpy and on torch, timed side by side in one process; one training step of the GPT
demo's Transformer on tinytape and on torch; then the per-op overhead and a deep chain's backward.

    python -m demos.bench [--quick] [--steps N] [--big-steps N] [--gpt-steps N] [--rounds R] [--names PATH]
    python -m demos.bench --gpt-only [--gpt-steps N] [--rounds R]

Variants, each a whole step with its minibatch draw (`ix = rng.integers(0, n, batch)`, `X[ix]`,
`Y[ix]`, from a numpy generator) and the lecture's SGD update:
  tinytape      nn.MLP trained by nn.fit (model(Xb) -> F.cross_entropy -> zero grads -> backward ->
                SGD step): the way a user trains; timed as nn.fit over a block of steps
  numpy         demos.handwritten.sgd_step: the lecture's hand-written backward (exercise 4)
  learner       the lecture's training step as a learner writes it (demos.torch_train.lecture_step:
                the composite batchnorm, torch.tanh, F.cross_entropy, `p.grad = None`, loss.backward(),
                `p.data += -lr * p.grad`), one function taking the library module, run on tinytape
  torch         that very same function run on torch with autograd, 2 threads
  mygrad, autograd   the same forward on MyGrad / HIPS autograd, when they are importable
The GPT row: demos.gpt's train_step (a batch of 32 names drawn with torch.randint, forward,
zero_grad, backward, AdamW step) on the demo's default model (4 layers, 4 heads, n_embd 64, block
16), the same file on tinytape and on torch (demos.gpt.on_torch), from the same seed.
All start from the same init (nn.lecture_init) and read the same data: names.txt ($TINYTAPE_NAMES
or --names) or, without it, random tokens of the same shape (said in the output). Each round
times a block of steps of every variant in turn at every batch size (interleaved, so a load
change on the machine hits all variants alike); a variant's figure is its best round.
Not a test: the suite runs it once in --quick mode and checks that the numbers are sane.

torch runs with OMP_WAIT_POLICY=PASSIVE (unless set otherwise): on a 2-core machine, torch's OpenMP
threads spinning after each op take the cores from numpy's BLAS and from torch's own next op
(measured here: torch's step 10x slower at batch 32 with 2 threads spinning, and every variant
timed after it slower too); passive waiting costs torch nothing measurable.
"""
import argparse
import gc
import os
import platform
import sys
import time

import numpy as np

import nn
import tinytape
import tinytape.functional as F

from . import handwritten

SEED = 2147483647
BLAS_THREADS = os.environ.get("OPENBLAS_NUM_THREADS", "default")     # as numpy was loaded with
BATCHES = (32, 4096)
VOCAB, BLOCK, N_TRAIN = 27, 3, 182_625            # names.txt's training split: (182625, 3)
GPT_BLOCK, GPT_N_TRAIN = 16, 25_626                # the GPT demo's: 25,626 names of 16 tokens


# ---------------------------------------------------------------------------------- environment
def machine():
    """CPU model, cores, library versions, load: what the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {"cpu": cpu, "cores": cores, "python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "mygrad", "autograd"):
        mod = _optional(name)
        info[name] = None if mod is None else getattr(mod, "__version__", "installed")
    try:
        info["load"] = os.getloadavg()
    except OSError:
        info["load"] = None
    return info


def _optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def load_data(names=None, argv=None):
    """(X, Y, description): names.txt's training split, or random tokens of the same shape."""
    from nn.data import command, find_names, shown
    path = find_names(names, command=command("python -m demos.bench", argv))
    if path is not None:
        data = nn.load_dataset(path)
        return data.Xtr, data.Ytr, f"names.txt ({shown(path)}): {data.Xtr.shape[0]:,} training examples"
    rng = np.random.default_rng(0)
    X = rng.integers(0, VOCAB, (N_TRAIN, BLOCK))
    Y = rng.integers(0, VOCAB, N_TRAIN)
    return X, Y, (f"RANDOM tokens of names.txt's shape ({N_TRAIN:,} x {BLOCK}; names.txt not found: set "
                  f"TINYTAPE_NAMES or --names for the real data; the timings do not depend on it)")


# ---------------------------------------------------------------------------------- the variants
# Each maker returns run(steps): `steps` training steps, minibatch draw included; it returns their
# losses. All makers start from the same init and draw the same minibatches for the same seed.
def make_tinytape(X, Y, batch, seed):
    model = nn.MLP(n_hidden=200, generator=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)

    def run(steps):
        return nn.fit(model, X, Y, steps, batch_size=batch, generator=rng).loss
    return run


def make_numpy(X, Y, batch, seed):
    p = handwritten.init_params(np.random.default_rng(seed))
    rng, n = np.random.default_rng(seed + 1), len(X)

    def run(steps):
        losses = np.empty(steps)
        for i in range(steps):
            ix = rng.integers(0, n, batch)
            losses[i] = handwritten.sgd_step(p, X[ix], Y[ix], nn.lecture_lr(i, steps))
        return losses
    return run


def make_lecture(lib, F, X, Y, batch, seed):
    """The lecture's loop around demos.torch_train.lecture_step on `lib` (tinytape or torch, with its
    functional module F): the same code for both, only the module differs."""
    from .torch_train import lecture_step, parameters_from
    parameters = parameters_from(nn.lecture_init(np.random.default_rng(seed)), lib)
    Xt, Yt = lib.from_numpy(X), lib.from_numpy(Y)
    rng, n = np.random.default_rng(seed + 1), len(X)

    def run(steps):
        losses = np.empty(steps)
        for i in range(steps):
            ix = lib.from_numpy(rng.integers(0, n, batch))
            losses[i] = lecture_step(lib, F, parameters, Xt[ix], Yt[ix], nn.lecture_lr(i, steps)).item()
        return losses
    return run


def make_learner(X, Y, batch, seed):
    return make_lecture(tinytape, F, X, Y, batch, seed)


def make_torch(X, Y, batch, seed):
    import torch
    import torch.nn.functional as tF
    return make_lecture(torch, tF, X, Y, batch, seed)


def make_mygrad(X, Y, batch, seed):
    import mygrad as mg
    from mygrad.nnet.losses import softmax_crossentropy
    params = [mg.Tensor(v) for v in nn.lecture_init(np.random.default_rng(seed)).values()]
    rng, n = np.random.default_rng(seed + 1), len(X)

    def run(steps):
        losses = np.empty(steps)
        for i in range(steps):
            ix = rng.integers(0, n, batch)
            Xb, Yb = X[ix], Y[ix]
            C, W1, b1, W2, b2, bngain, bnbias = params
            emb = C[Xb]
            hprebn = emb.reshape(batch, -1) @ W1 + b1
            bnmean = hprebn.mean(axis=0, keepdims=True)
            bnvar = hprebn.var(axis=0, keepdims=True, ddof=1)
            bnraw = (hprebn - bnmean) * (bnvar + 1e-5) ** -0.5
            h = mg.tanh(bngain * bnraw + bnbias)
            loss = softmax_crossentropy(h @ W2 + b2, Yb)
            for p in params:
                p.null_grad()
            loss.backward()
            lr = nn.lecture_lr(i, steps)
            for p in params:
                p.data += -lr * p.grad
            losses[i] = loss.item()
        return losses
    return run


def make_autograd(X, Y, batch, seed):
    import autograd.numpy as anp
    from autograd import value_and_grad

    def lecture_loss(params, Xb, Yb):
        C, W1, b1, W2, b2, bngain, bnbias = params
        emb = C[Xb]
        hprebn = anp.reshape(emb, (batch, -1)) @ W1 + b1
        bnmean = anp.mean(hprebn, axis=0, keepdims=True)
        bnvar = anp.var(hprebn, axis=0, keepdims=True, ddof=1)
        bnraw = (hprebn - bnmean) * (bnvar + 1e-5) ** -0.5
        h = anp.tanh(bngain * bnraw + bnbias)
        logits = h @ W2 + b2
        shifted = logits - anp.max(logits, axis=1, keepdims=True)
        logprobs = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
        return -anp.mean(logprobs[np.arange(batch), Yb])

    step = value_and_grad(lecture_loss)
    params = list(nn.lecture_init(np.random.default_rng(seed)).values())
    rng, n = np.random.default_rng(seed + 1), len(X)

    def run(steps):
        losses = np.empty(steps)
        for i in range(steps):
            ix = rng.integers(0, n, batch)
            loss, grads = step(params, X[ix], Y[ix])
            lr = nn.lecture_lr(i, steps)
            for p, g in zip(params, grads):
                p += -lr * g
            losses[i] = loss
        return losses
    return run


VARIANTS = {"tinytape": make_tinytape, "learner": make_learner, "numpy": make_numpy, "torch": make_torch,
            "mygrad": make_mygrad, "autograd": make_autograd}


def available(names):
    out = []
    for name in names:
        if name in ("tinytape", "learner", "numpy") or _optional(name) is not None:
            out.append(name)
    return out


def time_steps(names, X, Y, steps_for, rounds, seed=SEED):
    """{batch: {variant: best µs per step}}, interleaved: each round runs every variant once."""
    runners = {b: {v: VARIANTS[v](X, Y, b, seed) for v in names} for b in steps_for}
    for b, rs in runners.items():                       # warm-up: allocations, imports, caches
        for run in rs.values():
            run(2)
    best = {b: {v: float("inf") for v in names} for b in steps_for}
    for _ in range(rounds):
        for b, rs in runners.items():
            for v, run in rs.items():
                gc.collect()
                t0 = time.perf_counter()
                run(steps_for[b])
                dt = (time.perf_counter() - t0) / steps_for[b] * 1e6
                best[b][v] = min(best[b][v], dt)
    return best


# ---------------------------------------------------------------------------------- the GPT demo's step
def gpt_data(names=None, argv=None):
    """(X, Y, description): the GPT demo's training split of names.txt, or random tokens of its shape."""
    from nn.data import command, find_names, read_names, shown
    from . import gpt
    path = find_names(names, command=command("python -m demos.bench", argv))
    if path is not None:
        X, Y = gpt.load_splits(read_names(path))[0]["train"]
        return np.asarray(X), np.asarray(Y), f"names.txt's training split, {X.shape[0]:,} names of {X.shape[1]} tokens"
    rng = np.random.default_rng(0)
    X = rng.integers(0, VOCAB, (GPT_N_TRAIN, GPT_BLOCK))
    Y = np.concatenate([X[:, 1:], np.full((GPT_N_TRAIN, 1), -1)], 1)
    return X, Y, f"RANDOM tokens of that shape ({GPT_N_TRAIN:,} x {GPT_BLOCK})"


def make_gpt(module, X, Y, batch, seed):
    """run(steps) for demos.gpt's train_step on `module` (demos.gpt, or demos.gpt.on_torch())."""
    module.torch.manual_seed(seed)
    model = module.GPT(module.GPTConfig(block_size=X.shape[1]))
    optimizer, _ = module.make_optimizer(model, 1e-3, 0.01, 1000)
    Xt, Yt = module.torch.from_numpy(X), module.torch.from_numpy(Y)

    def run(steps):
        return np.array([module.train_step(model, optimizer, Xt, Yt, batch).item() for _ in range(steps)])
    return run


def time_gpt(X, Y, steps, rounds, torch=None, batch=32, seed=SEED):
    """{variant: best µs per step} of the GPT demo's step, tinytape and torch interleaved."""
    from . import gpt
    runners = {"tinytape": make_gpt(gpt, X, Y, batch, seed)}
    if torch is not None:
        runners["torch"] = make_gpt(gpt.on_torch(), X, Y, batch, seed)
    for run in runners.values():
        run(2)
    best = {v: float("inf") for v in runners}
    for _ in range(rounds):
        for v, run in runners.items():
            gc.collect()
            t0 = time.perf_counter()
            run(steps)
            best[v] = min(best[v], (time.perf_counter() - t0) / steps * 1e6)
    return best


# ---------------------------------------------------------------------------------- per-op, deep chain
def _best(fn, number, repeat):
    """Best over `repeat` of the mean µs per call over `number` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number * 1e6)
    return best


def per_op(shape, number, repeat, torch=None):
    """µs of `a * b` (forward, recorded) and of `a * b` plus its backward, against raw numpy
    (`x * y`; `x * y`, `g * y`, `g * x`), and torch when given."""
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    G = rng.standard_normal(shape).astype(np.float32)
    a, b = tinytape.tensor(x, requires_grad=True), tinytape.tensor(y, requires_grad=True)

    tG = tinytape.tensor(G)

    def tt_fb():
        a.grad = None
        b.grad = None
        (a * b).backward(tG)

    def np_fb():
        x * y
        return G * y, G * x
    out = {"tinytape_fwd": _best(lambda: a * b, number, repeat),
           "tinytape_fwd_bwd": _best(tt_fb, number, repeat),
           "numpy_fwd": _best(lambda: x * y, number, repeat),
           "numpy_fwd_bwd": _best(np_fb, number, repeat)}
    if torch is not None:
        ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        tG = torch.from_numpy(G)

        def torch_fb():
            ta.grad = None
            tb.grad = None
            (ta * tb).backward(tG)
        out["torch_fwd"] = _best(lambda: ta * tb, number, repeat)
        out["torch_fwd_bwd"] = _best(torch_fb, number, repeat)
    return out


def deep_chain(depth, torch=None):
    """Seconds to record and to backpropagate through `depth` chained ops (y = y * 1.0001)."""
    out = {}
    libs = [("tinytape", tinytape)] + ([("torch", torch)] if torch is not None else [])
    for name, lib in libs:
        x = lib.ones(1, requires_grad=True)
        gc.collect()
        t0 = time.perf_counter()
        y = x
        for _ in range(depth):
            y = y * 1.0001
        t1 = time.perf_counter()
        y.sum().backward()
        t2 = time.perf_counter()
        out[name] = {"forward": t1 - t0, "backward": t2 - t1, "grad": float(np.asarray(x.grad).reshape(-1)[0])}
        del x, y
    return out


# ---------------------------------------------------------------------------------- report
def report_machine(info):
    print(f"machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, numpy {info['numpy']}, "
          f"torch {info['torch'] or 'not installed'}, MyGrad {info['mygrad'] or 'not installed'}, "
          f"HIPS autograd {info['autograd'] or 'not installed'}")
    if info["load"]:
        print(f"load average at start: {', '.join(f'{x:.2f}' for x in info['load'])}")


def _torch_threads():
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else "-"


def report_gpt(times, steps, desc, rounds):
    print(f"\none training step of the GPT demo's Transformer (4 layers, 4 heads, n_embd 64, block 16; "
          f"demos.gpt.train_step: batch of 32 names, forward, backward, AdamW), best of {rounds} interleaved "
          f"rounds of {steps} steps; data: {desc}; numpy's BLAS threads: "
          f"{BLAS_THREADS}, torch's threads: {_torch_threads()}")
    for v, t in times.items():
        line = f"  {v:9s} {t / 1e3:9.2f} ms/step"
        if "torch" in times:
            line += f"  {t / times['torch']:5.2f}x torch"
        print(line)


def report(info, data_desc, steps_for, rounds, table, ops, chain, depth, gpt=None):
    p = print
    report_machine(info)
    p(f"data: {data_desc}")
    p(f"one training step of the lecture's MLP (hidden 200), minibatch draw included; best of {rounds} "
      f"interleaved rounds of " + ", ".join(f"{s} steps at batch {b}" for b, s in steps_for.items()))
    batches = list(table)
    head = "variant".ljust(10) + "".join(f"{'batch ' + str(b) + ': µs/step':>22s}{'vs numpy':>10s}{'vs torch':>10s}"
                                         for b in batches)
    p(head)
    for v in table[batches[0]]:
        row = v.ljust(10)
        for b in batches:
            t = table[b][v]
            rn = t / table[b]["numpy"]
            rt = t / table[b]["torch"] if "torch" in table[b] else None
            row += f"{t:22.1f}{rn:9.2f}x" + (f"{rt:9.2f}x" if rt is not None else f"{'-':>10s}")
        p(row)
    legend = {"tinytape": "nn.MLP trained by nn.fit (the library's way)",
              "learner": "the lecture's step as a learner writes it (demos.torch_train.lecture_step) on tinytape",
              "numpy": "the hand-written numpy step (demos.handwritten.sgd_step, exercise 4)",
              "torch": "the same lecture_step as `learner`, on torch with autograd",
              "mygrad": "the lecture's forward on MyGrad", "autograd": "the lecture's forward on HIPS autograd"}
    for v in table[batches[0]]:
        p(f"  {v:9s} {legend[v]}")
    if gpt is not None:
        report_gpt(*gpt, rounds)
    p("\nper-op overhead: `a * b` on two leaves (recorded), and `a * b` then `.backward(g)` "
      "(numpy: `x * y`; `x * y`, `g * y`, `g * x`), µs per call")
    for shape, r in ops.items():
        line = (f"  {str(shape):10s} forward: tinytape {r['tinytape_fwd']:6.2f}  numpy {r['numpy_fwd']:6.2f}"
                f"  (+{r['tinytape_fwd'] - r['numpy_fwd']:.2f})")
        if "torch_fwd" in r:
            line += f"  torch {r['torch_fwd']:6.2f}  (tinytape/torch {r['tinytape_fwd'] / r['torch_fwd']:.2f}x)"
        p(line)
        line = (f"  {'':10s} fwd+bwd: tinytape {r['tinytape_fwd_bwd']:6.2f}  numpy {r['numpy_fwd_bwd']:6.2f}"
                f"  (+{r['tinytape_fwd_bwd'] - r['numpy_fwd_bwd']:.2f})")
        if "torch_fwd_bwd" in r:
            line += f"  torch {r['torch_fwd_bwd']:6.2f}  (tinytape/torch {r['tinytape_fwd_bwd'] / r['torch_fwd_bwd']:.2f}x)"
        p(line)
    p(f"\na chain of {depth:,} ops (y = y * 1.0001), then backward, seconds:")
    for name, r in chain.items():
        p(f"  {name:9s} record {r['forward']:.3f}  backward {r['backward']:.3f}  "
          f"({1e6 * r['backward'] / depth:.2f} µs per entry; dx = {r['grad']:.6g})")


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m demos.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few steps, one round: a smoke test, not a measurement")
    ap.add_argument("--steps", type=int, default=None, help="steps per round at batch 32 (default 500)")
    ap.add_argument("--big-steps", type=int, default=None, help="steps per round at batch 4096 (default 20)")
    ap.add_argument("--gpt-steps", type=int, default=None, help="steps per round of the GPT demo's step (default 20)")
    ap.add_argument("--gpt-only", action="store_true", help="only the GPT demo's step")
    ap.add_argument("--torch-threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds; the best counts (default 3)")
    ap.add_argument("--depth", type=int, default=None, help="deep chain length (default 100000)")
    ap.add_argument("--names", default=None, help="names.txt (default $TINYTAPE_NAMES, the cache, a download; "
                    "else random tokens)")
    ap.add_argument("--variants", default="tinytape,learner,numpy,torch,mygrad,autograd",
                    help="comma-separated; those not importable are left out")
    args = ap.parse_args(argv)
    args.argv = argv
    q = args.quick
    args.steps = args.steps or (5 if q else 500)
    args.big_steps = args.big_steps or (1 if q else 20)
    args.gpt_steps = args.gpt_steps or (1 if q else 20)
    args.rounds = args.rounds or (1 if q else 3)
    args.depth = args.depth or (1000 if q else 100_000)
    return args


def main(argv=None):
    """Runs the benchmark, prints it, returns {"machine", "data", "steps" (µs per step: batch ->
    variant -> µs), "ratios" (batch -> variant -> {"numpy", "torch"}), "ops", "chain", "gpt" ({"steps":
    variant -> µs per step of the GPT demo, "ratios": variant -> its ratio to torch, "data"})}."""
    args = parse(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before torch loads its OpenMP runtime
    info = machine()
    torch = _optional("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(args.torch_threads)
        return _run(args, info, torch)
    finally:
        if torch is not None:
            torch.set_num_threads(threads)


def _run(args, info, torch):
    if args.gpt_only:
        gX, gY, gdesc = gpt_data(args.names, args.argv)
        gpt = time_gpt(gX, gY, args.gpt_steps, args.rounds, torch)
        report_machine(info)
        report_gpt(gpt, args.gpt_steps, gdesc, args.rounds)
        return {"machine": info, "gpt": {"steps": gpt, "data": gdesc,
                                         "ratios": {v: (t / gpt["torch"] if "torch" in gpt else None) for v, t in gpt.items()}}}
    names = available(args.variants.split(","))
    X, Y, desc = load_data(args.names, args.argv)
    steps_for = {32: args.steps, 4096: args.big_steps}
    table = time_steps(names, X, Y, steps_for, args.rounds)
    ratios = {b: {v: {"numpy": t / row["numpy"], "torch": (t / row["torch"] if "torch" in row else None)}
                  for v, t in row.items()} for b, row in table.items()}
    gX, gY, gdesc = gpt_data(args.names, args.argv)
    gpt = time_gpt(gX, gY, args.gpt_steps, args.rounds, torch)
    gpt_ratio = {v: (t / gpt["torch"] if "torch" in gpt else None) for v, t in gpt.items()}
    number, repeat = (200, 2) if args.quick else (20_000, 5)
    ops = {(1,): per_op((1,), number, repeat, torch), (32, 200): per_op((32, 200), number // 4, repeat, torch)}
    chain = deep_chain(args.depth, torch)
    report(info, desc, steps_for, args.rounds, table, ops, chain, args.depth, (gpt, args.gpt_steps, gdesc))
    return {"machine": info, "data": desc, "steps": table, "ratios": ratios, "ops": ops, "chain": chain,
            "gpt": {"steps": gpt, "ratios": gpt_ratio, "data": gdesc}}


if __name__ == "__main__":
    try:
        main()
    except nn.NamesNotFoundError as e:
        sys.exit(f"error: {e}")
