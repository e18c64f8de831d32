"""``python -m hosepipe``: the same as the ``hosepipe`` command."""

import sys

from hosepipe.cli import main

sys.exit(main())
