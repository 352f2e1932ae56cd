import sys

from cathodescope.cli import main

sys.exit(main())
