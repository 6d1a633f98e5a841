"""Tests of gradengine.func (grad, value_and_grad, vjp, jvp, jacrev, jacfwd, hessian, hvp),
``Tensor.backward(create_graph=True)`` and ``gradengine.testing.check_grads`` (issue 8).

Closed-form Hessians, PyTorch (float64, ``torch.func`` / ``torch.autograd``) as the oracle,
nested transforms (perturbation confusion), both engines, and the issue's example block.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradengine.functional as F
from gradengine import Tensor, Value
from gradengine.autograd import Op, backprop
from gradengine.func import grad, hessian, hvp, jacfwd, jacrev, jvp, value_and_grad, vjp
from gradengine.gradcheck import GradcheckError, gradgradcheck
from gradengine.testing import arrays, check_grads

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: comparisons with PyTorch are skipped")


def _t(a):
    import torch

    return torch.tensor(a, dtype=torch.float64)


def _np(t):
    return t.detach().numpy()


# ---------------------------------------------------------------------------------------------
# The issue's example block, as written
# ---------------------------------------------------------------------------------------------
def test_the_issue_example_block_imports_as_written():
    """The block's first line: ``gradgradcheck`` is exported beside ``grad`` (as ``gradcheck``)."""
    from gradengine import Tensor, grad, value_and_grad, gradgradcheck  # noqa: F401 (as the issue writes it)

    from gradengine.gradcheck import gradgradcheck as defined

    assert gradgradcheck is defined


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
def test_the_issue_example_block_runs_with_the_documented_results():
    """The rest of the block, line by line, with its documented types, shapes and values."""
    torch = _torch()
    import numpy as np
    from gradengine import Tensor, grad
    from gradengine.func import vjp, jvp, jacrev, jacfwd, hessian, hvp

    f = lambda x: (x.tanh() ** 2).sum() + (x[:-1] * x[1:]).sum()    # noqa: E731
    x = np.linspace(-1.0, 1.0, 5)
    g = grad(f)(x)
    H = hessian(f)(x)
    hv = hvp(f, (x,), (np.ones(5),))
    jv = jvp(lambda x: x.exp() * x, (x,), (np.ones(5),))
    out, pullback = vjp(lambda x: x.sigmoid(), x)
    pb = pullback(np.ones(5))
    jr, jf = jacrev(lambda x: x.softmax())(x), jacfwd(lambda x: x.softmax())(x)

    w = Tensor(np.random.default_rng(0).normal(size=(3, 4)), requires_grad=True)
    loss = ((w @ np.ones(4)).tanh() ** 2).sum()
    loss.backward(create_graph=True)
    assert isinstance(w.grad, Tensor) and w.grad.op is not None  # a Tensor with history
    first = w.grad.data.copy()
    (w.grad ** 2).sum().backward()
    assert gradgradcheck(lambda w: (w @ w.T).tanh().sum(), np.ones((2, 3))) is True

    # arrays in, arrays out, of the documented shapes and values
    assert isinstance(g, np.ndarray) and g.shape == (5,)
    assert isinstance(H, np.ndarray) and H.shape == (5, 5)
    tx = _t(x)
    tf = lambda x: (x.tanh() ** 2).sum() + (x[:-1] * x[1:]).sum()  # noqa: E731
    np.testing.assert_allclose(H, _np(torch.func.hessian(tf)(tx)), rtol=0, atol=1e-10)
    np.testing.assert_allclose(g, _np(torch.func.grad(tf)(tx)), rtol=0, atol=1e-12)
    assert isinstance(hv, tuple) and len(hv) == 2 and isinstance(hv[0], float)
    assert isinstance(hv[1], tuple) and len(hv[1]) == 1 and isinstance(hv[1][0], np.ndarray)
    assert hv[0] == pytest.approx(float(tf(tx)), abs=1e-12)
    np.testing.assert_allclose(hv[1][0], H @ np.ones(5), atol=1e-10)
    assert isinstance(jv[0], np.ndarray) and isinstance(jv[1], np.ndarray)
    np.testing.assert_allclose(jv[1], np.exp(x) * (1 + x), atol=1e-12)
    assert isinstance(out, np.ndarray) and isinstance(pb, tuple) and len(pb) == 1
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(pb[0], s * (1 - s), atol=1e-12)
    assert jr.shape == jf.shape == (5, 5)
    np.testing.assert_allclose(jr, jf, atol=1e-12)

    tw = torch.tensor(np.random.default_rng(0).normal(size=(3, 4)), requires_grad=True)
    tloss = ((tw @ torch.ones(4, dtype=torch.float64)).tanh() ** 2).sum()
    tloss.backward(create_graph=True)
    np.testing.assert_allclose(first, _np(tw.grad), atol=1e-12)
    (tw.grad ** 2).sum().backward()
    np.testing.assert_allclose(np.asarray(getattr(w.grad, "data", w.grad)), _np(tw.grad), atol=1e-12)


def test_transforms_give_arrays_for_arrays_and_history_for_tensors():
    f = lambda x: (x.tanh() ** 2).sum()  # noqa: E731
    x = np.array([0.3, -0.2, 0.5])
    results = {
        "grad": lambda a: grad(f)(a),
        "value_and_grad": lambda a: value_and_grad(f)(a)[1],
        "hessian": lambda a: hessian(f)(a),
        "jacrev": lambda a: jacrev(lambda t: t.sin())(a),
        "jacfwd": lambda a: jacfwd(lambda t: t.sin())(a),
        "hvp": lambda a: hvp(f, (a,), (np.ones(3),))[1][0],
        "jvp": lambda a: jvp(lambda t: t.sin(), (a,), (np.ones(3),))[1],
        "vjp": lambda a: vjp(lambda t: t.sin(), a)[1](np.ones(3))[0],
    }
    for name, fn in results.items():
        raw = fn(x)
        assert isinstance(raw, np.ndarray), name
        nested = fn(Tensor(x, requires_grad=True))
        assert isinstance(nested, Tensor) and nested.op is not None, name
        np.testing.assert_allclose(nested.data, raw, atol=1e-14, err_msg=name)
    assert isinstance(value_and_grad(f)(x)[0], float)
    assert isinstance(grad(lambda t: t * t * t)(0.4), float)
    assert isinstance(hessian(lambda t: t * t * t)(0.4), float)
    g = grad(lambda t: t * t * t)(Value(0.4))
    assert isinstance(g, Value) and g.op is not None and g.data == pytest.approx(3 * 0.16)


