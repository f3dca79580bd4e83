"""The tape: the recording switch, the list of recorded results, and the reverse walk.

Contract
- While grad mode is on, an op whose inputs include a tensor that requires grad records one entry:
  its result gets a node `(op name, input tensors, backward rule)` and a weak reference to the
  result is appended to the tape. Results are recorded after their inputs exist, so the recording
  order is a topological order: backward walks the tape in reverse, with no sort and no recursion.
- `backward(root)` runs the rule of every entry that received a gradient, sums each input's
  gradient back to the input's shape and dtype (the one place broadcasting is handled), and only
  once the whole walk has succeeded writes `.grad`: accumulated into leaves, as in torch, and set
  on every intermediate that took part (no `retain_grad()` needed). A failed backward changes
  nothing. Then, unless `retain_graph`, each used node drops its rule (and with it the arrays the
  rule saved) and leaves the tape; a second backward through it raises torch's error.
- The tape holds weak references only: a graph that nobody holds any more (say an evaluation
  forgotten outside `no_grad`) disappears with its tensors instead of growing the tape forever.
- Rules are first order, in raw numpy, on numpy arrays: there is no double backward.
- Single-threaded: grad mode and the tape are per process.
"""
import functools
import weakref

import numpy as np

from . import dtypes
from .quiet import quiet
from .shapes import sum_to

_enabled = True          # grad mode
_tape = []               # weak references to recorded results, in recording order
_ref = weakref.ref
_COMPACT_AT = 4096
_limit = _COMPACT_AT     # drop dead references when the tape grows past this

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")                           # torch 2.13's words


# ---------------------------------------------------------------------------------- grad mode
def is_grad_enabled():
    return _enabled


def _set(mode):
    global _enabled
    _enabled = mode


class no_grad:
    """`with no_grad():`, `@no_grad()` or `@no_grad`: nothing is recorded and results do not require
    grad. The previous mode comes back on exit, also when the block raises."""
    mode = False

    def __new__(cls, *args):
        self = super().__new__(cls)
        if len(args) == 1 and callable(args[0]):          # bare `@no_grad`, as torch allows
            self.__init__()
            return self(args[0])
        return self

    def __init__(self):
        self._prev = []                                  # a stack: one instance may be re-entered

    def __enter__(self):
        self._prev.append(_enabled)
        _set(self.mode)

    def __exit__(self, *exc):
        _set(self._prev.pop())
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapper


class enable_grad(no_grad):
    """Turns recording back on inside a `no_grad` block."""
    mode = True


