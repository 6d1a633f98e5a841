"""Tests of the tensor engine: every op's gradients (finite differences and PyTorch), dtype
rules, errors, no_grad, leaf-gradient accumulation and aliasing, graph lifetime."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradengine as ge
import gradengine.functional as F
from gradengine import Tensor, concatenate, no_grad, stack
from hypothesis.extra import numpy as hnp

from gradengine.ops import ELEMENTWISE, WHERE
from gradengine.tensor import OPS
from gradengine.tensor_ops import SCATTER, SUM_TO
from gradengine.testing import (
    CALL, arrays, away_from_zero, axis_args, broadcast_pair, check_gradients, check_vs_torch, shapes,
)

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# The op table's test table: one entry per op. ``draw`` gives (inputs, params); ``ours(**params)``
# and ``theirs(**params)`` give functions of the inputs as Tensors / torch tensors.
# ---------------------------------------------------------------------------------------------
@dataclass
class Case:
    draw: st.SearchStrategy
    ours: Callable[..., Callable[..., Tensor]]
    theirs: Callable[..., Callable[..., Any]]


def no_params(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return strategy.map(lambda inputs: (inputs if isinstance(inputs, tuple) else (inputs,), {}))


def unary(ours: Callable, theirs: Callable, strategy: st.SearchStrategy | None = None) -> Case:
    return Case(no_params(strategy if strategy is not None else arrays(shapes())),
                lambda: ours, lambda: theirs)


def _dims(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return axis if isinstance(axis, tuple) else (axis,)


@st.composite
def reduction_case(draw, unique: bool = False):
    x = draw(arrays(shapes(), unique=unique))
    axis, keepdims = draw(axis_args(x.ndim))
    return (x,), {"axis": axis, "keepdims": keepdims}


@st.composite
def softmax_case(draw):
    x = draw(arrays(shapes(min_dims=1)))
    return (x,), {"axis": draw(st.integers(-x.ndim, x.ndim - 1))}


@st.composite
def matmul_case(draw):
    n, k, m, b = (draw(st.integers(1, 3)) for _ in range(4))
    kind = draw(st.sampled_from(["2d", "batched", "vec_mat", "mat_vec", "vec_vec", "bcast", "vec_batch"]))
    sa, sb = {
        "2d": ((n, k), (k, m)),
        "batched": ((b, n, k), (b, k, m)),
        "vec_mat": ((k,), (k, m)),
        "mat_vec": ((b, n, k), (k,)),
        "vec_vec": ((k,), (k,)),
        "bcast": ((1, n, k), (b, k, m)),
        "vec_batch": ((k,), (b, k, m)),
    }[kind]
    if draw(st.booleans()):  # broadcast the other way round too
        sa, sb = ((b,) + sa[1:], (1,) + sb[1:]) if kind == "bcast" else (sa, sb)
    return (draw(arrays(sa)), draw(arrays(sb))), {}


@st.composite
def linear_case(draw):
    n, i, o = (draw(st.integers(1, 3)) for _ in range(3))
    x_shape = draw(st.sampled_from([(n, i), (i,), (2, n, i)]))
    x, w = draw(arrays(x_shape)), draw(arrays((o, i)))
    inputs = (x, w, draw(arrays((o,)))) if draw(st.booleans()) else (x, w)
    return inputs, {}


@st.composite
def reshape_case(draw):
    x = draw(arrays(shapes()))
    target = draw(st.sampled_from([(x.size,), x.shape[::-1], (1,) + x.shape, (-1,), x.shape + (1,)]))
    return (x,), {"shape": target}


@st.composite
def transpose_case(draw):
    x = draw(arrays(shapes()))
    return (x,), {"axes": tuple(draw(st.permutations(range(x.ndim))))}


@st.composite
def getitem_case(draw):
    x = draw(arrays(shapes(min_dims=1)))
    n = x.shape[0]
    kind = draw(st.sampled_from(["int", "slice", "basic_tuple", "int_array", "bool_mask", "mixed", "ellipsis"]))
    i = draw(st.integers(-n, n - 1))
    start, stop = draw(st.integers(-n, n)), draw(st.integers(-n, n))
    sl = slice(start, stop, draw(st.integers(1, 2)))
    idx_array = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5)))  # may repeat
    index = {
        "int": i,
        "slice": sl,
        "basic_tuple": (sl, 0) if x.ndim > 1 else (i,),
        "int_array": idx_array,
        "bool_mask": np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))),
        "mixed": (idx_array, slice(None)) if x.ndim > 1 else idx_array,
        "ellipsis": (Ellipsis, -1),
    }[kind]
    return (x,), {"index": index}


def _torch_index(index):
    import torch

    def conv(p):
        return torch.from_numpy(p) if isinstance(p, np.ndarray) else p

    return tuple(conv(p) for p in index) if isinstance(index, tuple) else conv(index)


@st.composite
def join_case(draw, same_shape: bool):
    base = list(draw(shapes(min_dims=1)))
    axis = draw(st.integers(-len(base), len(base) - 1)) if same_shape is False else None
    xs = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(base)
        if not same_shape:
            s[axis] = draw(st.integers(1, 3))
        xs.append(draw(arrays(tuple(s))))
    if same_shape:
        axis = draw(st.integers(-len(base) - 1, len(base)))
    return tuple(xs), {"axis": axis}


@st.composite
def cross_entropy_case(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    logits = draw(arrays((n, c), -5, 5))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    if draw(st.booleans()):
        target = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    else:
        w = draw(arrays((n, c), 0.01, 1.0))
        target = w / w.sum(axis=1, keepdims=True)
    return (logits,), {"target": target, "reduction": reduction}


@st.composite
def bce_case(draw):
    x = draw(arrays(shapes(min_dims=1), -6, 6))
    target = draw(arrays(x.shape, 0.0, 1.0))
    return (x,), {"target": target, "reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def _torch():
    import torch

    return torch


def elementwise_case(op) -> Case:
    """The case of an elementwise op, generated from its record: operands of broadcasting
    shapes drawn from its domain, called through its method, the same call on torch."""
    dom = op.domain

    @st.composite
    def draw(draw):
        shapes_ = draw(hnp.mutually_broadcastable_shapes(num_shapes=op.nin, min_dims=0, max_dims=3, max_side=3))
        xs = []
        for shape, (lo, hi), avoid in zip(shapes_.input_shapes, dom.ranges, dom.avoid):
            x = draw(arrays(shape, lo, hi))
            if avoid is not None:  # push elements out of the kink/pole's neighbourhood
                near = np.abs(x - avoid) <= dom.margin
                x = np.where(near, avoid + np.where(x >= avoid, 2, -2) * dom.margin, x)
            xs.append(x)
        return tuple(xs), ({"c": draw(st.sampled_from(dom.params))} if dom.params else {})

    call = CALL[op.name]
    return Case(draw(), lambda **p: lambda *xs: call(*xs, *p.values()), lambda **p: lambda *xs: call(*xs, *p.values()))


@st.composite
def where_case(draw):
    (a, b) = draw(broadcast_pair())
    cond = draw(hnp.arrays(np.bool_, np.broadcast_shapes(a.shape, b.shape)))
    return (a, b), {"cond": cond}


@st.composite
def sum_to_case(draw):
    x = draw(arrays(shapes(min_dims=1)))
    shape = tuple(draw(st.sampled_from([1, n])) for n in x.shape)[draw(st.integers(0, x.ndim)):]
    return (x,), {"shape": shape}


@st.composite
def broadcast_to_case(draw):
    x = draw(arrays(shapes(max_dims=2)))
    shape = tuple(draw(st.integers(1, 3)) if n == 1 else n for n in x.shape)
    return (x,), {"shape": (draw(st.integers(1, 2)),) + shape}


@st.composite
def scatter_case(draw):
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    index = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)))  # may repeat
    return (draw(arrays((m,))),), {"shape": (n,), "index": index}


OP_CASES: dict[str, Case] = {
    **{op.name: elementwise_case(op) for op in ELEMENTWISE if op.method is not None},
    "where": Case(where_case(), lambda cond: lambda x, y: WHERE(x, y, cond),
                  lambda cond: lambda x, y: _torch().where(_torch().from_numpy(cond), x, y)),
    "sum_to": Case(sum_to_case(), lambda shape: lambda a: SUM_TO(a, shape),
                   lambda shape: lambda a: a.sum_to_size(shape)),
    "broadcast_to": Case(broadcast_to_case(), lambda shape: lambda a: a.expand(shape),
                         lambda shape: lambda a: a.expand(shape)),
    "scatter": Case(scatter_case(), lambda shape, index: lambda a: SCATTER(a, shape, index, False),
                    lambda shape, index: lambda a: _torch().zeros(shape, dtype=a.dtype).index_put(
                        (_torch().from_numpy(index),), a, accumulate=True)),
    "matmul": Case(matmul_case(), lambda: lambda a, b: a @ b, lambda: lambda a, b: a @ b),
    "linear": Case(linear_case(), lambda: F.linear, lambda: _torch().nn.functional.linear),
    "sum": Case(reduction_case(), lambda axis, keepdims: lambda a: a.sum(axis, keepdims),
                lambda axis, keepdims: lambda a: a.sum(_dims(axis, a.ndim), keepdim=keepdims)),
    "mean": Case(reduction_case(), lambda axis, keepdims: lambda a: a.mean(axis=axis, keepdims=keepdims),
                 lambda axis, keepdims: lambda a: a.mean(_dims(axis, a.ndim), keepdim=keepdims)),
    "max": Case(reduction_case(unique=True), lambda axis, keepdims: lambda a: a.max(axis, keepdims),
                lambda axis, keepdims: lambda a: a.amax(_dims(axis, a.ndim), keepdim=keepdims)),
    "logsumexp": Case(reduction_case(), lambda axis, keepdims: lambda a: a.logsumexp(axis, keepdims),
                      lambda axis, keepdims: lambda a: a.logsumexp(_dims(axis, a.ndim), keepdim=keepdims)),
    "softmax": Case(softmax_case(), lambda axis: lambda a: a.softmax(axis), lambda axis: lambda a: a.softmax(axis)),
    "log_softmax": Case(softmax_case(), lambda axis: lambda a: a.log_softmax(axis),
                        lambda axis: lambda a: a.log_softmax(axis)),
    "reshape": Case(reshape_case(), lambda shape: lambda a: a.reshape(shape), lambda shape: lambda a: a.reshape(shape)),
    "transpose": Case(transpose_case(), lambda axes: lambda a: a.permute(*axes),
                      lambda axes: lambda a: _torch().permute(a, axes)),
    "getitem": Case(getitem_case(), lambda index: lambda a: a[index],
                    lambda index: lambda a: a[_torch_index(index)]),
    "concatenate": Case(join_case(same_shape=False), lambda axis: lambda *xs: concatenate(xs, axis),
                        lambda axis: lambda *xs: _torch().cat(xs, axis)),
    "stack": Case(join_case(same_shape=True), lambda axis: lambda *xs: stack(xs, axis=axis),
                  lambda axis: lambda *xs: _torch().stack(xs, axis)),
    "cross_entropy": Case(
        cross_entropy_case(),
        lambda target, reduction: lambda z: F.cross_entropy(z, target, reduction=reduction),
        lambda target, reduction: lambda z: _torch().nn.functional.cross_entropy(
            z, _torch().from_numpy(target), reduction=reduction)),
    "binary_cross_entropy_with_logits": Case(
        bce_case(),
        lambda target, reduction: lambda x: F.binary_cross_entropy_with_logits(x, target, reduction=reduction),
        lambda target, reduction: lambda x: _torch().nn.functional.binary_cross_entropy_with_logits(
            x, _torch().from_numpy(target), reduction=reduction)),
}


def test_every_op_has_a_test_case():
    """Adding an op to the table without a test case here fails this test."""
    assert set(OP_CASES) == set(OPS), (
        f"untested ops: {sorted(set(OPS) - set(OP_CASES))}; stale cases: {sorted(set(OP_CASES) - set(OPS))}"
    )


def _check_recorded(fn, inputs, op_name):
    """The function really uses the op under test (so the case cannot test something else)."""
    out = fn(*[Tensor(x, requires_grad=True) for x in inputs])
    seen, stack_ = set(), [out]
    while stack_:
        t = stack_.pop()
        if t.op is not None:
            seen.add(t.op.name)
            stack_.extend(t.children)
    assert op_name in seen


@pytest.mark.parametrize("name", sorted(OP_CASES))
def test_op_gradcheck(name):
    case = OP_CASES[name]

    @SETTINGS
    @given(case.draw)
    def run(drawn):
        inputs, params = drawn
        fn = case.ours(**params)
        _check_recorded(fn, inputs, name)
        check_gradients(fn, *inputs)

    run()


@pytest.mark.parametrize("name", sorted(OP_CASES))
def test_op_matches_torch(name):
    pytest.importorskip("torch", reason="PyTorch is not installed: comparisons with PyTorch are skipped")
    case = OP_CASES[name]

    @SETTINGS
    @given(case.draw)
    def run(drawn):
        inputs, params = drawn
        check_vs_torch(case.ours(**params), case.theirs(**params), *inputs)

    run()


# ---------------------------------------------------------------------------------------------
# Constructor, dtypes and basic properties
# ---------------------------------------------------------------------------------------------
def test_python_data_becomes_float32():
    assert Tensor(3).dtype == np.float32
    assert Tensor(2.5).dtype == np.float32
    assert Tensor([[1, 2], [3, 4]]).dtype == np.float32
    assert Tensor([1.0, 2.0], dtype=np.float64).dtype == np.float64


def test_numpy_data_keeps_its_dtype_and_is_copied():
    a = np.arange(3.0)
    t = Tensor(a)
    assert t.dtype == np.float64
    a[0] = 100.0
    assert t.data[0] == 0.0  # copied, like torch.tensor
    assert Tensor(np.arange(3)).dtype == np.int64
    assert Tensor(np.ones(2, np.float32)).dtype == np.float32


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        Tensor(np.arange(3), requires_grad=True)
    t = Tensor(np.arange(3))
    with pytest.raises(TypeError, match="int64"):
        t.requires_grad = True


def test_bad_data_is_rejected():
    with pytest.raises(TypeError):
        Tensor("abc")
    with pytest.raises(TypeError):
        Tensor(np.array([1 + 2j]))
    with pytest.raises(TypeError):
        Tensor([[1.0, 2.0], [3.0]])  # ragged


def test_basic_properties():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="w")
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.numpy() is t.data
    assert t.is_leaf and t.op is None and t.children == () and t.name == "w"
    assert Tensor(4.0).item() == 4.0 and float(Tensor([2.0])) == 2.0
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        t.item()
    with pytest.raises(TypeError):
        len(Tensor(1.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    assert [row.shape for row in t] == [(3,), (3,)]
    r = repr(t)
    assert r.startswith("Tensor(") and "float64" in r and "requires_grad=True" in r and "name='w'" in r
    assert "op='add'" in repr(t + 1)
    assert np.asarray(t) is t.data


def test_detach_shares_data_without_history():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.data is y.data


def test_python_scalars_do_not_upcast_float32():
    x = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    for y in (x + 1, 1 + x, x - 2.5, 2.5 - x, x * 3, 3.0 * x, x / 7, 7 / x, x ** 2, 2 ** x, -x,
              x.exp(), x.sum(), x.mean(), (x * 0.5).max(), x.softmax(), x.logsumexp(), x @ x, x[0]):
        assert y.dtype == np.float32, y
    y = (x * 2.0 + 1).sum()
    y.backward()
    assert x.grad.dtype == np.float32


def test_mixed_dtypes_follow_numpy():
    x32 = Tensor(np.ones(2, np.float32), requires_grad=True)
    x64 = Tensor(np.ones(2, np.float64), requires_grad=True)
    out = x32 * x64
    assert out.dtype == np.float64
    out.sum().backward()
    assert x32.grad.dtype == np.float32 and x64.grad.dtype == np.float64  # grads keep the leaf's dtype
    assert (Tensor(np.arange(3)) / 2).dtype == np.float64
    assert (Tensor(np.arange(3)) * 2).dtype == np.int64
    assert (Tensor(np.arange(3)) * 2.5).dtype == np.float64


def test_ndarray_on_the_left_defers_to_tensor():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = np.array([3.0, 4.0])
    for out in (a + x, a - x, a * x, a / x, a ** x, a @ x):
        assert isinstance(out, Tensor) and out.requires_grad
    (a * x).sum().backward()
    np.testing.assert_array_equal(x.grad, a)


def test_reflected_ops_with_numbers():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    np.testing.assert_allclose((2 - x).data, [1.0, 0.0])
    np.testing.assert_allclose((2 / x).data, [2.0, 1.0])
    out = 2 ** x
    np.testing.assert_allclose(out.data, [2.0, 4.0])
    out.sum().backward()
    np.testing.assert_allclose(x.grad, np.log(2) * np.array([2.0, 4.0]))
    with pytest.raises(TypeError):
        x + "a"


def test_comparisons_give_bool_tensors_without_history():
    x = Tensor([1.0, -1.0], requires_grad=True)
    m = x > 0  # elementwise, a bool array, as PyTorch (which gives a bool tensor)
    assert isinstance(m, np.ndarray) and m.dtype == np.bool_
    np.testing.assert_array_equal(m, [True, False])
    np.testing.assert_array_equal(x == Tensor([1.0, 2.0]), [True, False])
    np.testing.assert_array_equal(x != 1.0, [False, True])
    assert {x: 1}[x] == 1  # hashable by identity


# ---------------------------------------------------------------------------------------------
# Shape semantics
# ---------------------------------------------------------------------------------------------
def test_flatten_and_transpose_semantics():
    x = Tensor(np.zeros((2, 3, 4)))
    assert x.flatten().shape == (24,)  # PyTorch: all dims
    assert x.flatten(1).shape == (2, 12)
    assert x.flatten(0, 1).shape == (6, 4)
    assert Tensor(1.0).flatten().shape == (1,)
    assert x.T.shape == (4, 3, 2)
    assert x.transpose(0, 1).shape == (3, 2, 4)  # torch: swap two dims
    assert x.transpose(-1, 0).shape == (4, 3, 2)
    assert x.permute(2, 0, 1).shape == x.transpose((2, 0, 1)).shape == (4, 2, 3)
    assert x.reshape(6, 4).shape == x.reshape((6, 4)).shape == (6, 4)
    with pytest.raises(ValueError):
        x.flatten(2, 1)


def test_getitem_repeated_indices_accumulate():
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[[0, 0, 1, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 1.0, 0.0, 0.0])
    x.grad = None
    x[np.array([True, False, True, False])].sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0, 0.0])
    x.grad = None
    x[Tensor(np.array([3, 3]))].sum().backward()  # an integer Tensor as index
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0, 2.0])
    x.grad = None
    x[::-2].sum().backward()  # negative steps (PyTorch has none)
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0, 1.0])


def test_max_splits_ties_evenly_like_amax():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparison skipped")
    t = torch.tensor(x.data, requires_grad=True)
    t.amax(1).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy())


def test_pow_conventions_at_zero_match_pytorch():
    x = Tensor(np.array([0.0, 0.0, 2.0]), requires_grad=True)
    p = Tensor(np.array([2.0, 0.0, 0.0]), requires_grad=True)
    (x ** p).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(p.grad, [0.0, 0.0, np.log(2.0)])
    y = Tensor(np.array([0.0, 3.0]), requires_grad=True)
    (y ** 2).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 6.0])


@SETTINGS
@given(x=arrays(shapes(min_dims=1), -1000, 1000))
def test_softmax_family_is_stable_for_large_inputs(x):
    t = Tensor(x, requires_grad=True)
    for out in (t.softmax(), t.log_softmax(), t.logsumexp(axis=-1)):
        assert np.all(np.isfinite(out.data))
    np.testing.assert_allclose(t.softmax().data.sum(axis=-1), 1.0)


def test_logsumexp_of_all_minus_inf_is_minus_inf():
    x = Tensor(np.full(3, -np.inf))
    assert x.logsumexp().item() == -np.inf


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
def test_shape_errors_name_both_shapes_and_record_nothing():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones((4, 5)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        a + b
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match="out of range"):
        a.sum(axis=2)
    with pytest.raises(ValueError):
        concatenate([a, b], axis=0)
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        a[5]
    assert a.grad is None and b.grad is None


def test_dtype_errors_name_the_dtypes():
    a, b = Tensor(np.array([True, False])), Tensor(np.array([False, False]))
    with pytest.raises(TypeError, match="bool"):
        a - b
    with pytest.raises(IndexError, match="float"):
        Tensor(np.arange(3.0))[np.array([0.5])]


def test_graph_structure_contract_used_by_viz():
    x = Tensor(np.ones((2, 3), np.float32), requires_grad=True, name="x")
    w = Tensor(np.ones((3, 4), np.float32), requires_grad=True, name="w")
    h = x @ w
    y = h * 2.0
    assert h.op.name == "matmul" and h.op.symbol == "@" and h.children == (x, w)
    assert not h.is_leaf and h.name == "" and h.requires_grad and h.grad is None
    const = y.children[1]  # a Python scalar becomes a constant leaf operand of the graph
    assert y.children[0] is h and const.is_leaf and not const.requires_grad and const.dtype == np.float32
    assert (y.shape, y.dtype) == ((2, 4), np.float32)
    assert {op.name for op in OPS.values()} == set(OPS) and all(op.symbol for op in OPS.values())


def test_backward_errors():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"implicitly created only for scalar outputs.*\(3,\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        y.backward(np.ones(2))
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).backward()
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    assert x.grad is None
    Tensor([1.0], requires_grad=True).sum().backward()  # one element: implicit gradient ok
    y.backward(Tensor(np.ones(3)))  # a Tensor gradient is accepted
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


# ---------------------------------------------------------------------------------------------
# no_grad, accumulation, aliasing, graph lifetime
# ---------------------------------------------------------------------------------------------
def test_no_grad_records_nothing():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = (x * 2).sum()
        with ge.enable_grad():
            z = x * 3
    assert not y.requires_grad and y.is_leaf and y.children == ()
    assert z.requires_grad and z.op.name == "mul"
    w = x * Tensor(np.ones(3))  # recorded again after the block
    assert w.requires_grad and len(w.children) == 2


def test_constants_do_not_require_grad():
    a = Tensor(np.ones(2))
    b = a * 2 + 1
    assert not b.requires_grad and b.is_leaf


def test_leaves_accumulate_and_intermediates_keep_no_grad():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * x
    y = h.sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert h.grad is None and y.grad is None
    y.backward()  # the graph is kept: the same pass again, the leaf accumulates
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_retain_grad_keeps_an_intermediate_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = (x * x).retain_grad()
    (h * 3).sum().backward()
    np.testing.assert_array_equal(h.grad, [3.0, 3.0])
    np.testing.assert_array_equal(x.grad, [6.0, 12.0])


def test_leaf_grads_never_alias():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    v = np.arange(3.0)
    (a + b).backward(v)  # the same upstream array flows to both leaves
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    assert not np.shares_memory(a.grad, v) and not np.shares_memory(b.grad, v)
    a.grad *= 10  # what an optimizer or clip_grad_norm_ may do in place
    np.testing.assert_array_equal(b.grad, v)
    np.testing.assert_array_equal(v, [0.0, 1.0, 2.0])

    x = Tensor(np.ones(3), requires_grad=True)
    x.backward(v)  # the root is a leaf: it must not keep the caller's array
    assert not np.shares_memory(x.grad, v)

    c = Tensor(np.ones((2, 3)), requires_grad=True)
    d = Tensor(np.ones((2, 3)), requires_grad=True)
    (concatenate([c, d]).reshape(-1) * 1.0).sum().backward()
    assert not np.shares_memory(c.grad, d.grad)

    e = Tensor(np.ones(3), requires_grad=True)
    y = e + e  # the same leaf twice: the two gradients add up
    y.backward(v)
    np.testing.assert_array_equal(e.grad, 2 * v)


def test_deep_graph_backward_is_iterative():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(20000):
        y = y + 1.0
    y.backward()
    assert x.grad == 1.0


def _live_tensors() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is Tensor)


def test_graph_is_freed_by_reference_counting():
    rng = np.random.default_rng(0)
    w = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        before = _live_tensors()
        for _ in range(3):
            x = rng.standard_normal((5, 4))
            loss = F.cross_entropy((Tensor(x) @ w).relu(), np.array([0, 1, 2, 0, 1]))
            loss.backward()
        del loss
        assert _live_tensors() == before  # nothing waits for the cyclic garbage collector
    finally:
        gc.enable()


def test_gradcheck_works_through_the_tensor_api():
    x = np.random.default_rng(1).standard_normal((3, 4))
    w = np.random.default_rng(2).standard_normal((4, 2))
    assert ge.gradcheck(lambda x, w: (x @ w).tanh().sum(axis=0), x, w)


# ---------------------------------------------------------------------------------------------
# The where op selects by bit masks for floats: it must give np.where's exact bits
# ---------------------------------------------------------------------------------------------
_SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -1.5]


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int32]), rows=st.integers(1, 5),
       cols=st.integers(1, 70), seed=st.integers(0, 2**16), x_kind=st.sampled_from(["array", "row", "scalar", "zero"]),
       y_kind=st.sampled_from(["array", "row", "scalar", "zero", "negzero"]))
def test_where_select_gives_np_where_bits(dtype, rows, cols, seed, x_kind, y_kind):
    from gradengine.ops import WHERE

    rng = np.random.default_rng(seed)

    def operand(kind):
        a = rng.choice(np.array(_SPECIAL + list(rng.standard_normal(8)), dtype=np.float64), size=(rows, cols))
        a = a.astype(dtype) if dtype != np.int32 else rng.integers(-5, 5, (rows, cols), dtype=np.int32)
        return {"array": a, "row": a[:1], "scalar": float(a.flat[0]) if dtype != np.int32 else 3,
                "zero": 0.0, "negzero": -0.0}[kind]

    x, y, cond = operand(x_kind), operand(y_kind), rng.random((rows, cols)) < 0.5
    if rows == 1 and cols == 1 and seed % 2:  # 0-d operands too
        x, y, cond = (v.reshape(()) if isinstance(v, np.ndarray) else v for v in (x, y, cond))
    with np.errstate(all="ignore"):
        expected = np.where(cond, x, y)
    got = WHERE.array(x, y, cond)
    assert got.dtype == expected.dtype and got.shape == expected.shape and got.flags.writeable
    assert got.tobytes() == expected.tobytes()  # bit for bit: nan, inf and -0.0 included


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_on_many_short_rows_matches_the_direct_formulas(dtype):
    """Class scores (N, C) with N > 32 >= C are computed on a transposed copy: same values
    (to rounding) as the direct formulas, and the same nan/inf behaviour per row."""
    from gradengine.tensor_ops import _log_softmax, _softmax

    rng = np.random.default_rng(0)
    z = (rng.standard_normal((100, 10)) * 5).astype(dtype)
    z[3] = -np.inf  # an all -inf row: nan, as PyTorch
    z[4, 2] = np.inf  # so is a row holding +inf
    z[5, 7] = np.nan
    z[6, 0] = 1e4  # large scores: the shift keeps it finite
    with np.errstate(all="ignore"):
        m = np.max(z, axis=1, keepdims=True)
        e = np.exp(z - m)
        want_sm = e / e.sum(axis=1, keepdims=True)
        want_lsm = (z - m) - np.log(e.sum(axis=1, keepdims=True))
        got_sm, got_lsm = _softmax(z, 1), _log_softmax(z, 1)
    tol = dict(rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(got_sm, want_sm, **tol)
    np.testing.assert_allclose(got_lsm, want_lsm, **tol)
    assert got_sm.dtype == got_lsm.dtype == dtype and got_sm.shape == (100, 10)
    assert np.isnan(got_sm[3:6]).all() and np.isfinite(got_sm[6]).all()
    x = Tensor(z[10:], requires_grad=True)
    y = rng.integers(0, 10, 90)
    loss = F.cross_entropy(x, y)
    loss.backward()
    p = want_sm[10:].copy()
    p[np.arange(90), y] -= 1
    np.testing.assert_allclose(x.grad, p / 90, **tol)
    np.testing.assert_allclose(loss.data, -want_lsm[10:][np.arange(90), y].mean(), **tol)


@pytest.mark.parametrize("rows", [1, 5, 32, 127, 128, 300])
@pytest.mark.parametrize("bias_dtype", [None, np.float32, np.float64])
def test_linear_computes_x_w_t_plus_b_for_any_batch(rows, bias_dtype):
    """A batch with fewer rows than outputs is multiplied as (w @ x.T).T (cheaper for BLAS): the
    result is still x @ w.T + b, C-ordered, in NumPy's dtype, and so is its gradient."""
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 50)).astype(np.float32)
    w = rng.standard_normal((128, 50)).astype(np.float32)
    b = None if bias_dtype is None else rng.standard_normal(128).astype(bias_dtype)
    want = x @ w.T if b is None else x @ w.T + b
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    bt = None if b is None else Tensor(b, requires_grad=True)
    out = F.linear(xt, wt, bt)
    assert out.data.dtype == want.dtype and out.data.shape == want.shape and out.data.flags.c_contiguous
    np.testing.assert_allclose(out.data, want, rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(want.shape).astype(want.dtype)
    out.backward(g)
    np.testing.assert_allclose(xt.grad, g @ w, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(wt.grad, g.T @ x, rtol=1e-4, atol=1e-4)
    if b is not None:
        np.testing.assert_allclose(bt.grad, g.sum(axis=0), rtol=1e-4, atol=1e-4)


def test_softmax_family_of_huge_finite_scores_warns_about_nothing():
    """Scores near float32's largest value are shifted by their finite max: no overflow on the
    way (the check that every max is finite must not overflow either), no warning."""
    import warnings

    z = np.array([[3e38, 3e38, 1.0], [3e38, 1.0, 2.0], [1.0, 2.0, 3.0]], np.float32)  # two rows' maxima sum past inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = Tensor(z).softmax(1).data
        lp = Tensor(z).log_softmax(1).data
        loss = F.cross_entropy(Tensor(z, requires_grad=True), np.array([0, 0, 2]))
    np.testing.assert_allclose(p[0], [0.5, 0.5, 0.0], atol=1e-7)
    np.testing.assert_allclose(lp[0, :2], np.log(0.5), rtol=1e-6)
    assert np.isfinite(loss.data)


# ---------------------------------------------------------------------------------------------
# In-place arithmetic and zero_(): PyTorch's rules, and a recorded graph is never corrupted
# ---------------------------------------------------------------------------------------------
def _needs_torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: comparison skipped")


def test_in_place_operators_update_parameters_under_no_grad_like_torch():
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32)]
    params = [Tensor(a, requires_grad=True) for a in init]
    x = rng.standard_normal((4, 3)).astype(np.float32)
    for _ in range(3):  # PyTorch's manual-update idiom: it must change the parameters themselves
        for p in params:
            p.grad = None
        ((Tensor(x) @ params[0] + params[1]) ** 2).mean().backward()
        with no_grad():
            for p in params:
                p -= 0.1 * p.grad
    assert all(p.is_leaf and p.requires_grad and p.dtype == np.float32 for p in params)
    assert not np.allclose(params[0].data, init[0])
    with no_grad():  # the other operators, and PyTorch's named methods, in place too
        w = params[1]
        data = w.data
        w += 1.0
        w *= 2.0
        w /= 4.0
        w **= 2
        w.add_(np.ones(2, np.float32), alpha=-0.5).sub_(1.0, alpha=2.0).mul_(3.0).div_(3.0)
        assert w is params[1] and w.data is data  # the same tensor and the same array
    torch = _needs_torch()
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    for _ in range(3):
        for t in theirs:
            t.grad = None
        ((torch.from_numpy(x) @ theirs[0] + theirs[1]) ** 2).mean().backward()
        with torch.no_grad():
            for t in theirs:
                t -= 0.1 * t.grad
    np.testing.assert_allclose(params[0].data, theirs[0].detach().numpy(), rtol=1e-6)
    with torch.no_grad():
        t = theirs[1]
        t += 1.0
        t *= 2.0
        t /= 4.0
        t **= 2
        t.add_(torch.ones(2), alpha=-0.5).sub_(1.0, alpha=2.0).mul_(3.0).div_(3.0)
    np.testing.assert_allclose(params[1].data, theirs[1].detach().numpy(), rtol=1e-6)


