"""Stochastic gradient descent, the lecture's update: `p.data += -lr * p.grad`."""


class SGD:
    """SGD(params, lr): step() moves every parameter that has a gradient by -lr * grad, in place;
    zero_grad() sets the gradients to None. Change `opt.lr` between steps for a schedule."""

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not p.requires_grad or not p.is_leaf:
                raise ValueError("SGD optimises leaf tensors that require grad (the model's parameters)")
        self.lr = float(lr)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        lr = self.lr
        for p in self.params:
            g = p.grad
            if g is not None:
                p.data += -lr * g
