"""Tests of the tensor factories (gradengine.creation): PyTorch's names, dtypes and seeding."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradengine as ge
from gradengine import Tensor, nn


@pytest.mark.parametrize("factory", [ge.randn, ge.rand, ge.zeros, ge.ones])
def test_float_factories_are_float32_and_take_sizes_as_torch(factory):
    for args in ((2, 3), ((2, 3),), ([2, 3],)):
        t = factory(*args)
        assert isinstance(t, Tensor) and t.shape == (2, 3) and t.dtype == np.float32
        assert not t.requires_grad and t.is_leaf
    assert factory(4, dtype=np.float64).dtype == np.float64
    assert factory(4, dtype=ge.float64).dtype == np.float64
    assert factory().shape == ()
    t = factory(3, requires_grad=True)
    assert t.requires_grad and t.is_leaf
    (t * 2).sum().backward()
    np.testing.assert_array_equal(t.grad, np.full(3, 2, np.float32))
    with pytest.raises(ValueError, match="non-negative"):
        factory(2, -1)
    with pytest.raises(TypeError, match="ints or a tuple of ints"):
        factory(2.5)


def test_manual_seed_makes_runs_repeat():
    ge.manual_seed(0)
    a = (ge.randn(5, 4).data, ge.rand(3).data, ge.randint(0, 10, (6,)).data, nn.Linear(4, 2).weight.data)
    ge.manual_seed(0)
    b = (ge.randn(5, 4).data, ge.rand(3).data, ge.randint(0, 10, (6,)).data, nn.Linear(4, 2).weight.data)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    ge.manual_seed(1)
    assert not np.array_equal(ge.randn(5, 4).data, a[0])
    for seed in (-1, 2**40, 2**64 - 1):  # torch's whole range is accepted
        ge.manual_seed(seed)
        x = ge.randn(3).data
        ge.manual_seed(seed)
        np.testing.assert_array_equal(ge.randn(3).data, x)
    with pytest.raises(TypeError, match="int"):
        ge.manual_seed(1.5)
    with pytest.raises(ValueError, match="2\\*\\*64"):
        ge.manual_seed(2**64)


def test_generator_argument_leaves_the_global_rng_alone():
    ge.manual_seed(0)
    expected = ge.randn(4).data
    ge.manual_seed(0)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(ge.randn(3, generator=g1).data, ge.randn(3, generator=g2).data)
    np.testing.assert_array_equal(ge.randn(4).data, expected)


def test_distributions():
    ge.manual_seed(0)
    n = ge.randn(200_000, dtype=np.float64).data
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
    u = ge.rand(200_000).data
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
    # float32 rounding must not turn a draw just below 1 into 1.0: rand is [0, 1)

    class NearOne(np.random.RandomState):
        def random_sample(self, size=None):
            return np.full(size, 1 - 2.0**-60)

    assert np.all(ge.rand(3, generator=NearOne(0)).data < 1.0)
    r = ge.randint(3, 7, (10_000,)).data
    assert r.dtype == np.int64 and r.min() == 3 and r.max() == 6


def test_randint_call_forms_as_torch():
    assert ge.randint(5, (3, 2)).shape == (3, 2)  # randint(high, size)
    assert ge.randint(5, size=(4,)).data.max() < 5
    assert ge.randint(low=2, high=4, size=(50,)).data.min() >= 2
    assert ge.randint(0, 2, (3,), dtype=np.int32).dtype == np.int32
    with pytest.raises(TypeError, match="high and size"):
        ge.randint(5)
    with pytest.raises(ValueError, match="low < high"):
        ge.randint(5, 5, (2,))


def test_arange_linspace_eye_full():
    a = ge.arange(5)
    assert a.dtype == np.int64 and a.data.tolist() == [0, 1, 2, 3, 4]
    assert ge.arange(1, 7, 2).data.tolist() == [1, 3, 5]
    f = ge.arange(0, 1, 0.25)
    assert f.dtype == np.float32 and f.data.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert ge.arange(5.0).dtype == np.float32
    assert ge.arange(3, dtype=np.float64, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="step must be nonzero"):
        ge.arange(0, 3, 0)
    with pytest.raises(ValueError, match="inconsistent"):
        ge.arange(3, 0, 1)
    lin = ge.linspace(-1, 1, 5)
    assert lin.dtype == np.float32 and lin.data.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    np.testing.assert_array_equal(ge.eye(3).data, np.eye(3, dtype=np.float32))
    assert ge.eye(2, 3).shape == (2, 3)
    assert ge.full((2, 2), 7).dtype == np.int64 and ge.full((2,), 1.5).dtype == np.float32
    assert ge.full((2,), True).dtype == np.bool_


def test_like_factories_keep_shape_and_dtype():
    x = Tensor(np.ones((2, 3), np.float64))
    for f in (ge.zeros_like, ge.ones_like, ge.randn_like, ge.rand_like):
        y = f(x)
        assert y.shape == (2, 3) and y.dtype == np.float64 and y is not x
    assert ge.full_like(x, 4).data.tolist() == [[4.0] * 3] * 2
    assert ge.zeros_like(np.zeros(3, np.int64)).dtype == np.int64
    assert ge.randn_like(np.zeros(3, np.int64)).dtype == np.float32


def test_tensor_infers_dtypes_as_torch():
    assert ge.tensor([0, 2, 1]).dtype == np.int64  # class labels, as torch.tensor
    assert ge.tensor([0.5, 1.0]).dtype == np.float32
    assert ge.tensor([True, False]).dtype == np.bool_
    assert ge.tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert ge.tensor([1, 2], dtype=np.float64).dtype == np.float64
    t = ge.tensor([[1.0, 2.0]], requires_grad=True)
    assert t.requires_grad and t.shape == (1, 2)
    src = np.zeros(3)
    copy = ge.tensor(src)
    src[0] = 1
    assert copy.data[0] == 0  # a copy
    with pytest.raises(TypeError, match="None"):
        ge.tensor([1.0, None])
    with pytest.raises(TypeError, match="floating"):
        ge.tensor([1, 2], requires_grad=True)  # int64: as torch, only floats require grad


def test_from_numpy_shares_memory():
    a = np.zeros(3, np.float32)
    t = ge.from_numpy(a)
    a[1] = 5
    assert t.data[1] == 5 and t.dtype == np.float32
    with pytest.raises(TypeError, match="ndarray"):
        ge.from_numpy([1, 2])


def test_factories_match_torch_semantics():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparison skipped")
    cases = [
        lambda m: m.zeros(2, 3), lambda m: m.ones((2,)), lambda m: m.randn(2, 3), lambda m: m.rand(4),
        lambda m: m.randint(0, 3, (5,)), lambda m: m.arange(4), lambda m: m.arange(0.0, 1.0, 0.5),
        lambda m: m.linspace(0, 1, 3), lambda m: m.eye(2), lambda m: m.full((2,), 3), lambda m: m.tensor([1, 2]),
        lambda m: m.tensor([1.0, 2.0]), lambda m: m.zeros_like(m.ones(2, dtype=m.float64)),
    ]
    for make in cases:
        ours, theirs = make(ge), make(torch)
        assert ours.shape == tuple(theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (ours.dtype, theirs.dtype)
    for make in (lambda m: m.arange(4), lambda m: m.linspace(0, 1, 3), lambda m: m.eye(2), lambda m: m.full((2,), 3)):
        np.testing.assert_array_equal(make(ge).data, make(torch).numpy())


def test_manual_seed_returns_the_global_generator():
    g = ge.manual_seed(3)
    first = ge.randn(2, generator=g).data
    ge.manual_seed(3)
    np.testing.assert_array_equal(ge.randn(2).data, first)  # the same generator as the default


def test_randint_rejects_bounds_the_dtype_cannot_hold():
    with pytest.raises(ValueError, match=r"high - 1 = 299 is out of bounds for dtype uint8"):
        ge.randint(0, 300, (3,), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"low=-1 is out of bounds for dtype uint8"):
        ge.randint(-1, 3, (3,), dtype=ge.uint8)
    with pytest.raises(ValueError, match="out of bounds for dtype int8"):
        ge.randint(0, 129, (3,), dtype=np.int8)
    with pytest.raises(ValueError, match="out of bounds for dtype bool"):
        ge.randint(0, 3, (3,), dtype=np.bool_)
    full_range = ge.randint(0, 256, (500,), dtype=np.uint8, generator=0)  # the whole range is fine
    assert full_range.dtype == np.uint8 and full_range.data.max() > 200
    assert ge.randint(-128, 128, (5,), dtype=np.int8).dtype == np.int8


def test_full_validates_fill_value_as_torch():
    for bad in (None, "a", 1 + 2j, [1, 2]):
        with pytest.raises(TypeError, match="fill_value must be a real number"):
            ge.full((2,), bad)
    with pytest.raises(TypeError, match="fill_value"):
        ge.full_like(ge.zeros(2), None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warning on the way
        with pytest.raises(OverflowError, match="fill_value 1e\\+40 cannot be converted to float32"):
            ge.full((2,), 1e40)  # torch: "value cannot be converted to type float without overflow"
        with pytest.raises(OverflowError, match="float16"):
            ge.full((2,), 70000, dtype=np.float16)
        with pytest.raises(OverflowError, match="uint8"):
            ge.full((2,), 300, dtype=np.uint8)
        with pytest.raises(OverflowError, match="int64"):
            ge.full((2,), 2**70)
        with pytest.raises(OverflowError, match="int64"):
            ge.full((2,), float("nan"), dtype=np.int64)
        with pytest.raises(OverflowError, match="full_like"):
            ge.full_like(ge.zeros(2), 1e40)
        assert ge.full((2,), 1e40, dtype=np.float64).data.tolist() == [1e40, 1e40]
        assert np.isinf(ge.full((2,), float("inf")).data).all()
        assert ge.full((2,), 1.5, dtype=np.int64).data.tolist() == [1, 1]  # truncated, as torch
        assert ge.full((2,), np.float64(2)).dtype == np.float32
        assert ge.full((2,), ge.tensor(3.0)).data.tolist() == [3.0, 3.0]


def test_tensor_of_valid_data_emits_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ge.tensor([np.float16(1)]).data.tolist() == [1.0]
        assert ge.tensor([np.float16(2), np.float16(-3)]).dtype == np.float32
        assert np.isinf(ge.tensor([1e40]).data).all()  # as torch.tensor([1e40]): inf in float32


@pytest.mark.parametrize("factory", [ge.zeros, ge.ones, ge.randn, ge.rand])
def test_float_factories_take_the_size_keyword(factory):
    assert factory(size=(2, 3)).shape == (2, 3)
    assert factory(size=[4]).shape == (4,)
    assert factory(size=()).shape == ()
    assert factory(size=(2,), dtype=np.float64, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="multiple values for argument 'size'"):
        factory(2, size=(2, 3))


@pytest.mark.parametrize("make", [
    lambda rg: ge.zeros(2, requires_grad=rg), lambda rg: ge.ones(2, requires_grad=rg),
    lambda rg: ge.randn(2, requires_grad=rg), lambda rg: ge.rand(2, requires_grad=rg),
    lambda rg: ge.full((2,), 1.0, requires_grad=rg), lambda rg: ge.arange(3.0, requires_grad=rg),
    lambda rg: ge.linspace(0, 1, 3, requires_grad=rg), lambda rg: ge.eye(2, requires_grad=rg),
    lambda rg: ge.tensor([1.0], requires_grad=rg), lambda rg: ge.zeros_like(ge.zeros(2), requires_grad=rg),
    lambda rg: ge.randint(0, 3, (2,), requires_grad=rg),
])
def test_requires_grad_must_be_a_bool(make):
    for bad in (1, 0, "yes", np.bool_(True), None):
        with pytest.raises(TypeError, match="argument 'requires_grad' must be bool"):
            make(bad)
    assert not make(False).requires_grad


def test_arange_rejects_non_finite_bounds():
    for args, name in (((float("nan"),), "end"), ((float("inf"),), "end"), ((float("-inf"), 1), "start"),
                       ((0, 1, float("nan")), "step"), ((0, float("inf"), 1.0), "end")):
        with pytest.raises(ValueError, match=f"arange\\(\\): {name} must be finite"):
            ge.arange(*args)
