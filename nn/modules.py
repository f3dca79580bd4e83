"""Layers with torch.nn's shape: Module, Embedding, Flatten, Linear, BatchNorm1d, Tanh, Sequential.

A Module registers what is assigned to it, as torch's does: a leaf tensor that requires grad is a
parameter, a Module is a child, `register_buffer` makes a buffer (running statistics).
`parameters()` has torch's order: a module's own parameters, then each child's, each group in
assignment order (deterministic: plain dicts, no sets). Every layer's forward is one tinytape op
(the fused F.embedding, tinytape.addmm and F.batch_norm among them): the training step stays cheap.

Differences from torch, on purpose:
- Linear stores its weight as (in_features, out_features) and computes `x @ W + b`, the lecture's
  layout (`hprebn = embcat @ W1 + b1`). torch's nn.Linear stores (out, in): load such a weight with
  `Linear.load_torch(weight, bias)`, or pass `weight.T` yourself.
- There is no Parameter class: `Parameter(x)` returns a tinytape tensor that requires grad.
- BatchNorm1d takes `unbiased=True` for the lecture's normalisation with Bessel's correction.
"""
import math
from collections import OrderedDict

import numpy as np

import tinytape
import tinytape.functional as F
from tinytape import Tensor


def _rng(generator):
    """A numpy Generator from None, a numpy Generator or a tinytape.Generator."""
    if generator is None:
        return np.random.default_rng()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, tinytape.Generator):
        return generator.rng
    raise TypeError(f"generator must be a numpy Generator or a tinytape.Generator, "
                    f"got {type(generator).__name__}")


def _float_dtype(dtype):
    dtype = np.dtype(tinytape.float32 if dtype is None else dtype)
    if dtype not in (tinytape.float32, tinytape.float64):
        raise TypeError(f"parameters must be float32 or float64, got {dtype}")
    return dtype


def Parameter(data, requires_grad=True):
    """torch.nn.Parameter's role: a leaf tensor that requires grad (sharing a tensor's data)."""
    t = data.detach() if isinstance(data, Tensor) else tinytape.tensor(data)
    return t.requires_grad_(requires_grad)


