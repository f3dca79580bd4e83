"""Where the tests find names.txt: $TINYTAPE_NAMES, else ../shared/data/names.txt beside the repo.
Tests that need it are marked `needs_names` and skip with a reason when it is in neither place."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def names_file():
    env = os.environ.get("TINYTAPE_NAMES")
    if env:
        return Path(env)
    p = REPO.parent / "shared" / "data" / "names.txt"
    return p if p.is_file() else None


NAMES = names_file()
needs_names = pytest.mark.skipif(NAMES is None, reason="names.txt not found: set TINYTAPE_NAMES to its path "
                                 "(or put it at ../shared/data/names.txt beside the repo)")
