"""The lecture's training loop, batchnorm calibration, split losses and sampling, for any model
that maps (n, block_size) integer contexts to (n, vocab) logits (nn.MLP above all).

    hist = nn.fit(model, data.Xtr, data.Ytr, steps=200_000, generator=np.random.default_rng(1))
    nn.calibrate(model, data.Xtr)            # batchnorm statistics over the whole training set
    nn.split_losses(model, data)             # {'train': ..., 'val': ..., 'test': ...}
    nn.sample(model, 20, generator=np.random.default_rng(2))
"""
import contextlib
import hashlib
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

import tinytape
import tinytape.functional as F

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .data import itos
from .modules import BatchNorm1d, Sequential, _rng
from .optim import SGD


def _seeded(generator):
    """A numpy Generator from a seed, a numpy Generator, a tinytape.Generator or None (fresh)."""
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(generator)
    return _rng(generator)


def lecture_lr(step, steps, lr=0.1, lr_final=0.01):
    """The lecture's schedule: `lr = 0.1 if i < 100000 else 0.01` for 200,000 steps, i.e. the
    final rate from half the steps on."""
    return lr if step < steps // 2 else lr_final


def _tqdm():
    """tqdm.auto's bar class (a widget in Jupyter with ipywidgets, else the terminal bar), or None
    when tqdm is not installed (it comes with the `demo` extra; nn itself needs only numpy)."""
    try:
        with warnings.catch_warnings():          # tqdm.auto warns in Jupyter without ipywidgets
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class ProgressBar:
    """Training progress. With tqdm installed: tqdm's bar on a terminal, its widget in Jupyter
    (tqdm.auto); on anything else (a log file, a pipe, a notebook without ipywidgets) one plain line
    every `every` steps, `  400/4000 [###---] 10% loss 2.6144 ...`. Without tqdm, a hand-drawn
    one-line bar on a terminal (redrawn at most ten times a second) and the same plain lines."""

    def __init__(self, total, stream=None, every=None, width=30, desc=None):
        self.total, self.width = total, width
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.every = every if every is not None else max(1, total // 10)
        self.start = time.perf_counter()
        self._drawn = 0.0
        self.bar = None
        tqdm = _tqdm()
        notebook = tqdm is not None and tqdm.__module__ == "tqdm.notebook"
        if tqdm is not None and (self.tty or (notebook and stream is None)):
            kwargs = {} if notebook else {"file": self.stream}
            self.bar = tqdm(total=total, desc=desc, unit="step", mininterval=0.1, leave=True, **kwargs)

    def update(self, done, loss=None):
        now = time.perf_counter()
        if self.bar is not None:
            if loss is not None and (now - self._drawn >= 0.1 or done == self.total):
                self._drawn = now
                self.bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
            self.bar.update(done - self.bar.n)
            return
        if self.tty:
            if now - self._drawn < 0.1 and done < self.total:
                return
            self._drawn = now
        elif done % self.every and done != self.total:
            return
        elapsed = now - self.start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        filled = self.width * done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"{done:>{len(str(self.total))}d}/{self.total} [{bar}] {100 * done / self.total:3.0f}%"
        if loss is not None:
            text += f" loss {loss:.4f}"
        text += f" {elapsed:6.1f}s elapsed, {eta:6.1f}s left"
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        self.stream.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.tty:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class History:
    """Per-step training losses. `lossi` is their log10, the quantity the lecture plots."""
    loss: np.ndarray

    @property
    def lossi(self):
        return np.log10(self.loss)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped nn.fit at a step boundary, after it saved a checkpoint to `path`."""

    def __init__(self, path, step, steps):
        super().__init__(f"training interrupted after step {step:,} of {steps:,}; checkpoint saved to {path}")
        self.path, self.step, self.steps = path, step, steps


class _CtrlC:
    """While fit runs with a checkpoint, Ctrl-C (SIGINT) is only noted; fit acts on it at the end of
    the step, so the checkpoint never holds a half-updated model. A second Ctrl-C interrupts at once.
    Only in the main thread and over Python's default handler (elsewhere Ctrl-C is left alone, and
    the last periodic checkpoint is what survives)."""

    def __enter__(self):
        self.pressed, self.previous = False, None
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def data_fingerprint(X, Y):
    """sha256 of the training examples: a checkpoint resumes only on the data it was made with."""
    h = hashlib.sha256()
    for a in (X, Y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def model_config(model):
    """The sizes that rebuild the model (nn.MLP's), to check a checkpoint against and to resume from."""
    keys = ("vocab_size", "block_size", "n_embd", "n_hidden")
    config = {k: int(getattr(model, k)) for k in keys if hasattr(model, k)}
    if hasattr(model, "dtype"):
        config["dtype"] = str(np.dtype(model.dtype))
    return config


def _resume_from(resume, model, config, rng):
    """Check a checkpoint against this run (everything before changing anything), then restore it."""
    ckpt = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume)
    where = "" if isinstance(resume, Checkpoint) else f"{resume}: "
    saved, problems = ckpt.config, []
    if saved.get("model") != config["model"]:
        problems.append(f"it was made for the model {saved.get('model')}, this one is {config['model']}")
    if saved.get("data") != config["data"]:
        problems.append("it was made on other training data (X, Y differ)")
    for k in ("steps", "batch_size", "lr", "lr_final", "batches"):
        if saved.get(k) != config[k]:
            problems.append(f"{k} was {saved.get(k)!r}, now {config[k]!r}")
    try:                                                  # the generator's state, tried on a spare one
        type(rng.bit_generator)().state = ckpt.rng_state
    except (TypeError, ValueError, KeyError) as e:
        problems.append(f"its minibatch generator state does not fit a {type(rng.bit_generator).__name__} "
                        f"({type(e).__name__}: {e})")
    if problems:
        raise ValueError(f"{where}cannot resume this run from the checkpoint: " + "; ".join(problems))
    try:
        model.load_state_dict(ckpt.state)                 # checks every name and shape before writing
    except ValueError as e:
        raise ValueError(f"{where}{e}") from None
    rng.bit_generator.state = ckpt.rng_state
    return ckpt


