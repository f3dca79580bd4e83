"""tinytape.autograd: torch.autograd's `grad` and `backward`, on the tape's reverse walk.

    gx, gw = tinytape.autograd.grad(loss, [x, w])              # a tuple; no .grad is touched
    tinytape.autograd.backward([loss1, loss2])                  # one walk from both, into .grad

`grad` runs only the nodes on a path from an output to an input, as torch does, so the rest of
the graph stays usable; the nodes it runs are freed unless `retain_graph=True` (which defaults to
`create_graph`, that is False). An input may be a leaf or an intermediate tensor. Errors are
torch's, in torch's order: a non-scalar output without its grad_output, an output or an input that
does not require grad, an input the outputs do not depend on (unless `allow_unused=True`).
Rules are first order: `create_graph=True` (double backward) is refused.
"""
from collections.abc import Mapping

import numpy as np

from . import errors, tape
from .gradcheck import gradcheck
from .tape import enable_grad, no_grad, set_grad_enabled
from .tensor import Tensor, _make

__all__ = ["grad", "backward", "gradcheck", "no_grad", "enable_grad", "set_grad_enabled"]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of `outputs` (weighted by `grad_outputs`) with respect to `inputs`, as a tuple
    of tensors (a dict if `inputs` is a dict), with None for an unused input if `allow_unused`."""
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    if allow_unused is None:
        allow_unused = materialize_grads
    _first_order(create_graph, is_grads_batched)
    outputs = _tensors(outputs)
    targets = _inputs(inputs, "grad")
    seeds = _seeds(outputs, grad_outputs)
    _check_inputs(targets)
    got = tape.grad(outputs, seeds, targets, bool(retain_graph))
    result = []
    owned = set()
    for k, (t, g) in enumerate(zip(targets, got)):
        if g is None:
            if materialize_grads:
                g = np.zeros(t._data.shape, t._data.dtype)
            elif not allow_unused:
                raise RuntimeError(f"The differentiated Tensor at index {k} appears to not have been used in the "
                                   f"graph. Set allow_unused=True if this is the desired behavior.")
            else:
                result.append(None)
                continue
        result.append(_make(tape._own(g, owned)))
    if type(inputs) is dict:
        return dict(zip(inputs.keys(), result))
    return tuple(result)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None,
             inputs=None):
    """Accumulate into `.grad` the gradients of `tensors` (weighted by `grad_tensors`): one walk
    from all of them, as `t.backward()` walks from one. With `inputs`, only those tensors' `.grad`
    are written (leaves or intermediates)."""
    if grad_variables is not None:
        if grad_tensors is not None:
            raise RuntimeError("`grad_tensors` and `grad_variables` (deprecated) arguments both passed to "
                               "`backward()`. Please only use `grad_tensors`.")
        grad_tensors = grad_variables
    _first_order(create_graph, False)
    targets = None if inputs is None else _inputs(inputs, "backward")
    tensors = _tensors(tensors)
    seeds = _seeds(tensors, grad_tensors)
    if targets is None:
        tape.grad(tensors, seeds, None, bool(retain_graph))
        return None
    for t in targets:
        if not t._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    got = tape.grad(tensors, seeds, targets, bool(retain_graph))
    owned = set()
    for t, g in {t: g for t, g in zip(targets, got)}.items():      # an input given twice: once
        if g is not None:
            tape._accumulate(t, g, owned)
    return None


# ---------------------------------------------------------------------------------- checks, in torch's order
def _first_order(create_graph, is_grads_batched):
    if create_graph:
        raise NotImplementedError("tinytape's backward rules are first order: create_graph=True (a graph of the "
                                  "derivative, for double backward) is not supported")
    if is_grads_batched:
        raise NotImplementedError("tinytape does not support is_grads_batched=True: call grad once per "
                                  "grad_outputs instead")


def _tensors(tensors):
    return (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)


def _inputs(inputs, fn):
    if isinstance(inputs, Tensor):
        targets = (inputs,)
    elif type(inputs) is dict:
        targets = tuple(inputs.values())
    elif isinstance(inputs, Mapping):
        raise TypeError(f"`inputs` argument to `{fn}()` must be a dict, not {type(inputs).__name__}. "
                        f"Other Mapping types are not supported.")
    else:
        targets = tuple(inputs)
    if not targets:
        raise RuntimeError(f"`inputs` argument to `{fn}()` cannot be empty.")
    for t in targets:
        if not isinstance(t, Tensor):
            raise TypeError(f"expected a Tensor in inputs, but got {type(t).__name__}")
    return targets


def _seeds(outputs, grads):
    """torch's _make_grads, then the engine's checks: one seed array per output."""
    grads = (None,) * len(outputs) if grads is None else (grads,) if isinstance(grads, Tensor) else tuple(grads)
    seeds = []
    for k, (out, g) in enumerate(zip(outputs, grads)):
        if not isinstance(out, Tensor):
            raise TypeError(f"expected a Tensor in outputs, but got {type(out).__name__}")
        a = out._data
        if isinstance(g, Tensor):
            if g._data.shape != a.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{k}] has a shape of {g.shape} and "
                                   f"output[{k}] has a shape of {out.shape}.")
            seeds.append(np.array(g._data, dtype=a.dtype))          # a copy: the caller's stays theirs
        elif g is None:
            if out._rg and a.size != 1:
                raise RuntimeError(errors.IMPLICIT_GRAD)
            seeds.append(np.ones(a.shape, a.dtype))
        else:
            raise TypeError(f"gradients can be either Tensors or None, but got {type(g).__name__}")
    if len(seeds) != len(outputs):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(seeds)} gradients")
    for k, out in enumerate(outputs):
        if not out._rg:
            raise RuntimeError(f"element {k} of tensors does not require grad and does not have a grad_fn")
    return seeds


def _check_inputs(targets):
    for t in targets:
        if not t._rg:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
