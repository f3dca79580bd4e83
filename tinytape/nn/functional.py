"""torch.nn.functional is tinytape.functional: `import tinytape.nn.functional as F` gives that very
module (the same object), so every function added there is here too."""
import sys

import tinytape.functional as _functional

sys.modules[__name__] = _functional
