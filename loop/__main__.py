"""``python -m loop``: the ``loop`` command (``python -m loop serve``, ``... demo``),
for an environment whose ``bin`` is not on the ``PATH``."""

import sys

from loop.cli import main

if __name__ == "__main__":
    sys.exit(main())
