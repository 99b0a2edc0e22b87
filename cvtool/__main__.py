"""Allow ``python -m cvtool``."""

from cvtool.cli.app import main

if __name__ == "__main__":
    main()
