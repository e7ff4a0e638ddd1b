"""The `sparkube` command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the sparkube command line and return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["version"]):
        from sparkube import __version__

        print(f"sparkube {__version__}")
        return 0
    print("usage: sparkube render|submit|status|logs|kill|wait|list ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