def test_in_place_on_a_tensor_that_requires_grad_raises_in_grad_mode():
    x = Tensor([1.0, 2.0], requires_grad=True)
    for update in (lambda: x.__iadd__(1.0), lambda: x.__imul__(2.0), lambda: x.__ipow__(2), lambda: x.sub_(1.0),
                   lambda: x.zero_()):
        with pytest.raises(RuntimeError, match="leaf Tensor that requires grad is being used in an in-place"):
            update()
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    y = x * 2  # a non-leaf: its history cannot be rewritten, so it is refused as well
    with pytest.raises(RuntimeError, match=r"tensor with history \(made by op 'mul'\).*x = x \+ y"):
        y += 1
    with pytest.raises(RuntimeError, match="tensor with history"):
        y.zero_()
    c = Tensor([1.0, 1.0])  # a constant may be updated, but not by an operand that requires grad
    with pytest.raises(RuntimeError, match="operand requires grad but this tensor does not"):
        c += x
    c += 1.0
    np.testing.assert_array_equal(c.data, [2.0, 2.0])
    y.sum().backward()  # nothing was changed by the refused updates
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    np.testing.assert_array_equal(y.data, [2.0, 4.0])
    torch = _needs_torch()
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad is being used in an in-place"):
        t += 1.0


