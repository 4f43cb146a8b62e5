"""Parsers: RGB image -> 7-label Pascal-Person-Part map (0 background, 1 head ... 6 lower legs)."""

from __future__ import annotations

from .base import ParseResult, Parser

#: Built-in parser names: ``mediapipe`` (default: the pose landmark model run directly on person
#: crops), ``mediapipe-graph`` (MediaPipe's whole Pose graph, detector first: for images that are
#: not person crops) and ``schp`` (the paper's parser; torch and a checkpoint).
PARSERS = ("mediapipe", "mediapipe-graph", "schp")


def make_parser(name: str = "mediapipe", **options) -> Parser:
    """Build a parser by name. ``mediapipe`` is the embedded offline default (``direct.py``);
    ``mediapipe-graph`` runs MediaPipe's full Pose graph with its person detector (slower; for
    images where the person is a small part of the frame); ``schp`` needs torch and a checkpoint
    the user provides (``checkpoint=...``). ``package.module:Class`` builds a parser of your own
    (a ``Parser`` subclass importable in worker processes)."""
    if ":" in name:
        import importlib

        module, _, attr = name.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        return cls(**options)
    if name == "mediapipe":
        from .direct import DirectParser

        return DirectParser(**options)
    if name == "mediapipe-graph":
        from .mediapipe import MediaPipeParser

        return MediaPipeParser(**options)
    if name == "schp":
        from .schp import SCHPParser

        return SCHPParser(**options)
    raise ValueError(f"unknown parser {name!r}; expected one of {', '.join(PARSERS)}")


__all__ = ["PARSERS", "ParseResult", "Parser", "make_parser"]
