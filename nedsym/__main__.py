import sys

from nedsym.cli import main

sys.exit(main())