def test_in_place_keeps_the_shape_and_dtype():
    a = Tensor(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"shapes \(3,\) and \(2, 3\) gives shape \(2, 3\).*keep.*\(3,\)"):
        a += np.ones((2, 3))
    a += np.ones(3)  # float64 into float32: the same kind, kept float32 (as torch)
    a *= Tensor([[2.0, 2.0, 2.0]]).reshape(3)
    assert a.dtype == np.float32 and a.data.tolist() == [2.0, 2.0, 2.0]
    i = ge.tensor([1, 2])
    with pytest.raises(TypeError, match="dtype float64.*dtype int64"):
        i += 1.5
    with pytest.raises(TypeError, match="dtype float64.*dtype int64"):
        i /= 2
    with pytest.raises(TypeError, match="bool"):
        Tensor(np.array([True, False])).__iadd__(1)
    i += 1
    i **= 2
    assert i.dtype == np.int64 and i.data.tolist() == [4, 9]
    with pytest.raises(ValueError, match="read-only"):
        Tensor([1.0]).expand(3).__iadd__(1.0)
    with pytest.raises(TypeError):
        a += "a"
    torch = _needs_torch()
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        torch.zeros(3).__iadd__(torch.ones(2, 3))
    with pytest.raises(RuntimeError, match="can't be cast"):
        torch.tensor([1, 2]).__iadd__(1.5)


