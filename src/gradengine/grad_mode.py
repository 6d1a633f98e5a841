"""Global gradient-recording switch shared by the scalar and the tensor engine.

``no_grad()`` / ``enable_grad()`` / ``set_grad_enabled(mode)`` mirror PyTorch: they work as
context managers and as decorators, and they nest. While recording is off, every op
computes its result but records no operands, so no graph is kept alive.

The switch is process-global (not thread-local): the engines read it once per op, and a
plain class attribute is the cheapest thing to read.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, ContextManager, TypeVar

__all__ = [
    "GradMode", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled", "AnomalyError",
]

F = TypeVar("F", bound=Callable[..., Any])


class GradMode:
    """Holds the switch. Engines read ``GradMode.enabled`` directly in their hot paths."""

    enabled: bool = True
    # ``anomaly`` is what the engines read (once per op, costs nothing when off): check every
    # result for nan/inf. ``anomaly_mode`` is ``is_anomaly_enabled()``: inside detect_anomaly(),
    # whether or not it checks nan (``detect_anomaly(check_nan=False)`` sets only this one).
    anomaly: bool = False
    anomaly_mode: bool = False


def _decorate(fn: F, ctx_factory: Callable[[], ContextManager[Any]]) -> F:
    """``fn`` run under a fresh ``ctx_factory()`` context. A generator function is wrapped so
    that each resumption of its body (the first ``next``, every ``send``/``throw``/``close``)
    runs under the context and the caller's state is restored at each ``yield``, as
    PyTorch's decorators do."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
            gen = fn(*args, **kwargs)
            try:
                with ctx_factory():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with ctx_factory():
                            gen.close()
                        raise
                    except BaseException as exc:
                        with ctx_factory():
                            response = gen.throw(exc)
                    else:
                        with ctx_factory():
                            response = gen.send(request)
            except StopIteration as stop:
                return stop.value

        return generator_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with ctx_factory():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


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
        return _decorate(fn, lambda: enable_grad() if mode else no_grad())


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
        return _decorate(fn, lambda: enable_grad() if mode else no_grad())


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
    """True inside :func:`detect_anomaly` (also with ``check_nan=False``)."""
    return GradMode.anomaly_mode


def is_anomaly_check_nan_enabled() -> bool:
    """True inside :func:`detect_anomaly` unless it was given ``check_nan=False``."""
    return GradMode.anomaly


class detect_anomaly:
    """Context manager / decorator: make the first non-finite result raise :class:`AnomalyError`.

    Inside it, every op of both engines checks its forward output, and the reverse pass checks
    every gradient it computes, like ``torch.autograd.detect_anomaly``. The error names the op,
    its inputs' shapes and value ranges, and whether the forward or the backward pass produced
    the nan/inf. Outside it nothing is checked (the engines read one flag per op).

    ``detect_anomaly(check_nan=False)`` (PyTorch's signature) turns anomaly mode on
    (:func:`is_anomaly_enabled` is True) but checks nothing for nan/inf, forward or backward:
    those checks are all this engine's anomaly mode does, so ops then run as outside it.
    Use it as ``with detect_anomaly(): ...``, ``@detect_anomaly()``, ``@detect_anomaly`` or
    ``@detect_anomaly(check_nan=False)``; nested blocks restore the outer state on exit.
    """

    def __new__(cls, check_nan: Any = True):
        self = super().__new__(cls)
        if callable(check_nan) and not isinstance(check_nan, bool):  # bare @detect_anomaly
            self.check_nan = True
            return self(check_nan)  # not an instance, so __init__ is not called
        return self

    def __init__(self, check_nan: bool = True) -> None:
        if not isinstance(check_nan, bool):
            raise TypeError(f"detect_anomaly(): check_nan must be a bool, got {type(check_nan).__name__}")
        self.check_nan = check_nan

    def __enter__(self) -> None:
        self.prev = (GradMode.anomaly_mode, GradMode.anomaly)
        GradMode.anomaly_mode, GradMode.anomaly = True, self.check_nan

    def __exit__(self, *exc: object) -> None:
        GradMode.anomaly_mode, GradMode.anomaly = self.prev

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"detect_anomaly() decorates a function, got {fn!r}")
        check_nan = self.check_nan
        return _decorate(fn, lambda: detect_anomaly(check_nan))
