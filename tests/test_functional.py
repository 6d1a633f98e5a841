"""Tests of gradengine.functional: losses and activations against PyTorch, stability, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradengine.functional as F
from gradengine import Tensor
from gradengine.testing import arrays, check_gradients, check_vs_torch

torch = pytest.importorskip("torch", reason="PyTorch is not installed: the comparisons with PyTorch are skipped")
TF = torch.nn.functional

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((5, 4)) * 3
LABELS = np.array([0, 3, 1, 1, 2])


def _probs(shape, rng=RNG):
    w = rng.random(shape) + 0.01
    return w / w.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# cross_entropy
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_kind", ["ndarray", "list", "int_tensor", "probabilities", "one_hot"])
def test_cross_entropy_matches_torch(reduction, target_kind):
    target = {
        "ndarray": LABELS,
        "list": LABELS.tolist(),
        "int_tensor": Tensor(LABELS),
        "probabilities": _probs((5, 4)),
        "one_hot": np.eye(4)[LABELS],
    }[target_kind]
    t_target = torch.from_numpy(np.asarray(target.data if isinstance(target, Tensor) else target))
    check_vs_torch(
        lambda z: F.cross_entropy(z, target, reduction=reduction),
        lambda z: TF.cross_entropy(z, t_target, reduction=reduction),
        LOGITS,
    )


def test_cross_entropy_backward_is_softmax_minus_onehot_over_n():
    z = Tensor(LOGITS, requires_grad=True)
    loss = F.cross_entropy(z, LABELS)
    assert loss.op.name == "cross_entropy" and loss.children == (z,)  # one fused node
    loss.backward()
    e = np.exp(LOGITS - LOGITS.max(axis=1, keepdims=True))
    softmax = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad, (softmax - np.eye(4)[LABELS]) / 5, rtol=1e-12)


def test_cross_entropy_equals_nll_of_log_softmax():
    z = Tensor(LOGITS)
    np.testing.assert_allclose(F.cross_entropy(z, LABELS).item(), F.nll_loss(F.log_softmax(z), LABELS).item())


@pytest.mark.parametrize("scale", [1e3, 1e4])
def test_cross_entropy_is_stable_for_extreme_logits(scale):
    z = Tensor(np.array([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.0]]) * scale, requires_grad=True)
    loss = F.cross_entropy(z, np.array([1, 1]))
    assert np.isfinite(loss.item())
    loss.backward()
    assert np.all(np.isfinite(z.grad))
    t = torch.tensor(z.data, requires_grad=True)
    tl = TF.cross_entropy(t, torch.tensor([1, 1]))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-12)
    np.testing.assert_allclose(z.grad, t.grad.numpy(), atol=1e-12)


def test_cross_entropy_float32_stays_float32():
    z = Tensor(LOGITS.astype(np.float32), requires_grad=True)
    loss = F.cross_entropy(z, LABELS)
    assert loss.dtype == np.float32
    loss.backward()
    assert z.grad.dtype == np.float32
    loss_p = F.cross_entropy(z, _probs((5, 4)))  # float64 probabilities are cast to the logits' dtype
    assert loss_p.dtype == np.float32


def test_cross_entropy_validation():
    z = Tensor(LOGITS, requires_grad=True)
    with pytest.raises(IndexError, match="out of range for 4 classes"):
        F.cross_entropy(z, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(IndexError, match="-1"):
        F.cross_entropy(z, np.array([0, 1, 2, 3, -1]))
    with pytest.raises(ValueError, match=r"\(5,\).*\(3,\)"):
        F.cross_entropy(z, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(5, 3\)"):
        F.cross_entropy(z, _probs((5, 3)))
    with pytest.raises(ValueError, match=r"shape \(\) for input of shape \(4,\)"):
        F.cross_entropy(Tensor(np.zeros(4)), np.array([1]))  # unbatched scores (C,) take one label
    with pytest.raises(ValueError, match=r"\(N, C\).*0-d"):
        F.cross_entropy(Tensor(np.float64(1.0)), np.array(0))
    with pytest.raises(TypeError, match="bool"):
        F.cross_entropy(z, np.ones(5, dtype=bool))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(z, LABELS, reduction="avg")
    assert z.grad is None


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(2, 5), st.data())
def test_cross_entropy_gradcheck_property(n, c, data):
    z = data.draw(arrays((n, c), -10, 10))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    check_gradients(lambda z: F.cross_entropy(z, labels), z)


# ---------------------------------------------------------------------------------------------
# other losses
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_torch(reduction):
    logp = np.log(_probs((5, 4)))
    check_vs_torch(
        lambda x: F.nll_loss(x, LABELS, reduction=reduction),
        lambda x: TF.nll_loss(x, torch.from_numpy(LABELS), reduction=reduction),
        logp,
    )
    with pytest.raises(IndexError):
        F.nll_loss(Tensor(logp), np.array([0, 1, 2, 3, 9]))
    with pytest.raises(TypeError):
        F.nll_loss(Tensor(logp), np.zeros(5))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction):
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    check_vs_torch(lambda x, y: F.mse_loss(x, y, reduction=reduction), lambda x, y: TF.mse_loss(x, y, reduction=reduction), a, b)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(4,\)"):
        F.mse_loss(Tensor(a), np.zeros(4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_torch(reduction):
    x, y = RNG.standard_normal((4, 3)) * 4, RNG.random((4, 3))
    check_vs_torch(
        lambda x: F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
        lambda x: TF.binary_cross_entropy_with_logits(x, torch.from_numpy(y), reduction=reduction),
        x,
    )


def test_bce_with_logits_is_stable_for_extreme_logits():
    x = np.array([-1000.0, 1000.0, -1000.0, 1000.0, 0.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.5])
    check_vs_torch(
        lambda x: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
        lambda x: TF.binary_cross_entropy_with_logits(x, torch.from_numpy(y), reduction="none"),
        x,
    )
    out = F.binary_cross_entropy_with_logits(Tensor(x.astype(np.float32)), y, reduction="none")
    assert out.dtype == np.float32 and np.all(np.isfinite(out.data))
    np.testing.assert_allclose(out.data, [0.0, 0.0, 1000.0, 1000.0, np.log(2)], rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        F.binary_cross_entropy_with_logits(Tensor(x), np.zeros(3))


# ---------------------------------------------------------------------------------------------
# activations, linear, dropout
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "softmax", "log_softmax"])
def test_activations_match_torch(name):
    x = RNG.standard_normal((3, 4)) * 3
    x[0, 0] = 0.0  # relu at 0: gradient 0, as PyTorch
    check_vs_torch(getattr(F, name), getattr(torch, name) if name not in ("softmax", "log_softmax")
                   else (lambda t: getattr(torch, name)(t, -1)), x)


def test_sigmoid_is_stable():
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    out = F.sigmoid(Tensor(x))
    np.testing.assert_allclose(out.data, torch.sigmoid(torch.from_numpy(x)).numpy(), rtol=1e-12)


def test_logsumexp_function():
    x = RNG.standard_normal((3, 4))
    check_vs_torch(lambda t: F.logsumexp(t, axis=1), lambda t: torch.logsumexp(t, 1), x)


def test_linear_matches_torch_and_validates():
    x, w, b = RNG.standard_normal((5, 3)), RNG.standard_normal((2, 3)), RNG.standard_normal(2)
    check_vs_torch(F.linear, TF.linear, x, w, b)
    check_vs_torch(F.linear, TF.linear, x, w)
    out = F.linear(Tensor(x), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True))
    assert out.op.name == "linear" and len(out.children) == 3  # one fused node
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(2, 4\)"):
        F.linear(Tensor(x), Tensor(np.zeros((2, 4))))
    with pytest.raises(ValueError, match=r"bias of shape \(3,\)"):
        F.linear(Tensor(x), Tensor(w), Tensor(np.zeros(3)))


def test_dropout():
    x = Tensor(np.ones((200, 50), np.float32), requires_grad=True)
    rng = np.random.default_rng(0)
    y = F.dropout(x, 0.3, training=True, rng=rng)
    zeros = np.mean(y.data == 0)
    assert 0.25 < zeros < 0.35
    np.testing.assert_allclose(y.data[y.data != 0], 1 / 0.7, rtol=1e-6)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # gradient = the same mask and scale
    assert F.dropout(x, 0.3, training=False) is x
    a = F.dropout(x, 0.5, rng=np.random.default_rng(7)).data
    b = F.dropout(x, 0.5, rng=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, b)
    assert np.all(F.dropout(x, 1.0).data == 0)
    with pytest.raises(ValueError):
        F.dropout(x, 1.5)
