"""tinytape's random streams against torch 2.13's, bit for bit: values, dtypes, shapes, and the
generator's 5,056 state bytes after every call.

Each check runs the same calls on a torch generator and a tinytape one seeded alike; `_same`
compares the values with array_equal (no tolerance) and the two generators' get_state() bytes.
The 10^6-element float64 normal is opt-in (TINYTAPE_HEAVY=1); the float32 one always runs."""
import os

import numpy as np
import pytest
import torch

import tinytape
import tinytape.random as R

from names_file import NAMES, needs_names

SEEDS = [0, 1, 42, 1337, 2147483647, 0xDEADBEEFCAFEF00D]
SHAPES = [(), (1,), (15,), (16,), (17,), (27, 10), (30, 200)]
DTYPES = [(tinytape.float32, torch.float32), (tinytape.float64, torch.float64)]
HEAVY = os.environ.get("TINYTAPE_HEAVY") == "1"


def _np(t):
    return t.numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _same(ours, theirs, g=None, tg=None, what=""):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.shape} {a.dtype} vs torch {b.shape} {b.dtype}"
    bad = np.flatnonzero(a.reshape(-1) != b.reshape(-1))
    assert bad.size == 0, f"{what}: {bad.size} of {a.size} values differ, first at {bad[:5]}"
    if g is not None:
        sa, sb = _np(g.get_state()), _np(tg.get_state())
        assert np.array_equal(sa, sb), f"{what}: generator state differs at bytes {np.flatnonzero(sa != sb)[:8]}"


def _pair(seed):
    return tinytape.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------- engine
@pytest.mark.parametrize("seed", SEEDS + [-1, -2**63, 2**64 - 1, 2**32 + 7])
def test_seeding_and_state_bytes(seed):
    g, tg = _pair(seed)
    assert g.initial_seed() == tg.initial_seed()
    _same(g.get_state(), tg.get_state(), what=f"state of manual_seed({seed})")
    assert _np(g.get_state()).dtype == np.uint8 and _np(g.get_state()).shape == (5056,)


@pytest.mark.parametrize("seed", [2**64, -2**63 - 1, 1.5, True])
def test_seeds_torch_refuses(seed):
    with pytest.raises(Exception) as theirs:
        torch.Generator().manual_seed(seed)
    with pytest.raises(type(theirs.value), match=str(theirs.value)):
        tinytape.Generator().manual_seed(seed)


def test_fresh_generators_and_the_default_seed_are_torchs():
    assert tinytape.Generator().initial_seed() == torch.Generator().initial_seed() == 67280421310721
    _same(tinytape.Generator().get_state(), torch.Generator().get_state(), what="fresh state")
    g, tg = tinytape.Generator(), torch.Generator()
    _same(tinytape.randn(20, generator=g), torch.randn(20, generator=tg), g, tg, "unseeded generator")


# ------------------------------------------------------------------------------------- floats
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dt,tdt", DTYPES, ids=["float32", "float64"])
def test_randn_rand_shapes_in_a_row(seed, dt, tdt):
    """Every shape, one after the other on one generator: sizes below 16 take the scalar path and
    leave a cached sample for the next call; 16 and more the blocks of 16."""
    g, tg = _pair(seed)
    for shape in SHAPES:
        _same(tinytape.randn(shape, generator=g, dtype=dt), torch.randn(shape, generator=tg, dtype=tdt), g, tg,
              f"randn{shape}")
        _same(tinytape.rand(shape, generator=g, dtype=dt), torch.rand(shape, generator=tg, dtype=tdt), g, tg,
              f"rand{shape}")


