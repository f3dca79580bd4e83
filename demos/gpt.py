"""python -m demos.gpt: a small character-level Transformer (GPT) trained on names.txt with tinytape.

    python -m demos.gpt [--steps N] [--quick] [--seed S] [--names PATH] [--torch]

The model is makemore's Transformer: each name is a sequence of 16 tokens, the start token '.'
followed by the letters (names.txt's longest name has 15), and the model predicts every next letter
and the end token '.' at once, with a causal mask so that position t sees positions <= t only. Token
and position embeddings (n_embd 64), 4 blocks of (LayerNorm, 4-head causal self-attention, residual;
LayerNorm, MLP with GELU, residual), a final LayerNorm and a linear head over the 27 tokens;
positions after the end token carry the target -1 and are left out of the loss (ignore_index=-1).
Trained with AdamW and a cosine learning rate schedule, one batch of 32 names a step; then the
train and val losses (the lecture's 80/10/10 split of names.txt) and 20 sampled names.

Everything below is torch code: the imports at the top make `torch` tinytape. `--torch` runs this
very file on torch instead (`on_torch()` loads it a second time with `tinytape` meaning torch),
from the same seed: both start from the same parameters and draw the same batches, so their losses
agree to float32 rounding step after step.
"""
import argparse
import math
import os
import sys
import time
from dataclasses import dataclass

# numpy's OpenBLAS splits each matrix product over every core; this model's are small (512 x 64 x 256
# at batch 32), and on a 2-core machine with anything else running, two BLAS threads waiting for each
# other made the step 4-5x slower (measured). One thread, unless set otherwise; it takes effect only
# when numpy is not imported yet (python -m demos.gpt).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from nn.data import (CHARS, NamesNotFoundError, command, decode, names_path, read_names,  # noqa: E402
                     shown, split_words, stoi)   # the project's names.txt lookup and vocabulary
from nn.training import ProgressBar  # noqa: E402

import tinytape as torch  # noqa: E402
import tinytape.nn as nn  # noqa: E402
from tinytape.nn import functional as F  # noqa: E402

SEED = 2147483647
STEPS = 6000                    # the default run: a few minutes on 2 cores (README)


# ---------------------------------------------------------------------------------------- the model
@dataclass
class GPTConfig:
    block_size: int = 16        # tokens per sequence: '.' and up to 15 letters
    vocab_size: int = 27        # '.' and a-z
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    fused_attention: bool = True    # F.scaled_dot_product_attention; False: the masked softmax written out


