"""Stage summary: every model's test metrics side by side, and the comparison chart.

Usage: python -m stages.summary MODEL [MODEL ...]
"""
import sys

from stages import run


def main() -> None:
    from mnistflow.workflow import summarize

    if len(sys.argv) < 2:
        sys.exit("usage: python -m stages.summary MODEL [MODEL ...]")
    summarize(sys.argv[1:])


if __name__ == "__main__":
    run(main)