def fit(model, X, Y, steps, *, batch_size=32, lr=0.1, lr_final=0.01, generator=None,
        batches=None, progress=False, checkpoint=None, checkpoint_every=None, resume=None, meta=None):
    """SGD on minibatches with the lecture's schedule (lr, then lr_final from steps // 2 on).

    Minibatch i is `ix = generator.integers(0, len(X), batch_size)`, `X[ix], Y[ix]` (a numpy
    Generator or seed), or the i-th index array of `batches` if given. Returns a History.

    Nothing lost: with `checkpoint=PATH`, Ctrl-C stops the run at the end of the current step, saves
    a checkpoint there (parameters and buffers, steps done, the generator's state, the losses) and
    raises TrainingInterrupted (a KeyboardInterrupt); `checkpoint_every=k` also saves every k steps.
    `resume=PATH` (or a Checkpoint) goes on from such a file: the model gets its parameters, the
    generator its state, and the run ends exactly as the uninterrupted one would have, to the bit.
    The checkpoint must come from the same settings, model sizes and data (ValueError otherwise,
    before anything changes). `meta` (a JSON-able dict) is stored with the checkpoint's settings.
    """
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or Y.shape != (X.shape[0],) or X.dtype.kind not in "iu" or Y.dtype.kind not in "iu":
        raise ValueError(f"X must be (n, block_size) and Y (n,) integer arrays; got {X.shape} "
                         f"{X.dtype} and {Y.shape} {Y.dtype}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if batches is None and batch_size < 2:
        raise ValueError(f"batch_size must be at least 2 (batchnorm needs two examples), got {batch_size}")
    if checkpoint_every is not None and (checkpoint is None or checkpoint_every < 1):
        raise ValueError("checkpoint_every needs checkpoint=PATH and a positive number of steps")
    rng = _seeded(generator)
    losses = np.empty(steps)
    start = 0
    if checkpoint is not None or resume is not None:
        config = {"steps": steps, "batch_size": None if batches is not None else batch_size, "lr": lr,
                  "lr_final": lr_final, "batches": batches is not None, "data": data_fingerprint(X, Y),
                  "model": model_config(model)}
        if resume is not None:
            ckpt = _resume_from(resume, model, config, rng)
            start = ckpt.step
            losses[:start] = ckpt.losses
        if meta is not None:
            config["meta"] = meta
    batches = iter(batches) if batches is not None else None
    for _ in range(start if batches is not None else 0):  # the batches the checkpoint's steps used
        next(batches, None)
    n = X.shape[0]
    opt = SGD(model.parameters(), lr)
    bar = ProgressBar(steps) if progress else None
    model.train()
    try:
        with (_CtrlC() if checkpoint is not None else contextlib.nullcontext()) as ctrl_c:
            for i in range(start, steps):
                ix = rng.integers(0, n, batch_size) if batches is None else next(batches, None)
                if ix is None:
                    raise ValueError(f"batches ran out after {i} of {steps} steps")
                loss = F.cross_entropy(model(X[ix]), Y[ix])
                opt.zero_grad()
                loss.backward()
                opt.lr = lecture_lr(i, steps, lr, lr_final)
                opt.step()
                losses[i] = loss.item()
                if bar is not None:
                    bar.update(i + 1, loss.item())
                if checkpoint is not None and (ctrl_c.pressed or checkpoint_every and (i + 1) % checkpoint_every == 0):
                    save_checkpoint(checkpoint, Checkpoint(i + 1, steps, model.state_dict(), rng.bit_generator.state,
                                                           losses[:i + 1], config))
                    if ctrl_c.pressed:
                        raise TrainingInterrupted(checkpoint, i + 1, steps)
    finally:
        if bar is not None:
            bar.close()
    return History(losses)


@contextlib.contextmanager
def _in_eval(model):
    """The model in eval mode and grad recording off; both restored afterwards, also on errors."""
    was = model.training
    try:
        with tinytape.no_grad():
            model.eval()
            yield
    finally:
        model.train(was)


CHUNK = 8192          # rows per forward pass when evaluating a whole split: memory stays flat


def _chunks(n, size=CHUNK):
    return (slice(i, min(i + size, n)) for i in range(0, n, size))


def calibrate(model, X):
    """The lecture's batchnorm calibration: every BatchNorm1d's running statistics become the mean
    and the unbiased variance (`hpreact.mean(0)`, `hpreact.var(0, unbiased=True)`) of its input
    over all of X (the training set); a later batchnorm sees the earlier ones calibrated. Needs an
    nn.Sequential. X goes through in chunks, the statistics are accumulated in float64 (Chan et
    al.'s pairwise update), then stored in the model's dtype: a float32 sum of 182,625 rows along
    axis 0 would lose ~1e-4 of relative accuracy, the float64 one loses nothing visible."""
    if not isinstance(model, Sequential):
        raise TypeError(f"calibrate needs an nn.Sequential (such as nn.MLP), got {type(model).__name__}")
    layers = list(model)
    todo = [i for i, m in enumerate(layers) if isinstance(m, BatchNorm1d) and m.track_running_stats]
    if not todo:
        raise ValueError("the model has no BatchNorm1d with running statistics to calibrate")
    X = np.asarray(X)
    if len(X) < 2:
        raise ValueError(f"calibration needs at least 2 examples, got {len(X)}")
    with _in_eval(model):
        for i in todo:
            n, mean, m2 = 0, 0.0, 0.0
            for rows in _chunks(len(X)):
                h = X[rows]
                for layer in layers[:i]:
                    h = layer(h)
                h = np.asarray(h, dtype=np.float64)
                k, mk = len(h), h.mean(0)
                m2k = ((h - mk) ** 2).sum(0)
                delta, total = mk - mean, n + k
                mean = mean + delta * (k / total)
                m2 = m2 + m2k + delta**2 * (n * k / total)
                n = total
            bn = layers[i]
            bn.running_mean.data[...] = mean
            bn.running_var.data[...] = m2 / (n - 1)
    return model


def evaluate(model, X, Y):
    """The mean cross-entropy of the model (in eval mode, no grad) on X, Y, summed chunk by chunk
    in float64. (A model whose batchnorm has no running statistics normalises with the statistics
    of what it is given, so it gets all of X at once.)"""
    X, Y = np.asarray(X), np.asarray(Y)
    if len(X) != len(Y) or len(X) == 0:
        raise ValueError(f"X and Y must hold the same, non-zero number of examples, got {len(X)} and {len(Y)}")
    whole = any(isinstance(m, BatchNorm1d) and not m.track_running_stats for m in model.modules())
    total = 0.0
    with _in_eval(model):
        for rows in ([slice(None)] if whole else _chunks(len(X))):
            total += float(F.cross_entropy(model(X[rows]), Y[rows], reduction="sum").item())
    return total / len(X)


def split_losses(model, data):
    """{'train', 'val', 'test'} -> loss, the lecture's split_loss on each split of a Dataset."""
    return {s: evaluate(model, *data[s]) for s in ("train", "val", "test")}


def sample(model, n=20, *, generator=None, block_size=None, max_len=50):
    """n names drawn from the model (eval mode, no grad): start from '...', draw the next character
    from softmax(logits) with `generator`, stop at '.' (not included) or after max_len letters."""
    rng = _seeded(generator)
    block_size = block_size or getattr(model, "block_size", None)
    if not block_size:
        raise ValueError("sample needs block_size (the model has no block_size attribute)")
    names = []
    with _in_eval(model):
        for _ in range(n):
            out, context = [], [0] * block_size
            while len(out) < max_len:
                probs = F.softmax(model(np.array([context])), dim=1)
                ix = int(tinytape.multinomial(probs, num_samples=1, generator=rng).item())
                if ix == 0:
                    break
                out.append(ix)
                context = context[1:] + [ix]
            names.append("".join(itos[i] for i in out))
    return names


def plot_losses(lossi, path, title="training loss"):
    """A PNG of the per-step log10 loss and its running mean over chunks of steps (the lecture's
    `plt.plot(torch.tensor(lossi).view(-1, 1000).mean(1))`). Needs matplotlib (optional)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("the loss plot needs matplotlib, which is not installed: "
                          "pip install 'tinytape[plot]' (or pip install matplotlib)") from None
    lossi = np.asarray(lossi, dtype=np.float64)
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(np.arange(len(lossi)), lossi, lw=0.5, alpha=0.3, color="tab:blue", label="log10 loss, each step")
    chunk = 1000 if len(lossi) >= 10_000 else max(1, len(lossi) // 10)
    m = len(lossi) // chunk
    if m:
        means = lossi[:m * chunk].reshape(m, chunk).mean(1)
        ax.plot((np.arange(m) + 0.5) * chunk, means, color="tab:red", label=f"mean over {chunk} steps")
    ax.set_xlabel("step")
    ax.set_ylabel("log10(loss)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


__all__ = ["fit", "TrainingInterrupted", "data_fingerprint", "model_config", "lecture_lr", "History", "ProgressBar", "calibrate", "evaluate", "split_losses",
           "sample", "plot_losses"]
