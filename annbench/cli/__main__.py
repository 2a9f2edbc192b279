import sys

from annbench.cli import main

sys.exit(main())
