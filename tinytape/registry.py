"""The registry of primitives: `@primitive(saves=...)` records a primitive of ops.py or fused.py
in PRIMITIVES and returns it unchanged (no per-call cost). It also notes, for the engine, what the
primitive's rule keeps: `saves` names array parameters, "out", or other names ("index"); the front
version-checks the saved inputs and the output, and backward frees a node whose rule keeps
anything, as torch frees saved tensors.
"""
PRIMITIVES = {}


def primitive(saves=""):
    """Register a primitive (no per-call cost: the function is returned unchanged). `saves` names
    what its rule keeps: its array parameters, "out", or other names ("index")."""
    def register(fn):
        params = fn.__code__.co_varnames[:fn.__code__.co_argcount]
        fn.saves = tuple(saves.split())
        fn.saved_args = tuple(i for i, name in enumerate(params) if name in fn.saves)
        fn.saves_out = "out" in fn.saves
        PRIMITIVES[fn.__name__] = fn
        return fn
    return register
