"""Tests of gradengine.functional: losses and activations against PyTorch, stability, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

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


# ---------------------------------------------------------------------------------------------
# cross_entropy and nll_loss with PyTorch's options: weight, ignore_index, label_smoothing,
# reduction, inputs (C,), (N, C) and (N, C, d1, ...)
# ---------------------------------------------------------------------------------------------
@st.composite
def classification_case(draw, probabilities: bool = True, smoothing: bool = True):
    """Scores, a target (labels or probabilities) and the keyword options, PyTorch's ranges."""
    c = draw(st.integers(2, 4))
    if draw(st.integers(0, 4)) == 0:
        shape = (c,)  # one unbatched sample
    else:
        shape = (draw(st.integers(1, 4)), c, *draw(st.lists(st.integers(1, 3), max_size=2)))
    label_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    x = draw(arrays(shape, -5, 5))
    kw = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    if draw(st.booleans()):
        kw["weight"] = draw(arrays((c,), 0.1, 2.0))
    if smoothing and draw(st.booleans()):
        kw["label_smoothing"] = draw(st.floats(0.0, 1.0))
    if probabilities and draw(st.booleans()):
        p = np.exp(draw(arrays(shape, -3, 3)))
        return x, p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True), kw
    labels = draw(hnp.arrays(np.int64, label_shape, elements=st.integers(0, c - 1)))
    ignore = draw(st.sampled_from([None, -1, 0, c - 1]))
    if ignore is not None:
        kw["ignore_index"] = ignore
        labels = np.where(draw(hnp.arrays(np.bool_, label_shape)), ignore, labels)
        if np.all(labels == ignore):  # keep one position counted (all ignored: nan, tested apart)
            labels.flat[0] = (ignore + 1) % c if ignore >= 0 else 0
    return x, labels, kw


def _torch_kwargs(kw):
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}


@settings(max_examples=150, deadline=None)
@given(classification_case())
def test_cross_entropy_options_match_torch(case):
    x, target, kw = case
    check_vs_torch(
        lambda z: F.cross_entropy(z, target, **kw),
        lambda z: TF.cross_entropy(z, torch.from_numpy(target), **_torch_kwargs(kw)),
        x,
    )


@settings(max_examples=100, deadline=None)
@given(classification_case(probabilities=False, smoothing=False))
def test_nll_loss_options_match_torch(case):
    x, target, kw = case
    check_vs_torch(
        lambda z: F.nll_loss(z, target, **kw),
        lambda z: TF.nll_loss(z, torch.from_numpy(target), **_torch_kwargs(kw)),
        x,
    )


