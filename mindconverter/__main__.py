"""`python -m mindconverter` runs the command-line tool."""

import sys

from mindconverter.cli import main

if __name__ == "__main__":
    sys.exit(main())
