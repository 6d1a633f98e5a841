"""Tensor factories with PyTorch's names and defaults: ``randn``, ``rand``, ``randint``, ``zeros``,
``ones``, ``full``, ``arange``, ``linspace``, ``eye``, ``tensor``, ``from_numpy``, the ``*_like``
variants, and ``manual_seed``.

As in PyTorch, floating-point results are float32 unless ``dtype`` says otherwise, integer
ones (``randint``, ``arange`` of ints, ``tensor`` of ints) int64, and every factory takes
``requires_grad=`` (a bool). Sizes are given as separate ints, one tuple or the ``size=``
keyword: ``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``.

Randomness: gradengine has one global random number generator, NumPy's (``np.random``), used by
the factories, ``nn.Linear``'s initialisation and ``nn.Dropout``. :func:`manual_seed` seeds it,
so a script that starts with ``gradengine.manual_seed(0)`` draws the same numbers on every
run. (The numbers differ from PyTorch's for the same seed: the generators differ.) Every random
factory also takes ``generator=``, a ``np.random.Generator`` of your own, which leaves the
global one untouched.

>>> _ = manual_seed(0)
>>> x = randn(2, 3, requires_grad=True)
>>> x.shape, x.dtype, x.requires_grad
((2, 3), dtype('float32'), True)
>>> _ = manual_seed(0)
>>> bool((randn(2, 3).data == x.data).all())
True
>>> arange(4)
Tensor([0, 1, 2, 3], dtype=int64)
"""

from __future__ import annotations

import math
from numbers import Integral, Number, Real
from typing import Any, Optional, Sequence, Union

import numpy as np

from .tensor import Tensor, _wrap

__all__ = [
    "manual_seed", "seed_generator", "randn", "rand", "randint", "randn_like", "rand_like",
    "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "linspace", "eye",
    "tensor", "from_numpy",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
    "half", "double", "long",
]

# PyTorch's dtype names, as NumPy types: ``dtype=gradengine.float64`` reads as in torch.
float16 = half = np.float16
float32 = np.float32
float64 = double = np.float64
int8, int16, int32, uint8 = np.int8, np.int16, np.int32, np.uint8
int64 = long = np.int64

Size = Union[int, Sequence[int]]
Generator = Union[np.random.Generator, np.random.RandomState]
_DEFAULT_FLOAT = np.dtype(np.float32)


# ---------------------------------------------------------------------------------------------
# The random number generator
# ---------------------------------------------------------------------------------------------
def manual_seed(seed: int) -> np.random.RandomState:
    """Seed gradengine's global random number generator (NumPy's), as ``torch.manual_seed``.

    Every later draw that does not get a ``generator=`` / ``rng=`` of its own (the random
    factories, ``nn.Linear``'s initialisation, ``nn.Dropout`` masks) is then repeatable.
    Like PyTorch, any integer in ``[-2**63, 2**64)`` is accepted. ``manual_seed(s)`` for
    ``0 <= s < 2**32`` is exactly ``np.random.seed(s)``.

    Returns the global generator (PyTorch returns its default ``Generator``), which the
    factories' ``generator=`` accepts.
    """
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"manual_seed: the seed must be in [-2**63, 2**64), got {seed}")
    seed %= 2**64  # negative seeds as torch: their two's complement
    np.random.seed(seed if seed < 2**32 else [seed & 0xFFFFFFFF, seed >> 32])
    return seed_generator(None)