def test_a_write_in_place_after_recording_makes_backward_raise_like_torch():
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    y = (x * c).sum()
    c += 1.0  # allowed (c needs no gradient), but y's graph computed with the old c
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation: input 1 of op 'mul'"):
        y.backward()
    assert x.grad is None
    (x * c).sum().backward()  # a graph recorded after the write is fine
    np.testing.assert_array_equal(x.grad, [4.0, 5.0])

    z = x.exp().sum()  # the output of exp is what its rule uses
    with no_grad():
        x += 1.0  # an optimizer-style update
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()
    h = x * 2
    with no_grad():
        h.reshape(2, 1).zero_()  # through a view, and on a detached alias below
    with pytest.raises(RuntimeError, match="the output of op 'mul'"):
        h.sum().backward()
    w = Tensor([1.0, 2.0], requires_grad=True)
    q = (w * w).sum()
    w.detach().mul_(0.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        q.backward()

    torch = _needs_torch()
    tx, tc = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0])
    ty = (tx * tc).sum()
    tc += 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.backward()


def test_zero_in_place_follows_the_in_place_rules():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="leaf Tensor that requires grad"):
        x.zero_()
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # not [0, 0]: the graph was not corrupted
    with no_grad():  # as init code and optimizers do
        assert x.zero_() is x
    assert x.requires_grad and x.data.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()
    b = Tensor(np.array([True, True]))
    assert b.zero_() is b and b.dtype == bool and not b.data.any()  # no grad needed: allowed
    torch = _needs_torch()
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        t.zero_()


