"""Silencing numpy's floating-point warnings cheaply, for the ops and the backward walk.

torch never warns about overflow, log 0 or 0/0; numpy does, so the ops that can meet them silence
numpy around their numpy calls: `with quiet():`. np.errstate builds a new error state at every
use (1-2 µs, more than a small op costs); numpy 2 keeps the state in a context variable, so
`quiet` sets it to one "ignore all" state made at import, and resets it on exit (per thread and
task, as np.errstate: nothing global changes). Other numpy versions get np.errstate itself.
"""
import numpy as np

try:
    from numpy._core._ufunc_config import _extobj_contextvar as _errstate_var
    with np.errstate(all="ignore"):
        _IGNORE_ALL = _errstate_var.get()
except (ImportError, AttributeError):
    _errstate_var = None


class quiet:
    __slots__ = ("_token",)

    def __enter__(self):
        self._token = _errstate_var.set(_IGNORE_ALL)

    def __exit__(self, *exc):
        _errstate_var.reset(self._token)


if _errstate_var is None:
    def quiet():
        return np.errstate(all="ignore")
