"""torch.optim.Optimizer: parameter groups, per-parameter state, state_dict, zero_grad.

As torch 2.13's: `param_groups` is a list of dicts (the group's "params" and its settings, the
optimizer's defaults filled in), `state` maps each parameter to a dict of tensors, `state_dict()`
replaces parameters by their indices (in order of first appearance across the groups), and
`load_state_dict()` checks group counts and sizes, then maps the saved state onto this
optimizer's parameters (floating-point tensors cast to the parameter's dtype; `step` kept as it
is). Errors are torch's, in its words. A state dict's tensors may also be anything numpy can
read (a torch state dict's tensors): they are copied into tinytape tensors.
"""
import warnings
from collections import defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

from .. import tape
from ..quiet import quiet
from ..tensor import Tensor, _make


class _RequiredParameter:
    """A default that a parameter group must give itself."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


from ..errors import typename as typename  # noqa: E402  (torch.typename, for torch's messages)


def check_number(name, value):
    """tinytape's optimizers take their hyperparameters as Python numbers."""
    if isinstance(value, Tensor):
        raise TypeError(f"tinytape.optim takes {name} as a Python number, not a tensor: use {name}=float(...)")


def grad_array(p):
    """p.grad's numpy array (None if p has no gradient)."""
    g = p._grad
    return None if g is None else g if type(g) is np.ndarray else g._data


def bump(t):
    """An in-place write happened to t's memory: its version (shared with its views) moves on."""
    t._ver[0] += 1


class Optimizer:
    """Base class of all optimizers: `Optimizer(params, defaults)`, where params is an iterable of
    tensors, of (name, tensor) pairs, or of dicts (parameter groups)."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got " + typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.defaults.setdefault("differentiable", False)

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with "params" and, optionally, its own settings)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        tensors, names = [], []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        for param in tensors:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + typename(param))
            if not self.defaults.get("differentiable", None) and not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(tensors) != len(set(tensors)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        param_set = set()
        for group in self.param_groups:
            param_set.update(set(group["params"]))
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not param_set.isdisjoint(set(tensors)):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        """Every parameter's .grad becomes None (set_to_none=True, the default) or zeros, as torch."""
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns the closure's loss, if any.
        Each optimizer writes its update for one parameter group in `_group_step`."""
        loss = self._closure(closure)
        with tape.no_grad(), quiet():             # torch never warns of overflow or 0/0
            for group in self.param_groups:
                self._group_step(group)
        return loss

    def _group_step(self, group):
        raise NotImplementedError

    def _closure(self, closure):
        """torch runs the closure (which recomputes the loss) in grad mode, the step without."""
        if closure is None:
            return None
        with tape.enable_grad():
            return closure()

    # ------------------------------------------------------------------ state dicts
    def state_dict(self):
        """{"state": {index: {name: tensor}}, "param_groups": [{settings..., "params": [indices]}]}.
        The state's tensors are this optimizer's own (not copies), as in torch."""
        mapping = {}
        start = 0

        def pack(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start) if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state dict made by state_dict() (this optimizer's class, the same group sizes)."""
        state_dict = state_dict.copy()
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param, value, key=None):
            if isinstance(value, Tensor) or _is_array(value):
                if not isinstance(value, Tensor):
                    value = _make(np.asarray(value).copy())
                if key == "step" or not param.is_floating_point():
                    return value
                return value.to(dtype=param.dtype)
            if isinstance(value, dict):
                return {k: cast(param, v, key=k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v) for v in value)
            return value

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = cast(id_map[k], v)
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        self.__setstate__({"state": state, "param_groups": [update_group(g, s) for g, s in zip(groups, saved_groups)]})


def _is_array(value):
    """A tensor of another library or a numpy array: something numpy reads as an array."""
    return isinstance(value, np.ndarray) or (hasattr(value, "__array__") and hasattr(value, "shape")
                                             and hasattr(value, "dtype"))
