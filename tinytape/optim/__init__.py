"""tinytape.optim: torch.optim's optimizers and learning-rate schedulers over tinytape tensors.

    import tinytape as torch
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
    ...; loss.backward(); opt.step(); opt.zero_grad(); sched.step()

Files: optimizer.py (the base class: parameter groups, state, state_dict, zero_grad), sgd.py,
adam.py (Adam, AdamW), lr_scheduler.py (StepLR, LambdaLR, CosineAnnealingLR), _kernels.py
(torch's CPU rounding of the in-place steps: fused multiply-adds, in numpy). Each step follows
torch 2.13's single-tensor code path (`foreach=False`) op for op: SGD is bit-identical to torch,
Adam and AdamW too except for torch's not-always-correctly-rounded sqrt (adam.py says how much).
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "AdamW", "Optimizer", "SGD", "lr_scheduler"]
