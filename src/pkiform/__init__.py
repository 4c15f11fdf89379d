"""pkiform: declarative PKI from a YAML spec.

The Python API (see README.md) is importable from here: `pkiform.load(...)`. It is
imported on first use, so `pkiform --version` and `pkiform validate` stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pkiform._version import __version__

if TYPE_CHECKING:
    from pkiform.api import PKI, Applied, IssuedIdentity, Spec, from_dict, json_schema, load, loads
    from pkiform.errors import Diagnostic, PkiformError, SpecError
    from pkiform.plan.types import Action, Plan, Verb

__all__ = [
    "PKI",
    "Action",
    "Applied",
    "Diagnostic",
    "IssuedIdentity",
    "PkiformError",
    "Plan",
    "Spec",
    "SpecError",
    "Verb",
    "__version__",
    "from_dict",
    "json_schema",
    "load",
    "loads",
]

_HOMES = {
    "PKI": "api",
    "Applied": "api",
    "IssuedIdentity": "api",
    "Spec": "api",
    "from_dict": "api",
    "load": "api",
    "loads": "api",
    "json_schema": "api",
    "Diagnostic": "errors",
    "PkiformError": "errors",
    "SpecError": "errors",
    "Action": "plan.types",
    "Plan": "plan.types",
    "Verb": "plan.types",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pkiform' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"pkiform.{home}"), name)
