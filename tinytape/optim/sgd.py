"""torch.optim.SGD: momentum, dampening, Nesterov, weight decay, maximize.

The step is torch 2.13's single-tensor path (`foreach=False`), op for op and rounded as torch's
CPU kernels round (`_kernels.py`), so parameters and momentum buffers are bit-identical to
torch's. For each parameter p with a gradient g:

    g = -g                                if maximize
    g = g.add(p, alpha=weight_decay)      if weight_decay != 0
    if momentum != 0:
        buf = g.clone()                   at the first step, else
        buf.mul_(momentum).add_(g, alpha=1 - dampening)
        g = g.add(buf, alpha=momentum)    if nesterov, else g = buf
    p.add_(g, alpha=-lr)
"""
from . import _kernels as K
from .optimizer import Optimizer, bump, check_number, grad_array
from ..tensor import _make


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        for name, value in (("lr", lr), ("momentum", momentum), ("dampening", dampening),
                            ("weight_decay", weight_decay)):
            check_number(name, value)
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if differentiable or fused:
            raise ValueError("tinytape's SGD has one implementation, torch's single-tensor step: "
                             "differentiable=True and fused=True are not supported")
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("nesterov", False), ("maximize", False), ("foreach", None),
                                 ("differentiable", False), ("fused", False)):
                group.setdefault(key, default)

    def _group_step(self, group):
        lr, wd, momentum = group["lr"], group["weight_decay"], group["momentum"]
        dampening, nesterov, maximize = group["dampening"], group["nesterov"], group["maximize"]
        for p in group["params"]:
            g = grad_array(p)
            if g is None:
                continue
            if maximize:
                g = -g
            if wd != 0:
                g = K.add(g, p._data, wd)
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = _make(g.copy())
                else:
                    K.mul_(buf._data, momentum)
                    K.add_(buf._data, g, 1 - dampening)
                    buf._ver[0] += 2
                g = K.add(g, buf._data, momentum) if nesterov else buf._data
            K.add_(p._data, g, -lr)
            bump(p)
