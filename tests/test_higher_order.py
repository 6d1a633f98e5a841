"""Second-order and forward-mode properties of every op of the tensor table (issue 8).

Each test is parametrized over ``gradengine.tensor.OPS`` through the case table of
``test_tensor.py`` (``OP_CASES``), so a new op is tested here as soon as it has a case there:

1. the ``create_graph`` vjp (rules run on Tensors) equals the fast one (rules run on ndarrays);
2. ``gradgradcheck`` passes: second derivatives against central differences of the first,
   also with respect to the incoming gradient (a vjp that is not linear in it fails);
3. forward mode, ``jvp``, equals ``J @ v`` with ``J`` from ``jacrev``;
4. ``<u, J v> == <J^T u, v>``: forward and reverse mode are transposes of each other;
5. the double backward (gradient of ``<w, J^T u>`` w.r.t. the inputs and ``u``) equals
   PyTorch's, float64.

Non-smooth points follow PyTorch: the cases draw from each op's smooth domain (``max`` draws
distinct elements); ties and kinks are tested in ``test_func.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

from gradengine import Tensor
from gradengine.autograd import backprop
from gradengine.func import jacrev, jvp, vjp
from gradengine.gradcheck import gradgradcheck
from gradengine.tensor import OPS

from test_tensor import OP_CASES

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = sorted(OPS)


def _case(name):
    if name not in OP_CASES:  # test_tensor.test_every_op_has_a_test_case names the gap too
        pytest.fail(f"op {name!r} has no case in tests/test_tensor.py OP_CASES: add one")
    return OP_CASES[name]


def _rng(inputs):
    """A generator seeded from the drawn inputs, so a failing example replays exactly."""
    return np.random.default_rng(abs(hash(tuple(np.asarray(x).tobytes() for x in inputs))) % 2**32)


def _data(g):
    return np.asarray(g.data if isinstance(g, Tensor) else g, dtype=np.float64)


@pytest.mark.parametrize("name", NAMES)
def test_create_graph_vjp_equals_the_fast_vjp(name):
    """The same rules, run on Tensors (recording a graph) and on ndarrays, give one gradient."""
    case = _case(name)

    @SETTINGS
    @given(case.draw)
    def run(drawn):
        inputs, params = drawn
        fn = case.ours(**params)
        xs = [Tensor(x, requires_grad=True) for x in inputs]
        out = fn(*xs)
        u = _rng(inputs).standard_normal(out.shape)
        fast = backprop(out, u, create_graph=False)
        slow = backprop(out, Tensor(u), create_graph=True)
        for i, x in enumerate(xs):
            assert x in fast and x in slow, f"input {i} got no gradient"
            g = slow[x]  # a Tensor with history (a constant gradient may come back raw: see test_func)
            assert np.shape(_data(g)) == x.shape and np.shape(fast[x]) == x.shape
            np.testing.assert_allclose(_data(g), _data(fast[x]), rtol=1e-12, atol=1e-12, err_msg=f"input {i}")

    run()


@pytest.mark.parametrize("name", NAMES)
def test_gradgradcheck(name):
    """Second derivatives against finite differences of the first, w.r.t. inputs and the
    incoming gradient."""
    case = _case(name)

    @SETTINGS
    @given(case.draw)
    def run(drawn):
        inputs, params = drawn
        assert gradgradcheck(case.ours(**params), *inputs, atol=1e-5, rtol=1e-4)

    run()


def _j_times(jacs, vs, ins):
    """``sum_i J_i v_i`` for Jacobians of shape ``out.shape + x_i.shape``."""
    return sum(np.tensordot(np.asarray(j), v, axes=np.ndim(x)) for j, v, x in zip(jacs, vs, ins))


@pytest.mark.parametrize("name", NAMES)
def test_jvp_equals_jacobian_times_tangent(name):
    """Forward mode (``jvp``) against ``J @ v`` with ``J`` built row by row by ``jacrev``."""
    case = _case(name)

    @SETTINGS
    @given(case.draw)
    def run(drawn):
        inputs, params = drawn
        fn = case.ours(**params)
        rng = _rng(inputs)
        vs = [rng.standard_normal(x.shape) for x in inputs]
        out, tangent = jvp(fn, inputs, vs)
        expected_out = fn(*[Tensor(x) for x in inputs]).data
        np.testing.assert_allclose(out, expected_out, rtol=1e-12, atol=1e-12)
        assert isinstance(tangent, np.ndarray) and tangent.shape == expected_out.shape
        jacs = jacrev(fn, argnums=tuple(range(len(inputs))))(*inputs)
        np.testing.assert_allclose(tangent, _j_times(jacs, vs, inputs), rtol=1e-9, atol=1e-10)

    run()


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_reverse_mode_are_transposes(name):
    """``<u, J v> == <J^T u, v>`` for random ``u`` and ``v``."""
    case = _case(name)

    @SETTINGS
    @given(case.draw)
    def run(drawn):
        inputs, params = drawn
        fn = case.ours(**params)
        rng = _rng(inputs)
        vs = [rng.standard_normal(x.shape) for x in inputs]
        out, jv = jvp(fn, inputs, vs)
        u = rng.standard_normal(np.shape(out))
        out2, pullback = vjp(fn, *inputs)
        np.testing.assert_allclose(out2, out, rtol=1e-12, atol=1e-12)
        jtu = pullback(u)
        assert len(jtu) == len(inputs)
        lhs = float(np.sum(u * jv))
        rhs = sum(float(np.sum(g * v)) for g, v in zip(jtu, vs))
        assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-10)

    run()


@pytest.mark.parametrize("name", NAMES)
def test_double_backward_matches_torch(name):
    """d/d(x, u) of ``<w, J(x)^T u>``, the graph ``backward(create_graph=True)`` records,
    against PyTorch's double backward in float64."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparisons with PyTorch are skipped")
    case = _case(name)

    @SETTINGS
    @given(case.draw)
    def run(drawn):
        inputs, params = drawn
        # PyTorch sets d(a ** b)/da to 0 wherever b == 0, for any a, so its mixed second
        # derivative is 0 there; the true one, a ** (b - 1) * u * w, is what gradgradcheck checks.
        assume(name != "pow" or not np.any(inputs[1] == 0))
        rng = _rng(inputs)
        xs = [Tensor(x, requires_grad=True) for x in inputs]
        out = case.ours(**params)(*xs)
        u0 = rng.standard_normal(out.shape)
        ws = [rng.standard_normal(x.shape) for x in inputs]
        u = Tensor(u0, requires_grad=True)
        grads = backprop(out, u, create_graph=True)
        s = sum((grads[x] * w).sum() for x, w in zip(xs, ws) if isinstance(grads[x], Tensor))
        second = backprop(s, np.ones(()), create_graph=False) if isinstance(s, Tensor) else {}

        txs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
        tout = case.theirs(**params)(*txs)
        tu = torch.tensor(u0, requires_grad=True)
        tg = torch.autograd.grad(tout, txs, tu, create_graph=True, allow_unused=True)
        ts = sum((g * torch.from_numpy(w)).sum() for g, w in zip(tg, ws) if g is not None)
        if not (isinstance(ts, torch.Tensor) and ts.requires_grad):
            expected = [np.zeros(x.shape) for x in inputs] + [np.zeros(u0.shape)]
        else:
            tsec = torch.autograd.grad(ts, txs + [tu], allow_unused=True)
            expected = [np.zeros(np.shape(a)) if g is None else g.numpy(force=True) for a, g in zip(list(inputs) + [u0], tsec)]
        for i, (leaf, e) in enumerate(zip(xs + [u], expected)):
            got = _data(second[leaf]) if leaf in second else np.zeros(e.shape)
            what = f"input {i}" if i < len(xs) else "the incoming gradient"
            np.testing.assert_allclose(got, e, rtol=1e-9, atol=1e-10, err_msg=f"second derivative w.r.t. {what}")

    run()
