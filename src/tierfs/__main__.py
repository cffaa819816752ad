"""``python -m tierfs``: the ``tierfs`` command."""

import sys

from tierfs.cli import main

sys.exit(main())