def seed_generator(rng: Union[int, Generator, None]) -> Generator:
    """The generator to draw from: NumPy's global one for None (seeded by :func:`manual_seed`
    or ``np.random.seed``), a new ``np.random.Generator`` for an int seed, or ``rng`` itself
    when it is already a Generator (or a ``RandomState``)."""
    if rng is None:
        return np.random.mtrand._rand  # the RandomState behind np.random.seed / np.random.uniform
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    if isinstance(rng, Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"expected a np.random.Generator, an int seed or None for the random number generator, "
        f"got {type(rng).__name__}"
    )


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def _size(size: tuple, fn: str) -> tuple[int, ...]:
    """``(2, 3)`` from ``(2, 3)`` or ``((2, 3),)``; every side a non-negative int."""
    if len(size) == 1 and not isinstance(size[0], Integral):
        size = size[0]
        if not isinstance(size, Sequence) and not hasattr(size, "__iter__"):
            raise TypeError(f"{fn}(): size must be ints or a tuple of ints, got {type(size).__name__}")
        size = tuple(size)
    for s in size:
        if isinstance(s, bool) or not isinstance(s, Integral):
            raise TypeError(f"{fn}(): size must be ints or a tuple of ints, got {size!r}")
        if s < 0:
            raise ValueError(f"{fn}(): sizes must be non-negative, got {tuple(size)}")
    return tuple(int(s) for s in size)


def _dtype(dtype: Any, default: Any, fn: str) -> np.dtype:
    try:
        dt = np.dtype(default if dtype is None else dtype)
    except TypeError:
        raise TypeError(f"{fn}(): dtype must be a NumPy dtype such as np.float32 (gradengine.float32), "
                        f"got {dtype!r}") from None
    if dt.kind not in "biuf":
        raise TypeError(f"{fn}(): gradengine tensors are bool, integer or floating point, got dtype {dt}")
    return dt


def _float_dtype(dtype: Any, fn: str) -> np.dtype:
    dt = _dtype(dtype, _DEFAULT_FLOAT, fn)
    if dt.kind != "f":
        raise TypeError(f"{fn}(): dtype must be floating point, got {dt}")
    return dt


def _sizes(size: tuple, size_kw: Any, fn: str) -> tuple[int, ...]:
    """The shape from ``fn(2, 3)``, ``fn((2, 3))`` or, as PyTorch allows, ``fn(size=(2, 3))``."""
    if size_kw is not None:
        if size:
            raise TypeError(f"{fn}() got multiple values for argument 'size'")
        size = (size_kw,)
    return _size(size, fn)


def _type_name(x: Any) -> str:
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _make(arr: np.ndarray, requires_grad: bool, fn: str = "tensor") -> Tensor:
    """A leaf around a freshly made array (not copied again); ``requires_grad`` is validated:
    a bool, as PyTorch requires (``requires_grad=1`` is a TypeError)."""
    if not isinstance(requires_grad, bool):
        raise TypeError(f"{fn}(): argument 'requires_grad' must be bool, not {_type_name(requires_grad)}")
    t = _wrap(arr)
    t.requires_grad = requires_grad
    return t


