"""The reproducible-mode seed the command line names: --seed-file, else $PKIFORM_SEED."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pkiform.api import Seed

ENV = "PKIFORM_SEED"


def asked(seed_file: Path | None) -> bool:
    """Whether the command line asks for reproducible mode."""
    return seed_file is not None or bool(os.environ.get(ENV))


def read(seed_file: Path | None) -> Seed | None:
    """The seed the command line names, if any (errors name where it came from)."""
    from pkiform.api import read_seed  # loads cryptography: only with a seed

    return read_seed(seed_file, (ENV, os.environ.get(ENV)))
