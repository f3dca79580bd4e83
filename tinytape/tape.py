"""The tape: the recording switch, the recorded nodes, versions, and the reverse walk.

Contract
- While grad mode is on, an op with an input that requires grad records one `Node` (torch's
  `grad_fn`): its name, its rule, and one edge per input: the input's own node, the input itself
  if it is a leaf that requires grad (where gradients accumulate), or None. Edges point to
  nodes, not tensors, so an in-place op can give a tensor a new node while the ops recorded
  before it keep the old one (torch's history rewriting). A weak reference to the node is
  appended to the tape: recording order is a topological order, so backward walks the tape in
  reverse, with no sort and no recursion.
- Versions: tensors that share memory (a tensor, its views, `detach()`; not `.data`, as in torch) share one
  counter, and every in-place write bumps it. A node remembers the version of each value its
  rule saved; backward through it after that value was written raises torch's "modified by an
  inplace operation". The cost is O(1) per in-place op.
- `backward(root)` runs the rule of every node that received a gradient, sums each input's
  gradient back to the input's shape and dtype (the one place broadcasting is handled), and only
  once the whole walk has succeeded writes `.grad`: accumulated into leaves, as in torch, and set
  on every intermediate tensor still alive (no `retain_grad()` needed). A failed backward changes
  nothing. Then, unless `retain_graph`, each used node that saved values drops its rule (and the
  arrays it held) and leaves the tape: a second backward through it raises torch's error, while
  nodes that saved nothing (add, sum, view) can be walked again, as in torch.
- The tape holds weak references only: a graph that nobody holds any more disappears.
- Rules are first order, in raw numpy: there is no double backward. Single-threaded.
"""
import functools
import weakref

import numpy as np

from . import errors
from .quiet import quiet
from .shapes import sum_to

_enabled = True          # grad mode
_tape = []               # weak references to recorded nodes, in recording order
_ref = weakref.ref
_COMPACT_AT = 4096
_limit = _COMPACT_AT     # drop dead references when the tape grows past this


class Node:
    """A recorded op, torch's grad_fn: `name()`, `next_functions`. `saved` holds (version counter,
    version, tensor) for each saved input (tensor None: the output), or is None if the rule keeps
    nothing."""
    __slots__ = ("_name", "inputs", "rule", "saved", "out", "shape", "dtype", "__weakref__")

    def __init__(self, name, inputs, rule, saved, out):
        global _limit
        self._name, self.inputs, self.rule, self.saved = name, inputs, rule, saved
        data = out._data
        self.out, self.shape, self.dtype = _ref(out), data.shape, data.dtype
        out._node = self
        out._rg = True
        _tape.append(_ref(self))
        if len(_tape) > _limit:
            _tape[:] = [r for r in _tape if r() is not None]
            _limit = max(_COMPACT_AT, 2 * len(_tape))

    def name(self):
        return self._name

    @property
    def next_functions(self):
        return tuple((u if type(u) is Node else None if u is None else AccumulateGrad(u), 0) for u in self.inputs)

    def __repr__(self):                                 # torch::autograd::CopySlices is <CopySlices ...>
        return f"<{self._name.rpartition('::')[2]} object at {hex(id(self))}>"


class AccumulateGrad:
    """What `next_functions` shows for a leaf: `.variable` is the leaf."""
    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "torch::autograd::AccumulateGrad"

    next_functions = ()

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


def edge(t):
    """Where an input's gradient goes: its node, itself (a leaf that requires grad), or nowhere."""
    if t._view is not None and t._view[2] != t._ver[0]:
        refresh_view(t)
    node = t._node
    return node if node is not None else t if t._rg else None


def refresh_view(t):
    """A view whose memory was written through another alias since its node was made: like
    torch, regenerate its node from its base's current history (AsStridedBackward)."""
    base, fn, _ = t._view
    t._view = (base, fn, t._ver[0])
    if base._rg:
        shape, dtype = base._data.shape, base._data.dtype

        def rule(g):
            d = np.zeros(shape, dtype)
            fn(d)[...] = g
            return (d,)
        Node("AsStridedBackward0", (edge(base),), rule, None, t)


def nodes():
    """The live recorded nodes, in recording order."""
    return [n for n in (r() for r in _tape) if n is not None]


