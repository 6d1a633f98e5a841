"""Reusable hypothesis strategies and checks for the tensor engine.

Generic on purpose (nothing here is specific to one test), so it can move into
``gradengine.testing`` later. All arrays are float64: gradient checks need it.

* :func:`shapes`, :func:`arrays`, :func:`broadcast_pair`, :func:`axis_args`: operands.
* :func:`check_grads`: gradcheck (central differences) of a function of Tensors.
* :func:`check_vs_torch`: values and vector-Jacobian products against PyTorch float64.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradengine import Tensor, gradcheck

__all__ = [
    "shapes", "arrays", "broadcast_pair", "away_from_zero", "axis_args", "check_grads",
    "check_vs_torch", "to_torch",
]


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    """Array shapes; small by default so finite differences stay fast."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(shape: Any, lo: float = -3.0, hi: float = 3.0, unique: bool = False) -> st.SearchStrategy:
    """float64 arrays of ``shape`` (a shape or a strategy of shapes) with elements in [lo, hi].

    With ``unique=True`` the elements are distinct multiples of 1/16, so any two differ by
    far more than a finite-difference step (1e-83 and 1e-115 are distinct, but not usefully).
    """
    if unique:
        elements = st.integers(int(np.ceil(lo * 16)), int(np.floor(hi * 16))).map(lambda i: i / 16)
    else:
        elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)
    return hnp.arrays(np.float64, shape, elements=elements, unique=unique)


def away_from_zero(shape: Any, lo: float = 0.2, hi: float = 3.0) -> st.SearchStrategy:
    """float64 arrays with ``lo <= |x| <= hi`` (either sign): for ops with a kink or pole at 0."""
    if isinstance(shape, st.SearchStrategy):
        return shape.flatmap(lambda s: away_from_zero(s, lo, hi))
    return st.tuples(arrays(shape, lo, hi), hnp.arrays(np.bool_, shape)).map(lambda t: np.where(t[1], -t[0], t[0]))


@st.composite
def broadcast_pair(draw, lo: float = -3.0, hi: float = 3.0, max_dims: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Two float64 arrays whose shapes broadcast together, in either direction (a may be
    smaller than b, or b smaller than a, or both stretched)."""
    shapes_ = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, max_side=3))
    a = draw(arrays(shapes_.input_shapes[0], lo, hi))
    b = draw(arrays(shapes_.input_shapes[1], lo, hi))
    return a, b


@st.composite
def axis_args(draw, ndim: int) -> tuple[Any, bool]:
    """``(axis, keepdims)`` for a reduction over an ``ndim``-D array: None, an int (maybe
    negative) or a non-empty tuple of distinct axes."""
    keepdims = draw(st.booleans())
    if ndim == 0:
        return None, keepdims
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None, keepdims
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1)), keepdims
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(axes), keepdims


def check_grads(fn: Callable[..., Tensor], *inputs: np.ndarray, **kw: Any) -> None:
    """``gradengine.gradcheck`` of ``fn`` at float64 ``inputs`` (raises on a mismatch)."""
    assert gradcheck(fn, *inputs, **kw)


def to_torch(a: np.ndarray, requires_grad: bool = True):
    import torch

    return torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad)


def check_vs_torch(
    fn: Callable[..., Tensor],
    torch_fn: Callable[..., Any],
    *inputs: np.ndarray,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    seed: int = 0,
    differentiable: Optional[Sequence[bool]] = None,
) -> None:
    """Compare ``fn`` (on Tensors) and ``torch_fn`` (on torch float64 tensors): the output, and
    the gradient of every input for a random output gradient ``v``."""
    import torch

    differentiable = differentiable or [True] * len(inputs)
    ours = [Tensor(x, requires_grad=d) for x, d in zip(inputs, differentiable)]
    theirs = [to_torch(x, d) for x, d in zip(inputs, differentiable)]
    out, tout = fn(*ours), torch_fn(*theirs)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    assert out.shape == tuple(tout.shape)
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(v)
    tout.backward(torch.tensor(v))
    for i, (a, b, d) in enumerate(zip(ours, theirs, differentiable)):
        if not d:
            continue
        expected = b.grad.numpy() if b.grad is not None else np.zeros(a.shape)
        got = a.grad if a.grad is not None else np.zeros(a.shape)
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
