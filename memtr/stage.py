"""Shared plumbing of the stage scripts: common options, one-line error reports, outputs
replaced only once a stage has written all of them."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from memtr.common.errors import ConfigError, DataError
from memtr.common.textio import AlignmentError
from memtr.datasets.params import DataParams, load_data_params
from memtr.datasets.registry import Dataset

EXIT_CONFIG = 2
EXIT_FAILED = 1


def base_parser(description: str) -> argparse.ArgumentParser:
    """Parser with ``--params``, ``--dataset`` and ``--quiet``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--params", type=Path, default=Path("params.yaml"),
        help="parameter file; its 'data:' section is read (default: params.yaml, "
        "defaults if that file is absent)",
    )  # fmt: skip
    parser.add_argument(
        "--dataset", help="registry key or data.datasets name; overrides data.dataset"
    )
    parser.add_argument("--quiet", action="store_true", help="log warnings only, no progress bars")
    return parser


def positive_int(text: str) -> int:
    """argparse type for a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def load(args: argparse.Namespace) -> tuple[DataParams, Dataset]:
    """Validated params and the dataset they select (registry or declared)."""
    params = load_data_params(args.params, args.dataset)
    return params, params.selected()


def default_path(value: Path | None, layer: str, dataset: str) -> Path:
    """``value`` or the standard ``data/<layer>/<dataset>``."""
    return value if value is not None else Path("data") / layer / dataset


@contextmanager
def staged_outputs(folder: Path, stage: str) -> Iterator[Path]:
    """A temporary folder inside ``folder`` (same file system) to write a stage's outputs into.

    When the block ends without error, each entry written there replaces its namesake in
    ``folder`` (a folder as a whole: its old version goes); when it fails, nothing in ``folder``
    changes. The temporary folder is removed either way. With the outputs declared ``persist:
    true`` in dvc.yaml and ``update()`` in Snakemake's rules (neither tool then deletes them
    before the job), a stage that fails, e.g. on an unreadable input, leaves its previous
    outputs as they were.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{stage}-staging-", dir=folder))
    try:
        yield staging
        for entry in sorted(staging.iterdir()):
            target = folder / entry.name
            if entry.is_dir() and target.is_dir():
                target.rename(staging / f".previous-{entry.name}")  # removed with the staging
            entry.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser) -> None:
    """Parse arguments, run ``main``, and turn known errors into ``error: ...`` exits."""
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        main(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    except (DataError, AlignmentError, RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        stop_writing_to_closed_stdout()
        sys.exit(EXIT_FAILED)


def stop_writing_to_closed_stdout() -> None:
    """The reader of stdout left (``| head``): stop quietly, as Unix tools do.

    Python would flush stdout again at exit and print a traceback; pointing it at
    /dev/null first is the remedy of Python's own documentation (signal module, SIGPIPE).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