@pytest.mark.parametrize("dt,tdt", DTYPES, ids=["float32", "float64"])
def test_normal_and_uniform_in_place_with_mean_std_and_bounds(dt, tdt):
    g, tg = _pair(7)
    for n in (3, 16, 100, 1001):
        for mean, std in ((0.0, 1.0), (0.5, 2.5), (-1.1, 0.02)):
            ours = R.normal_array_(np.empty(n, np.dtype(dt)), mean, std, g)
            _same(ours, torch.empty(n, dtype=tdt).normal_(mean, std, generator=tg), g, tg, f"normal_({mean}, {std}) n={n}")
        for a, b in ((0.0, 1.0), (-0.7, 2.3), (1e-3, 2.5), (-5.0, -4.0)):
            ours = R.uniform_array_(np.empty((n, 2), np.dtype(dt)), a, b, g)
            _same(ours, torch.empty((n, 2), dtype=tdt).uniform_(a, b, generator=tg), g, tg, f"uniform_({a}, {b}) n={n}")


def test_a_million_float32_normals():
    g, tg = _pair(2147483647)
    _same(tinytape.randn(10**6, generator=g), torch.randn(10**6, generator=tg), g, tg, "randn(10**6)")
    _same(tinytape.randn(999_999, generator=g), torch.randn(999_999, generator=tg), g, tg, "randn(999_999)")


@pytest.mark.skipif(not HEAVY, reason="set TINYTAPE_HEAVY=1 (10^6 float64 normals, ~2 s)")
def test_a_million_float64_normals():
    g, tg = _pair(42)
    _same(tinytape.randn(10**6, generator=g, dtype=tinytape.float64),
          torch.randn(10**6, generator=tg, dtype=torch.float64), g, tg, "randn(10**6, float64)")


def test_randn_of_a_million_is_fast():
    """Within 10x of numpy's own normal draw (vectorised: no Python loop per element)."""
    import time
    rng, g = np.random.default_rng(0), tinytape.Generator().manual_seed(0)
    def best(f):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times)
    ours = best(lambda: tinytape.randn(10**6, generator=g))
    theirs = best(lambda: rng.standard_normal(10**6, dtype=np.float32))
    assert ours < 10 * theirs + 0.02, f"randn(10**6): {ours:.3f} s against numpy's {theirs:.3f} s"


def test_like_functions_and_the_default_generator():
    x32, x64 = np.zeros((4, 5), np.float32), np.zeros(20, np.float64)
    tinytape.manual_seed(1337)
    torch.manual_seed(1337)
    for _ in range(2):
        _same(R.randn_like(tinytape.tensor(x32)), torch.randn_like(torch.tensor(x32)), what="randn_like")
        _same(R.rand_like(tinytape.tensor(x64)), torch.rand_like(torch.tensor(x64)), what="rand_like")
        _same(tinytape.randn(3), torch.randn(3), what="randn(3) on the default generator")
        _same(tinytape.randint(0, 10, (5,)), torch.randint(0, 10, (5,)), what="randint on the default generator")
    _same(R.get_rng_state(), torch.get_rng_state(), what="default generator state")
    assert R.initial_seed() == torch.initial_seed() == 1337
    g, tg = _pair(3)
    _same(R.randn_like(tinytape.tensor(x32), generator=g), torch.randn_like(torch.tensor(x32), generator=tg),
          g, tg, "randn_like(generator=)")


# ------------------------------------------------------------------------------------- state
def test_state_round_trips_both_ways_with_a_cached_normal():
    g, tg = _pair(42)
    tinytape.randn(3, generator=g)                  # odd count: a cached second sample stays behind
    torch.randn(3, generator=tg)
    s = g.get_state()
    _same(s, tg.get_state(), what="state with a cached normal")
    other_t = torch.Generator().set_state(torch.from_numpy(_np(s).copy()))          # ours into torch
    other = tinytape.Generator().set_state(tg.get_state())                           # torch's into ours
    _same(tinytape.randn(5, generator=other), torch.randn(5, generator=other_t), other, other_t, "after set_state")
    g.set_state(s)                                   # and back: the same numbers again
    tg.set_state(torch.from_numpy(_np(s).copy()))
    _same(tinytape.randn(40, generator=g), torch.randn(40, generator=tg), g, tg, "replay")
    tinytape.randint(0, 5, (700,), generator=g)     # across a twist of the 624 words
    torch.randint(0, 5, (700,), generator=tg)
    _same(g.get_state(), tg.get_state(), what="state after a twist")
    R.set_rng_state(tg.get_state())
    torch.set_rng_state(tg.get_state())
    _same(tinytape.rand(4), torch.rand(4), what="set_rng_state")
    with pytest.raises(RuntimeError, match="5056"):
        g.set_state(np.zeros(10, np.uint8))


