"""random.py: torch's signatures, shapes, dtypes and ranges; numpy Generators are still accepted
(their numbers are numpy's). The bit-exact parity with torch's streams is in test_random_torch.py."""
import numpy as np
import pytest
import torch

import tinytape


def test_shapes_and_dtypes_like_torch():
    g, tg = tinytape.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for make in (lambda T, g: T.randn(3, 4, generator=g), lambda T, g: T.randn((2, 5), generator=g),
                 lambda T, g: T.rand(6, generator=g), lambda T, g: T.randn(2, generator=g, dtype=T.float64),
                 lambda T, g: T.randint(0, 27, (32, 3), generator=g), lambda T, g: T.randint(5, (4,), generator=g),
                 lambda T, g: T.randn(3, generator=g, requires_grad=True)):
        a, t = make(tinytape, g), make(torch, tg)
        assert a.shape == tuple(t.shape) and a.dtype == t.numpy(force=True).dtype
        assert a.requires_grad == t.requires_grad


def test_a_seeded_generator_is_reproducible_and_generators_are_independent():
    draw = lambda g: (tinytape.randn(5, generator=g).data, tinytape.randint(0, 10, (5,), generator=g).data)
    a, b = draw(tinytape.Generator().manual_seed(2147483647)), draw(tinytape.Generator().manual_seed(2147483647))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    rng = np.random.default_rng(2147483647)              # a numpy Generator works as well: numpy's numbers
    c = tinytape.randn(5, generator=rng).data
    np.testing.assert_array_equal(c, np.random.default_rng(2147483647).standard_normal(5).astype(np.float32))
    tinytape.manual_seed(3)
    d = tinytape.randn(4).data
    tinytape.manual_seed(3)
    np.testing.assert_array_equal(d, tinytape.randn(4).data)


def test_randint_range_and_multinomial():
    g = tinytape.Generator().manual_seed(0)
    r = tinytape.randint(3, 7, (2000,), generator=g).data
    assert r.min() == 3 and r.max() == 6
    p = tinytape.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    s = tinytape.multinomial(p, 200, replacement=True, generator=g).data
    assert s.shape == (2, 200) and s.dtype == np.int64
    assert (s[0] == 1).all().item() and set(np.unique(s[1])) == {0, 2}
    one = tinytape.multinomial(tinytape.tensor([0.2, 0.8]), num_samples=1, generator=g)
    assert one.shape == (1,) and isinstance(one.item(), int)
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        tinytape.multinomial(tinytape.tensor([0.2, 0.8]), 3, generator=g)
    with pytest.raises(RuntimeError, match="probability tensor contains"):
        tinytape.multinomial(tinytape.tensor([-0.2, 0.8]), 1, generator=g)
