"""The venue registry: every rule book the engine, the scenarios and the CLI know, by name.

A venue module registers its rule book when it is imported (``@register`` on the class).  The
bundled venues are imported by :mod:`liqcascade.venues` (one import line lists them); a venue
kept elsewhere (a test, a plug-in) registers itself the same way once imported.  Nothing else
names a venue: the engine reads a rule book's :class:`~liqcascade.venues.base.KernelSpec`
(:func:`kernel_spec`), scenario files are checked against :func:`names`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..errors import InputError
from .base import KernelSpec, VenueRules
from .tiers import table_date

R = TypeVar("R", bound=type[VenueRules])

#: rule book classes by venue name, in registration order
REGISTRY: dict[str, type[VenueRules]] = {}
_cache: dict[tuple, VenueRules] = {}


def register(rules: R) -> R:
    """Add a rule book class to the registry under its ``name`` (lower case); usable as a class
    decorator.  Registering a name again replaces the rule book (and drops its cached instances).

    The class must declare ``name``, ``title`` and ``procedure``; its ``kernel`` (a
    :class:`KernelSpec`) must agree with the numbers its ``procedure`` states (cooldown, feed
    throttle, the ADL price).
    """
    if not (isinstance(rules, type) and issubclass(rules, VenueRules)):
        raise TypeError(f"register() takes a VenueRules subclass, got {rules!r}")
    name = getattr(rules, "name", None)
    if not isinstance(name, str) or not name or name != name.lower() or not name.isidentifier():
        raise InputError(f"a venue's name must be a lower-case identifier, got {name!r}", field="venue")
    for attr in ("title", "procedure"):
        if not hasattr(rules, attr):
            raise InputError(f"venue {name}: the rule book declares no {attr}", field=attr)
    k, p = rules.kernel, rules.procedure
    if not isinstance(k, KernelSpec):
        raise InputError(f"venue {name}: kernel must be a KernelSpec, got {type(k).__name__}", field="kernel")
    if k.cooldown_s != p.cooldown_s or k.feed_throttle_s != p.feed_throttle_s:
        raise InputError(
            f"venue {name}: the kernel's cooldown/feed throttle ({k.cooldown_s:g} s, {k.feed_throttle_s:g} s) "
            f"differ from the procedure's ({p.cooldown_s:g} s, {p.feed_throttle_s:g} s)",
            field="kernel",
        )
    if k.adl_at_previous_mark != (p.adl_price == "previous_mark"):
        raise InputError(
            f"venue {name}: kernel.adl_at_previous_mark disagrees with procedure.adl_price", field="kernel"
        )
    REGISTRY[name] = rules
    for key in [key for key in _cache if key[0] == name]:
        del _cache[key]
    return rules


def unregister(name: str) -> None:
    """Remove a venue (tests that register a fictional one clean up with this)."""
    REGISTRY.pop(str(name).lower(), None)
    for key in [key for key in _cache if key[0] == str(name).lower()]:
        del _cache[key]


def names() -> tuple[str, ...]:
    """The registered venues' names, in registration order (the bundled four first)."""
    return tuple(REGISTRY)


def get_venue(name: str, as_of: Any = None) -> VenueRules:
    """The rule book of a registered venue by name (``binance``, ``bybit``, ``okx``,
    ``hyperliquid``, or any venue registered since).

    ``as_of`` (a date, datetime or ISO string): the rule book looks its tables up at that date
    (:meth:`VenueRules.tier_table`); default the latest versions.  Cached per (venue, day).
    """
    key = str(name).lower()
    if key not in REGISTRY:
        raise InputError(f"unknown venue {name!r}; choose one of {', '.join(REGISTRY)}", field="venue")
    day = None if as_of is None else table_date(as_of)
    if (key, None) not in _cache:
        _cache[(key, None)] = REGISTRY[key]()
    if (key, day) not in _cache:
        _cache[(key, day)] = _cache[(key, None)].at(day)
    return _cache[(key, day)]


def kernel_spec(name: str) -> KernelSpec:
    """A registered venue's :class:`KernelSpec` (what the compiled engine needs of it)."""
    key = str(name).lower()
    if key not in REGISTRY:
        raise InputError(f"unknown venue {name!r}; choose one of {', '.join(REGISTRY)}", field="venue")
    return REGISTRY[key].kernel
