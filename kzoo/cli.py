"""The `kzoo` command: thin wiring from arguments to library calls."""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hide CUDA probing noise on CPU machines
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _quickstart(args):
    from kzoo.quickstart import run_quickstart

    run_quickstart(args.workdir)


def _presets(args):
    from kzoo.config import PRESETS, parameter_count

    for name, config in PRESETS.items():
        print(f"{name:12s} layers={config.num_layers:2d} hidden={config.hidden_size:4d} "
              f"heads={config.num_heads:2d} params={parameter_count(config):,}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kzoo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    quickstart = commands.add_parser("quickstart", help="raw text to a served prediction, on embedded data")
    quickstart.add_argument("--workdir", default="runs/quickstart", help="where run files go")
    quickstart.set_defaults(func=_quickstart)
    presets = commands.add_parser("presets", help="list the model presets and their sizes")
    presets.set_defaults(func=_presets)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"kzoo {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
