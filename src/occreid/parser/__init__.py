"""Parsers: RGB image -> 7-label Pascal-Person-Part map (0 background, 1 head ... 6 lower legs).

``PARSERS`` is the registry of parsers (:mod:`occreid.registry`): built-ins are registered by
reference, so MediaPipe or torch is imported only when its parser is chosen, and a user's
``package.module:Class`` (a :class:`Parser` subclass importable in worker processes) is resolved
and built by the same path. ``make_parser`` builds either.
"""

from __future__ import annotations

from ..registry import Registry, RegistryError
from .base import Parser, ParseResult

PARSERS = Registry("parser", plugins=True)
PARSERS.register("mediapipe", "occreid.parser.direct:DirectParser",
                 help="the default, offline: MediaPipe's pose landmark model run directly on person crops")
PARSERS.register("mediapipe-graph", "occreid.parser.mediapipe:MediaPipeParser",
                 help="MediaPipe's whole Pose graph, person detector first (slower; for wide frames)")
PARSERS.register("schp", "occreid.parser.schp:SCHPParser",
                 help="the paper's parser, SCHP (needs torch and --checkpoint)")


def register_parser(name: str, target=None, *, help: str = ""):
    """Register a parser class (or a ``"module:Class"`` reference) under ``name``; a decorator
    without ``target``. Registered names are listed by ``occreid generate --help``."""
    return PARSERS.register(name, target, help=help)


def make_parser(name: str = "mediapipe", **options) -> Parser:
    """Build a parser by name: a registered one (``mediapipe``, ``mediapipe-graph``, ``schp``) or
    a plugin ``package.module:Class``; ``options`` go to its constructor. ValueError
    (:class:`~occreid.registry.RegistryError`) in one sentence for a name that builds nothing."""
    return PARSERS.create(name, **options)


def list_parsers() -> tuple[str, ...]:
    """The registered parser names, in registration order."""
    return PARSERS.names()


__all__ = ["PARSERS", "ParseResult", "Parser", "RegistryError", "list_parsers", "make_parser", "register_parser"]