def entries():
    """The live tensors made by recorded ops, in recording order (for printing the tape)."""
    return [t for t in (n.out() for n in nodes()) if t is not None and t._node is not None]


def op(t):
    """The name of the op that made t (None for a leaf)."""
    return None if t._node is None else t._node._name


def inputs(t):
    """The tensors t's op read, where they are still alive (None for constants and dropped ones)."""
    return tuple(u.out() if type(u) is Node else u for u in t._node.inputs) if t._node is not None else ()


def freed(t):
    """Whether backward has freed t's rule (a second backward through it raises)."""
    return t._node is not None and t._node.rule is None


def clear():
    """Forget every recording (tensors keep their values but can no longer backpropagate)."""
    for n in nodes():
        n.rule = None
        if n.saved is not None:
            n.saved = ()
    _tape.clear()


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


# ---------------------------------------------------------------------------------- backward
def backward(root, seed, retain_graph=False):
    """Backpropagate `seed` (an array of root's shape and dtype) from `root` through the tape."""
    node = edge(root)
    if type(node) is not Node:                          # a leaf: its gradient is the seed
        _commit([], {root: seed}, retain_graph)
        return
    if node.rule is None:
        raise RuntimeError(errors.FREED)
    pending = {node: seed}                              # node -> gradient, waiting for its turn
    leaves = {}                                         # leaf -> gradient, written at the end
    done = []                                           # (node, gradient) of processed nodes
    kept = []                                           # tape entries that stay
    i = len(_tape)
    with quiet():                                       # inf * 0 in a rule is nan, silently, as in torch
        while pending and i:
            i -= 1
            n = _tape[i]()
            if n is None:
                continue
            g = pending.pop(n, None)
            if g is None or n.rule is None:
                if g is not None:
                    raise RuntimeError(errors.FREED)
                kept.append(_tape[i])
                continue
            if n.saved:
                for ver, at, _ in n.saved:
                    if ver[0] != at:
                        _version_error(n)
            for u, gu in zip(n.inputs, n.rule(g)):
                if gu is None or u is None:
                    continue
                if type(u) is Node:
                    into, shape, dtype = pending, u.shape, u.dtype
                else:
                    into, shape, dtype = leaves, u._data.shape, u._data.dtype
                if type(gu) is not np.ndarray or gu.shape != shape or gu.dtype != dtype:
                    gu = _fit(gu, shape, dtype)
                prev = into.get(u)
                into[u] = gu if prev is None else _add(prev, gu)
            done.append((n, g))
            if retain_graph or n.saved is None:
                kept.append(_tape[i])
    if pending:                                         # reached nodes whose entry is gone
        raise RuntimeError(errors.FREED)
    _commit(done, leaves, retain_graph)
    kept.reverse()
    while i and _tape[i - 1]() is None:                 # dead entries just below: dropped now, so a
        i -= 1                                          # training loop's tape does not grow
    _tape[i:] = kept


def _version_error(n):
    """torch's check failed: a value the rule saved was written in place since it was saved."""
    for ver, at, t in n.saved:
        if ver[0] != at:                                # t None: the node's own output
            shape, dtype = (n.shape, n.dtype) if t is None else (t._data.shape, t._data.dtype)
            producer = n if t is None else t._node
            raise RuntimeError(errors.modified_inplace(dtype, list(shape), producer and producer._name, ver[0], at))


def _fit(g, shape, dtype):
    """A rule's gradient as an array of its input's shape and dtype."""
    if type(g) is not np.ndarray:
        g = np.asarray(g)
    if g.shape != shape:
        g = sum_to(g, shape)
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


def _add(a, b):
    """a + b as a new array (numpy gives a scalar for two 0-d arrays: a gradient is always an array)."""
    s = a + b
    return s if type(s) is np.ndarray else np.asarray(s)


def _own(g, owned):
    """g itself if no other gradient holds it, else a copy: no two .grad arrays share memory."""
    if g.base is not None or id(g) in owned or not g.flags.writeable:
        g = g.copy()                                    # a view, or an array another grad holds
    owned.add(id(g))
    return g


