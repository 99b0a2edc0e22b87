"""Allow ``python -m cvtool``."""

from cvtool.cli import main

if __name__ == "__main__":
    main()