class set_grad_enabled(no_grad):
    """`set_grad_enabled(False)` switches grad mode at once, as torch's does; used with `with`,
    the previous mode comes back on exit."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self._prev = [_enabled]
        _set(self.mode)

    def __enter__(self):
        pass


# ---------------------------------------------------------------------------------- recording
def record(out, name, inputs, backward):
    """Make `out` the result of a recorded op. `backward(g)` returns one gradient (or None) per input."""
    global _limit
    out._node = (name, inputs, backward)
    out._rg = True
    _tape.append(_ref(out))
    if len(_tape) > _limit:
        _tape[:] = [r for r in _tape if r() is not None]
        _limit = max(_COMPACT_AT, 2 * len(_tape))


def entries():
    """The live recorded results, in recording order (for printing the tape)."""
    return [t for t in (r() for r in _tape) if t is not None]


def clear():
    """Forget every recording (their tensors keep their values but can no longer backpropagate)."""
    for t in entries():
        t._node = (t._node[0], t._node[1], None)
    _tape.clear()


# ---------------------------------------------------------------------------------- in-place writes
MODIFIED = "one of the variables needed for gradient computation has been modified by an inplace operation"


def written(t):
    """An in-place tensor op (x += y, x[i] = v) has just written t's data. Every live entry whose
    rule saved an array sharing that memory (t itself, a view of it, the data it was detached
    from) would now compute a wrong gradient: its rule is replaced by one that raises torch's error
    when backward reaches it. torch counts versions and compares them at backward; the effect is
    the same, at no cost on the hot path (only in-place tensor ops call this). Entries that saved
    nothing of t (add, a constant's shape) stay valid, as in torch. Writes through `.data` are not
    seen, as in torch."""
    data = t.data
    for r in _tape:
        out = r()
        if out is None:
            continue
        name, inputs, rule = out._node
        if rule is not None and _saves(rule, data):
            out._node = (name, inputs, _stale(name, data))


def _saves(rule, data):
    """Whether a rule's closure holds an array (or a tensor, or a tuple of them) sharing data's memory."""
    for cell in rule.__closure__ or ():
        try:
            v = cell.cell_contents
        except ValueError:                              # a cell not yet filled
            continue
        if _shares(v, data):
            return True
    return False


def _shares(v, data):
    if type(v) in (tuple, list):
        return any(_shares(e, data) for e in v)
    if hasattr(v, "_node"):                             # a tensor (matmul's rule holds its operands)
        v = v.data
    if not isinstance(v, np.ndarray) or not np.may_share_memory(v, data):
        return False
    try:
        return bool(np.shares_memory(v, data, max_work=100_000))
    except np.exceptions.TooHardError:
        return True


def _stale(name, data):
    kind = dtypes.TORCH_NAMES.get(data.dtype, str(data.dtype))
    message = (f"{MODIFIED}: [tinytape.{kind}Tensor {list(data.shape)}], saved by {name}, was written in "
               f"place after {name} was recorded. Run the forward pass again after the update (in-place "
               f"tensor ops and item assignment are tracked; writes through .data are not, as in torch).")

    def stale(g):
        raise RuntimeError(message)
    return stale


# ---------------------------------------------------------------------------------- backward
def backward(root, seed, retain_graph=False):
    """Backpropagate `seed` (an array of root's shape and dtype) from `root` through the tape."""
    node = root._node
    if node is None:                                    # a leaf: its gradient is the seed
        _commit([], {root: seed}, retain_graph)
        return
    if node[2] is None:
        raise RuntimeError(FREED)
    # tensors are dict keys by identity (object.__hash__: their elementwise __eq__ is never called)
    pending = {root: seed}                              # intermediate -> gradient, waiting for its entry
    leaves = {}                                         # leaf -> gradient, written at the end
    done = []                                           # (tensor, gradient) of processed entries
    kept = []                                           # live entries walked past, not processed
    i = len(_tape)
    with quiet():                                      # inf * 0 in a rule is nan, silently, as in torch
        while pending and i:
            i -= 1
            t = _tape[i]()
            if t is None:
                continue
            g = pending.pop(t, None)
            if g is None:
                kept.append(_tape[i])
                continue
            name, inputs, rule = t._node
            if rule is None:
                raise RuntimeError(FREED)
            for u, gu in zip(inputs, rule(g)):
                if gu is None or u is None or not u._rg:
                    continue
                gu = _fit(gu, u.data)
                into = leaves if u._node is None else pending
                prev = into.get(u)
                into[u] = gu if prev is None else _add(prev, gu)
            done.append((t, g))
    if pending:                                         # reached tensors whose entry is gone
        raise RuntimeError(FREED)
    _commit(done, leaves, retain_graph)
    if not retain_graph:
        kept.reverse()
        _tape[i:] = kept


def _fit(g, x):
    """A rule's gradient as an array of its input's shape and dtype."""
    if type(g) is not np.ndarray:
        g = np.asarray(g)
    if g.shape != x.shape:
        g = sum_to(g, x.shape)
    if g.dtype != x.dtype:
        g = g.astype(x.dtype)
    return g


def _add(a, b):
    """a + b as a new array (numpy gives a scalar for two 0-d arrays: .grad is always an array)."""
    s = a + b
    return s if type(s) is np.ndarray else np.asarray(s)


def _own(g, owned):
    """g itself if no other gradient holds it, else a copy: no two .grad arrays share memory."""
    if g.base is not None or id(g) in owned or not g.flags.writeable:
        g = g.copy()                                    # a view, or an array another grad holds
    owned.add(id(g))
    return g


def _commit(done, leaves, retain_graph):
    """Write the walk's gradients: set on intermediates, accumulated into leaves, never aliased."""
    owned = set()
    for t, g in done:
        g = _own(g, owned)
        t._grad = g if t._grad is None else _add(t._grad, g)
        if not retain_graph:
            t._node = (t._node[0], t._node[1], None)
    for t, g in leaves.items():
        t._grad = _own(g, owned) if t._grad is None else _add(t._grad, g)
