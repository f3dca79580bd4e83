"""torch.device, for code that names one: only the CPU exists (numpy); any other device is a clear
error that names it."""
from . import errors


class device:
    """torch.device: only the CPU exists."""
    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        kind = str(type).split(":")[0]
        if kind != "cpu":
            raise errors.device(type)
        self.type, self.index = "cpu", index

    def __repr__(self):
        return "device(type='cpu')"

    def __str__(self):
        return "cpu"

    def __eq__(self, other):
        return isinstance(other, (device, str)) and str(other).split(":")[0] == "cpu"

    def __hash__(self):
        return hash("cpu")


CPU = device("cpu")


def check(dev):
    """Check a device= argument: the CPU (or None) only."""
    if dev is not None and not isinstance(dev, device):
        device(dev)
