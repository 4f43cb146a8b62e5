"""One small registry of named builders, the pattern of timm's ``register_model`` / ``create_model``.

Parsers, fills and dataset layouts are each a :class:`Registry`: a read-only mapping from a name
(what ``--parser``, ``--fill``, ``--layout`` accept) to what that name builds. An entry is given as
the object itself or as a ``"package.module:Attr"`` reference imported on first use, so a heavy
built-in (MediaPipe, torch) costs nothing until it is chosen. A registry that accepts plugins
resolves any ``package.module:Attr`` name by the same path as its built-ins: a user's class and a
built-in one are looked up, imported and built the same way.

>>> FRUIT = Registry("fruit")
>>> @FRUIT.register("apple", help="a red one")
... class Apple:
...     pass
>>> list(FRUIT), FRUIT.create("apple").__class__.__name__
(['apple'], 'Apple')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .errors import OccreidError


class RegistryError(OccreidError, ValueError):
    """A name that is not registered, or a plugin reference that cannot be imported; one sentence."""


def resolve(reference: str, kind: str = "plugin") -> Any:
    """The object a ``package.module:Attr`` reference names (``Attr`` may be dotted: ``Outer.Inner``).

    RegistryError, in one sentence, when the reference is malformed, the module cannot be
    imported (or fails while importing), or it has no such attribute.
    """
    module, _, attr = reference.partition(":")
    if not module or not attr:
        raise RegistryError(f"{kind} {reference!r}: write a plugin as package.module:Class.")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise RegistryError(f"{kind} {reference}: cannot import {module!r} ({exc}); is it on PYTHONPATH?") from None
    except Exception as exc:
        raise RegistryError(f"{kind} {reference}: importing {module!r} failed ({type(exc).__name__}: {exc}).") from None
    for name in attr.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise RegistryError(f"{kind} {reference}: module {module!r} has no {attr!r}.") from None
    return obj


class Registry(Mapping[str, Any]):
    """Named builders of one kind (``parser``, ``fill``, ``layout``), in registration order.

    Args:
        kind: what the entries are, used in messages (``unknown parser 'x'; expected one of ...``).
        plugins: whether a ``package.module:Attr`` name not registered is resolved as a plugin.

    As a mapping it holds the registered names only (plugins are resolved on demand, never
    listed): ``name in registry``, ``list(registry)``, ``registry[name]`` (the class or function,
    imported if it was registered by reference) all work as for the dict or tuple it replaces.
    """

    def __init__(self, kind: str, plugins: bool = False):
        self.kind = kind
        self.plugins = plugins
        self._entries: dict[str, Any] = {}  # name -> object, or "module:attr" not imported yet
        self._help: dict[str, str] = {}

    # -- registering ---------------------------------------------------------------------------
    def register(self, name: str, target: Any = None, *, help: str = "") -> Any:
        """Register ``target`` (an object, or a ``"module:attr"`` reference) under ``name``.

        Without ``target`` it returns a decorator that registers what it decorates. A name already
        taken raises RegistryError: two plugins must not silently replace each other.
        """
        if not name or ":" in name:
            raise RegistryError(f"{self.kind} name {name!r} must be non-empty and hold no ':'.")

        def add(obj: Any) -> Any:
            if name in self._entries:
                raise RegistryError(f"{self.kind} {name!r} is already registered.")
            self._entries[name] = obj
            doc = (getattr(obj, "__doc__", None) or "") if not isinstance(obj, str) else ""
            self._help[name] = help or (doc.strip().splitlines() or [""])[0]
            return obj

        return add if target is None else add(target)

    # -- looking up ----------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = self._entries[name] = resolve(entry, self.kind)
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order (``timm.list_models``)."""
        return tuple(self._entries)

    def describe(self, name: str) -> str:
        """The one-line help of a registered name ('' when none was given)."""
        return self._help[name]

    def choices_help(self) -> str:
        """The names and their one-line help, ``name: help; name: help``, for ``--help`` texts."""
        return "; ".join(f"{n}: {h}" if h else n for n, h in self._help.items())

    def lookup(self, name: str) -> Any:
        """The class or function ``name`` builds: a registered name, or (with plugins) a reference.

        RegistryError in one sentence for an unknown name or a plugin that cannot be imported.
        """
        if name in self._entries:
            return self[name]
        if self.plugins and ":" in name:
            return resolve(name, self.kind)
        hint = " or package.module:Class" if self.plugins else ""
        raise RegistryError(f"unknown {self.kind} {name!r}; use one of {', '.join(self._entries)}{hint}.")

    def create(self, name: str, *args: Any, **options: Any) -> Any:
        """Build ``name`` (``timm.create_model``): look it up and call it with the arguments."""
        builder: Callable[..., Any] = self.lookup(name)
        return builder(*args, **options)


__all__ = ["Registry", "RegistryError", "resolve"]