def test_reductions_give_arrays_in_forward_mode():
    """``jvp`` of a full reduction (or of an int index) is a 0-d ndarray, as its output is."""
    x = np.array([0.3, -0.2, 0.5])
    for f in (lambda a: a.sum(), lambda a: a.mean(), lambda a: a[0], lambda a: a.max()):
        out, t = jvp(f, (x,), (np.ones(3),))
        assert isinstance(out, np.ndarray) and out.shape == ()
        assert isinstance(t, np.ndarray) and t.shape == (), f"tangent {t!r} is a {type(t).__name__}"


def test_jacobians_of_empty_outputs_and_inputs():
    """A zero-size output (or input) has a zero-size Jacobian, as torch.func.jacrev gives."""
    x = np.array([0.5, 1.0])
    assert jacrev(lambda a: a[0:0])(x).shape == (0, 2)
    assert jacfwd(lambda a: a[0:0])(x).shape == (0, 2)
    assert jacrev(lambda a: a.sum() * 2)(np.zeros(0)).shape == (0,)
    assert jacfwd(lambda a: a.sum() * 2)(np.zeros(0)).shape == (0,)


def test_create_graph_gradients_are_tensors_even_when_constant():
    """``backprop(create_graph=True)`` promises gradients that are graphs: a zero derivative
    (relu below 0, ``x ** 0``) must still come back as a Tensor, so it can be differentiated."""
    for f in (lambda x: x.relu(), lambda x: x ** 0.0, lambda x: x.abs() * 0 + (-x).relu()):
        x = Tensor(np.array(-1.5), requires_grad=True)
        out = f(x)
        g = backprop(out, Tensor(np.array(1.0)), create_graph=True)[x]
        assert isinstance(g, Tensor), f"got a {type(g).__name__}"
        second = backprop((g * 3.0).sum(), np.ones(()), create_graph=False)  # must not fail
        assert np.all(np.asarray(getattr(second.get(x, 0.0), "data", second.get(x, 0.0))) == 0)


def test_constant_derivatives_still_have_history_when_nested():
    """Values/Tensors in give results with history, even where a derivative is a constant
    (relu below 0, ``x + 1``): so ``gradgradcheck`` and ``grad(grad(f))`` work there too."""
    g = grad(lambda t: t + 1.0)(Value(2.0))
    assert isinstance(g, Value) and g.data == 1.0, f"got {g!r}"
    g = grad(lambda t: t.relu())(Value(-2.0))
    assert isinstance(g, Value) and g.data == 0.0, f"got {g!r}"
    assert grad(grad(lambda t: t.relu()))(-2.0) == 0.0
    for f, x in ((lambda a: a.relu(), -1.0), (lambda a: a.relu(), np.array(-1.0)), (lambda a: a ** 0.0, np.array(1.5)),
                 (lambda a: a ** 0.0, 1.5), (lambda a: a.relu().sum(), np.array([-1.0, -2.0]))):
        assert gradgradcheck(f, x) is True


# ---------------------------------------------------------------------------------------------
# Hessians in closed form
# ---------------------------------------------------------------------------------------------
@st.composite
def square_and_vector(draw):
    n = draw(st.integers(1, 4))
    return draw(arrays((n, n))), draw(arrays((n,)))


@SETTINGS
@given(square_and_vector())
def test_hessian_of_a_quadratic_form(ax):
    a, x = ax
    for H in (hessian(lambda x: x @ a @ x)(x), hessian(lambda x: (x * (Tensor(a) @ x)).sum())(x)):
        np.testing.assert_allclose(H, a + a.T, rtol=1e-12, atol=1e-12)
    _, (hv,) = hvp(lambda x: x @ a @ x, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(hv, (a + a.T) @ np.ones_like(x), rtol=1e-12, atol=1e-12)


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def rosenbrock_hessian(x):
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] = H[i + 1, i] = -400 * x[i]
    return H