# ---------------------------------------------------------------------------------------------
# Random tensors
# ---------------------------------------------------------------------------------------------
def randn(*sizes: Size, size: Optional[Size] = None, generator: Optional[Generator] = None, dtype: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Samples of the standard normal distribution, float32 by default (``torch.randn``).

    Drawn in float64 and then rounded, so a float32 and a float64 tensor from the same seed
    hold the same numbers to float32 precision.
    """
    shape, dt = _sizes(sizes, size, "randn"), _float_dtype(dtype, "randn")
    return _make(seed_generator(generator).standard_normal(shape).astype(dt, copy=False), requires_grad, "randn")


def rand(*sizes: Size, size: Optional[Size] = None, generator: Optional[Generator] = None, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Samples of the uniform distribution on ``[0, 1)``, float32 by default (``torch.rand``)."""
    shape, dt = _sizes(sizes, size, "rand"), _float_dtype(dtype, "rand")
    gen = seed_generator(generator)
    u = gen.random(shape) if isinstance(gen, np.random.Generator) else gen.random_sample(shape)
    u = u.astype(dt, copy=False)
    # Rounding to float32 can turn 1 - 2**-54 into 1.0: keep the interval half-open.
    np.minimum(u, np.nextafter(dt.type(1), dt.type(0)), out=u)
    return _make(u, requires_grad, "rand")


def randint(low: Any = 0, high: Any = None, size: Optional[Size] = None, *,
            generator: Optional[Generator] = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from ``[low, high)``, int64 by default (``torch.randint``).

    Called as PyTorch's: ``randint(high, size)`` or ``randint(low, high, size)``, e.g.
    ``randint(0, 10, (32,))`` for a batch of class labels.
    """
    if size is None and high is not None and not isinstance(high, Integral):
        low, high, size = 0, low, high  # randint(high, size)
    elif high is None and size is not None:
        low, high = 0, low  # randint(high, size=size)
    if size is None or high is None:
        raise TypeError("randint() needs high and size: randint(high, size) or randint(low, high, size)")
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, Integral):
            raise TypeError(f"randint(): {name} must be an int, got {v!r}")
    if not low < high:
        raise ValueError(f"randint(): expected low < high, got low={low}, high={high}")
    shape, dt = _size((size,), "randint"), _dtype(dtype, np.int64, "randint")
    low, high = int(low), int(high)
    lo, hi = _range_of(dt)
    if not lo <= low <= hi:
        raise ValueError(f"randint(): low={low} is out of bounds for dtype {dt} (range [{lo}, {hi}])")
    if not lo <= high - 1 <= hi:
        raise ValueError(f"randint(): high - 1 = {high - 1} is out of bounds for dtype {dt} "
                         f"(range [{lo}, {hi}]); the values are drawn from [low, high)")
    gen = seed_generator(generator)
    draw = gen.integers if isinstance(gen, np.random.Generator) else gen.randint
    return _make(np.asarray(draw(low, high, shape, dtype=np.int64)).astype(dt, copy=False), requires_grad,
                 "randint")


def _range_of(dt: np.dtype) -> tuple[Any, Any]:
    """The values ``dt`` holds, for randint's bounds: bool [0, 1], an int type's range, a float
    type's finite range; never wider than int64's, in which the values are drawn."""
    if dt.kind == "b":
        return 0, 1
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return max(int(info.min), _INT64_MIN), min(int(info.max), _INT64_MAX)
    fmax = int(np.finfo(dt).max)
    return max(-fmax, _INT64_MIN), min(fmax, _INT64_MAX)


def randn_like(input: Any, *, generator: Optional[Generator] = None, dtype: Any = None,
               requires_grad: bool = False) -> Tensor:
    """``randn`` with the shape of ``input`` and its dtype (if floating; else float32)."""
    like = _like(input)
    return randn(like.shape, generator=generator, requires_grad=requires_grad,
                 dtype=dtype if dtype is not None else like.dtype if like.dtype.kind == "f" else None)


def rand_like(input: Any, *, generator: Optional[Generator] = None, dtype: Any = None,
              requires_grad: bool = False) -> Tensor:
    """``rand`` with the shape of ``input`` and its dtype (if floating; else float32)."""
    like = _like(input)
    return rand(like.shape, generator=generator, requires_grad=requires_grad,
                dtype=dtype if dtype is not None else like.dtype if like.dtype.kind == "f" else None)


# ---------------------------------------------------------------------------------------------
# Constant tensors
# ---------------------------------------------------------------------------------------------
def zeros(*sizes: Size, size: Optional[Size] = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros, float32 by default (``torch.zeros``)."""
    return _make(np.zeros(_sizes(sizes, size, "zeros"), _dtype(dtype, _DEFAULT_FLOAT, "zeros")), requires_grad,
                 "zeros")


def ones(*sizes: Size, size: Optional[Size] = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones, float32 by default (``torch.ones``)."""
    return _make(np.ones(_sizes(sizes, size, "ones"), _dtype(dtype, _DEFAULT_FLOAT, "ones")), requires_grad, "ones")


def _scalar_dtype(value: Any) -> Any:
    """PyTorch's dtype for a Python scalar: bool, int64 or the default float32."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_
    if isinstance(value, Integral):
        return np.int64
    return _DEFAULT_FLOAT


def full(size: Size, fill_value: Number, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (``torch.full``): its dtype is inferred from the value
    as PyTorch does (bool, int64, or float32) unless ``dtype`` is given.

    ``fill_value`` must be a real number (or a one-element Tensor/array); one the dtype cannot
    hold (``1e40`` in float32, ``300`` in uint8) raises OverflowError, as PyTorch raises."""
    fill_value = _fill_value(fill_value, "full")
    dt = _dtype(dtype, _scalar_dtype(fill_value), "full")
    shape = _size((size,), "full")
    return _make(np.full(shape, _fits(fill_value, dt, "full"), dt), requires_grad, "full")


def _fill_value(value: Any, fn: str) -> Any:
    if isinstance(value, (Tensor, np.ndarray)):
        arr = value.data if isinstance(value, Tensor) else value
        if arr.size != 1:
            raise TypeError(f"{fn}(): fill_value must be a number or a one-element tensor, got shape {arr.shape}")
        value = arr.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or isinstance(value, Real):
        return value
    raise TypeError(f"{fn}(): fill_value must be a real number (bool, int or float), "
                    f"got {type(value).__name__}: {value!r}")


def _fits(value: Any, dt: np.dtype, fn: str) -> Any:
    """``value`` as a NumPy scalar of ``dt``, or OverflowError if ``dt`` cannot hold it
    (nan/inf are fine for floats; float values are truncated towards zero for ints, as torch)."""
    if dt.kind == "b":
        return bool(value)
    if dt.kind == "f":
        try:
            v = float(value)
        except OverflowError:
            v = math.inf
        if math.isfinite(v) and abs(v) > float(np.finfo(dt).max):
            raise OverflowError(f"{fn}(): fill_value {value!r} cannot be converted to {dt} without overflow")
        return dt.type(v)
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        raise OverflowError(f"{fn}(): fill_value {value!r} cannot be converted to {dt} without overflow")
    v, info = int(value), np.iinfo(dt)
    if not info.min <= v <= info.max:
        raise OverflowError(f"{fn}(): fill_value {value!r} cannot be converted to {dt} without overflow "
                            f"(range [{info.min}, {info.max}])")
    return dt.type(v)


def _like(input: Any) -> np.ndarray:
    return input.data if isinstance(input, Tensor) else np.asarray(input)


def zeros_like(input: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape and dtype of ``input`` (a Tensor or an array)."""
    like = _like(input)
    return _make(np.zeros(like.shape, _dtype(dtype, like.dtype, "zeros_like")), requires_grad, "zeros_like")


def ones_like(input: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape and dtype of ``input`` (a Tensor or an array)."""
    like = _like(input)
    return _make(np.ones(like.shape, _dtype(dtype, like.dtype, "ones_like")), requires_grad, "ones_like")


def full_like(input: Any, fill_value: Number, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with the shape and dtype of ``input``."""
    like, fill_value = _like(input), _fill_value(fill_value, "full_like")
    dt = _dtype(dtype, like.dtype, "full_like")
    return _make(np.full(like.shape, _fits(fill_value, dt, "full_like"), dt), requires_grad, "full_like")


def arange(start: Number = 0, end: Optional[Number] = None, step: Number = 1, *, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """``start, start + step, ...`` up to (excluding) ``end`` (``torch.arange``); ``arange(n)``
    is ``0 .. n-1``. int64 when every argument is an int, float32 otherwise (as PyTorch)."""
    if end is None:
        start, end = 0, start
    for name, v in (("start", start), ("end", end), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, Number) or isinstance(v, complex):
            raise TypeError(f"arange(): {name} must be a real number, got {v!r}")
        if not isinstance(v, Integral) and not math.isfinite(v):
            raise ValueError(f"arange(): {name} must be finite, got {v!r}")
    if step == 0:
        raise ValueError("arange(): step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"arange(): the bounds are inconsistent with the step sign: start={start}, end={end}, step={step}")
    ints = all(isinstance(v, Integral) for v in (start, end, step))
    dt = _dtype(dtype, np.int64 if ints else _DEFAULT_FLOAT, "arange")
    if ints:
        values = np.arange(start, end, step, dtype=np.int64)
    else:  # as torch: n = ceil((end - start) / step) values, computed in float64
        n = int(np.ceil((end - start) / step))
        values = start + step * np.arange(n, dtype=np.float64)
    return _make(values.astype(dt, copy=False), requires_grad, "arange")


def linspace(start: Number, end: Number, steps: int, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive, float32 by default."""
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 0:
        raise ValueError(f"linspace(): steps must be a non-negative int, got {steps!r}")
    dt = _dtype(dtype, _DEFAULT_FLOAT, "linspace")
    return _make(np.linspace(start, end, int(steps), dtype=np.float64).astype(dt), requires_grad, "linspace")


def eye(n: int, m: Optional[int] = None, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The ``n x m`` identity matrix (``m = n`` by default), float32 by default."""
    shape = _size((n,) if m is None else (n, m), "eye")
    return _make(np.eye(shape[0], shape[-1], dtype=_dtype(dtype, _DEFAULT_FLOAT, "eye")), requires_grad, "eye")


# ---------------------------------------------------------------------------------------------
# From data
# ---------------------------------------------------------------------------------------------
def tensor(data: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor holding a copy of ``data``, with PyTorch's dtype inference (``torch.tensor``).

    Python floats give float32, Python ints int64 and bools bool (so ``tensor([0, 2, 1])``
    is a batch of class labels, as in PyTorch); NumPy arrays and Tensors keep their dtype.
    ``Tensor(data)`` differs: it makes float32 from any list, like ``torch.Tensor(data)``.
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data, dtype=None if dtype is None else _dtype(dtype, None, "tensor"), copy=True)
    else:
        try:
            arr = np.array(data, dtype=None if dtype is None else _dtype(dtype, None, "tensor"))
        except (ValueError, TypeError) as e:
            raise TypeError(
                f"tensor() expects a number, a (nested) list of numbers or an ndarray, "
                f"got {type(data).__name__}: {e}"
            ) from None
        if dtype is None:
            _check_int64(data, arr)
            if arr.dtype.kind == "f":
                with np.errstate(over="ignore"):  # 1e40 becomes inf, as in torch.tensor
                    arr = arr.astype(_DEFAULT_FLOAT)
            elif arr.dtype.kind in "iu":
                arr = arr.astype(np.int64)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"tensor(): gradengine tensors are bool, integer or floating point, got dtype {arr.dtype}"
                        + (" (is there a None in the data?)" if arr.dtype == object else ""))
    return _make(arr, requires_grad, "tensor")


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _check_int64(data: Any, arr: np.ndarray) -> None:
    """Raise OverflowError if Python ints that ``tensor()`` makes int64 do not fit in it.

    NumPy gives such ints uint64, object or (mixed with int64 ones) float64 instead; PyTorch
    raises. The data is only walked when NumPy's result says a huge int may be in it."""
    kind = arr.dtype.kind
    if kind == "u" or arr.dtype == object:
        pass
    elif kind == "f" and arr.size and float(np.abs(arr).max()) >= 2.0**63:  # a huge int, or a large float
        pass
    else:
        return
    has_float, big = _scan_ints(data)
    if big is not None and not has_float:
        raise OverflowError(
            f"tensor(): the Python int {big} does not fit in int64, the dtype of Python ints (range "
            f"[-2**63, 2**63 - 1]); pass dtype=gradengine.float64, or a NumPy array of the dtype you want"
        )


def _scan_ints(data: Any) -> tuple[bool, Optional[int]]:
    """Whether nested lists/tuples ``data`` hold a float, and the first int outside int64's range."""
    has_float, big, stack = False, None, [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        elif isinstance(x, (float, np.floating)):
            has_float = True
        elif isinstance(x, int) and not isinstance(x, bool) and big is None and not _INT64_MIN <= x <= _INT64_MAX:
            big = x
    return has_float, big


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor that shares memory with ``array`` (``torch.from_numpy``): writes to one show in
    the other. Its dtype is the array's."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy() expects a np.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy(): gradengine tensors are bool, integer or floating point, got dtype {array.dtype}")
    return _wrap(array)
