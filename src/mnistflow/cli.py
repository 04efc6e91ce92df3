"""The ``mnistflow`` command: ``mnistflow <command> ...`` (also ``python -m mnistflow``).

Each subcommand is one entry of :data:`COMMANDS`: a :class:`Command` with a one-line help, a
function that adds its arguments to an ``argparse`` parser, and a function that runs it from
the parsed arguments and returns the exit status. Adding a command is adding an entry; the
logic lives in its own module (``predict`` in :mod:`mnistflow.predict`, ``serve`` in
:mod:`mnistflow.serve`), imported when the command runs, so ``mnistflow --help`` stays quick.

Exit status: 0 done, 1 a problem the user can fix (one ``error: …`` line each, no traceback),
2 a usage error (argparse's message), 130/143 interrupted (``serve`` stops with 0: Ctrl-C is how
it ends).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mnistflow.errors import Interrupted, UserError, handle_interrupts


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- predict -------------------------------------------------------------------------------------


def _predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="IMAGE",
        help="pictures of one digit each (PNG, JPEG, …): dark on light or light on dark, any size",
    )
    _model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document (for scripts) instead of text")


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    """Which digit model answers (``predict`` and ``serve``: the same choice, the same default)."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--model",
        metavar="NAME",
        help="a digit model of the pipeline (ann, mlp, lenet5, deepcnn: models/NAME.pt) or a checkpoint file; "
        "default: the one with the best validation accuracy (metrics/NAME-train.json)",
    )
    which.add_argument(
        "--model-uri",
        metavar="URI",
        help="an MLflow model instead: models:/mnist-deepcnn@champion (the best on validation), "
        "models:/mnist-deepcnn/<version> or runs:/<run id>/model",
    )


def _predict(args: argparse.Namespace) -> int:
    from mnistflow import predict

    classifier = predict.select_classifier(args.model, args.model_uri)
    judge = predict.square_judge()
    results = predict.predict(args.files, classifier, judge)
    print(predict.to_json(results, classifier, judge) if args.json else predict.to_text(results, classifier, judge))
    failed = [r for r in results if r.error is not None]
    for result in failed:
        print(f"error: {result.error}", file=sys.stderr)
    return 1 if failed else 0


# --- serve ---------------------------------------------------------------------------------------


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    _model_arguments(parser)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 lets others in)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="the port to listen on (default: a free one, printed at start-up)"
    )


def _serve(args: argparse.Namespace) -> int:
    from mnistflow import serve

    serve.serve(args.host, args.port, args.model, args.model_uri)
    return 0


COMMANDS: dict[str, Command] = {
    "predict": Command(
        "read the digit in each image, with its top-3 probabilities and whether it is a perfect square",
        _predict_arguments,
        _predict,
    ),
    "serve": Command(
        "a local web page: draw a digit (or upload a picture) and the model answers; also a JSON API",
        _serve_arguments,
        _serve,
    ),
}


# --- the entry point -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="mnistflow", description="Use the models of the mnistflow pipeline (run it from the project folder)."
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mnistflow`` with ``argv`` (default: the command line); return the exit status."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    if argv is None:  # the command itself (not a caller's test): SIGINT/SIGTERM as the stages take them
        handle_interrupts()
    try:
        return args.run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # errors.Interrupted carries the signal; a plain Ctrl-C is SIGINT
        print("interrupted", file=sys.stderr)
        return 128 + (exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)