# ------------------------------------------------------------------------------------- integers
@pytest.mark.parametrize("seed", SEEDS)
def test_randint_ranges_around_the_switches(seed):
    g, tg = _pair(seed)
    for low, high in ((0, 27), (-5, 3), (0, 2**28 - 1), (0, 2**28), (-2**27, 2**27), (5, 5 + 2**28),
                      (0, 2**32), (-2**31, 2**33), (-2**40, 2**45), (-2**62, 2**62)):
        _same(tinytape.randint(low, high, (33,), generator=g), torch.randint(low, high, (33,), generator=tg),
              g, tg, f"randint({low}, {high})")
    _same(tinytape.randint(10, (2, 3), generator=g), torch.randint(10, (2, 3), generator=tg), g, tg, "randint(high)")
    _same(tinytape.randint(0, 100, (4,), generator=g, dtype=tinytape.int32),
          torch.randint(0, 100, (4,), generator=tg, dtype=torch.int32), g, tg, "randint int32")


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_randperm(seed):
    g, tg = _pair(seed)
    for n in (0, 1, 2, 27, 1000):
        _same(R.randperm(n, generator=g), torch.randperm(n, generator=tg), g, tg, f"randperm({n})")


# ------------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dt,tdt", DTYPES, ids=["float32", "float64"])
def test_multinomial_both_algorithms(seed, dt, tdt):
    """One sample or no replacement: argmax / top-k of p / Exp(1); several with replacement: the
    cumulative-sum search. Zero-probability columns included."""
    g, tg = _pair(seed)
    for shape in ((27,), (32, 27)):
        p = torch.rand(shape, generator=tg, dtype=tdt)
        p[..., 5] = 0
        pt = tinytape.rand(*shape, generator=g, dtype=dt)
        pt = tinytape.tensor(np.where(np.arange(27) == 5, 0, np.asarray(pt)).astype(np.dtype(dt)))
        _same(pt, p, what="probabilities")
        for k, rep in ((1, False), (1, True), (20, False), (20, True), (27, False)):
            _same(tinytape.multinomial(pt, k, replacement=rep, generator=g),
                  torch.multinomial(p, k, replacement=rep, generator=tg), g, tg, f"multinomial{shape} k={k} rep={rep}")


def test_bernoulli_and_the_dropout_mask():
    g, tg = _pair(11)
    for dt, tdt in DTYPES:
        p = torch.rand(6, 7, generator=tg, dtype=tdt)
        pt = tinytape.rand(6, 7, generator=g, dtype=dt)
        _same(R.bernoulli(pt, generator=g), torch.bernoulli(p, generator=tg), g, tg, f"bernoulli({tdt})")
        _same(R.bernoulli(pt, 0.3, generator=g), torch.bernoulli(p, 0.3, generator=tg), g, tg, "bernoulli(p=0.3)")
    for shape, q in (((32, 200), 0.1), ((17,), 0.5)):
        mask = R.bernoulli_mask(shape, 1 - q, np.float32, g)
        _same(mask, torch.empty(shape).bernoulli_(1 - q, generator=tg), g, tg, f"bernoulli_({1 - q})")
    # torch's dropout (training) on the default generator: x * (mask / (1 - q))
    x = np.random.default_rng(0).standard_normal((32, 200)).astype(np.float32)
    tinytape.manual_seed(5)
    torch.manual_seed(5)
    mask = R.bernoulli_mask(x.shape, 1 - 0.2, np.float32)
    _same(x * (mask / np.float32(1 - 0.2)), torch.nn.functional.dropout(torch.tensor(x), 0.2), what="dropout")
    _same(R.get_rng_state(), torch.get_rng_state(), what="state after dropout")


