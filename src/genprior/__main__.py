"""``python -m genprior ...``: the ``genprior`` command line (:func:`genprior.cli.main`)."""

import sys

from genprior.cli import main

if __name__ == "__main__":
    sys.exit(main())
