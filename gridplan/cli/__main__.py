"""``python -m gridplan.cli`` is the ``gridplan`` command."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
