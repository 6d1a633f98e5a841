"""The library a PyTorch or micrograd user expects (issue 11's core items) and anomaly
detection (issue 10, item 4): each test here failed on the code before the fix."""

from __future__ import annotations

import inspect
import math
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradengine as ge
import gradengine.testing  # noqa: F401  (ge.testing)
from gradengine import (
    AnomalyError, GradcheckError, Tensor, Value, detect_anomaly, grad, gradcheck, no_grad,
)


# -- gradcheck enables grad itself and rejects what it cannot check ------------------------------
def test_gradcheck_inside_no_grad_checks_for_real():
    with no_grad():
        assert gradcheck(lambda x: x.tanh() * 3, 0.4)
        assert gradcheck(lambda x: (x * x).sum(), np.array([0.5, -1.0]))
    with no_grad(), pytest.raises(GradcheckError):
        gradcheck(lambda x: x.detach() * x, 1.5)  # a real error is still found


@pytest.mark.parametrize("bad", [lambda x: (x, x), lambda x: [x * 2], lambda x: 3.0, lambda x: x.data * 2])
def test_gradcheck_rejects_outputs_it_cannot_check(bad):
    with pytest.raises(TypeError, match="gradcheck needs f to return"):
        gradcheck(bad, 0.5)


# -- every public method has its real signature; extra arguments are errors ------------------------
@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos"])
def test_value_methods_have_real_signatures(name):
    method = getattr(Value, name)
    assert list(inspect.signature(method).parameters) == ["self"]
    assert method.__qualname__ == f"Value.{name}" and method.__doc__
    with pytest.raises(TypeError):
        method(Value(2.0), 5)


def test_value_log_base_is_rejected_and_log10_log2_exist():
    with pytest.raises(TypeError):
        Value(2.0).log(10)
    assert Value(100.0).log10().data == 2.0 and Value(8.0).log2().data == 3.0
    assert grad(lambda x: x.log10())(10.0) == pytest.approx(1 / (10 * math.log(10)))
    assert round(Value(2.567), 1) == 2.6 and round(Value(2.5)) == 2


def test_tensor_methods_have_real_signatures():
    assert list(inspect.signature(Tensor.tanh).parameters) == ["self"]
    assert Tensor.exp.__qualname__ == "Tensor.exp"
    with pytest.raises(TypeError):
        Tensor([1.0]).exp(2)


# -- inputs that slip through ----------------------------------------------------------------------
@pytest.mark.parametrize("bad", [None, [1.0, None], [[1.0], ["a"]], {"a": 1}])
def test_tensor_rejects_non_numbers(bad):
    with pytest.raises(TypeError):
        Tensor(bad)


def test_assigning_data_of_another_shape_is_an_error():
    w = Tensor(np.zeros((3, 2)), requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*shape \(3, 2\)"):
        w.data = np.zeros((2, 3))
    assert w.shape == (3, 2)
    w.data = np.ones((3, 2))  # same shape: fine
    w.data -= 0.5  # in-place updates keep working
    np.testing.assert_array_equal(w.data, 0.5)


def test_backward_under_no_grad_raises_for_both_engines():
    x = Value(2.0)
    with no_grad():
        y = x * 3
    with pytest.raises(RuntimeError, match="no_grad"):
        y.backward()
    t = Tensor([1.0], requires_grad=True)
    with no_grad():
        u = (t * 3).sum()
    with pytest.raises(RuntimeError, match="no_grad"):
        u.backward()
    Value(1.0).backward()  # a plain leaf is fine, as in PyTorch


# -- semantics as PyTorch's ----------------------------------------------------------------------------
def test_relu_gives_positive_zero():
    out = Tensor(np.array([-2.0, -0.5, 3.0])).relu().data
    assert not np.signbit(out[:2]).any() and out[2] == 3.0
    assert not math.copysign(1.0, Value(-2.0).relu().data) < 0


def test_tensor_comparisons_are_elementwise_and_hashing_is_identity():
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 3.0])
    np.testing.assert_array_equal(a == b, [True, False])
    np.testing.assert_array_equal(a != b, [False, True])
    np.testing.assert_array_equal(a < b, [False, True])
    assert len({a: 1, b: 2}) == 2


def test_grad_lifts_arguments_it_does_not_differentiate():
    f = lambda x, y: x.exp() * y.exp()  # noqa: E731  both written with methods
    assert grad(f, argnums=1)(0.5, 1.5) == pytest.approx(math.exp(2.0))
    g = grad(lambda w, x: (w * x.exp()).sum(), argnums=0)(np.ones(3), np.zeros(3))
    np.testing.assert_allclose(g, np.ones(3))


def test_value_backward_docstring_names_a_real_call():
    assert "zero_grad()" not in Value.backward.__doc__ or "Module.zero_grad()" in Value.backward.__doc__


def test_no_grad_as_a_bare_decorator():
    @no_grad
    def f(x):
        return x * 2

    @no_grad()
    def g(x):
        return x * 2

    x = Tensor([1.0], requires_grad=True)
    assert not f(x).requires_grad and not g(x).requires_grad
    assert ge.is_grad_enabled()