class CausalSelfAttention(nn.Module):
    """n_head heads of self-attention side by side, each position attending to itself and the
    positions before it."""

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head, self.n_embd = config.n_head, config.n_embd
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)      # queries, keys, values of all heads
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.fused = config.fused_attention
        if not self.fused:          # 1 where a position may look (the lower triangle), 0 elsewhere
            mask = torch.tril(torch.ones(config.block_size, config.block_size))
            self.register_buffer("mask", mask.view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.qkv(x).split(self.n_embd, dim=2)
        hs = C // self.n_head                                          # head size
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)             # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        if self.fused:
            p = self.attn_dropout.p if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))    # (B, nh, T, T)
            att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
            att = F.softmax(att, dim=-1)
            att = self.attn_dropout(att)
            y = att @ v                                                # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)              # the heads side by side again
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.proj(self.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))          # communicate: gather from earlier positions
        x = x + self.mlp(self.ln_2(x))           # compute: each position on its own
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),       # token embeddings
            wpe=nn.Embedding(config.block_size, config.n_embd),       # position embeddings
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, idx, targets=None):
        B, T = idx.size()
        assert T <= self.config.block_size, f"sequence of length {T}, block size is only {self.config.block_size}"
        pos = torch.arange(0, T, dtype=torch.long).unsqueeze(0)        # (1, T)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))                # (B, T, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    @torch.no_grad()
    def generate(self, n, generator=None):
        """n names: start from '.', sample one token at a time until block_size tokens."""
        idx = torch.zeros(n, 1, dtype=torch.long)
        for _ in range(self.config.block_size - 1):
            logits, _ = self(idx)
            probs = F.softmax(logits[:, -1, :], dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


# ---------------------------------------------------------------------------------------- the data
def encode_words(words, block_size):
    """X, Y (len(words), block_size) int64 tensors: X is '.' then the name, padded with '.'; Y is
    the name then '.', padded with -1 (no loss there)."""
    X = np.zeros((len(words), block_size), dtype=np.int64)
    Y = np.full((len(words), block_size), -1, dtype=np.int64)
    for i, w in enumerate(words):
        ix = [stoi[c] for c in w]
        X[i, 1:1 + len(ix)] = ix
        Y[i, :len(ix)] = ix
        Y[i, len(ix)] = 0
    return torch.from_numpy(X), torch.from_numpy(Y)


def load_splits(words, block_size=None):
    """{"train": (X, Y), "val": ..., "test": ...} from the lecture's 80/10/10 split of the words,
    and the block size (the longest name + 1 unless given)."""
    block_size = block_size or max(len(w) for w in words) + 1
    tr, va, te = split_words(words)
    return {"train": encode_words(tr, block_size), "val": encode_words(va, block_size),
            "test": encode_words(te, block_size)}, block_size


# ---------------------------------------------------------------------------------------- training
def make_optimizer(model, lr, weight_decay, steps):
    """AdamW (makemore's betas and eps) and a cosine decay of the learning rate to lr / 10."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-8,
                                  weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1), eta_min=lr / 10)
    return optimizer, scheduler


def train_step(model, optimizer, X, Y, batch_size, generator=None):
    """One step: a random batch of names, forward, backward, AdamW. Returns the loss tensor."""
    ix = torch.randint(0, X.size(0), (batch_size,), generator=generator)
    _, loss = model(X[ix], Y[ix])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


@torch.no_grad()
def evaluate(model, X, Y, chunk=2048):
    """The mean loss over every target of a split (in chunks of names), in eval mode."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, X.size(0), chunk):
        logits, _ = model(X[i:i + chunk])
        y = Y[i:i + chunk].reshape(-1)
        total += F.cross_entropy(logits.view(-1, logits.size(-1)), y, ignore_index=-1, reduction="sum").item()
        count += int((y != -1).sum().item())
    model.train(was_training)
    return total / count


def sample_names(model, n=20, generator=None):
    was_training = model.training
    model.eval()
    idx = model.generate(n, generator=generator)
    model.train(was_training)
    names = []
    for row in idx[:, 1:].tolist():
        row = row[:row.index(0)] if 0 in row else row
        names.append(decode(row))
    return names


def train(model, data, steps, batch_size=32, lr=1e-3, weight_decay=0.01, progress=True):
    """`steps` AdamW steps on random batches of the training split. Returns the losses (numpy)."""
    optimizer, scheduler = make_optimizer(model, lr, weight_decay, steps)
    X, Y = data["train"]
    losses = np.empty(steps)
    bar = ProgressBar(steps, desc="training") if progress else None
    model.train()
    try:
        for i in range(steps):
            loss = train_step(model, optimizer, X, Y, batch_size)
            scheduler.step()
            losses[i] = loss.item()
            if bar is not None:
                bar.update(i + 1, losses[i])
    finally:
        if bar is not None:
            bar.close()
    return losses


# ---------------------------------------------------------------------------------------- the command
def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m demos.gpt", description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=None, help=f"training steps (default {STEPS}; --quick: 100)")
    ap.add_argument("--quick", action="store_true", help="a few seconds: 100 steps, losses on part of the data")
    ap.add_argument("--seed", type=int, default=SEED, help="torch.manual_seed before the model is built")
    ap.add_argument("--names", default=None, help="names.txt (default $TINYTAPE_NAMES, the cache, a download)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3, help="AdamW's learning rate, decayed to lr/10 (cosine)")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--torch", action="store_true", help="run this same code on torch (needs torch)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    args.argv = argv
    if args.steps is None:
        args.steps = 100 if args.quick else STEPS
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.torch:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # see demos/bench.py
        try:
            return on_torch().run(args)
        except ImportError:
            sys.exit("error: --torch needs torch installed (pip install torch)")
    return run(args)


def run(args):
    try:
        path = names_path(args.names, command=command("python -m demos.gpt", args.argv))
    except NamesNotFoundError as e:
        sys.exit(f"error: {e}")
    words = read_names(path)
    data, block_size = load_splits(words)
    engine = "torch " + torch.__version__ if torch.__name__ == "torch" else "tinytape"
    torch.manual_seed(args.seed)
    config = GPTConfig(block_size=block_size, vocab_size=len(CHARS), dropout=args.dropout)
    model = GPT(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{engine}: GPT with {config.n_layer} layers, {config.n_head} heads, n_embd {config.n_embd}, "
          f"block size {block_size}: {n_params:,} parameters")
    print(f"data: {shown(path)}: {len(words):,} names; train {data['train'][0].size(0):,}, "
          f"val {data['val'][0].size(0):,} names")
    t0 = time.perf_counter()
    losses = train(model, data, args.steps, args.batch_size, args.lr, progress=not args.no_progress)
    dt = time.perf_counter() - t0
    print(f"{args.steps} steps of batch {args.batch_size} in {dt:.1f} s ({1e3 * dt / max(args.steps, 1):.1f} ms/step); "
          f"last 100 steps' mean loss {losses[-100:].mean():.4f}")
    for split in ("train", "val"):
        X, Y = data[split]
        if args.quick:
            X, Y = X[:2000], Y[:2000]
        print(f"{split} loss {evaluate(model, X, Y):.4f}" + (" (first 2,000 names)" if args.quick else ""))
    g = torch.Generator().manual_seed(args.seed + 1)
    print("20 names sampled from the model:")
    print("  " + ", ".join(sample_names(model, 20, generator=g)))
    return 0


# ---------------------------------------------------------------------------------------- on torch
SWAPPED = ("tinytape", "tinytape.nn", "tinytape.nn.functional", "tinytape.optim")


def on_torch(module="demos.gpt"):
    """The module `module` (this file by default) loaded once more, as `<module>_on_torch`, with
    `import tinytape as torch`, `import tinytape.nn as nn` and `from tinytape.nn import functional
    as F` giving torch, torch.nn and torch.nn.functional: the same source run on torch."""
    import importlib.util

    import torch as real_torch
    import nn.data
    import nn.training  # noqa: F401  (the project's package keeps the real tinytape)
    name = module + "_on_torch"
    if name in sys.modules:
        return sys.modules[name]
    origin = importlib.util.find_spec(module).origin
    spec = importlib.util.spec_from_file_location(name, origin)
    mod = importlib.util.module_from_spec(spec)
    saved = {k: sys.modules.get(k) for k in SWAPPED}
    sys.modules.update(zip(SWAPPED, (real_torch, real_torch.nn, real_torch.nn.functional, real_torch.optim)))
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return mod


if __name__ == "__main__":
    sys.exit(main())
