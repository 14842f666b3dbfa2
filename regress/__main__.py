"""``python -m regress``: the ``regress`` command."""

import sys

from .cli import main

sys.exit(main())
