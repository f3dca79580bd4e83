"""makemore's language models written in the torch.nn style, for tests/test_models.py: a Transformer
(causal self-attention written out: tril mask, masked_fill, softmax; GPT-2's tanh GELU as a formula),
an RNN and a GRU cell unrolled over time, and a bag-of-words block. Each takes (B, T) token indices and
optional targets (-1: no loss there) and returns (logits, loss).

This file is torch code on tinytape: test_models.py loads it a second time with `tinytape` meaning
torch (demos.gpt.on_torch), so the very same classes are built on both engines.
"""
import math
from dataclasses import dataclass

import tinytape as torch
import tinytape.nn as nn
from tinytape.nn import functional as F


@dataclass
class Config:
    block_size: int = 8
    vocab_size: int = 27
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 16
    n_embd2: int = 24


def lm_loss(logits, targets):
    if targets is None:
        return None
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


# ---------------------------------------------------------------------------------- Transformer
class TanhGELU(nn.Module):
    """GPT-2's GELU written out as elementary ops."""

    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head = c.n_head
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd)
        self.register_buffer("bias", torch.tril(torch.ones(c.block_size, c.block_size)).view(1, 1, c.block_size, c.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1, self.attn, self.ln_2 = nn.LayerNorm(c.n_embd), SelfAttention(c), nn.LayerNorm(c.n_embd)
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(c.n_embd, 4 * c.n_embd), c_proj=nn.Linear(4 * c.n_embd, c.n_embd),
                                      act=TanhGELU()))

    def forward(self, x):
        m = self.mlp
        x = x + self.attn(self.ln_1(x))
        return x + m.c_proj(m.act(m.c_fc(self.ln_2(x))))


class Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd), wpe=nn.Embedding(c.block_size, c.n_embd),
            h=nn.ModuleList([Block(c) for _ in range(c.n_layer)]), ln_f=nn.LayerNorm(c.n_embd)))
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)

    def forward(self, idx, targets=None):
        t = idx.size(1)
        pos = torch.arange(0, t, dtype=torch.long).unsqueeze(0)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return logits, lm_loss(logits, targets)


# ---------------------------------------------------------------------------------- bag of words
class CausalBoW(nn.Module):
    """Each position: the average of the positions up to it (a uniform causal attention)."""

    def __init__(self, c):
        super().__init__()
        self.register_buffer("bias", torch.tril(torch.ones(c.block_size, c.block_size)).view(1, c.block_size, c.block_size))

    def forward(self, x):
        B, T, C = x.size()
        att = torch.zeros((B, T, T)).masked_fill(self.bias[:, :T, :T] == 0, float("-inf"))
        return F.softmax(att, dim=-1) @ x


class BoW(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(c.vocab_size, c.n_embd), nn.Embedding(c.block_size, c.n_embd)
        self.cbow = CausalBoW(c)
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(c.n_embd, c.n_embd2), c_proj=nn.Linear(c.n_embd2, c.n_embd)))
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size)

    def forward(self, idx, targets=None):
        pos = torch.arange(0, idx.size(1), dtype=torch.long).unsqueeze(0)
        x = self.wte(idx) + self.wpe(pos)
        x = x + self.cbow(x)
        x = x + self.mlp.c_proj(F.tanh(self.mlp.c_fc(x)))
        logits = self.lm_head(x)
        return logits, lm_loss(logits, targets)


# ---------------------------------------------------------------------------------- RNN and GRU
class RNNCell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.xh_to_h = nn.Linear(c.n_embd + c.n_embd2, c.n_embd2)

    def forward(self, xt, hprev):
        return F.tanh(self.xh_to_h(torch.cat([xt, hprev], dim=1)))


class GRUCell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.xh_to_z = nn.Linear(c.n_embd + c.n_embd2, c.n_embd2)
        self.xh_to_r = nn.Linear(c.n_embd + c.n_embd2, c.n_embd2)
        self.xh_to_hbar = nn.Linear(c.n_embd + c.n_embd2, c.n_embd2)

    def forward(self, xt, hprev):
        xh = torch.cat([xt, hprev], dim=1)
        r = F.sigmoid(self.xh_to_r(xh))                                   # reset gate
        hbar = F.tanh(self.xh_to_hbar(torch.cat([xt, r * hprev], dim=1)))  # candidate state
        z = F.sigmoid(self.xh_to_z(xh))                                   # update gate
        return (1 - z) * hprev + z * hbar


class RNN(nn.Module):
    def __init__(self, c, cell_type):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, c.n_embd2))
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.cell = RNNCell(c) if cell_type == "rnn" else GRUCell(c)
        self.lm_head = nn.Linear(c.n_embd2, c.vocab_size)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        emb = self.wte(idx)
        h = self.start.expand((b, -1))
        hiddens = []
        for i in range(t):
            h = self.cell(emb[:, i, :], h)
            hiddens.append(h)
        logits = self.lm_head(torch.stack(hiddens, 1))
        return logits, lm_loss(logits, targets)


MODELS = {"transformer": Transformer, "bow": BoW,
          "rnn": lambda c: RNN(c, "rnn"), "gru": lambda c: RNN(c, "gru")}