# ------------------------------------------------------------------------------------- the lecture
def _lecture_init(T, g, n_hidden=200):
    C = T.randn((27, 10), generator=g)
    W1 = T.randn((30, n_hidden), generator=g) * (5 / 3) / (30**0.5)
    b1 = T.randn(n_hidden, generator=g) * 0.01
    W2 = T.randn((n_hidden, 27), generator=g) * 0.01
    b2 = T.randn(27, generator=g) * 0
    bngain = T.randn((1, n_hidden), generator=g) * 0.1 + 1.0
    bnbias = T.randn((1, n_hidden), generator=g) * 0.1
    return [C, W1, b1, W2, b2, bngain, bnbias]


def test_the_lectures_init_minibatch_and_sampling():
    """makemore part 4's init with manual_seed(2147483647), a minibatch of 32 indices, then 20 names
    sampled one character at a time with multinomial (from torch's own probabilities, fed to both)."""
    g, tg = _pair(2147483647)
    for a, b in zip(_lecture_init(tinytape, g), _lecture_init(torch, tg)):
        _same(a, b.detach())
    _same(g.get_state(), tg.get_state(), what="state after the init")
    for _ in range(3):
        _same(tinytape.randint(0, 182625, (32,), generator=g), torch.randint(0, 182625, (32,), generator=tg),
              g, tg, "minibatch")
    table = torch.rand((27, 27), generator=torch.Generator().manual_seed(0)) ** 3
    probs = table / table.sum(1, keepdim=True)
    g, tg = _pair(2147483647 + 10)
    names, torch_names = [], []
    for T, gen, out in ((tinytape, g, names), (torch, tg, torch_names)):
        P = tinytape.tensor(probs.numpy()) if T is tinytape else probs
        for _ in range(20):
            ix, word = 0, ""
            while True:
                ix = T.multinomial(P[ix], num_samples=1, replacement=True, generator=gen).item()
                if ix == 0 or len(word) > 30:
                    break
                word += chr(ord("a") + ix - 1)
            out.append(word)
    assert names == torch_names
    _same(g.get_state(), tg.get_state(), what="state after sampling")


@needs_names
def test_the_bigram_lectures_names():
    """makemore part 1: the bigram counts of names.txt, P = (N+1) normalised, 5 names sampled with
    manual_seed(2147483647): tinytape and torch give the same names."""
    words = NAMES.read_text().splitlines()
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    N = np.zeros((27, 27), np.int32)
    for w in words:
        cs = ["."] + list(w) + ["."]
        for a, b in zip(cs, cs[1:]):
            N[stoi[a], stoi[b]] += 1
    runs = []
    for T in (tinytape, torch):
        P = T.tensor(N + 1).float()
        P = P / P.sum(1, keepdim=True)
        g = T.Generator().manual_seed(2147483647)
        out = []
        for _ in range(5):
            ix, word = 0, []
            while True:
                ix = T.multinomial(P[ix], num_samples=1, replacement=True, generator=g).item()
                word.append(itos[ix])
                if ix == 0:
                    break
            out.append("".join(word))
        runs.append(out)
    assert runs[0] == runs[1]


@needs_names
def test_the_lectures_setup_needs_no_torch():
    """demos.lecture's setup from tinytape's generator is the one torch draws (parameters and the
    names.txt batch), and exercise 1's loss at initialisation is the lecture's 3.5571."""
    from demos import lecture
    ours, theirs = lecture.setup(str(NAMES), use_torch=False), lecture.setup(str(NAMES), use_torch=True)
    for k in lecture.PARAMS:
        _same(ours.params[k], theirs.params[k], what=k)
    _same(ours.Xb, theirs.Xb, what="Xb")
    _same(ours.Yb, theirs.Yb, what="Yb")
    loss = lecture.run(tinytape, ours, backward=False)["loss"]
    assert round(float(loss.item()), 4) == 3.5571