# ---------------------------------------------------------------------------------------------
# min for every dtype; dims and sizes are checked ints
# ---------------------------------------------------------------------------------------------
def test_min_is_right_for_every_dtype():
    cases = [np.array([0, 5, 200], np.uint8), np.array([True, False, True]), np.array([5, -128, 3], np.int8),
             np.array([[3, -7], [2**62, 1]], np.int64), np.array([[2, 9], [4, 1]], np.uint32)]
    for a in cases:
        t = ge.tensor(a)
        assert t.min().dtype == a.dtype and t.min().item() == a.min()
        if a.ndim == 2:
            np.testing.assert_array_equal(t.min(dim=0).data, a.min(axis=0))
            assert t.min(1, keepdims=True).shape == (2, 1)
    x = Tensor(np.array([[3.0, -1.0, -1.0], [0.5, 4.0, -2.0]]), requires_grad=True)
    x.min(axis=1).sum().backward()  # floats keep max's rule: ties share the gradient
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [0, 0, 1]])
    with pytest.raises(ValueError, match="min"):
        ge.tensor(np.zeros(0, np.uint8)).min()
    torch = _needs_torch()
    for a in cases[:3]:
        assert ge.tensor(a).min().item() == torch.from_numpy(a).min().item()
    t = torch.tensor(x.data, requires_grad=True)
    t.amin(1).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy())