def test_cross_entropy_options_are_gradchecked():
    """Central differences in float64 for the composite path (weights, ignored labels, smoothing)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 2))
    y = np.array([[0, 3], [-100, 2], [1, 1]])
    w = rng.random(4) + 0.5
    check_gradients(lambda z: F.cross_entropy(z, y, weight=w, label_smoothing=0.2), x)
    check_gradients(lambda z: F.nll_loss(z.log_softmax(1), y, weight=w, reduction="sum"), x)


def test_cross_entropy_keeps_the_fused_op_for_the_plain_case_only():
    z = Tensor(LOGITS, requires_grad=True)
    for kw in ({}, {"ignore_index": 7}, {"reduction": "sum"}, {"weight": None, "label_smoothing": 0.0}):
        loss = F.cross_entropy(z, LABELS, **kw)
        assert loss.op.name == "cross_entropy" and loss.children == (z,), kw
    assert F.cross_entropy(z, _probs((5, 4))).op.name == "cross_entropy"
    for kw in ({"weight": np.ones(4)}, {"ignore_index": 1}, {"label_smoothing": 0.1}):
        loss = F.cross_entropy(z, LABELS, **kw)
        assert loss.op.name != "cross_entropy", kw  # the composite path: log_softmax, indexing, sums
    assert F.cross_entropy(Tensor(LOGITS[None].transpose(0, 2, 1), requires_grad=True),
                           LABELS[None]).op.name != "cross_entropy"


def test_cross_entropy_ignoring_everything_gives_nan_as_torch():
    y = np.full(5, -100)
    assert np.isnan(F.cross_entropy(Tensor(LOGITS), y).item())
    assert np.isnan(TF.cross_entropy(torch.from_numpy(LOGITS), torch.from_numpy(y)).item())
    np.testing.assert_array_equal(F.cross_entropy(Tensor(LOGITS), y, reduction="none").data, np.zeros(5))
    assert F.cross_entropy(Tensor(LOGITS), y, reduction="sum").item() == 0.0


def test_cross_entropy_option_errors_name_the_problem():
    z = Tensor(LOGITS, requires_grad=True)
    with pytest.raises(TypeError, match=r"shape \(5,\) and dtype float32: class labels must be integers"):
        F.cross_entropy(z, Tensor([0, 3, 1, 1, 2]))  # Tensor([...]) is float32, like torch.Tensor
    with pytest.raises(TypeError, match="astype\\(np.int64\\)"):
        F.cross_entropy(z, LABELS.astype(np.float64))
    with pytest.raises(ValueError, match=r"weight must hold one value per class, shape \(4,\).*\(3,\)"):
        F.cross_entropy(z, LABELS, weight=np.ones(3))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0, got 1.5"):
        F.cross_entropy(z, LABELS, label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index=0 applies to class labels only"):
        F.cross_entropy(z, _probs((5, 4)), ignore_index=0)
    with pytest.raises(IndexError, match="class label 4 is out of range.*ignore_index=-1"):
        F.cross_entropy(z, np.array([0, -1, 4, 1, 1]), ignore_index=-1)
    with pytest.raises(ValueError, match=r"class labels must have shape \(2, 3\) for input of shape \(2, 4, 3\)"):
        F.cross_entropy(Tensor(np.zeros((2, 4, 3))), np.zeros((2, 4), np.int64))
    with pytest.raises(TypeError, match="floating point"):
        F.cross_entropy(Tensor(np.zeros((2, 3), np.int64)), np.array([0, 1]))
    assert z.grad is None
    with pytest.raises(TypeError, match="integer class labels, got dtype float64 \\(convert"):
        F.nll_loss(z, np.zeros(5))


def test_unbatched_input_and_ignore_index_inside_the_classes():
    x = RNG.standard_normal(4)
    check_vs_torch(lambda z: F.cross_entropy(z, np.array(2), reduction="none"),
                   lambda z: TF.cross_entropy(z, torch.tensor(2), reduction="none"), x)
    y = np.array([0, 0, 1, 2, 0])  # e.g. class 0 = padding
    check_vs_torch(lambda z: F.cross_entropy(z, y, ignore_index=0),
                   lambda z: TF.cross_entropy(z, torch.from_numpy(y), ignore_index=0), LOGITS)


def test_legacy_reduction_arguments_and_positional_reduction():
    x, y = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    with pytest.warns(UserWarning, match="reduction='sum'"):
        ours = F.mse_loss(Tensor(x), y, size_average=False)
    with pytest.warns(UserWarning):
        theirs = TF.mse_loss(torch.from_numpy(x), torch.from_numpy(y), size_average=False)
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert F.cross_entropy(Tensor(LOGITS), LABELS, reduce=False).shape == (5,)
    with pytest.warns(DeprecationWarning, match="reduction='sum'"):  # gradengine's old signature
        old = F.cross_entropy(Tensor(LOGITS), LABELS, "sum")
    assert old.item() == pytest.approx(F.cross_entropy(Tensor(LOGITS), LABELS, reduction="sum").item())


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_bce_with_logits_weight_and_pos_weight_match_torch(data):
    shape = data.draw(st.sampled_from([(5,), (4, 3), (2, 3, 2)]))
    x = data.draw(arrays(shape, -30, 30))
    y = data.draw(arrays(shape, 0, 1))
    kw = {"reduction": data.draw(st.sampled_from(["mean", "sum", "none"]))}
    if data.draw(st.booleans()):
        kw["weight"] = data.draw(arrays(data.draw(st.sampled_from([shape, shape[-1:]])), 0, 2))
    if data.draw(st.booleans()):
        kw["pos_weight"] = data.draw(arrays(shape[-1:], 0.1, 3))
    check_vs_torch(
        lambda z: F.binary_cross_entropy_with_logits(z, y, **kw),
        lambda z: TF.binary_cross_entropy_with_logits(z, torch.from_numpy(y), **_torch_kwargs(kw)),
        x,
    )


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_losses_match_torch(name, reduction, weighted):
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    a[0, 0] = b[0, 0]  # l1 at a kink: gradient 0, as torch
    kw = {"reduction": reduction, **({"weight": RNG.random((3, 4))} if weighted else {})}
    check_vs_torch(lambda x, y: getattr(F, name)(x, y, **kw),
                   lambda x, y: getattr(TF, name)(x, y, **_torch_kwargs(kw)), a, b)


@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu_matches_torch(slope):
    x = RNG.standard_normal((3, 4))
    x[0, :2] = 0.0  # gradient at 0 is the slope, as torch
    check_vs_torch(lambda t: F.leaky_relu(t, slope), lambda t: TF.leaky_relu(t, slope), x)


def test_softmax_takes_dim_as_pytorch():
    x = RNG.standard_normal((2, 3, 4))
    for dim in (0, 1, -1):
        check_vs_torch(lambda t: F.softmax(t, dim=dim), lambda t: TF.softmax(t, dim=dim), x)
        check_vs_torch(lambda t: F.log_softmax(t, dim), lambda t: TF.log_softmax(t, dim), x)
    np.testing.assert_array_equal(F.softmax(Tensor(x), axis=0).data, F.softmax(Tensor(x), dim=0).data)
    with pytest.raises(TypeError, match="not both"):
        F.softmax(Tensor(x), dim=0, axis=0)


def test_linear_rejects_integer_input_as_torch():
    w = Tensor(np.ones((3, 4), np.float32), requires_grad=True)
    for bad in (np.ones((2, 4), np.int64), np.ones((2, 4), np.uint8), np.ones((2, 4), bool)):
        with pytest.raises(TypeError, match=f"dtype {bad.dtype}.*floating-point input"):
            F.linear(bad, w)
    with pytest.raises(RuntimeError):  # what torch does with the same call
        TF.linear(torch.ones((2, 4), dtype=torch.int64), torch.ones((3, 4)))


def test_composite_losses_differentiate_twice():
    """The general cross_entropy / nll_loss / BCE paths are built from differentiable ops: their
    second derivatives pass gradgradcheck and the Hessian matches torch float64."""
    from gradengine.func import hessian
    from gradengine.gradcheck import gradgradcheck

    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 2))
    y = np.array([[0, 3], [-100, 2], [1, 1]])
    w = rng.random(4) + 0.5
    ce = lambda z: F.cross_entropy(z, y, weight=w, label_smoothing=0.2)  # noqa: E731
    assert gradgradcheck(ce, x)
    assert gradgradcheck(lambda z: F.nll_loss(z.log_softmax(1), y, weight=w, reduction="sum"), x)
    xb, yb = rng.standard_normal((3, 2)), rng.random((3, 2))
    assert gradgradcheck(lambda z: F.binary_cross_entropy_with_logits(z, yb, pos_weight=np.array([2.0, 0.5])), xb)

    theirs = torch.autograd.functional.hessian(
        lambda z: TF.cross_entropy(z, torch.from_numpy(y), weight=torch.from_numpy(w), label_smoothing=0.2),
        torch.from_numpy(x))
    np.testing.assert_allclose(hessian(ce)(x), theirs.numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Non-finite scores and empty selections: the same values and gradients as PyTorch
# ---------------------------------------------------------------------------------------------
_INF, _NAN = np.inf, np.nan
NON_FINITE_ROWS = np.array([[1.0, _INF, 0.0], [-_INF, -_INF, -_INF], [-_INF, 0.0, 1.0], [_INF, _INF, 0.0],
                            [_NAN, 0.0, 1.0], [-_INF, -_INF, 0.0], [2.0, -1.0, 0.5]])


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("rows", [NON_FINITE_ROWS, np.tile(NON_FINITE_ROWS, (6, 1))])  # also the many-rows path
def test_softmax_family_of_non_finite_scores_matches_torch(fn, rows):
    """A row holding +inf or nan, or only -inf, is all nan in PyTorch (its max shift gives
    inf - inf); -inf entries beside finite ones are probability 0. logsumexp is different (next test)."""
    with np.errstate(all="ignore"):
        got = getattr(F, fn)(Tensor(rows), dim=1).data
    want = getattr(torch, fn)(torch.tensor(rows), dim=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)  # nan and inf in the same places


def test_logsumexp_of_non_finite_scores_matches_torch():
    with np.errstate(all="ignore"):
        got = F.logsumexp(Tensor(NON_FINITE_ROWS), dim=1).data
    np.testing.assert_allclose(got, torch.logsumexp(torch.tensor(NON_FINITE_ROWS), dim=1).numpy(), rtol=1e-12)


@pytest.mark.parametrize("loss, kwargs", [
    ("cross_entropy", {}), ("cross_entropy", {"label_smoothing": 0.1}),
    ("cross_entropy", {"weight": np.array([1.0, 2.0, 0.5])}),
    ("nll_loss", {}), ("nll_loss", {"weight": np.array([1.0, 2.0, 0.5])}),
])
def test_every_label_ignored_gives_nan_and_zero_gradients_as_torch(loss, kwargs):
    x = np.random.default_rng(3).standard_normal((2, 3))
    target = np.array([-100, -100])
    xt = torch.tensor(x, requires_grad=True)
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    want = getattr(TF, loss)(xt if loss == "cross_entropy" else xt.log_softmax(1), torch.tensor(target), **tkw)
    want.backward()
    xg = Tensor(x, requires_grad=True)
    got = getattr(F, loss)(xg if loss == "cross_entropy" else xg.log_softmax(1), target, **kwargs)
    got.backward()
    assert np.isnan(got.item()) and np.isnan(want.item())
    np.testing.assert_array_equal(xg.grad, xt.grad.numpy())  # zeros, not nan


def test_relu_gradient_at_nan_and_zero_matches_torch():
    x = np.array([np.nan, -1.0, 0.0, -0.0, 2.0, np.inf, -np.inf])
    xt = torch.tensor(x, requires_grad=True)
    xt.relu().sum().backward()
    xg = Tensor(x, requires_grad=True)
    xg.relu().sum().backward()
    np.testing.assert_array_equal(xg.grad, xt.grad.numpy())
    np.testing.assert_array_equal(F.relu(Tensor(x)).data, TF.relu(torch.tensor(x)).numpy())
