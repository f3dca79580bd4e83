"""Where the tests find names.txt: the project's one lookup (nn.data.names_path), without the
download: an explicit TINYTAPE_NAMES, else the cached copy (~/.cache/tinytape/names.txt). Tests
that need it are marked `needs_names` and skip with a reason when it is in neither place."""
from pathlib import Path

import pytest

from nn import data as nn_data

REPO = Path(__file__).resolve().parents[1]


def names_file():
    try:
        return nn_data.names_path(download_ok=False)
    except nn_data.NamesNotFoundError:
        return None


NAMES = names_file()
SKIP_REASON = (f"names.txt not found: set TINYTAPE_NAMES to its path or copy it to "
               f"{nn_data.shown(nn_data.default_cache_dir() / 'names.txt')} (the tests never download it)")
needs_names = pytest.mark.skipif(NAMES is None, reason=SKIP_REASON)
