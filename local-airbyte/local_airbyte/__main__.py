"""``python -m local_airbyte serve ...``."""

import sys

from .cli import main

sys.exit(main())