# -- the everyday Tensor API ---------------------------------------------------------------------------
def test_view_permute_transpose_squeeze_unsqueeze():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    assert x.view(6, 4).shape == (6, 4)
    assert x.permute(2, 0, 1).shape == (4, 2, 3)
    assert x.transpose(0, 1).shape == (3, 2, 4)  # torch-style: swap two dims (3-D works)
    assert x.unsqueeze(0).shape == (1, 2, 3, 4) and x.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert x.unsqueeze(1).squeeze().shape == (2, 3, 4) and x.unsqueeze(1).squeeze(1).shape == (2, 3, 4)
    y = x.transpose(0, 2).permute(1, 0, 2).unsqueeze(0).squeeze(0)
    (y * np.arange(24.0).reshape(y.shape)).sum().backward()
    np.testing.assert_allclose(x.grad, np.arange(24.0).reshape(y.shape).transpose(1, 0, 2).transpose(2, 1, 0))
    with pytest.raises(ValueError):
        x.permute(0, 1)


def test_min_argmax_argmin_dim_keepdim():
    a = np.array([[3.0, -1.0, 2.0], [0.5, 4.0, -2.0]])
    x = Tensor(a, requires_grad=True)
    np.testing.assert_array_equal(x.min(dim=1).data, [-1.0, -2.0])
    assert x.min(dim=1, keepdim=True).shape == (2, 1) and x.sum(dim=0, keepdim=True).shape == (1, 3)
    np.testing.assert_array_equal(x.argmax(dim=1), [0, 1])
    np.testing.assert_array_equal(x.argmin(axis=0), [1, 0, 1])
    assert int(x.argmax()) == 4
    x.min().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [0, 0, 1]])
    with pytest.raises(TypeError, match="axis= or dim="):
        x.sum(axis=0, dim=1)


def test_clamp_and_clip_follow_pytorch_gradients():
    x = Tensor(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), requires_grad=True)
    y = x.clamp(-1.0, 1.0)
    np.testing.assert_array_equal(y.data, [-1, -1, 0, 1, 1])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 1, 0])  # 1 inside, bounds included
    assert x.clip(min=0.0).data.min() == 0.0
    assert gradcheck(lambda t: t.clamp(-0.5, 0.5) * t, np.array([-1.0, 0.2, 0.9]))


def test_requires_grad_and_zero_in_place():
    x = Tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    with ge.no_grad():  # a leaf that requires grad is written in place only outside grad mode, as in PyTorch
        assert x.zero_() is x and not x.data.any()
    assert x.dim() == 1 and x.numel() == 2


# -- gradengine.testing ------------------------------------------------------------------------------
@given(ge.testing.expressions(n_vars=2))
def test_expressions_never_draw_a_bare_constant(tree):
    out = ge.testing.evaluate(tree, [Value(0.3), Value(-0.7)])
    assert isinstance(out, Value)


def test_check_vs_torch_works_with_default_hypothesis_settings():
    pytest.importorskip("torch", reason="check_vs_torch compares with PyTorch")
    from gradengine.testing import arrays, check_vs_torch

    @given(arrays((3,)))  # hypothesis' default settings, deadline included
    def run(x):
        check_vs_torch(lambda t: t.tanh(), lambda t: t.tanh(), x)

    run()


# -- detect_anomaly, for both engines ----------------------------------------------------------------
def test_detect_anomaly_names_the_forward_op():
    with detect_anomaly(), pytest.raises(AnomalyError, match="forward of op 'log' produced nan from inputs"):
        Value(-1.0).log()
    x = Tensor(np.array([[0.0, 1.0]]), requires_grad=True)
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"forward of op 'div' .*float64 \(1, 2\)"):
        (1.0 / x).sum()
    assert not ge.is_anomaly_enabled()
    (Value(-1.0).log())  # outside: nan as usual, no error


def test_detect_anomaly_names_the_backward_op():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    y = x.sqrt().sum()  # forward finite; d sqrt/dx = inf at 0
    with detect_anomaly(), pytest.raises(AnomalyError, match="backward of op 'sqrt' produced inf"):
        y.backward()
    v = Value(0.0)
    w = v.sqrt()
    with detect_anomaly(), pytest.raises(AnomalyError, match="backward of op 'sqrt'"):
        w.backward()


def test_detect_anomaly_as_decorator_and_finite_pass():
    @detect_anomaly
    def step(x):
        loss = (x * x).sum()
        loss.backward()
        return loss

    x = Tensor([1.0, 2.0], requires_grad=True)
    assert step(x).item() == 5.0 and x.grad.tolist() == [2.0, 4.0]


def test_tensor_to_and_from_torch():
    torch = pytest.importorskip("torch", reason="the interop methods convert to PyTorch")
    t = Tensor(np.array([[1.0, -2.0]], dtype=np.float32), requires_grad=True)
    tt = t.to_torch()
    assert isinstance(tt, torch.Tensor) and tt.requires_grad and tt.dtype == torch.float32
    back = Tensor.from_torch(tt.detach() * 2)
    assert isinstance(back, Tensor) and back.dtype == np.float32
    np.testing.assert_array_equal(back.data, [[2.0, -4.0]])
