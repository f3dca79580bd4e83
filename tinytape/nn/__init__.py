"""tinytape.nn: torch.nn's API and semantics on tinytape.

    import tinytape as torch
    import tinytape.nn as nn
    import tinytape.nn.functional as F          # the same module as tinytape.functional

    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    model.load_state_dict(state)                # torch's keys: "0.weight", "0.bias", ...

Files: module.py (Module), module_state.py (its state_dict / load_state_dict / to),
parameter.py (Parameter, Buffer), containers.py (Sequential, ModuleList, ModuleDict), layers.py
(Linear, Embedding, BatchNorm1d, activations, losses), more_layers.py (LayerNorm, Dropout, GELU,
SiLU), init.py (nn.init), utils.py (nn.utils), functional.py (nn.functional).
"""
from . import functional, init, utils
from .containers import ModuleDict, ModuleList, Sequential
from .layers import (BatchNorm1d, CrossEntropyLoss, Embedding, Flatten, Identity, Linear, MSELoss, ReLU, Sigmoid,
                     Softmax, Tanh)
from .module import Module
from .more_layers import GELU, Dropout, LayerNorm, SiLU
from .parameter import Buffer, Parameter

__all__ = ["Module", "Parameter", "Buffer", "Sequential", "ModuleList", "ModuleDict", "Linear", "Embedding",
           "BatchNorm1d", "Identity", "Flatten", "Tanh", "ReLU", "Sigmoid", "Softmax", "CrossEntropyLoss",
           "MSELoss", "LayerNorm", "Dropout", "GELU", "SiLU", "init", "utils", "functional"]
