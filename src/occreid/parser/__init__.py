"""Parsers: RGB image -> 7-label Pascal-Person-Part map (0 background, 1 head ... 6 lower legs).

``PARSERS`` is the registry of parsers (:mod:`occreid.registry`): built-ins are registered by
reference, so MediaPipe or torch is imported only when its parser is chosen, and a user's
``package.module:Class`` (a :class:`Parser` subclass importable in worker processes) is resolved
and built by the same path. ``make_parser`` builds either.
"""

from __future__ import annotations

import importlib.util

from ..registry import Registry, RegistryError
from .base import Parser, ParserError, ParseResult

PARSERS = Registry("parser", plugins=True)
PARSERS.register("mediapipe", "occreid.parser.direct:DirectParser",
                 help="the default, offline: MediaPipe's pose landmark model run directly on person crops")
PARSERS.register("mediapipe-graph", "occreid.parser.mediapipe:MediaPipeParser",
                 help="MediaPipe's whole Pose graph, person detector first (slower; for wide frames)")
PARSERS.register("mediapipe-movenet", "occreid.parser.movenet:MoveNetParser",
                 help="the default with MoveNet Thunder's keypoints in its maps (better elbows and wrists, about 1.5x "
                      "the time; needs onnxruntime and scripts/get-movenet.sh once)")
PARSERS.register("schp", "occreid.parser.schp:SCHPParser",
                 help="the paper's parser, SCHP (needs torch and --checkpoint)")


def register_parser(name: str, target=None, *, help: str = ""):
    """Register a parser class (or a ``"module:Class"`` reference) under ``name``; a decorator
    without ``target``. Registered names are listed by ``occreid generate --help``."""
    return PARSERS.register(name, target, help=help)


def parser_class(name: str) -> type:
    """The class registered as ``name`` (or the plugin ``package.module:Class``), once the packages
    it declares (``Parser.requires``) are found installed; RegistryError or ParserError (one
    sentence, both ValueErrors) otherwise."""
    cls = PARSERS.lookup(name)  # built-ins and package.module:Class plugins, one path (RegistryError)
    for module, requirement in getattr(cls, "requires", ()):
        if importlib.util.find_spec(module) is None:
            raise ParserError(f"--parser {name} needs the {requirement.split('==')[0]} package: "
                              f"pip install '{requirement}'.")
    return cls


def make_parser(name: str = "mediapipe", **options) -> Parser:
    """Build a parser by name (``timm.create_model``): a registered one (``mediapipe``,
    ``mediapipe-graph``, ``schp``) or a plugin ``package.module:Class``; ``options`` go to its
    constructor, whose own errors pass through (a library caller sees them as they are).
    RegistryError / ParserError (ValueErrors, one sentence) for a name that builds nothing or a
    missing package. The one factory: runs build through it too (``build_parser``)."""
    return parser_class(name)(**options)


def build_parser(name: str, options: dict) -> Parser:
    """``make_parser`` for a run (the main process before the first image, and each worker): any
    failure becomes a ParserError in one sentence naming ``--parser`` (exit 2, no traceback)."""
    try:
        parser = make_parser(name, **options)
    except RegistryError as exc:
        message = str(exc)
        raise ParserError(message if message.startswith("unknown") else "--" + message) from None
    except ParserError:
        raise
    except Exception as exc:
        raise ParserError(f"--parser {name} cannot be built: {type(exc).__name__}: {exc}") from None
    if not callable(getattr(parser, "parse", None)):
        raise ParserError(f"--parser {name}: {type(parser).__name__} has no parse(rgb) method.")
    return parser


def options_from_cli(name: str, given: dict) -> dict:
    """``generate``'s parser options (``--checkpoint``, ``--device``, ``--batch-size``; None when not
    given) as the constructor options of parser ``name`` (``Parser.options_from_cli``). A name that
    builds nothing takes none (the checks before the first image then say why it builds nothing)."""
    try:
        cls = PARSERS.lookup(name)
    except RegistryError:
        cls = Parser
    return getattr(cls, "options_from_cli", Parser.options_from_cli)(given)


def list_parsers() -> tuple[str, ...]:
    """The registered parser names, in registration order."""
    return PARSERS.names()


__all__ = [
    "PARSERS", "ParseResult", "Parser", "ParserError", "RegistryError", "build_parser", "list_parsers", "make_parser",
    "options_from_cli", "parser_class", "register_parser",
]
