"""``python -m fgc`` is the ``fgc`` command."""
import sys

from fgc.cli import main

sys.exit(main())