def test_dims_out_of_range_are_index_errors_like_torch():
    x = Tensor(np.zeros((2, 3)))
    calls = [lambda: x.permute(0, 5), lambda: x.permute(-3, 0), lambda: x.transpose(0, 2), lambda: x.squeeze(2),
             lambda: x.unsqueeze(3), lambda: x.unsqueeze(-4), lambda: x.sum(2), lambda: x.mean(dim=-3),
             lambda: x.max(axis=(0, 2)), lambda: x.min(2), lambda: x.flatten(0, 2), lambda: x.argmax(2),
             lambda: x.softmax(2)]
    for call in calls:
        with pytest.raises(IndexError, match=r"out of range.*expected to be in range of \[-[23], [12]\]"):
            call()
        with pytest.raises(ValueError):  # NumPy's AxisError: an IndexError and a ValueError
            call()
    with pytest.raises(IndexError, match=r"dim 5 is out of range for a tensor with 2 dimensions"):
        x.permute(0, 5)
    with pytest.raises(ValueError, match="dim 0 appears more than once"):
        x.permute(0, -2)
    with pytest.raises(ValueError, match="1 dims given for a tensor of shape"):
        x.permute(1)
    with pytest.raises(ValueError, match="repeated axis"):
        x.sum((1, -1))
    assert x.permute(-1, 0).shape == (3, 2) and x.unsqueeze(-3).shape == (1, 2, 3)
    torch = _needs_torch()
    with pytest.raises(IndexError, match=r"expected to be in range of \[-2, 1\], but got 5"):
        torch.zeros(2, 3).permute(0, 5)


