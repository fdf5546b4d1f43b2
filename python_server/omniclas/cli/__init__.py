"""The ``omniclas`` command: one parser, one module per command group.

- :mod:`.train`: ``train``, ``demo``, ``backbones``, ``processes``
- :mod:`.predict`: ``predict``, ``info``
- :mod:`.objects`: ``predict --objects`` (one row per object of a label image), ``crops``
- :mod:`.suggest`: ``suggest`` (which unlabelled images to label next)
- :mod:`.models`: the registry (``register``, ``models``, ``delete``, ``rename``, ``export``, ``import-onnx``,
  ``import-bioimageio``, ``evaluate``)
- :mod:`.serve`: ``serve``, ``worker``
- :mod:`.fiji`: ``fiji install`` (the plugin into a Fiji or ImageJ folder, this environment in its settings)

Each command sets ``func`` (parsed arguments -> exit code). :func:`main` turns every error into one line on stderr:
``error: <message>`` and exit code 2 for what the user can fix, ``internal error: ...`` and 3 for a bug (the
traceback goes to a log file), never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import __version__
from ..errors import OmniClasError
from . import fiji, models, objects, predict, serve, suggest, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omniclas", description="Image classification with few labels, on a CPU.")
    parser.add_argument("--version", action="version", version=f"omniclas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (train, predict, objects, suggest, models, serve, fiji):
        group.add_commands(sub)
    return parser


def main(argv=None) -> int:
    # Idle OpenMP threads spin by default; beside a second torch process on a 2-core laptop both crawl.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args) or 0
    except OmniClasError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from .output import interrupted

        print(interrupted(args, argv), file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (omniclas predict ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:
        if err.filename:  # a path that cannot be read or written (permissions, a full disk): the user's to fix
            print(f"error: {err.filename}: {err.strerror or err}", file=sys.stderr)
            return 2
        return _report_bug(args.verbose)
    except Exception:
        return _report_bug(args.verbose)


def _report_bug(verbose: bool) -> int:
    """A bug: the user gets one line and where the details are, never a traceback (called inside ``except``)."""
    import traceback

    from ..model.runtime import cache_dir

    log_file = cache_dir() / "last-error.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(traceback.format_exc())
        where = f"details in {log_file}"
    except OSError:
        where = "run again with -v for details"
    if verbose:
        traceback.print_exc()
    err = sys.exc_info()[1]
    print(f"internal error: {err.__class__.__name__}: {err} ({where}; please report it)", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