@SETTINGS
@given(st.integers(2, 5).flatmap(lambda n: arrays((n,), -2, 2)))
def test_hessian_of_rosenbrock(x):
    np.testing.assert_allclose(hessian(rosenbrock)(x), rosenbrock_hessian(x), rtol=1e-11, atol=1e-9)
    g = grad(rosenbrock)(x)
    expected = np.zeros_like(x)
    expected[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    expected[1:] += 200 * (x[1:] - x[:-1] ** 2)
    np.testing.assert_allclose(g, expected, rtol=1e-11, atol=1e-9)


def test_hessian_of_rosenbrock_of_two_floats_in_the_scalar_engine():
    f = lambda a, b: (1 - a) ** 2 + 100 * (b - a ** 2) ** 2  # noqa: E731
    (haa, hab), (hba, hbb) = hessian(f, argnums=(0, 1))(1.5, -0.5)
    H = rosenbrock_hessian(np.array([1.5, -0.5]))
    assert [haa, hab, hba, hbb] == pytest.approx(H.ravel().tolist(), rel=1e-12)


@SETTINGS
@given(st.integers(1, 5).flatmap(lambda n: arrays((n,), -5, 5)))
def test_hessian_of_logsumexp(x):
    p = np.exp(x - x.max())
    p /= p.sum()
    expected = np.diag(p) - np.outer(p, p)
    for f in (lambda x: x.logsumexp(), lambda x: x.logsumexp(0), lambda x: x.reshape(1, -1).logsumexp(1).sum()):
        np.testing.assert_allclose(hessian(f)(x), expected, rtol=1e-10, atol=1e-12)


@st.composite
def logits_and_targets(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    z = draw(arrays((n, c), -4, 4))
    if draw(st.booleans()):
        target = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    else:
        w = draw(arrays((n, c), 0.05, 1.0))
        target = w / w.sum(axis=1, keepdims=True)
    return z, target, draw(st.sampled_from(["mean", "sum"]))


@SETTINGS
@given(logits_and_targets())
def test_hessian_of_softmax_cross_entropy_wrt_logits(case):
    z, target, reduction = case
    n, c = z.shape
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected = np.zeros((n, c, n, c))
    for i in range(n):
        expected[i, :, i, :] = np.diag(p[i]) - np.outer(p[i], p[i])
    if reduction == "mean":
        expected /= n
    f = lambda z: F.cross_entropy(z, target, reduction=reduction)  # noqa: E731
    np.testing.assert_allclose(hessian(f)(z), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jacrev(jacrev(f))(z), expected, rtol=1e-10, atol=1e-12)
    v = np.random.default_rng(0).standard_normal(z.shape)
    _, (hv,) = hvp(f, (z,), (v,))
    np.testing.assert_allclose(hv, np.tensordot(expected, v, axes=2), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Against torch.func.hessian
# ---------------------------------------------------------------------------------------------
def test_the_issue_function_hessian_matches_torch_to_1e_10():
    torch = _torch()
    f = lambda x: (x.tanh() ** 2).sum() + (x[:-1] * x[1:]).sum()  # noqa: E731
    x = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_allclose(hessian(f)(x), _np(torch.func.hessian(f)(_t(x))), rtol=0, atol=1e-10)


FUNCTIONS = {  # each works on our Tensors and on torch tensors alike
    "tanh_chain": lambda x: (x.tanh() ** 2).sum() + (x[:-1] * x[1:]).sum(),
    "exp_sin": lambda x: (x.sin() * x.exp()).sum() / (1 + (x * x).sum()),
    "sigmoid_outer": lambda x: ((x.reshape(-1, 1) @ x.reshape(1, -1)).sigmoid() * x).sum(),
    "softmax_entropy": lambda x: -(x.softmax(-1) * x.log_softmax(-1)).sum(),
    "logsumexp_sq": lambda x: x.logsumexp(0) ** 2 + (x ** 3).mean(),
    "sqrt_norm": lambda x: ((x * x).sum() + 1).sqrt(),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_hessian_matches_torch(name):
    torch = _torch()
    f = FUNCTIONS[name]

    @SETTINGS
    @given(st.integers(2, 4).flatmap(lambda n: arrays((n,), -2, 2)))
    def run(x):
        expected = _np(torch.func.hessian(f)(_t(x)))
        np.testing.assert_allclose(hessian(f)(x), expected, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(jacrev(jacrev(f))(x), expected, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(jacrev(jacfwd(f))(x), expected, rtol=1e-10, atol=1e-10)

    run()


# ---------------------------------------------------------------------------------------------
# hvp and jvp on an MLP's weights, against torch
# ---------------------------------------------------------------------------------------------
def _mlp_problem(seed, n=5, d=3, h=4, c=3):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, d)), rng.integers(0, c, n)
    params = (rng.standard_normal((h, d)), rng.standard_normal(h) * 0.1, rng.standard_normal((c, h)), rng.standard_normal(c) * 0.1)
    tangents = tuple(rng.standard_normal(p.shape) for p in params)
    return x, y, params, tangents


def _logits(lin, x, w1, b1, w2, b2):
    return lin(lin(x, w1, b1).tanh(), w2, b2)


@pytest.mark.parametrize("seed", range(4))
def test_hvp_and_jvp_on_mlp_weights_match_torch(seed):
    torch = _torch()
    TF = torch.nn.functional
    x, y, params, tangents = _mlp_problem(seed)

    def loss(*ps):
        return F.cross_entropy(_logits(F.linear, x, *ps), y)

    def tloss(*ps):
        return TF.cross_entropy(_logits(TF.linear, _t(x), *ps), torch.from_numpy(y))

    tparams, ttangents = tuple(_t(p) for p in params), tuple(_t(t) for t in tangents)
    value, hvs = hvp(loss, params, tangents)
    tvalue, thvs = torch.autograd.functional.hvp(tloss, tparams, ttangents)
    assert isinstance(value, float) and value == pytest.approx(float(tvalue), rel=1e-12)
    assert isinstance(hvs, tuple) and len(hvs) == len(params)
    for i, (a, b) in enumerate(zip(hvs, thvs)):
        assert a.shape == params[i].shape
        np.testing.assert_allclose(a, _np(b), rtol=1e-9, atol=1e-11, err_msg=f"H v for parameter {i}")

    out, tangent = jvp(loss, params, tangents)  # forward mode, the loss
    tout, ttangent = torch.func.jvp(tloss, tparams, ttangents)
    assert float(out) == pytest.approx(tout.item(), rel=1e-12)
    assert float(tangent) == pytest.approx(ttangent.item(), rel=1e-9, abs=1e-12)

    out, tangent = jvp(lambda *ps: _logits(F.linear, x, *ps), params, tangents)  # and the logits
    tout, ttangent = torch.func.jvp(lambda *ps: _logits(TF.linear, _t(x), *ps), tparams, ttangents)
    np.testing.assert_allclose(out, _np(tout), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tangent, _np(ttangent), rtol=1e-9, atol=1e-11)

    g = grad(loss, argnums=(0, 1, 2, 3))(*params)  # the gradient, and the Hessian block of w2
    tg = torch.func.grad(tloss, argnums=(0, 1, 2, 3))(*tparams)
    for a, b in zip(g, tg):
        np.testing.assert_allclose(a, _np(b), rtol=1e-10, atol=1e-12)
    H22 = hessian(lambda w2: loss(params[0], params[1], w2, params[3]))(params[2])
    tH22 = torch.func.hessian(lambda w2: tloss(tparams[0], tparams[1], w2, tparams[3]))(tparams[2])
    np.testing.assert_allclose(H22, _np(tH22), rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------------------------------------
# Tensor.backward(create_graph=True) against torch's double backward
# ---------------------------------------------------------------------------------------------
TORCH_CREATE_GRAPH_WARNING = pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")


@TORCH_CREATE_GRAPH_WARNING
@SETTINGS
@given(st.integers(0, 10**6))
def test_gradient_penalty_matches_torch_double_backward(seed):
    torch = _torch()
    TF = torch.nn.functional
    x, y, params, _ = _mlp_problem(seed)
    ours = [Tensor(p, requires_grad=True) for p in params]
    theirs = [torch.tensor(p, requires_grad=True) for p in params]

    loss = F.cross_entropy(_logits(F.linear, x, *ours), y)
    loss.backward(create_graph=True)
    tloss = TF.cross_entropy(_logits(TF.linear, _t(x), *theirs), torch.from_numpy(y))
    tloss.backward(create_graph=True)
    for p, tp in zip(ours, theirs):
        assert isinstance(p.grad, Tensor) and p.grad.requires_grad
        np.testing.assert_allclose(p.grad.data, _np(tp.grad), rtol=1e-10, atol=1e-12)

    penalty = sum((p.grad ** 2).sum() for p in ours)  # ||grad||^2, differentiated once more
    firsts = [p.grad.data.copy() for p in ours]
    for p in ours:
        p.grad = None
    penalty.backward()
    tpenalty = sum((tp.grad ** 2).sum() for tp in theirs)
    tfirsts = [tp.grad.detach().clone() for tp in theirs]
    for tp in theirs:
        tp.grad = None
    tpenalty.backward()
    assert float(penalty.data) == pytest.approx(tpenalty.item(), rel=1e-10)
    for i, (p, tp, f1, tf1) in enumerate(zip(ours, theirs, firsts, tfirsts)):
        np.testing.assert_allclose(f1, _np(tf1), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(getattr(p.grad, "data", p.grad)), _np(tp.grad), rtol=1e-9, atol=1e-11,
                                   err_msg=f"d penalty / d parameter {i}")


@TORCH_CREATE_GRAPH_WARNING
def test_create_graph_accumulates_like_torch():
    """Without clearing, the second backward adds to the create_graph gradient, as PyTorch."""
    torch = _torch()
    w0 = np.array([[0.3, -0.4], [0.8, 0.1]])
    w = Tensor(w0, requires_grad=True)
    ((w @ w).tanh().sum()).backward(create_graph=True)
    (w.grad ** 2).sum().backward()
    tw = torch.tensor(w0, requires_grad=True)
    ((tw @ tw).tanh().sum()).backward(create_graph=True)
    (tw.grad ** 2).sum().backward()
    np.testing.assert_allclose(np.asarray(getattr(w.grad, "data", w.grad)), _np(tw.grad), rtol=1e-12, atol=1e-12)


def test_backward_without_create_graph_is_unchanged():
    w = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    (w.tanh() ** 2).sum().backward()
    assert isinstance(w.grad, np.ndarray)
    np.testing.assert_allclose(w.grad, 2 * np.tanh(w.data) * (1 - np.tanh(w.data) ** 2))


# ---------------------------------------------------------------------------------------------
# nth derivatives: tensors against the scalar engine
# ---------------------------------------------------------------------------------------------
def _nth(f, n, tensor):
    d = f
    for _ in range(n):
        d = (lambda d: grad(lambda x: d(x).sum() if tensor else d(x)))(d)
    return d


@SETTINGS
@given(arrays(st.sampled_from([(3,), (2, 2)]), -2.5, 2.5))
def test_nth_derivatives_of_tanh_on_tensors_equal_the_scalar_engine(x):
    t = np.tanh(x)
    closed = {1: 1 - t ** 2, 2: -2 * t * (1 - t ** 2), 3: (6 * t ** 2 - 2) * (1 - t ** 2),
              4: (16 * t - 24 * t ** 3) * (1 - t ** 2)}
    for n in range(1, 5):
        on_tensors = _nth(lambda v: v.tanh(), n, tensor=True)(x)
        on_values = np.array([_nth(lambda v: v.tanh(), n, tensor=False)(float(v)) for v in x.ravel()]).reshape(x.shape)
        np.testing.assert_allclose(on_tensors, on_values, rtol=1e-12, atol=1e-12, err_msg=f"order {n}")
        np.testing.assert_allclose(on_tensors, closed[n], rtol=1e-10, atol=1e-12, err_msg=f"order {n}")


def test_nth_derivatives_by_backward_create_graph():
    x = Tensor(np.array([0.3, -1.1]), requires_grad=True)
    y = x.tanh().sum()
    t = np.tanh(x.data)
    for expected in (1 - t ** 2, -2 * t * (1 - t ** 2), (6 * t ** 2 - 2) * (1 - t ** 2)):
        x.grad = None
        y.backward(create_graph=True)
        np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)
        y = x.grad.sum()


# ---------------------------------------------------------------------------------------------
# Nested transforms: perturbation confusion, and every composition giving the Hessian
# ---------------------------------------------------------------------------------------------
@SETTINGS
@given(arrays(st.sampled_from([(1,), (3,), (2, 2)])))
def test_no_perturbation_confusion_on_tensors(x):
    got = grad(lambda x: (x * grad(lambda y: (x * y).sum())(x)).sum())(x)
    np.testing.assert_allclose(got, 2 * x, rtol=1e-14, atol=1e-14)
    got = jvp(lambda x: x * jvp(lambda y: x * y, (x,), (np.ones_like(x),))[1], (x,), (np.ones_like(x),))[1]
    np.testing.assert_allclose(got, 2 * x, rtol=1e-14, atol=1e-14)


def test_no_perturbation_confusion_on_floats():
    assert grad(lambda x: x * grad(lambda y: x * y)(x))(3.0) == pytest.approx(6.0)
    # Siskind & Pearlmutter: d/dx [x * d/dy (x + y)] = d/dx [x] = 1 (confusion gives 2)
    assert grad(lambda x: x * grad(lambda y: x + y)(1.0))(1.0) == pytest.approx(1.0)
    assert jvp(lambda x: x * jvp(lambda y: x + y, (1.0,), (1.0,))[1], (1.0,), (1.0,))[1] == pytest.approx(1.0)
    assert jvp(lambda x: x * grad(lambda y: x + y)(1.0), (1.0,), (1.0,))[1] == pytest.approx(1.0)
    x = np.array([1.0, 2.0])
    got = grad(lambda x: (x * grad(lambda y: (x + y).sum())(np.ones(2))).sum())(x)
    np.testing.assert_allclose(got, np.ones(2))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_all_hessian_compositions_agree(name):
    f = FUNCTIONS[name]

    @SETTINGS
    @given(st.integers(2, 4).flatmap(lambda n: arrays((n,), -2, 2)))
    def run(x):
        H = hessian(f)(x)
        np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(jacfwd(jacrev(f))(x), H, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(jacrev(jacrev(f))(x), H, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(jacfwd(jacfwd(f))(x), H, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(jacfwd(grad(f))(x), H, rtol=1e-10, atol=1e-12)
        v = np.linspace(-1, 1, x.size)
        np.testing.assert_allclose(hvp(f, (x,), (v,))[1][0], H @ v, rtol=1e-10, atol=1e-12)

    run()


def test_jacobians_of_functions_of_several_arguments():
    """Arguments not differentiated are constants, whatever the transform (methods work on them)."""
    a, b = np.array([0.3, -0.2]), np.array([1.0, 2.0])
    f = lambda x, y: x * y.exp()  # noqa: E731
    expected = (np.diag(np.exp(b)), np.diag(a * np.exp(b)))
    for jac in (jacrev, jacfwd):
        np.testing.assert_allclose(jac(f, 0)(a, b), expected[0], err_msg=jac.__name__)
        np.testing.assert_allclose(jac(f, 1)(a, b), expected[1], err_msg=jac.__name__)
        for got, e in zip(jac(f, (0, 1))(a, b), expected):
            np.testing.assert_allclose(got, e, err_msg=jac.__name__)


# ---------------------------------------------------------------------------------------------
# The scalar engine's transforms against torch
# ---------------------------------------------------------------------------------------------
def h2(a, b):
    return (a * b).sin() + a ** 3 * b.exp() + (a * a + 1).log() * b.tanh()


@SETTINGS
@given(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(-2, 2), st.floats(-2, 2))
def test_scalar_transforms_match_torch(a, b, ta, tb):
    torch = _torch()
    A, B, TA, TB = _t(a), _t(b), _t(ta), _t(tb)
    out, tangent = jvp(h2, (a, b), (ta, tb))
    tout, ttangent = torch.func.jvp(h2, (A, B), (TA, TB))
    assert isinstance(out, float) and isinstance(tangent, float)
    assert out == pytest.approx(float(tout), rel=1e-12, abs=1e-14)
    assert tangent == pytest.approx(float(ttangent), rel=1e-10, abs=1e-12)

    H = hessian(h2, argnums=(0, 1))(a, b)
    tH = torch.func.hessian(h2, argnums=(0, 1))(A, B)
    assert [float(v) for row in H for v in row] == pytest.approx([float(v) for row in tH for v in row], rel=1e-10, abs=1e-12)
    assert hessian(h2)(a, b) == pytest.approx(float(tH[0][0]), rel=1e-10, abs=1e-12)

    g = grad(h2, argnums=(0, 1))(a, b)
    tg = torch.func.grad(h2, argnums=(0, 1))(A, B)
    assert [float(v) for v in g] == pytest.approx([float(v) for v in tg], rel=1e-12, abs=1e-14)
    assert [float(v) for v in vjp(h2, a, b)[1](1.0)] == pytest.approx([float(v) for v in tg], rel=1e-12, abs=1e-14)

    value, hv = hvp(h2, (a, b), (ta, tb))
    thv = torch.autograd.functional.hvp(h2, (A, B), (TA, TB))[1]
    assert isinstance(value, float) and value == pytest.approx(float(tout), rel=1e-12, abs=1e-14)
    assert [float(v) for v in hv] == pytest.approx([float(v) for v in thv], rel=1e-10, abs=1e-12)
    J = jacrev(h2, argnums=(0, 1))(a, b)
    assert [float(v) for v in J] == pytest.approx([float(v) for v in tg], rel=1e-12, abs=1e-14)


def test_scalar_jacfwd_of_several_floats_matches_torch():
    torch = _torch()
    a, b = 0.4, -0.9
    tJ = torch.func.jacfwd(h2, argnums=(0, 1))(_t(a), _t(b))
    J = jacfwd(h2, argnums=(0, 1))(a, b)
    assert isinstance(J, tuple) and all(isinstance(v, float) for v in J)
    assert list(J) == pytest.approx([float(v) for v in tJ], rel=1e-12)
    assert jacfwd(h2, argnums=1)(a, b) == pytest.approx(float(tJ[1]), rel=1e-12)


def test_scalar_third_derivative_matches_torch():
    torch = _torch()
    f = lambda x: x.sin() * x.exp() / (1 + x * x)  # noqa: E731
    ours = grad(grad(grad(f)))(0.7)
    theirs = torch.func.grad(torch.func.grad(torch.func.grad(f)))(_t(0.7))
    assert ours == pytest.approx(float(theirs), rel=1e-11)
    assert jacfwd(jacfwd(jacfwd(f)))(0.7) == pytest.approx(float(theirs), rel=1e-11)


# ---------------------------------------------------------------------------------------------
# Non-smooth points follow PyTorch: relu'' = 0, max ties split, to second order
# ---------------------------------------------------------------------------------------------
def test_relu_and_max_at_their_kinks_follow_torch():
    torch = _torch()
    x = np.array([0.0, -1.0, 2.0, 2.0])
    cases = {
        "relu": lambda x: (x.relu() ** 3).sum() + x.relu().sum(),
        "max_ties": lambda x: x.max() ** 2 + (x * x.max()).sum(),
        "max_axis_ties": lambda x: (x.reshape(2, 2).max(1) ** 2).sum(),
        "abs": lambda x: (x.abs() * x).sum(),
    }
    torch_cases = {
        "relu": cases["relu"],
        "max_ties": lambda x: x.amax() ** 2 + (x * x.amax()).sum(),
        "max_axis_ties": lambda x: (x.reshape(2, 2).amax(1) ** 2).sum(),
        "abs": cases["abs"],
    }
    for name in cases:
        tx = _t(x)
        np.testing.assert_allclose(grad(cases[name])(x), _np(torch.func.grad(torch_cases[name])(tx)), atol=1e-12, err_msg=name)
        np.testing.assert_allclose(hessian(cases[name])(x), _np(torch.func.hessian(torch_cases[name])(tx)), atol=1e-12,
                                   err_msg=name)
    np.testing.assert_array_equal(hessian(lambda x: x.relu().sum())(x), np.zeros((4, 4)))  # relu'' = 0
    np.testing.assert_allclose(grad(lambda x: x.max())(x), [0, 0, 0.5, 0.5])  # ties split
    tangent = np.array([1.0, 2.0, 3.0, 5.0])
    assert jvp(lambda x: x.max(), (x,), (tangent,))[1] == pytest.approx(4.0)  # J v with the split J


# ---------------------------------------------------------------------------------------------
# gradengine.testing.check_grads
# ---------------------------------------------------------------------------------------------
GOOD = {
    "tanh_sum": (lambda x: (x.tanh() * x).sum(), (np.array([0.3, -0.7, 1.2]),)),
    "matmul_tanh": (lambda x, y: (x @ y.T).tanh(), (np.full((2, 3), 0.3), np.arange(6.0).reshape(2, 3) / 10)),
    "softmax": (lambda x: x.softmax(-1) * x, (np.array([[0.1, -0.5, 2.0], [1.0, 0.0, -1.0]]),)),
    "scalar": (lambda a, b: (a * b).sin() + a.exp() / b, (0.3, 1.5)),
}


@pytest.mark.parametrize("name", sorted(GOOD))
@pytest.mark.parametrize("modes", [("fwd", "rev"), ("fwd",), ("rev",)])
def test_check_grads_passes_on_correct_functions(name, modes):
    f, args = GOOD[name]
    assert check_grads(f, *args, modes=modes, order=2) is True


def test_check_grads_third_order():
    assert check_grads(lambda x: (x.sin() * x).sum(), np.array([0.4, -1.0]), order=3) is True


def _square_with_a_vjp_not_linear_in_g():
    """``a ** 2`` whose rule ``g * g * 2 * a`` is right when ``g == 1`` (so a first-order check
    of a scalar loss passes) but not linear in the incoming gradient ``g``. Not registered."""
    return Op("bad_square", "sq", 1, lambda a: a * a, lambda a: a * a, (lambda g, out, a: g * g * 2 * a,),
              "elementwise", None, None, "")


def test_a_vjp_not_linear_in_the_incoming_gradient_is_caught_at_second_order():
    sq = _square_with_a_vjp_not_linear_in_g()
    x = np.array([0.3, -0.7, 1.2])
    loss = lambda x: sq(x).sum()  # noqa: E731
    assert check_grads(loss, x, modes=("rev",), order=1) is True  # first order cannot see it
    with pytest.raises(GradcheckError, match="incoming gradient"):
        gradgradcheck(loss, x)
    with pytest.raises(GradcheckError, match="incoming gradient"):
        check_grads(loss, x, modes=("rev",), order=2)
    with pytest.raises((GradcheckError, AssertionError)):
        check_grads(loss, x, modes=("fwd",), order=1)  # forward mode applies the rule to the tangent
    with pytest.raises((GradcheckError, AssertionError)):
        check_grads(loss, x)
    with pytest.raises(GradcheckError, match="incoming gradient"):
        gradgradcheck(lambda a: sq(a), 0.7)  # the scalar engine too


def test_check_grads_rejects_bad_arguments():
    with pytest.raises(ValueError, match="modes"):
        check_grads(lambda x: x.sum(), np.ones(2), modes=("backward",))
    with pytest.raises(ValueError, match="order"):
        check_grads(lambda x: x.sum(), np.ones(2), order=0)


def test_argnums_errors_name_the_problem():
    with pytest.raises(TypeError, match="argnums"):
        grad(lambda x: x, argnums="0")
    with pytest.raises(IndexError, match="argnums=2"):
        grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)
    with pytest.raises(ValueError, match="scalar"):
        grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(ValueError, match="one tangent per primal"):
        jvp(lambda x: x, (1.0, 2.0), (1.0,))
    with pytest.raises(ValueError, match="shape"):
        jvp(lambda x: x.sin(), (np.ones(3),), (np.ones(2),))
    assert math.isclose(grad(lambda x, y: x * y, argnums=-1)(2.0, 5.0), 2.0)


# ---------------------------------------------------------------------------------------------
# Tuple and list outputs, as torch.func: cotangents and tangents have the output's structure
# ---------------------------------------------------------------------------------------------
def _two_outputs(x):
    return x.exp(), [(x * x).sum(), x[:2] * 2]


def test_vjp_and_jvp_of_tuple_outputs_match_torch():
    torch = _torch()
    x, u, v = np.array([0.3, -0.5, 1.2]), np.array([1.0, -2.0, 0.5]), np.array([0.7, 0.1, -1.0])
    cts = (u, [1.5, u[:2]])
    out, pullback = vjp(_two_outputs, x)
    tout, tpullback = torch.func.vjp(_two_outputs, _t(x))
    assert isinstance(out, tuple) and isinstance(out[1], list) and len(out[1]) == 2
    (g,) = pullback(cts)
    (tg,) = tpullback((_t(u), [_t(1.5), _t(u[:2])]))
    np.testing.assert_allclose(g, _np(tg), rtol=1e-12)
    assert not np.allclose(g, 0)

    primal, tangent = jvp(_two_outputs, (x,), (v,))
    tprimal, ttangent = torch.func.jvp(_two_outputs, (_t(x),), (_t(v),))
    assert isinstance(tangent, tuple) and isinstance(tangent[1], list) and len(tangent[1]) == 2
    for ours, theirs in ((primal[0], tprimal[0]), (tangent[0], ttangent[0]), (tangent[1][0], ttangent[1][0]),
                         (tangent[1][1], ttangent[1][1])):
        np.testing.assert_allclose(ours, _np(theirs), rtol=1e-12)
    # the scalar engine too: two Values out
    assert vjp(lambda a: (a.sin(), a * 3), 0.5)[1]((1.0, 2.0))[0] == pytest.approx(math.cos(0.5) + 6)
    assert jvp(lambda a: (a.sin(), a * 3), (0.5,), (2.0,))[1] == pytest.approx((2 * math.cos(0.5), 6.0))


def test_vjp_cotangent_must_match_the_output_structure():
    _, pullback = vjp(lambda x: (x.exp(), x * 2), np.ones(3))
    with pytest.raises(TypeError, match="tuple of 2 outputs, so the cotangent must be a tuple of 2"):
        pullback(np.ones(3))
    with pytest.raises(TypeError, match="tuple of 2 outputs"):
        pullback((np.ones(3),))
    with pytest.raises(ValueError, match=r"the cotangent has shape \(2,\) but the output has shape \(3,\)"):
        pullback((np.ones(3), np.ones(2)))
    with pytest.raises(TypeError, match="f must return Values, Tensors, numbers or arrays"):
        vjp(lambda x: (x, None), np.ones(3))


def test_jacobians_and_hessians_of_tuple_outputs_match_torch():
    torch = _torch()
    x, y = np.array([0.3, -0.5, 1.2]), np.array([0.4, 2.0])
    f = lambda a, b: (a.sin() * a, (a[:2] * b).sum() ** 2)  # noqa: E731
    ta, tb = _t(x), _t(y)
    for ours, theirs in ((jacrev, torch.func.jacrev), (jacfwd, torch.func.jacfwd), (hessian, torch.func.hessian)):
        for argnums in (0, (0, 1)):
            got, expected = ours(f, argnums)(x, y), theirs(f, argnums)(ta, tb)
            assert isinstance(got, tuple) and len(got) == 2, ours.__name__
            flat_got = [np.asarray(g) for g in _flatten(got)]
            flat_expected = [_np(e) for e in _flatten(expected)]
            assert len(flat_got) == len(flat_expected), (ours.__name__, argnums)
            for a, b in zip(flat_got, flat_expected):
                assert a.shape == b.shape, (ours.__name__, argnums)
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{ours.__name__} argnums={argnums}")


def _flatten(tree):
    return [leaf for t in tree for leaf in _flatten(t)] if isinstance(tree, (tuple, list)) else [tree]


def test_grad_of_a_tuple_output_says_it_needs_one_scalar():
    with pytest.raises(TypeError, match=r"grad needs f to return .*one scalar.*tuple of 2 outputs"):
        grad(lambda x: (x.sum(), x.sum()))(np.ones(2))
    with pytest.raises(TypeError, match="tuple of 2 outputs"):
        value_and_grad(lambda x: (x, x))(1.0)


# ---------------------------------------------------------------------------------------------
# argnums must be unique, as torch.func ("argnums elements must be unique")
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transform", [grad, value_and_grad, jacrev, jacfwd, hessian])
def test_repeated_argnums_are_refused(transform):
    f = lambda x, y: x * y  # noqa: E731
    with pytest.raises(ValueError, match=r"argnums=\(0, 0\) names argument 0 more than once"):
        transform(f, argnums=(0, 0))(2.0, 3.0)
    with pytest.raises(ValueError, match=r"argnums=\(1, -1\) names argument 1 more than once"):
        transform(f, argnums=(1, -1))(2.0, 3.0)


# ---------------------------------------------------------------------------------------------
# A pullback records when its cotangent is differentiated, wherever vjp was called
# ---------------------------------------------------------------------------------------------
def test_a_top_level_pullback_is_differentiable_in_its_cotangent_like_torch():
    torch = _torch()
    _, pullback = vjp(lambda x: x.sin(), 0.5)
    _, tpullback = torch.func.vjp(lambda x: x.sin(), _t(0.5))
    expected = float(torch.func.grad(lambda c: tpullback(c)[0])(_t(1.0)))
    assert grad(lambda c: pullback(c)[0])(1.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(math.cos(0.5))

    x = np.array([0.3, -0.5, 1.2])
    g = lambda x: x.tanh() * x.sum()  # noqa: E731
    _, pullback = vjp(g, x)
    _, tpullback = torch.func.vjp(g, _t(x))
    jac = jacrev(lambda u: pullback(u)[0])(np.ones(3))  # the pullback is linear in u: J^T
    tjac = torch.func.jacrev(lambda u: tpullback(u)[0])(_t(np.ones(3)))
    np.testing.assert_allclose(jac, _np(tjac), rtol=1e-12)
    assert not np.allclose(jac, 0)
    # nodes in give history out, also when the cotangent (or a jvp tangent) is the only node
    c = Value(2.0)
    (r,) = vjp(lambda x: x.sin(), 0.5)[1](c)
    assert isinstance(r, Value) and r.op is not None and r.data == pytest.approx(2 * math.cos(0.5))
    _, t = jvp(lambda x: x.sin(), (0.5,), (c,))
    assert isinstance(t, Value) and t.op is not None and t.data == pytest.approx(2 * math.cos(0.5))


def test_the_cotangent_of_a_scalar_output_must_be_a_scalar():
    _, pullback = vjp(lambda x: x.sin(), 1.0)
    with pytest.raises(ValueError, match=r"the cotangent has shape \(3,\) but the output has shape \(\)"):
        pullback(np.ones(3))
    with pytest.raises(ValueError, match=r"the cotangent has shape \(1,\) but the output has shape \(\)"):
        pullback([1.0])
    with pytest.raises(TypeError, match="the cotangent must be a number"):
        pullback(None)
    assert pullback(np.float64(2.0))[0] == pytest.approx(2 * math.cos(1.0))


# ---------------------------------------------------------------------------------------------
# Outputs that do not depend on the input: zero derivatives, as for a constant Tensor
# ---------------------------------------------------------------------------------------------
def test_constant_outputs_have_zero_jacobians_like_torch():
    torch = _torch()
    x = np.ones(2)
    expected = _np(torch.func.jacrev(lambda t: torch.ones(2, dtype=torch.float64))(_t(x)))
    for jac in (jacrev, jacfwd):
        for f in (lambda t: np.ones(2), lambda t: Tensor(np.ones(2))):  # a raw array, a constant Tensor
            got = jac(f)(x)
            assert isinstance(got, np.ndarray) and got.shape == (2, 2), jac.__name__
            np.testing.assert_array_equal(got, expected)
        a, b = jac(lambda t: (t, t))(np.ones(3))
        np.testing.assert_array_equal(a, np.eye(3))
        np.testing.assert_array_equal(b, np.eye(3))
        assert jac(lambda t: t.sum() * np.ones(2))(np.ones(0)).shape == (2, 0), jac.__name__
    (g,) = vjp(lambda t: np.ones(2), x)[1](np.ones(2))
    np.testing.assert_array_equal(g, np.zeros(2))
    _, tangent = jvp(lambda t: np.ones(2), (x,), (x,))
    np.testing.assert_array_equal(tangent, np.zeros(2))


# ---------------------------------------------------------------------------------------------
# Non-differentiated arguments are lifted to constants, whatever their numeric type
# ---------------------------------------------------------------------------------------------
def test_non_differentiated_ints_numpy_scalars_and_int_arrays_are_lifted():
    f = lambda x, y: x * y.exp()  # noqa: E731
    for y in (2, np.int64(2), np.float32(2.0), 2.0):
        assert grad(f, argnums=0)(1.0, y) == pytest.approx(math.exp(2.0)), type(y).__name__
        assert jacfwd(f, argnums=0)(1.0, y) == pytest.approx(math.exp(2.0)), type(y).__name__
    x, k = np.array([0.5, 1.0]), np.array([1, 2])
    np.testing.assert_allclose(grad(lambda x, k: (x * k.exp()).sum())(x, k), np.exp(k))
    np.testing.assert_allclose(jacrev(lambda x, k: x * k.exp())(x, k), np.diag(np.exp(k)))


def test_numbers_beside_tensors_stay_numbers_and_labels_stay_integers():
    """A number beside a Tensor must still combine with it (a Value cannot) and index it."""
    torch = _torch()
    x = np.array([1.0, 2.0, 3.0])
    f = lambda x, s, k, n: (x[k] * s).sum() + (x ** n).sum()  # noqa: E731
    expected = _np(torch.func.grad(f)(_t(x), 3.0, 1, 3))
    np.testing.assert_allclose(grad(f)(x, 3.0, 1, 3), expected, rtol=1e-12)
    np.testing.assert_allclose(jacfwd(f)(x, 3.0, 1, 3), expected, rtol=1e-12)
    z, y = np.random.default_rng(0).standard_normal((3, 4)), np.array([0, 2, 1])
    tz = _t(z)
    expected = _np(torch.func.grad(torch.nn.functional.cross_entropy)(tz, torch.from_numpy(y)))
    np.testing.assert_allclose(grad(lambda z, y: F.cross_entropy(z, y))(z, y), expected, rtol=1e-12)
