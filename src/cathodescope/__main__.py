"""``python -m cathodescope``: the same as the ``cathodescope`` command."""

import sys

from cathodescope.cli import main

sys.exit(main())