def test_sizes_and_dims_must_be_ints():
    x = Tensor(np.zeros((2, 3)))
    for call, name in [(lambda: x.reshape(1.5, 6), "reshape: size at position 0 must be an int, got float 1.5"),
                       (lambda: x.view((6, 1.0)), "size at position 1 must be an int, got float"),
                       (lambda: x.reshape(True, 6), "size at position 0 must be an int, got bool"),
                       (lambda: x.reshape(6.0), "size at position 0 must be an int"),
                       (lambda: x.expand(2.0, 3), "expand: size at position 0"),
                       (lambda: x.transpose(0, 1.5), "transpose: dim1 must be an int, got float 1.5"),
                       (lambda: x.unsqueeze(1.5), "unsqueeze: dim must be an int, got float"),
                       (lambda: x.unsqueeze(True), "unsqueeze: dim must be an int, got bool"),
                       (lambda: x.permute(0, 1.0), "permute: dim at position 1 must be an int"),
                       (lambda: x.flatten(0.5), "flatten: start_dim must be an int"),
                       (lambda: x.sum(1.5), "sum: axis must be an int or a tuple of ints, got 1.5"),
                       (lambda: x.squeeze(1.0), "squeeze: axis must be an int")]:
        with pytest.raises(TypeError, match=name):
            call()
    n = np.int64(3)  # NumPy integers are ints
    assert x.view(np.int32(6)).shape == (6,)
    assert x.reshape(n, 2).shape == (3, 2) and x.reshape((n, -1)).shape == (3, 2)
    assert x.transpose(np.int64(0), 1).shape == (3, 2) and x.unsqueeze(np.int8(0)).shape == (1, 2, 3)
    torch = _needs_torch()
    with pytest.raises(TypeError):
        torch.zeros(2, 3).reshape(1.5, 6)


