"""`python -m api.cli`: the same as `kb`."""

import sys

from api.cli import main

sys.exit(main())