def _accumulate(t, g, owned):
    """t.grad = g, or t.grad += g in place (torch's AccumulateGrad: a .grad tensor a user holds
    sees the sum). `_grad` holds an array until someone asks for the tensor."""
    prev = t._grad
    if prev is None:
        t._grad = _own(g, owned)
    elif type(prev) is np.ndarray:
        t._grad = _add(prev, g)
    else:
        np.add(prev._data, g, out=prev._data, casting="unsafe")
        prev._ver[0] += 1


def _commit(done, leaves, retain_graph):
    """Write the walk's gradients: set on intermediates, accumulated into leaves, never aliased."""
    owned = set()
    for n, g in done:
        t = n.out()
        if t is not None and t._node is n:              # (a tensor written in place since has a newer node)
            _accumulate(t, g, owned)
        if not retain_graph and n.saved is not None:
            n.rule = None                               # freed: the rule's arrays and the saved
            n.saved = ()                                # tensors go, as torch releases them
    for t, g in leaves.items():
        _accumulate(t, g, owned)


# ---------------------------------------------------------------------------------- autograd.grad's walk
def grad(roots, seeds, targets, retain_graph=False):
    """The walk of `autograd.grad`: backpropagate each root's seed at once and return the gradient
    arrays of `targets` (tensors; None where no gradient arrives), writing no `.grad`. As torch,
    only the nodes on a path from a root to a target run (and are freed, unless `retain_graph`);
    a non-leaf target's gradient is what reaches its node, whose rule runs only if another target
    lies below it. `targets=None`: every node runs and `.grad` is written as `backward` writes it
    (autograd.backward of several roots)."""
    pending, leaves = {}, {}                            # node -> gradient; leaf -> gradient
    for r, s in zip(roots, seeds):
        u = edge(r)
        if u is not None:
            into = pending if type(u) is Node else leaves
            into[u] = s if u not in into else into[u] + s
    want = need = None
    if targets is not None:
        want = {u for u in map(edge, targets) if u is not None}
        need = _needed(list(pending), want)
        leaves = {u: g for u, g in leaves.items() if u in want}
    got, done, kept = {}, [], []
    i = len(_tape)
    with quiet():
        while pending and i:
            i -= 1
            n = _tape[i]()
            g = None if n is None else pending.pop(n, None)
            if g is None:
                if n is not None:
                    kept.append(_tape[i])
                continue
            if want is not None:
                if n in want:
                    got[n] = g
                if n not in need:
                    kept.append(_tape[i])
                    continue
            if n.rule is None:
                raise RuntimeError(errors.FREED)
            if n.saved:
                for ver, at, _ in n.saved:
                    if ver[0] != at:
                        _version_error(n)
            for u, gu in zip(n.inputs, n.rule(g)):
                if gu is None or u is None or (want is not None and u not in want and u not in need):
                    continue
                if type(u) is Node:
                    into, shape, dtype = pending, u.shape, u.dtype
                else:
                    into, shape, dtype = leaves, u._data.shape, u._data.dtype
                gu = _fit(gu, shape, dtype)
                into[u] = gu if u not in into else into[u] + gu
            done.append((n, g))
            if retain_graph or n.saved is None:
                kept.append(_tape[i])
    for n, g in pending.items():                        # reached nodes whose tape entry is gone:
        if want is None or n in need:                   # fine for a target that need not run
            raise RuntimeError(errors.FREED)
        got[n] = g
    kept.reverse()
    _tape[i:] = kept
    if want is None:
        _commit(done, leaves, retain_graph)
        return None
    for n, _ in done:
        if not retain_graph and n.saved is not None:
            n.rule = None                               # freed: the rule's arrays and the saved
            n.saved = ()                                # tensors go, as torch releases them
    got.update(leaves)
    return [got.get(u) for u in map(edge, targets)]


def _needed(starts, want):
    """The nodes below `starts` from which a node or leaf in `want` can be reached."""
    memo = {}
    for s in starts:
        stack = [s]
        while stack:
            n = stack[-1]
            if n in memo:
                stack.pop()
                continue
            below = [u for u in n.inputs if type(u) is Node and u not in memo]
            if below:
                stack.extend(below)
                continue
            stack.pop()
            memo[n] = any(u is not None and (u in want or (type(u) is Node and memo[u])) for u in n.inputs)
    return {n for n, v in memo.items() if v}