# ---------------------------------------------------------------------------------------------
# backward's PyTorch signature; int powers; .grad assignment; int() and index(); tensor() overflow
# ---------------------------------------------------------------------------------------------
def test_backward_takes_pytorchs_signature():
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    loss = (h * h).sum()
    loss.backward(retain_graph=True)  # accepted; the graph is always kept
    loss.backward(None, True, False)  # positional, in PyTorch's order
    np.testing.assert_allclose(x.grad, 2 * (2 * x.data * w.data**2))
    x.grad = w.grad = None
    loss.backward(inputs=[w])  # only the inputs accumulate
    assert x.grad is None
    np.testing.assert_allclose(w.grad, 2 * x.data**2 * w.data)
    loss.backward(inputs=h)  # a non-leaf input gets its gradient too
    np.testing.assert_allclose(h.grad, 2 * h.data)
    unused = Tensor([1.0], requires_grad=True)
    loss.backward(inputs=[unused])
    assert unused.grad is None
    with pytest.raises(ValueError, match="inputs cannot be empty"):
        loss.backward(inputs=[])
    with pytest.raises(RuntimeError, match="input 0 .* does not require grad"):
        loss.backward(inputs=[Tensor([1.0])])
    torch = _needs_torch()
    tx, tw = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0], requires_grad=True)
    th = tx * tw
    tloss = (th * th).sum()
    tloss.backward(retain_graph=True, inputs=[tw])
    tloss.backward(inputs=[th])
    assert tx.grad is None
    np.testing.assert_allclose(w.grad, tw.grad.numpy())
    np.testing.assert_allclose(h.grad, th.grad.numpy())


def test_integer_tensor_to_an_int_power_stays_integer():
    i = ge.tensor([3, -2])
    assert (i ** 2).dtype == np.int64 and (i ** 2).data.tolist() == [9, 4]
    assert (i ** 2.0).dtype == np.float64 and (i ** 0.5).dtype == np.float64
    assert (ge.tensor(np.array([3], np.int32)) ** 3).dtype == np.int32
    with pytest.raises(ValueError, match="negative integer powers"):
        i ** -1
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x ** 3  # floats: unchanged, and so is the gradient
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 12.0])
    torch = _needs_torch()
    assert (torch.tensor([3, -2]) ** 2).dtype == torch.int64


def test_grad_assignment_is_checked_like_torch():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"assigned grad has shape \(3, 3\), but the tensor has shape \(3,\)"):
        x.grad = np.zeros((3, 3))
    with pytest.raises(TypeError, match="assigned grad has dtype float64, but the tensor has dtype float32"):
        x.grad = np.zeros(3)
    with pytest.raises(TypeError, match="ndarray, a Tensor or None"):
        x.grad = [0.0, 0.0, 0.0]
    assert x.grad is None
    x.grad = np.ones(3, np.float32)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0, 3.0])
    x.grad = Tensor(np.zeros(3, np.float32))  # what backward(create_graph=True) leaves
    x.grad = None
    s = Tensor(1.0, requires_grad=True)
    s.grad = np.float32(2.0)  # a NumPy scalar is a 0-d gradient
    assert isinstance(s.grad, np.ndarray) and s.grad.shape == ()
    torch = _needs_torch()
    with pytest.raises(RuntimeError, match="size"):
        torch.zeros(3, requires_grad=True).grad = torch.zeros(3, 3)


def test_int_and_index_of_one_element_tensors():
    import operator

    assert int(Tensor([2.7])) == 2 and int(Tensor(-2.7)) == -2 and int(ge.tensor([[5]])) == 5
    assert int(Tensor(np.array(True))) == 1
    with pytest.raises(ValueError, match=r"one-element.*\(2,\)"):
        int(ge.tensor([2, 3]))
    assert operator.index(ge.tensor([3])) == 3 and operator.index(Tensor(np.array(True))) == 1
    assert ["a", "b", "c"][ge.tensor(1)] == "b" and list(range(ge.tensor(3))) == [0, 1, 2]
    for bad in (Tensor(3.0), ge.tensor([3, 4])):
        with pytest.raises(TypeError, match="only integer tensors of a single element can be converted to an index"):
            operator.index(bad)
    torch = _needs_torch()
    assert int(torch.tensor([2.7])) == int(Tensor([2.7]))
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        operator.index(torch.tensor(3.0))


def test_tensor_of_a_python_int_beyond_int64_overflows_like_torch():
    for data in (2**63, -(2**63) - 1, [1, 2**63], [[2**64]], [True, 2**63]):
        with pytest.raises(OverflowError, match=r"Python int -?\d+ does not fit in int64"):
            ge.tensor(data)
    assert ge.tensor(2**63 - 1).item() == 2**63 - 1 and ge.tensor(-(2**63)).item() == -(2**63)
    assert ge.tensor([2**63, 1.5]).dtype == np.float32  # a float in the data: a float tensor
    assert ge.tensor(2**63, dtype=np.float64).item() == 2.0**63
    torch = _needs_torch()
    with pytest.raises((RuntimeError, ValueError, OverflowError), match="Overflow"):
        torch.tensor(2**63)
