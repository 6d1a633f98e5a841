"""Global gradient-recording switch shared by the scalar and the tensor engine.

``no_grad()`` / ``enable_grad()`` / ``set_grad_enabled(mode)`` mirror PyTorch: they work as
context managers and as decorators, and they nest. While recording is off, every op
computes its result but records no operands, so no graph is kept alive.

The switch is process-global (not thread-local): the engines read it once per op, and a
plain class attribute is the cheapest thing to read.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

__all__ = [
    "GradMode", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "detect_anomaly", "is_anomaly_enabled", "AnomalyError",
]

F = TypeVar("F", bound=Callable[..., Any])


class GradMode:
    """Holds the switch. Engines read ``GradMode.enabled`` directly in their hot paths."""

    enabled: bool = True
    anomaly: bool = False  # set by detect_anomaly(); read once per op, costs nothing when off


def is_grad_enabled() -> bool:
    """Return True if ops currently record the graph needed for ``backward()``."""
    return GradMode.enabled


class set_grad_enabled:
    """Turn graph recording on or off, as a context manager, a decorator, or a plain call.

    ``set_grad_enabled(False)`` called on its own switches recording off until switched back,
    like ``torch.set_grad_enabled``; used with ``with`` it restores the previous state on exit.
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled expects a bool, got {type(mode).__name__}")
        self.prev = GradMode.enabled
        self.mode = mode
        GradMode.enabled = mode

    def __enter__(self) -> None:
        GradMode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        GradMode.enabled = self.prev

    def __call__(self, fn: F) -> F:
        mode = self.mode
        GradMode.enabled = self.prev  # decorating must not change the state at definition time

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class _GradModeContext:
    """Base for ``no_grad`` / ``enable_grad``: a context manager usable as a decorator, both
    as ``@no_grad()`` and as a bare ``@no_grad``."""

    mode: bool

    def __new__(cls, fn: Any = None):
        self = super().__new__(cls)
        if fn is None:
            return self
        if not callable(fn):
            raise TypeError(f"{cls.__name__}() takes no arguments (or a function, as a decorator), got {fn!r}")
        return self(fn)

    def __init__(self, fn: Any = None) -> None:
        pass

    def __enter__(self) -> None:
        self.prev = GradMode.enabled
        GradMode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        GradMode.enabled = self.prev

    def __call__(self, fn: F) -> F:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = GradMode.enabled
            GradMode.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                GradMode.enabled = prev

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):
    """Context manager / decorator: ops inside record no graph (``with no_grad(): ...``)."""

    mode = False


class enable_grad(_GradModeContext):
    """Context manager / decorator: switch recording back on inside a ``no_grad`` block."""

    mode = True


class AnomalyError(FloatingPointError):
    """Raised inside :func:`detect_anomaly` by the first op whose forward or backward pass
    produced nan or inf; the message names the op, its input shapes and value ranges."""


def is_anomaly_enabled() -> bool:
    """True inside :func:`detect_anomaly`."""
    return GradMode.anomaly


class detect_anomaly(_GradModeContext):
    """Context manager / decorator: make the first non-finite result raise :class:`AnomalyError`.

    Inside it, every op of both engines checks its forward output, and the reverse pass checks
    every gradient it computes, like ``torch.autograd.detect_anomaly``. The error names the op,
    its inputs' shapes and value ranges, and whether the forward or the backward pass produced
    the nan/inf. Outside it nothing is checked (the engines read one flag per op).
    """

    def __enter__(self) -> None:
        self.prev = GradMode.anomaly
        GradMode.anomaly = True

    def __exit__(self, *exc: object) -> None:
        GradMode.anomaly = self.prev

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
