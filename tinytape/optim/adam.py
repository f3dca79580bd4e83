"""torch.optim.Adam and torch.optim.AdamW: betas, eps, weight decay (L2 or decoupled), amsgrad,
maximize.

The step is torch 2.13's single-tensor path (`foreach=False`, not capturable), op for op and
rounded as torch's CPU kernels round (`_kernels.py`). For each parameter p with a gradient g,
with state step (a float32 scalar tensor; float64 under set_default_dtype(float64)), exp_avg,
exp_avg_sq (and max_exp_avg_sq):

    g = -g                                        if maximize
    step += 1
    p.mul_(1 - lr * weight_decay)                 AdamW (decoupled weight decay)
    g = g.add(p, alpha=weight_decay)              Adam with weight_decay != 0
    exp_avg.lerp_(g, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    bias_correction1 = 1 - beta1 ** step          (Python floats)
    bias_correction2 = 1 - beta2 ** step
    max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq)          if amsgrad
    denom = (v.sqrt() / bias_correction2 ** 0.5).add_(eps)        v: exp_avg_sq or max_exp_avg_sq
    p.addcdiv_(exp_avg, denom, value=-(lr / bias_correction1))

Every op is bit-identical to torch's except `sqrt`: numpy's is correctly rounded, while torch's
CPU sqrt (Intel MKL's vector math in its high-accuracy mode) is not always: about 0.7% of the
elements differ by one ulp. So denominators, and through them parameters, can differ from
torch's by about one ulp of the update per step; with torch's sqrt replaced by a correctly
rounded one, the whole trajectory is bit-identical (tests/test_optim.py checks both).
"""
import numpy as np

from .. import dtypes
from . import _kernels as K
from .optimizer import Optimizer, bump, check_number, grad_array
from ..tensor import Tensor, _make


def _step_tensor(value=0.0):
    """torch's state["step"]: a scalar tensor of the scalar dtype (float64 only if it is the default)."""
    return _make(np.array(value, np.float64 if dtypes.default_float() == np.float64 else np.float32))


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay), ("betas[0]", betas[0]),
                            ("betas[1]", betas[1])):
            check_number(name, value)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (isinstance(betas[0], float) and isinstance(betas[1], float)):
            raise ValueError("betas must be either both floats or both Tensors")
        if capturable or differentiable or fused:
            raise ValueError(f"tinytape's {type(self).__name__} has one implementation, torch's single-tensor "
                             f"step: capturable=True, differentiable=True and fused=True are not supported")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("amsgrad", False), ("maximize", False), ("foreach", None), ("capturable", False),
                                 ("differentiable", False), ("decoupled_weight_decay", False), ("fused", None)):
                group.setdefault(key, default)
            for p in group["params"]:
                s = self.state.get(p, [])
                if len(s) != 0 and not isinstance(s["step"], Tensor):
                    s["step"] = _step_tensor(float(s["step"]))

    def _group_step(self, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        amsgrad, maximize, decoupled = group["amsgrad"], group["maximize"], group["decoupled_weight_decay"]
        for p in group["params"]:
            g = grad_array(p)
            if g is None:
                continue
            state = self.state[p]
            if len(state) == 0:                        # lazy initialisation, as torch
                state["step"] = _step_tensor()
                state["exp_avg"] = _make(np.zeros_like(p._data))
                state["exp_avg_sq"] = _make(np.zeros_like(p._data))
                if amsgrad:
                    state["max_exp_avg_sq"] = _make(np.zeros_like(p._data))
            step_t, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]
            if maximize:
                g = -g
            step_t._data += 1
            bump(step_t)
            x = p._data
            if wd != 0:
                if decoupled:
                    K.mul_(x, 1 - lr * wd)
                    bump(p)
                else:
                    g = K.add(g, x, wd)
            K.lerp_(exp_avg._data, g, 1 - beta1)
            bump(exp_avg)
            K.mul_(exp_avg_sq._data, beta2)
            K.addcmul_(exp_avg_sq._data, g, g, 1 - beta2)
            exp_avg_sq._ver[0] += 2
            step = step_t._data.item()
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2 ** 0.5
            v = exp_avg_sq._data
            if amsgrad:
                m = state["max_exp_avg_sq"]
                np.maximum(m._data, v, out=m._data)
                bump(m)
                v = m._data
            denom = np.sqrt(v)
            denom /= K.scalar(bias_correction2_sqrt, x.dtype)
            denom += K.scalar(eps, x.dtype)
            K.addcdiv_(x, exp_avg._data, denom, -step_size)
            bump(p)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2): p.mul_(1 - lr * weight_decay) before the step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