class Module:
    """Base class: parameters, buffers and children in assignment order; train/eval; __call__."""

    def __init__(self):
        d = self.__dict__
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_modules"] = {}
        d["training"] = True

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__(): "
                                 f"call super().__init__() first in {type(self).__name__}.__init__")
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
            table = params
        elif isinstance(value, Module):
            table = modules
        elif name in buffers and (value is None or isinstance(value, Tensor)):
            table = buffers
        else:
            table = None
        for t in (params, buffers, modules):
            if t is not table:
                t.pop(name, None)
        if table is not None:
            table[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for t in (self._parameters, self._buffers, self._modules):
            t.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """A tensor that is part of the state (saved, loaded) but not a parameter."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"buffer {name!r} must be a tinytape Tensor or None, got {type(tensor).__name__}")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    # ------------------------------------------------------------------ traversal
    def named_children(self):
        return list(self._modules.items())

    def children(self):
        return list(self._modules.values())

    def named_modules(self, prefix=""):
        out = [(prefix, self)]
        for name, m in self._modules.items():
            out += m.named_modules(f"{prefix}.{name}" if prefix else name)
        return out

    def modules(self):
        return [m for _, m in self.named_modules()]

    def _named(self, kind, prefix, seen):
        out = []
        for name, t in getattr(self, kind).items():
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                out.append((prefix + name, t))
        for name, m in self._modules.items():
            out += m._named(kind, f"{prefix}{name}.", seen)
        return out

    def named_parameters(self):
        """(name, tensor) for every parameter, in registration order, each tensor once."""
        return self._named("_parameters", "", set())

    def parameters(self):
        return [t for _, t in self._named("_parameters", "", set())]

    def named_buffers(self):
        return self._named("_buffers", "", set())

    def buffers(self):
        return [t for _, t in self.named_buffers()]

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        """Training mode (batch statistics in BatchNorm1d) or, with False, eval mode. Returns self."""
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        """Set every parameter's .grad to None (torch's default, set_to_none=True)."""
        for p in self.parameters():
            p.grad = None

    def num_parameters(self):
        return sum(p.nelement() for p in self.parameters())

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """name -> numpy array (the module's own arrays, not copies) for parameters and buffers."""
        return OrderedDict((n, t.detach().numpy()) for n, t in self.named_parameters() + self.named_buffers())

    def load_state_dict(self, state):
        """Copy arrays into the parameters and buffers in place. Every name and shape is checked
        before anything is written: on an error the module is unchanged."""
        own = self.state_dict()
        state = {k: np.asarray(v) for k, v in state.items()}
        problems = [f"missing {k!r}" for k in own if k not in state]
        problems += [f"unexpected {k!r}" for k in state if k not in own]
        for k, a in own.items():
            if k not in state:
                continue
            b = state[k]
            if b.shape != a.shape:
                hint = (" (the transpose: tinytape's Linear stores (in, out), torch's (out, in); "
                        "use Linear.load_torch)") if b.ndim == 2 and b.shape[::-1] == a.shape else ""
                problems.append(f"{k!r} has shape {b.shape}, the module's is {a.shape}{hint}")
            elif not np.can_cast(b.dtype, a.dtype, casting="same_kind"):
                problems.append(f"{k!r} has dtype {b.dtype}, which cannot be stored as {a.dtype}")
        if problems:
            raise ValueError(f"cannot load state into {type(self).__name__}: " + "; ".join(problems))
        tensors = dict(self.named_parameters() + self.named_buffers())
        with tinytape.no_grad():                  # torch's copy_ under no_grad: bumps each version
            for k, t in tensors.items():
                t.copy_(tinytape.from_numpy(np.array(state[k], dtype=own[k].dtype)))
        return self

    def save(self, path):
        """Write the state to an .npz file atomically (see nn.checkpoint)."""
        from .checkpoint import save_arrays
        return save_arrays(path, self.state_dict())

    def load(self, path):
        """Load an .npz written by save() into this module (in place; unchanged on any error)."""
        from .checkpoint import load_arrays
        try:
            return self.load_state_dict(load_arrays(path))
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    # ------------------------------------------------------------------ printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class Embedding(Module):
    """A table of `num_embeddings` rows of size `embedding_dim`, initialised N(0, 1) as torch's.
    Forward: `weight[x]` for an integer array or tensor x (the lecture's `C[Xb]`), as one op."""

    def __init__(self, num_embeddings, embedding_dim, *, generator=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        w = _rng(generator).standard_normal((self.num_embeddings, self.embedding_dim))
        self.weight = tinytape.tensor(w, dtype=_float_dtype(dtype), requires_grad=True)

    def forward(self, x):
        return F.embedding(x, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one (default: all but the batch dim, `emb.view(n, -1)`)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        if self.start_dim == 1 and self.end_dim == -1 and x.ndim >= 2:    # (n, -1) would be ambiguous
            return tinytape.reshape(x, (x.shape[0], math.prod(x.shape[1:])))   # for an empty batch
        return tinytape.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Linear(Module):
    """y = x @ W + b with W of shape (in_features, out_features): the lecture's layout, as one op
    (tinytape.addmm, as torch's Linear) for a 2-D x.

    Initialised as torch's nn.Linear: W and b uniform in +-1/sqrt(in_features). A torch weight,
    stored (out, in), loads with `load_torch(weight, bias)`.
    """

    def __init__(self, in_features, out_features, bias=True, *, generator=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng, dtype = _rng(generator), _float_dtype(dtype)
        bound = 1 / self.in_features**0.5
        self.weight = tinytape.tensor(rng.uniform(-bound, bound, (self.in_features, self.out_features)),
                                      dtype=dtype, requires_grad=True)
        self.bias = (tinytape.tensor(rng.uniform(-bound, bound, self.out_features), dtype=dtype,
                                     requires_grad=True) if bias else None)

    def forward(self, x):
        if self.bias is not None and x.ndim == 2:             # one op, as torch's addmm
            return tinytape.addmm(self.bias, x, self.weight)
        out = x @ self.weight
        return out if self.bias is None else out + self.bias

    def load_torch(self, weight, bias=None):
        """Copy a torch nn.Linear's weight, shape (out_features, in_features), and optional bias."""
        w = np.asarray(weight)
        want = (self.out_features, self.in_features)
        if w.shape != want:
            raise ValueError(f"a torch Linear({self.in_features}, {self.out_features}) weight has shape "
                             f"{want} (out, in), got {w.shape}")
        state = {"weight": w.T}
        if bias is not None:
            if self.bias is None:
                raise ValueError("this Linear has no bias (bias=False), but a bias was given")
            state["bias"] = bias
        elif self.bias is not None:
            state["bias"] = self.bias.detach().numpy()
        return self.load_state_dict(state)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class BatchNorm1d(Module):
    """Batch normalisation of an (N, C) input (torch's (N, C, L) is not supported), torch's
    nn.BatchNorm1d by default.

    Training: normalise with the batch mean and the biased batch variance (1/N), or with
    `unbiased=True` Bessel's 1/(N-1) as the lecture does; the running statistics are updated
    outside the graph with the unbiased variance, `running = (1 - momentum) * running +
    momentum * batch` (momentum=None: a cumulative average, as torch). momentum=0 keeps them where
    they are (torch's meaning) and skips computing them: the lecture's model sets them once, by
    calibration over the training set (nn.calibrate). Eval: normalise with the running statistics.
    The training forward and backward are one fused op, F.batch_norm (exercise 3's formula).
    A training batch of one raises ValueError (as torch) and changes nothing.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 *, unbiased=False, dtype=None):
        super().__init__()
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        c, dtype = int(num_features), _float_dtype(dtype)
        self.num_features, self.eps, self.momentum = c, float(eps), momentum
        self.affine, self.track_running_stats, self.unbiased = affine, track_running_stats, bool(unbiased)
        self.weight = tinytape.ones(c, dtype=dtype, requires_grad=True) if affine else None
        self.bias = tinytape.zeros(c, dtype=dtype, requires_grad=True) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", tinytape.zeros(c, dtype=dtype))
            self.register_buffer("running_var", tinytape.ones(c, dtype=dtype))
            self.register_buffer("num_batches_tracked", tinytape.tensor(0))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        if not self.track_running_stats:                      # batch statistics in both modes
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps,
                                unbiased=self.unbiased)
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                False, 0.0, self.eps)
        momentum = self.momentum
        if momentum is None:                                  # cumulative moving average
            momentum = 1.0 / (int(self.num_batches_tracked) + 1)
        stats = (self.running_mean, self.running_var) if momentum else (None, None)
        out = F.batch_norm(x, *stats, self.weight, self.bias, True, momentum, self.eps,
                           unbiased=self.unbiased)
        self.num_batches_tracked.data += 1                    # only after the op succeeded
        return out

    def extra_repr(self):
        s = f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, " \
            f"track_running_stats={self.track_running_stats}"
        return s + (", unbiased=True" if self.unbiased else "")


class Tanh(Module):
    def forward(self, x):
        return tinytape.tanh(x)


class Sequential(Module):
    """Modules applied in order: Sequential(a, b, c) (children named "0", "1", ...) or
    Sequential(OrderedDict(name=module, ...))."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes Modules, got {type(m).__name__} for {name!r}")
            setattr(self, name, m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Modules, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        layers = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return layers[i]
