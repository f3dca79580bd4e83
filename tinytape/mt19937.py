"""torch's CPU random engine: a 32-bit Mersenne Twister (mt19937) with torch's seeding and state bytes.

torch's CPUGeneratorImpl is a plain mt19937 (the same twist and tempering as numpy's MT19937) seeded
with the classic `init_genrand` recurrence from the low 32 bits of a 64-bit seed. Its 64-bit draws
are two consecutive 32-bit words, the first one high. Next to the engine it keeps the second sample
of the last scalar Box-Muller pair (`next_double_normal_sample`) and a float twin that the CPU
kernels never fill. `get_state()` is a 5,056-byte uint8 array laid out as torch's
`CPUGeneratorImplState`, so states pass between torch and tinytape.

The twisting and tempering run in numpy's own MT19937 (`Engine.bit_generator`): a draw of n words
is one `random_raw(n)` call.
"""
import struct

import numpy as np

N = 624                                 # words of state
STATE_BYTES = 5056                      # sizeof(CPUGeneratorImplState)
DEFAULT_SEED = 67280421310721           # torch's default_rng_seed_val

# CPUGeneratorImplState: legacy_pod {uint64 the_initial_seed; int left; bool seeded; uint32 next;
# uint64 state[624]; double normal_x, normal_y, normal_rho; int normal_is_valid} then
# float next_float_normal_sample; bool is_next_float_normal_sample_valid (natural alignment)
_HEAD = struct.Struct("<QiB3xI4x")                          # 24 bytes
_STATE_AT, _TAIL_AT = 24, 24 + 8 * N                         # state words as uint64, then the tail
_TAIL = struct.Struct("<dddi4xfB3x")                         # 40 bytes: 5016 + 40 = 5056
assert _TAIL_AT + _TAIL.size == STATE_BYTES


def seeded_key(seed):
    """mt19937's init_genrand: the 624 words from the low 32 bits of `seed`."""
    key = [0] * N
    x = key[0] = int(seed) & 0xFFFFFFFF
    for i in range(1, N):
        x = key[i] = (1812433253 * (x ^ (x >> 30)) + i) & 0xFFFFFFFF
    return np.array(key, dtype=np.uint32)


class Engine:
    """One mt19937 stream with torch's seed bookkeeping and normal-sample caches."""

    def __init__(self, seed=DEFAULT_SEED):
        self.bit_generator = np.random.MT19937()
        self.manual_seed(seed)

    # -------------------------------------------------------------- seeding and state
    def manual_seed(self, seed):
        seed = int(seed) % (1 << 64)            # torch takes seeds modulo 2^64
        self.seed = seed
        self._fresh_key = seeded_key(seed)
        self.bit_generator.state = {"bit_generator": "MT19937",
                                    "state": {"key": self._fresh_key.copy(), "pos": N}}
        self.next_double_normal = None          # the cached sin half of a scalar Box-Muller pair
        self.next_float_normal = None           # torch keeps it; its CPU kernels never fill it
        return self

    def _left_next(self):
        """torch's (left_, next_) from numpy's position: `pos` words of the current block are used."""
        st = self.bit_generator.state["state"]
        pos = int(st["pos"])
        if pos == N:                            # the next draw twists: torch has left_ == 1
            fresh = self._fresh_key is not None and np.array_equal(st["key"], self._fresh_key)
            return 1, (0 if fresh else N), st["key"]
        return N + 1 - pos, pos, st["key"]

    def get_state(self):
        """torch's 5,056 state bytes (a uint8 numpy array)."""
        left, nxt, key = self._left_next()
        head = _HEAD.pack(self.seed, left, 1, nxt)
        d = self.next_double_normal
        f = self.next_float_normal
        tail = _TAIL.pack(0.0, 0.0 if d is None else d, 0.0, d is not None,
                          0.0 if f is None else f, f is not None)
        raw = head + np.asarray(key, dtype="<u8").tobytes() + tail
        return np.frombuffer(raw, dtype=np.uint8).copy()

    def set_state(self, state):
        """Load torch's 5,056 state bytes (anything np.asarray reads as uint8 bytes)."""
        raw = np.ascontiguousarray(np.asarray(state))
        if raw.dtype != np.uint8:
            raise TypeError(f"expected a torch.ByteTensor, but got a tensor of dtype {raw.dtype}")
        raw = raw.reshape(-1).tobytes()
        if len(raw) != STATE_BYTES:
            raise RuntimeError(f"Expected either a THGeneratorState of size 5048 or a CPUGeneratorImplState "
                               f"of size {STATE_BYTES} but found the input RNG state size to be {len(raw)}")
        seed, left, _seeded, nxt = _HEAD.unpack_from(raw, 0)
        words = np.frombuffer(raw, dtype="<u8", count=N, offset=_STATE_AT)
        _, normal_y, _, normal_valid, fnext, fvalid = _TAIL.unpack_from(raw, _TAIL_AT)
        if not 1 <= left <= N or not 0 <= nxt <= N or (left > 1 and nxt != N + 1 - left):
            raise RuntimeError(f"Invalid mt19937 state: left={left}, next={nxt}")
        key = (words & 0xFFFFFFFF).astype(np.uint32)
        pos = N if left == 1 else nxt
        self.seed = seed
        self._fresh_key = key.copy() if (left == 1 and nxt == 0) else None
        self.bit_generator.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}
        self.next_double_normal = float(normal_y) if normal_valid else None
        self.next_float_normal = float(np.float32(fnext)) if fvalid else None
        return self

    def clone(self):
        twin = Engine.__new__(Engine)
        twin.bit_generator = np.random.MT19937()
        twin._fresh_key = None
        twin.set_state(self.get_state())
        return twin

    # -------------------------------------------------------------- draws
    def random(self, n):
        """n 32-bit words (torch's `random()`), as uint64."""
        return self.bit_generator.random_raw(int(n)) if n else np.zeros(0, np.uint64)

    def random64(self, n):
        """n 64-bit draws (torch's `random64()`: two words, the first one high), as uint64."""
        w = self.random(2 * int(n))
        return (w[0::2] << np.uint64(32)) | w[1::2]
