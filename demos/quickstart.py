"""A ten-line look at the engine: a tiny graph, its gradients, and torch's names for everything."""
import numpy as np

import tinytape as torch
import tinytape.functional as F


def main():
    g = torch.Generator().manual_seed(42)
    x = torch.randn(4, 3, generator=g)
    W = torch.randn(3, 5, generator=g, requires_grad=True)
    b = torch.zeros(5, requires_grad=True)
    logits = torch.tanh(x @ W + b)
    loss = F.cross_entropy(logits, torch.tensor([0, 3, 1, 4]))
    loss.backward()
    print("loss", loss.item())
    print("dW", np.round(W.grad, 4), sep="\n")
    print("db", np.round(b.grad, 4))
    print("logits.grad (intermediates keep their gradient):", logits.grad.shape)


if __name__ == "__main__":
    main()
