"""torch.nn's LayerNorm, Dropout, GELU and SiLU, written on tinytape.functional's layer_norm,
dropout, gelu and silu."""
import numbers

import tinytape as _tt

from . import init
from .module import Module
from .parameter import Parameter


def _F():
    return _tt.functional


class LayerNorm(Module):
    """Normalise over the last len(normalized_shape) dims, then scale by weight (ones) and shift
    by bias (zeros), as torch."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(_tt.empty(self.normalized_shape, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(_tt.empty(self.normalized_shape, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return _F().layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return ("{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}, "
                "bias={use_bias}".format(**self.__dict__, use_bias=self.bias is not None))


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1-p)
    (torch's random stream); in eval, the identity."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        if self.inplace:
            return _F().dropout(input, self.p, self.training, self.inplace)
        return _F().dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class GELU(Module):
    """x * Phi(x) (approximate='none') or its tanh approximation (approximate='tanh')."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return _F().gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={repr(self.approximate)}"


class SiLU(Module):
    """x * sigmoid(x)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        if self.inplace:
            return _F().silu(input, inplace=True)
        return _F().silu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""
