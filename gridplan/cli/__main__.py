"""``python -m gridplan.cli`` is the ``gridplan`` command."""
import sys

from . import main

sys.exit(main())
