"""``python -m gradengine train ...``: the same as the ``gradengine`` console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
