"""torch.nn's layers on tinytape: Linear (torch's (out, in) weight and init), Embedding,
BatchNorm1d, Identity, Flatten, Tanh, ReLU, Sigmoid, Softmax, CrossEntropyLoss, MSELoss.
Each has torch's constructor, parameters and buffers (names, shapes, init), forward and repr."""
import math
import warnings

import tinytape as _tt

from . import init
from .module import Module
from .parameter import Parameter


def _F():
    return _tt.functional


class Identity(Module):
    """Returns its input; takes (and ignores) any constructor arguments, as torch's."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ W.T + b with W of shape (out_features, in_features), initialised as torch does:
    kaiming_uniform_(W, a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), and b from the same bound."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(_tt.empty((out_features, in_features), device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_tt.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return _tt.functional.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A table of num_embeddings rows of size embedding_dim, initialised N(0, 1); forward picks
    rows. padding_idx: that row starts at zero and gets no gradient; max_norm: rows looked up are
    renormalised in place to at most max_norm (in norm_type), as torch does."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None:
            if padding_idx > 0:
                if padding_idx >= self.num_embeddings:
                    raise AssertionError("Padding_idx must be within num_embeddings")
            elif padding_idx < 0:
                if padding_idx < -self.num_embeddings:
                    raise AssertionError("Padding_idx must be within num_embeddings")
                padding_idx = self.num_embeddings + padding_idx
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("tinytape's Embedding has no scale_grad_by_freq and no sparse gradients")
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if _weight is None:
            self.weight = Parameter(_tt.empty((num_embeddings, embedding_dim), device=device, dtype=dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if list(_weight.shape) != [num_embeddings, embedding_dim]:
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        self.sparse = sparse

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with _tt.no_grad():
                self.weight[self.padding_idx].fill_(0)

    def _renorm(self, input):
        idx = _tt.tensor(sorted(set(int(i) for i in _tt.tensor(input).flatten().tolist())), dtype=_tt.int64)
        with _tt.no_grad():
            rows = self.weight[idx]
            norms = (rows.abs() ** self.norm_type).sum(1, keepdim=True) ** (1.0 / self.norm_type)
            scale = _tt.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), _tt.ones_like(norms))
            self.weight[idx] = rows * scale

    def forward(self, input):
        if self.max_norm is not None:
            self._renorm(input)
        idx = _tt.as_tensor(input)
        if idx.dim() > 1:           # flat indices, then the shape: the core's backward takes 1-D indices
            out = _F().embedding(idx.reshape(-1), self.weight).reshape(*idx.shape, self.embedding_dim)
        else:
            out = _F().embedding(idx, self.weight)
        if self.padding_idx is not None and out.requires_grad:         # the padding row gets no gradient
            pad = (idx == self.padding_idx).unsqueeze(-1)
            out = _tt.where(pad, out.detach(), out)
        return out

    def extra_repr(self):
        s = "{num_embeddings}, {embedding_dim}"
        if self.padding_idx is not None:
            s += ", padding_idx={padding_idx}"
        if self.max_norm is not None:
            s += ", max_norm={max_norm}"
        if self.norm_type != 2:
            s += ", norm_type={norm_type}"
        if self.scale_grad_by_freq is not False:
            s += ", scale_grad_by_freq={scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s.format(**self.__dict__)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        if embeddings.dim() != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(num_embeddings=rows, embedding_dim=cols, _weight=embeddings, _freeze=freeze,
                   padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


class _NormBase(Module):
    _version = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if self.affine:
            self.weight = Parameter(_tt.empty(num_features, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(_tt.empty(num_features, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", _tt.zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", _tt.ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", _tt.tensor(0, dtype=_tt.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def extra_repr(self):
        return ("{num_features}, eps={eps}, momentum={momentum}, affine={affine}, bias={use_bias}, "
                "track_running_stats={track_running_stats}".format(**self.__dict__, use_bias=self.bias is not None))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and self.track_running_stats:
            key = prefix + "num_batches_tracked"          # checkpoints from before the counter existed
            if key not in state_dict:
                state_dict[key] = self.num_batches_tracked if self.num_batches_tracked is not None \
                    else _tt.tensor(0, dtype=_tt.long)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


class BatchNorm1d(_NormBase):
    """Batch normalisation over (N, C) or (N, C, L) input: in training, the batch's statistics
    (over N, or N and L), and the running statistics updated with `momentum` (None: a cumulative
    average over num_batches_tracked), with the unbiased variance, as torch; in eval, the running
    statistics."""

    def _check_input_dim(self, input):
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        bn_training = True if self.training else (self.running_mean is None and self.running_var is None)
        use_stats = not self.training or self.track_running_stats
        if bn_training:
            size = input.size()
            n = size[0] * (size[2] if len(size) == 3 else 1)
            if n == 1:
                raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")
        x = input
        if input.dim() == 3:                              # (N, C, L): each channel over N and L
            nb, c, length = input.shape
            x = input.transpose(1, 2).reshape(nb * length, c)
        out = _F().batch_norm(x, self.running_mean if use_stats else None, self.running_var if use_stats else None,
                              self.weight, self.bias, bn_training, factor, self.eps)
        if input.dim() == 3:
            out = out.reshape(nb, length, c).transpose(1, 2)
        return out


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Tanh(Module):
    def forward(self, input):
        return _tt.tanh(input)


class Sigmoid(Module):
    def forward(self, input):
        return _tt.sigmoid(input)


class ReLU(Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        out = _tt.relu(input)
        return input.copy_(out) if self.inplace else out

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return _F().softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


def _legacy_reduction(size_average, reduce):
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                  stacklevel=3)
    return ret


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            self.reduction = _legacy_reduction(size_average, reduce)
        else:
            self.reduction = reduction


class MSELoss(_Loss):
    def forward(self, input, target):
        return _F().mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """F.cross_entropy as a module: weight (a buffer), ignore_index, reduction, label_smoothing."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        extra = {}                                        # only what differs from the defaults
        if self.weight is not None:
            extra["weight"] = self.weight
        if self.ignore_index != -100:
            extra["ignore_index"] = self.ignore_index
        if self.label_smoothing != 0.0:
            extra["label_smoothing"] = self.label_smoothing
        return _F().cross_entropy(input, target, reduction=self.reduction, **extra)
