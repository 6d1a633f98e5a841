"""Tests for ``gradengine.optim``: optimizers, clipping and schedules, with PyTorch as the oracle.

Every update rule is compared with ``torch.optim`` in float64 over 100 steps (same random
gradients or the same quadratic problem, several parameters of different shapes, some steps
where a parameter has no gradient). Tests that need torch are skipped without it.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradengine import Value, optim
from gradengine.nn.module import StateDictError

try:
    import torch
except ImportError:  # pragma: no cover - torch is in the dev extras
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is the oracle for optimizer updates")
HAS_TENSOR = importlib.util.find_spec("gradengine.tensor") is not None
needs_tensor = pytest.mark.skipif(not HAS_TENSOR, reason="gradengine.tensor is not available")

SHAPES = [(3, 4), (4,), (2, 3, 2), (), (1,)]
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Param:
    """A stand-in tensor parameter: the duck-typed contract the optimizers rely on."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.grad = None
        self.requires_grad = True


class CopyingParam:
    """A parameter whose ``data`` setter copies (the optimizer must update ``data`` in place)."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = np.array(data)
        self.grad = None
        self.requires_grad = True

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data = np.array(value)


def make_params(seed: int = 0, dtype=np.float64, shapes=SHAPES, cls=Param):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [cls(a.copy()) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init] if torch is not None else None
    return ours, theirs


def assert_params_close(ours, theirs, tol=1e-6):
    for i, (p, t) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=tol, atol=tol, err_msg=f"parameter {i}")


def run_both(ours_opt, theirs_opt, ours, theirs, steps=100, seed=1, quadratic=False, skip=True, check_each=False):
    """Drive both optimizers with the same gradients. ``quadratic``: the gradient of
    ``0.5 * c * (p - target)**2`` at the current parameters (so the trajectories feed back);
    otherwise random gradients. ``skip``: some steps leave some gradients None."""
    rng = np.random.default_rng(seed)
    targets = [rng.standard_normal(p.data.shape) for p in ours]
    curv = [rng.uniform(0.1, 3.0, p.data.shape) for p in ours]
    for k in range(steps):
        for i, (p, t) in enumerate(zip(ours, theirs)):
            if skip and rng.random() < 0.15:
                p.grad, t.grad = None, None
                continue
            if quadratic:
                g = curv[i] * (np.asarray(p.data, np.float64) - targets[i])
            else:
                g = rng.standard_normal(p.data.shape)
            p.grad = g.astype(p.data.dtype)
            t.grad = torch.tensor(g, dtype=t.dtype)
        ours_opt.step()
        theirs_opt.step()
        if check_each:
            assert_params_close(ours, theirs)


# ---------------------------------------------------------------------------------------------
# Update rules against torch
# ---------------------------------------------------------------------------------------------
lrs = st.floats(1e-4, 0.5)
decays = st.sampled_from([0.0, 0.0, 1e-3, 0.1])


@needs_torch
@SLOW
@given(lr=lrs, momentum=st.sampled_from([0.0, 0.5, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
       nesterov=st.booleans(), weight_decay=decays, maximize=st.booleans(), quadratic=st.booleans(),
       seed=st.integers(0, 2**16))
def test_sgd_matches_torch(lr, momentum, dampening, nesterov, weight_decay, maximize, quadratic, seed):
    if nesterov and (momentum == 0 or dampening != 0):
        nesterov = False
    kw = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
              weight_decay=weight_decay, maximize=maximize)
    ours, theirs = make_params(seed)
    o, t = optim.SGD(ours, **kw), torch.optim.SGD(theirs, **kw)
    run_both(o, t, ours, theirs, seed=seed, quadratic=quadratic and not maximize)
    assert_params_close(ours, theirs)
    if momentum:
        for p, q in zip(ours, theirs):
            if "momentum_buffer" in t.state[q]:
                np.testing.assert_allclose(o.state[p]["momentum_buffer"], t.state[q]["momentum_buffer"].numpy(), rtol=1e-6, atol=1e-6)
            else:
                assert o.state[p] == {}


@needs_torch
@SLOW
@given(lr=st.floats(1e-4, 0.1), beta1=st.sampled_from([0.0, 0.5, 0.6, 0.9]), beta2=st.sampled_from([0.5, 0.99, 0.999]),
       eps=st.sampled_from([1e-8, 1e-3]), weight_decay=decays, amsgrad=st.booleans(), maximize=st.booleans(),
       decoupled=st.booleans(), quadratic=st.booleans(), seed=st.integers(0, 2**16), fast=st.booleans())
def test_adam_matches_torch(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled, quadratic, seed, fast):
    """Both implementations (``fast``: the fused one-pass kernel; else the formulas) follow torch."""
    kw = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
    ours, theirs = make_params(seed)
    if decoupled:
        o, t = optim.AdamW(ours, **kw, fast=fast), torch.optim.AdamW(theirs, **kw)
    else:
        o, t = optim.Adam(ours, **kw, fast=fast), torch.optim.Adam(theirs, **kw)
    run_both(o, t, ours, theirs, seed=seed, quadratic=quadratic and not maximize)
    assert_params_close(ours, theirs)
    for p, q in zip(ours, theirs):
        ts, os_ = t.state[q], o.state[p]
        if not ts:
            assert os_ == {}
            continue
        assert os_["step"] == int(ts["step"])
        for name in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
            np.testing.assert_allclose(os_[name], ts[name].numpy(), rtol=1e-6, atol=1e-9, err_msg=name)


@needs_torch
@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.5)),
])
@pytest.mark.parametrize("fast", [None, False])
def test_defaults_and_every_step_match_torch(name, kw, fast):
    ours, theirs = make_params(3)
    extra = {} if name == "SGD" or fast is None else {"fast": fast}
    o, t = getattr(optim, name)(ours, **kw, **extra), getattr(torch.optim, name)(theirs, **kw)
    run_both(o, t, ours, theirs, check_each=True, quadratic=True)


@needs_torch
@pytest.mark.parametrize("name,kw", [("Adam", dict(lr=1e-3)), ("AdamW", dict(lr=1e-3)),
                                     ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True))])
def test_float32_matches_torch_float32(name, kw):
    """The MNIST case: float32 parameters, against torch in float32."""
    shapes = [(128, 20), (128,), (64, 128), (64,), (10, 64), (10,)]
    ours, _ = make_params(4, np.float32, shapes)
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
    o, t = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    run_both(o, t, ours, theirs, quadratic=True, skip=False)
    for p, q in zip(ours, theirs):
        assert p.data.dtype == np.float32
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-5, atol=1e-5)


@needs_torch
def test_param_groups_with_own_hyperparameters_match_torch():
    ours, theirs = make_params(5)
    groups = lambda ps: [{"params": ps[:2], "lr": 0.1, "betas": (0.8, 0.99)},
                         {"params": ps[2:4], "weight_decay": 0.1}, {"params": ps[4:], "amsgrad": True}]
    o, t = optim.Adam(groups(ours), lr=0.01), torch.optim.Adam(groups(theirs), lr=0.01)
    assert [g["lr"] for g in o.param_groups] == [0.1, 0.01, 0.01]
    run_both(o, t, ours, theirs, steps=50, quadratic=True)
    assert_params_close(ours, theirs)
    # add a group later, change an lr mid-training
    extra, extra_t = make_params(6, shapes=[(2, 2)])
    o.add_param_group({"params": extra, "lr": 0.2})
    t.add_param_group({"params": extra_t, "lr": 0.2})
    o.param_groups[0]["lr"] = t.param_groups[0]["lr"] = 0.03
    run_both(o, t, ours + extra, theirs + extra_t, steps=50, quadratic=True)
    assert_params_close(ours + extra, theirs + extra_t)


@needs_torch
def test_mixed_dtypes_in_one_group():
    ours32, _ = make_params(7, np.float32, [(5, 3), (3,)])
    ours64, _ = make_params(8, np.float64, [(4,), (2, 2)])
    ours = [ours32[0], ours64[0], ours32[1], ours64[1]]
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
    o, t = optim.Adam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    run_both(o, t, ours, theirs, steps=50, quadratic=True)
    for p, q in zip(ours, theirs):
        assert p.data.dtype == q.detach().numpy().dtype
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-5, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("fast", [None, True])
def test_adam_state_stays_free_of_subnormals(fast):
    """Entries whose gradient is exactly zero for thousands of steps (MNIST's border pixels):
    exp_avg decays by beta1 a step and, as torch's, fills with float32 subnormals (slow
    arithmetic on many CPUs). The fused step (the default) never stores one, and the
    trajectory stays torch's."""
    rng = np.random.default_rng(0)
    init = rng.standard_normal((50, 40)).astype(np.float32)
    p, tp = Param(init.copy()), torch.tensor(init.copy(), requires_grad=True)
    o, t = optim.Adam([p], lr=1e-3, fast=fast), torch.optim.Adam([tp], lr=1e-3)
    dead = rng.random((50, 40)) < 0.3  # these entries get a gradient only in the first 5 steps
    tiny = np.finfo(np.float32).tiny
    for k in range(1500):
        g = (rng.standard_normal((50, 40)) * 1e-2).astype(np.float32)
        if k >= 5:
            g[dead] = 0
        p.grad, tp.grad = g, torch.from_numpy(g.copy())
        o.step()
        t.step()
        m = o.state[p]["exp_avg"]
        assert not ((m != 0) & (np.abs(m) < tiny)).any(), f"subnormals in exp_avg after step {k + 1}"
    tm = t.state[tp]["exp_avg"].numpy()
    assert ((tm != 0) & (np.abs(tm) < tiny)).any()  # torch's has them: the test exercises the case
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_checkpoint_saved_by_the_old_optimizer_resumes():
    """``tests/data/old_optim_checkpoints.npz`` holds state dicts written by the flat-buffer
    optimizer (commit 5ba28ef) and where its next 5 steps led: the rewrite loads them and
    takes the same steps."""
    data = np.load(Path(__file__).parent / "data" / "old_optim_checkpoints.npz", allow_pickle=False)
    makers = {
        "sgd": lambda ps: optim.SGD([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.5),
        "adam": lambda ps: optim.Adam([{"params": ps[:2]}, {"params": ps[2:]}]),
        "adamw": lambda ps: optim.AdamW(ps),
        "adam32": lambda ps: optim.Adam(ps),
    }
    for name, make in makers.items():
        before = [data[f"{name}/param_before/{i}"] for i in range(5)]
        params = [Param(a.copy()) for a in before[:4]] + [Value(float(before[4]))]
        opt = make(params)
        opt.load_state_dict({k.split("/", 2)[2]: data[k] for k in data.files if k.startswith(f"{name}/optim/")})
        for k in range(5):
            for i, p in enumerate(params):
                g = data[f"{name}/grad/{k}/{i}"]
                p.grad = None if np.isnan(g).all() else (float(g) if isinstance(p, Value) else g)
            opt.step()
        for i, p in enumerate(params):
            np.testing.assert_allclose(np.asarray(p.data), data[f"{name}/param_after/{i}"], rtol=1e-6, atol=1e-7,
                                       err_msg=f"{name} parameter {i}")
            assert np.asarray(p.data).dtype == before[i].dtype


# ---------------------------------------------------------------------------------------------
# Scalar Value parameters
# ---------------------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=0.05), lambda ps: optim.AdamW(ps, lr=0.05, amsgrad=True),
    lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
])
def test_value_parameters_train_like_torch(make):
    """Fit y = 2x - 1 with Value parameters; torch float64 scalars take the same steps."""
    xs = [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
    w, b = Value(0.3), Value(-0.2)
    tw, tb = torch.tensor(0.3, dtype=torch.float64, requires_grad=True), torch.tensor(-0.2, dtype=torch.float64, requires_grad=True)
    opt = make([w, b])
    topt = {optim.Adam: torch.optim.Adam, optim.AdamW: torch.optim.AdamW, optim.SGD: torch.optim.SGD}[type(opt)](
        [tw, tb], **{k: v for k, v in opt.defaults.items() if k != "decoupled_weight_decay"})
    for _ in range(100):
        opt.zero_grad()
        loss = sum(((w * x + b) - (2 * x - 1)) ** 2 for x in xs) * (1 / len(xs))
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = sum(((tw * x + tb) - (2 * x - 1)) ** 2 for x in xs) / len(xs)
        tloss.backward()
        topt.step()
        assert w.data == pytest.approx(tw.item(), abs=1e-9)
        assert b.data == pytest.approx(tb.item(), abs=1e-9)
        assert type(w.data) is float
    assert loss.data < 0.5


@needs_torch
@needs_tensor
def test_values_and_tensors_in_one_optimizer():
    from gradengine.tensor import Tensor

    v = Value(1.5)
    tt = Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    tv, ttt = (torch.tensor(1.5, dtype=torch.float64, requires_grad=True),
               torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True))
    o, t = optim.Adam([v, tt], lr=0.1), torch.optim.Adam([tv, ttt], lr=0.1)
    for k in range(30):
        v.grad = 2 * v.data - 1
        tv.grad = torch.tensor(2 * tv.item() - 1, dtype=torch.float64)
        g = np.array([1.0, 2.0, 3.0]) * tt.data
        tt.grad = None if k % 7 == 3 else g  # sometimes no gradient: skipped
        ttt.grad = None if k % 7 == 3 else torch.tensor(g)
        o.step()
        t.step()
    assert v.data == pytest.approx(tv.item(), abs=1e-12)
    np.testing.assert_allclose(tt.data, ttt.detach().numpy(), atol=1e-12)
    assert o.state[tt]["step"] == int(t.state[ttt]["step"]) == 30 - 4


def test_scalar_mlp_trains_with_module_parameters(tmp_path):
    """A micrograd-style MLP (Value parameters from Module.parameters()) learns XOR-ish data;
    its optimizer state survives a checkpoint."""
    import random

    from gradengine.nn import MLP

    random.seed(0)
    model = MLP(2, [8, 8, 1])
    xs = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
    ys = [-1.0, 1.0, 1.0, -1.0]
    opt = optim.Adam(model.parameters(), lr=0.05)

    def loss_fn():
        return sum((model(x) - y) ** 2 for x, y in zip(xs, ys)) * 0.25

    first = loss_fn().data
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert loss.data < 0.2 * first
    np.savez(tmp_path / "o.npz", **opt.state_dict())
    opt2 = optim.Adam(model.parameters(), lr=0.05)
    with np.load(tmp_path / "o.npz", allow_pickle=False) as f:
        opt2.load_state_dict(f)
    assert opt2.state[model.parameters()[0]]["step"] == 60


def test_zero_size_parameters():
    ps = [Param(np.zeros((2, 0))), Param(np.ones(3)), Param(np.zeros(0))]
    o = optim.Adam(ps, lr=0.1)
    for p in ps:
        p.grad = np.ones(p.data.shape)
    o.step()
    assert ps[0].data.shape == (2, 0) and o.state[ps[0]]["exp_avg"].shape == (2, 0)
    np.testing.assert_allclose(ps[1].data, 0.9)


def test_value_grad_that_is_a_value_is_used_by_its_data():
    p = Value(1.0)
    p.grad = Value(0.5)  # what backward(create_graph=True) leaves
    optim.SGD([p], lr=0.1).step()
    assert p.data == pytest.approx(0.95)


# ---------------------------------------------------------------------------------------------
# Real Tensors
# ---------------------------------------------------------------------------------------------
@needs_torch
@needs_tensor
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_regression_matches_torch(dtype):
    from gradengine.tensor import Tensor

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype(dtype)
    y = rng.standard_normal((32, 2)).astype(dtype)
    w0, b0 = (rng.standard_normal((5, 2)) * 0.1).astype(dtype), np.zeros(2, dtype)
    w, b = Tensor(w0, requires_grad=True), Tensor(b0, requires_grad=True)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt, topt = optim.Adam([w, b], lr=0.05), torch.optim.Adam([tw, tb], lr=0.05)
    tx, ty = torch.tensor(x), torch.tensor(y)
    for _ in range(100):
        opt.zero_grad()
        loss = ((Tensor(x) @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        topt.zero_grad()
        ((tx @ tw + tb - ty) ** 2).mean().backward()
        topt.step()
    tol = 1e-4 if dtype == np.float32 else 1e-9
    assert w.data.dtype == dtype and b.data.dtype == dtype
    np.testing.assert_allclose(w.data, tw.detach().numpy(), atol=tol)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), atol=tol)


# ---------------------------------------------------------------------------------------------
# Parameters are updated in place; replacing p.data between steps is fine
# ---------------------------------------------------------------------------------------------
def test_step_updates_p_data_in_place_and_never_rebinds_it():
    """The optimizer does not own the parameters' storage: ``p.data`` stays the same array."""
    ours, _ = make_params(0, np.float32)
    originals = [p.data for p in ours]
    before = [p.data.copy() for p in ours]
    o = optim.Adam(ours, lr=0.1)
    for p in ours:
        p.grad = np.ones(p.data.shape, np.float32)
    o.step()
    for p, orig, old in zip(ours, originals, before):
        assert p.data is orig and p.data.base is None
        np.testing.assert_allclose(p.data, old - 0.1, rtol=1e-5, atol=1e-5)


@needs_torch
def test_user_rebinding_p_data_is_noticed():
    ours, theirs = make_params(9)
    o, t = optim.Adam(ours, lr=0.05), torch.optim.Adam(theirs, lr=0.05)
    run_both(o, t, ours, theirs, steps=10, quadratic=True)
    rng = np.random.default_rng(1)
    new = rng.standard_normal(ours[0].data.shape)
    ours[0].data = new.copy()  # a new array: the next step updates it
    theirs[0].data = torch.tensor(new)
    ours[2].data[...] = 0.5  # in place: seen by the next step
    with torch.no_grad():
        theirs[2][...] = 0.5
    run_both(o, t, ours, theirs, steps=10, quadratic=True, check_each=True)
    assert ours[0].data.base is None  # the user's array, still


def test_dtype_change_keeps_state_in_the_new_dtype():
    ours, _ = make_params(10, np.float32, [(3, 2), (4,)])
    o = optim.Adam(ours, lr=0.1)
    for p in ours:
        p.grad = np.ones(p.data.shape, np.float32)
    o.step()
    m_before = o.state[ours[0]]["exp_avg"].copy()
    ours[0].data = ours[0].data.astype(np.float64)
    ours[0].grad = np.ones((3, 2))
    o.step()
    assert ours[0].data.dtype == np.float64
    st = o.state[ours[0]]
    assert st["step"] == 2 and st["exp_avg"].dtype == np.float64
    np.testing.assert_allclose(st["exp_avg"], 0.9 * m_before + 0.1, rtol=1e-6)


def test_shape_change_of_a_parameter_with_state_is_an_error():
    ours, _ = make_params(11, shapes=[(3, 2), (4,)])
    o = optim.Adam(ours)
    for p in ours:
        p.grad = np.ones(p.data.shape)
    o.step()
    ours[1].data, ours[1].grad = np.zeros((5,)), np.ones(5)
    with pytest.raises(ValueError, match=r"parameter 1 now has shape \(5,\).*state has shape \(4,\)"):
        o.step()
    # without state, a new shape is fine (the state starts when the parameter gets a gradient)
    fresh, _ = make_params(12, shapes=[(3, 2), (4,)])
    o2 = optim.SGD(fresh, lr=0.1, momentum=0.9)
    fresh[1].data = np.zeros((5,))
    fresh[1].grad = np.ones(5)
    o2.step()
    np.testing.assert_allclose(fresh[1].data, -0.1)


@needs_torch
def test_parameter_whose_setter_copies_is_copied_in_and_out():
    ours, theirs = make_params(13, cls=CopyingParam)
    o, t = optim.SGD(ours, lr=0.1, momentum=0.9), torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    held = [p.data for p in ours]
    assert all(p.data.base is None for p in ours)
    run_both(o, t, ours, theirs, steps=30, quadratic=True, check_each=True)
    assert all(p.data is h for p, h in zip(ours, held))  # updated in place, never rebound


def test_editing_the_params_list_keeps_state():
    ours, _ = make_params(14, shapes=[(2,), (3,)])
    o = optim.Adam(ours, lr=0.1)
    for p in ours:
        p.grad = np.ones(p.data.shape)
    o.step()
    extra = Param(np.zeros(4))
    o.param_groups[0]["params"].append(extra)
    extra.grad = np.ones(4)
    o.step()
    assert o.state[ours[0]]["step"] == 2 and o.state[extra]["step"] == 1


@needs_tensor
def test_module_load_state_dict_after_constructing_the_optimizer():
    from gradengine.nn import Module
    from gradengine.tensor import Tensor

    class Net(Module):
        def __init__(self):
            super().__init__()
            self.w = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
            self.b = Tensor(np.zeros(3, np.float32), requires_grad=True)

    net = Net()
    o = optim.SGD(net.parameters(), lr=1.0)
    net.load_state_dict({"w": np.full((2, 3), 5.0), "b": np.full(3, 2.0)})
    net.w.grad, net.b.grad = np.ones((2, 3), np.float32), np.ones(3, np.float32)
    o.step()
    np.testing.assert_allclose(net.w.data, 4.0)
    np.testing.assert_allclose(net.b.data, 1.0)


# ---------------------------------------------------------------------------------------------
# zero_grad, skipping, small API
# ---------------------------------------------------------------------------------------------
def test_zero_grad():
    ours, _ = make_params(15, shapes=[(2,), (3,)])
    v = Value(1.0)
    o = optim.SGD(ours + [v], lr=0.1)
    g = np.ones(2)
    ours[0].grad, ours[1].grad, v.grad = g, np.ones(3), 4.0
    o.zero_grad(set_to_none=False)
    assert ours[0].grad is g and not g.any() and v.grad == 0.0
    o.zero_grad()
    assert ours[0].grad is None and ours[1].grad is None and v.grad == 0.0
    o.zero_grad(set_to_none=False)  # None stays None, as in torch
    assert ours[0].grad is None


def test_parameters_without_grad_are_not_touched():
    ours, _ = make_params(16, shapes=[(2,), (3,), (4,)])
    before = ours[1].data.copy()
    o = optim.Adam(ours, lr=0.1)
    ours[0].grad, ours[2].grad = np.ones(2), np.ones(4)
    o.step()
    np.testing.assert_array_equal(ours[1].data, before)
    assert o.state[ours[1]] == {} and o.state[ours[0]]["step"] == 1


def test_step_with_closure_returns_the_loss():
    p = Value(3.0)

    def closure():
        p.grad = 0.0
        loss = p * p
        loss.backward()
        return loss

    loss = optim.SGD([p], lr=0.25).step(closure)
    assert loss.data == 9.0 and p.data == 1.5


def test_repr_lists_every_param_group():
    ours, _ = make_params(17, shapes=[(2,), (3,)])
    o = optim.Adam([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.5}], lr=0.01)
    text = repr(o)
    assert text.startswith("Adam (") and "Parameter Group 1" in text and "betas: (0.9, 0.999)" in text
    assert "lr: 0.5" in text and "lr: 0.01" in text


def test_state_is_keyed_by_parameter_as_torch():
    ours, _ = make_params(18, shapes=[(2,), (3,)])
    o = optim.Adam(ours)
    ours[0].grad = np.ones(2)
    o.step()
    assert set(o.state[ours[0]]) == {"step", "exp_avg", "exp_avg_sq"} and o.state[ours[0]]["step"] == 1
    assert o.state[ours[1]] == {}  # no gradient yet: no state (a defaultdict, as torch's)
    assert not any(k.startswith("state.1.") for k in o.state_dict())


def test_wrong_gradient_shape_names_the_parameter():
    p = Param(np.zeros((2, 3)))
    o = optim.Adam([("layer.weight", p)])
    p.grad = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"parameter 0 \(layer.weight\) has shape \(3, 2\).*\(2, 3\)"):
        o.step()


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "Invalid momentum value: -1"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1e-3), "Invalid weight_decay value: -0.001"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda ps: optim.Adam(ps, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda ps: optim.Adam(ps, lr=float("nan")), "Invalid learning rate: nan"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda ps: optim.Adam(ps, betas=(0.9,)), "betas must be a pair"),
    (lambda ps: optim.AdamW(ps, weight_decay=-0.01), "Invalid weight_decay value: -0.01"),
    (lambda ps: optim.Adam([{"params": ps, "lr": -2.0}]), "Invalid learning rate: -2.0"),
    (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda ps: optim.SGD(ps + ps[:1], lr=0.1), "appears twice"),
    (lambda ps: optim.SGD([{"params": ps}, {"params": ps[:1]}], lr=0.1), "more than one parameter group"),
])
def test_invalid_arguments_raise_value_error(make, match):
    ours, _ = make_params(19, shapes=[(2,), (3,)])
    with pytest.raises(ValueError, match=match):
        make(ours)


@needs_torch
def test_validation_agrees_with_torch():
    for kw in [dict(lr=-0.1), dict(lr=0.1, nesterov=True), dict(lr=0.1, momentum=-0.5)]:
        with pytest.raises(ValueError) as theirs:
            torch.optim.SGD([torch.zeros(1, requires_grad=True)], **kw)
        with pytest.raises(ValueError) as ours:
            optim.SGD([Param(np.zeros(1))], **kw)
        assert str(ours.value) == str(theirs.value)
    for kw in [dict(lr=-0.1), dict(betas=(0.9, 1.0)), dict(eps=-1.0), dict(weight_decay=-1.0)]:
        with pytest.raises(ValueError) as theirs:
            torch.optim.Adam([torch.zeros(1, requires_grad=True)], **kw)
        with pytest.raises(ValueError) as ours:
            optim.Adam([Param(np.zeros(1))], **kw)
        assert str(ours.value) == str(theirs.value)


def test_invalid_params_raise_type_error():
    p = Param(np.zeros(2))
    with pytest.raises(TypeError, match=r"pass \[p\]"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="set"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="parameter 1 is ndarray"):
        optim.SGD([p, np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="floating-point"):
        optim.SGD([Param(np.zeros(2, np.int64))], lr=0.1)
    with pytest.raises(TypeError, match="lr must be a real number"):
        optim.SGD([p], lr="0.1")


# ---------------------------------------------------------------------------------------------
# State dicts: through np.savez / np.load(allow_pickle=False), resuming is exact
# ---------------------------------------------------------------------------------------------
CONFIGS = [
    lambda ps: optim.SGD([{"params": ps[:2], "lr": 0.05}, {"params": ps[2:]}], lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam([{"params": ps[:2], "lr": 0.05}, {"params": ps[2:], "amsgrad": True}], lr=0.01, weight_decay=0.01),
    lambda ps: optim.AdamW(ps, lr=0.01),
]


def train(opt, params, steps, seed, sched=None):
    rng = np.random.default_rng(seed)
    for k in range(steps):
        for i, p in enumerate(params):
            g = rng.standard_normal(np.shape(p.data))
            if i == 4:  # the last parameter gets a gradient only sometimes (partial state)
                g = g if k % 3 == 0 and k > 2 else None
            if isinstance(p, Value):
                p.grad = float(g) if g is not None else None
            else:
                p.grad = g
        opt.step()
        if sched is not None:
            sched.step()
    return [np.array(p.data, copy=True) for p in params]


def fresh_params():
    ps, _ = make_params(20, shapes=[(3, 2), (2,), (4,), (1, 1)])
    return ps + [Value(0.5)]


@pytest.mark.parametrize("make", CONFIGS)
def test_state_dict_round_trip_through_npz_resumes_identically(make, tmp_path):
    params = fresh_params()
    opt = make(params)
    sched = optim.StepLR(opt, step_size=4, gamma=0.5)
    train(opt, params, 10, seed=1, sched=sched)
    path = tmp_path / "ckpt.npz"
    np.savez(path, **{f"optim.{k}": v for k, v in opt.state_dict().items()},
             **{f"sched.{k}": v for k, v in sched.state_dict().items()},
             **{f"param.{i}": np.asarray(p.data) for i, p in enumerate(params)})
    expected = train(opt, params, 10, seed=2, sched=sched)

    with np.load(path, allow_pickle=False) as f:
        ckpt = {k: f[k] for k in f.files}
    params2 = fresh_params()
    for i, p in enumerate(params2):
        if isinstance(p, Value):
            p.data = float(ckpt[f"param.{i}"])
        else:
            p.data[...] = ckpt[f"param.{i}"]
    opt2 = make(params2)
    sched2 = optim.StepLR(opt2, step_size=4, gamma=0.5)
    opt2.load_state_dict({k[6:]: v for k, v in ckpt.items() if k.startswith("optim.")})
    sched2.load_state_dict({k[6:]: v for k, v in ckpt.items() if k.startswith("sched.")})
    assert sched2.get_last_lr() == [g["lr"] for g in opt2.param_groups]
    got = train(opt2, params2, 10, seed=2, sched=sched2)
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)  # bit-identical trajectory
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_state_dict_format():
    params = fresh_params()
    opt = optim.Adam(params, lr=0.01, amsgrad=True)
    train(opt, params, 4, seed=0)  # the Value (parameter 4) gets a gradient at the 4th step only
    sd = opt.state_dict()
    assert sd["type"] == "Adam"
    assert sd["param_groups.0.lr"] == 0.01 and sd["param_groups.0.betas"] == (0.9, 0.999)
    np.testing.assert_array_equal(sd["param_groups.0.params"], np.arange(5))
    assert sd["state.0.step"] == 4 and sd["state.0.exp_avg"].shape == (3, 2) and sd["state.4.step"] == 1
    assert sd["state.3.max_exp_avg_sq"].shape == (1, 1) and sd["state.4.exp_avg"].shape == ()
    assert not any(k.startswith("state.4.") for k in optim.Adam(fresh_params()).state_dict())
    sd["state.0.exp_avg"][...] = 99.0  # a copy, not the live state
    assert not (opt.state[params[0]]["exp_avg"] == 99.0).any()
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    train(sgd, params, 1, seed=0)
    assert "state.0.momentum_buffer" in sgd.state_dict() and "state.0.step" not in sgd.state_dict()


def test_load_state_dict_accepts_the_npz_file_itself(tmp_path):
    params = fresh_params()
    opt = optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True)
    train(opt, params, 5, seed=0)
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    opt2 = optim.SGD(fresh_params(), lr=0.5)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        opt2.load_state_dict(f)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["nesterov"] is True
    assert type(opt2.param_groups[0]["momentum"]) is float
    for p, q in zip(params, opt2.param_groups[0]["params"]):
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], opt2.state[q]["momentum_buffer"])


def test_loading_twice_and_into_an_optimizer_with_state():
    params = fresh_params()
    opt = optim.Adam(params, lr=0.01)
    empty = opt.state_dict()
    train(opt, params, 5, seed=0)
    opt.load_state_dict(empty)  # back to no state at all
    assert all(opt.state[p] == {} for p in params)


def _trained_adam():
    params = fresh_params()
    opt = optim.Adam(params, lr=0.01)
    train(opt, params, 4, seed=0)
    return params, opt


@pytest.mark.parametrize("edit,match", [
    (lambda sd: sd.update({"type": "SGD"}), "this state dict is for SGD, not Adam"),
    (lambda sd: sd.pop("type"), "unknown optimizer"),
    (lambda sd: sd.update({"state.0.exp_avg": np.zeros((2, 3))}),
     r"shape mismatch for 'state.0.exp_avg': the state dict has \(2, 3\), parameter 0 has shape \(3, 2\)"),
    (lambda sd: sd.pop("state.1.exp_avg_sq"), r"missing key\(s\) \['state.1.exp_avg_sq'\]"),
    (lambda sd: sd.pop("param_groups.0.eps"), r"missing key\(s\) \['param_groups.0.eps'\]"),
    (lambda sd: sd.update({"state.0.momentum": np.zeros((3, 2))}), r"unexpected key\(s\) \['state.0.momentum'\]"),
    (lambda sd: sd.update({"bogus": 1}), r"unexpected key\(s\) \['bogus'\]"),
    (lambda sd: sd.update({"param_groups.0.params": np.arange(4)}), "lists 4 parameter.*has 5"),
    (lambda sd: sd.update({"param_groups.1.params": np.arange(5, 6), "param_groups.1.lr": 0.1}), "2 param group"),
    (lambda sd: sd.update({"param_groups.0.lr": -1.0}), "param group 0: Invalid learning rate: -1.0"),
    (lambda sd: sd.update({"param_groups.0.betas": np.array([0.9, 0.99, 0.9])}), "betas should hold 2 numbers"),
    (lambda sd: sd.update({"state.9.step": 1}), "parameter 9, which no param group lists"),
    (lambda sd: sd.update({"state.0.step": 0}), "whole number >= 1"),
])
def test_load_state_dict_errors_name_the_key_and_change_nothing(edit, match):
    params, opt = _trained_adam()
    good = opt.state_dict()
    bad = opt.state_dict()
    edit(bad)
    opt.param_groups[0]["lr"] = 0.5
    with pytest.raises(StateDictError, match=match):
        opt.load_state_dict(bad)
    assert opt.param_groups[0]["lr"] == 0.5  # nothing changed
    after = opt.state_dict()
    after["param_groups.0.lr"] = good["param_groups.0.lr"]
    assert after.keys() == good.keys()
    for k in good:
        np.testing.assert_array_equal(np.asarray(after[k]), np.asarray(good[k]))


def test_state_dict_error_is_a_value_error_and_a_key_error():
    _, opt = _trained_adam()
    with pytest.raises(ValueError):
        opt.load_state_dict({"type": "SGD"})
    with pytest.raises(KeyError):
        opt.load_state_dict({"type": "SGD"})


# ---------------------------------------------------------------------------------------------
# Gradient clipping
# ---------------------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = make_params(21)
    rng = np.random.default_rng(2)
    for p, t in zip(ours, theirs):
        g = rng.standard_normal(p.data.shape)
        p.grad, t.grad = g.copy(), torch.tensor(g)
    ours[1].grad = theirs[1].grad = None  # ignored
    held = ours[0].grad
    total = optim.clip_grad_norm_(ours, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(ttotal.item(), rel=1e-12)
    assert ours[0].grad is held  # in place
    for p, t in zip(ours, theirs):
        if t.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)


@needs_torch
def test_clip_grad_norm_values_nonfinite_and_empty():
    a, b = Value(0.0), Value(0.0)
    a.grad, b.grad = 3.0, 4.0
    assert optim.clip_grad_norm_([a, b], 1.0) == 5.0
    assert a.grad == pytest.approx(3.0 / (5 + 1e-6)) and b.grad == pytest.approx(4.0 / (5 + 1e-6))
    assert optim.clip_grad_norm_([], 1.0) == 0.0
    p = Param(np.zeros(2))
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    t = torch.zeros(2, requires_grad=True)
    t.grad = torch.tensor([np.nan, 1.0])
    p.grad = np.array([np.nan, 1.0])
    optim.clip_grad_norm_([p], 1.0)
    torch.nn.utils.clip_grad_norm_([t], 1.0)
    np.testing.assert_array_equal(p.grad, t.grad.numpy())  # all nan, as torch


@needs_torch
def test_clip_grad_value_matches_torch():
    ours, theirs = make_params(22)
    rng = np.random.default_rng(3)
    for p, t in zip(ours, theirs):
        g = rng.standard_normal(p.data.shape) * 2
        p.grad, t.grad = g.copy(), torch.tensor(g)
    optim.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
    v = Value(0.0)
    v.grad = -3.0
    optim.clip_grad_value_([v], 0.7)
    assert v.grad == -0.7


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------------------------
@needs_torch
def test_step_lr_matches_torch_with_training():
    ours, theirs = make_params(23)
    groups = lambda ps: [{"params": ps[:2], "lr": 0.5}, {"params": ps[2:]}]
    o, t = optim.SGD(groups(ours), lr=0.1, momentum=0.9), torch.optim.SGD(groups(theirs), lr=0.1, momentum=0.9)
    s, ts = optim.StepLR(o, step_size=3, gamma=0.5), torch.optim.lr_scheduler.StepLR(t, step_size=3, gamma=0.5)
    assert s.get_last_lr() == ts.get_last_lr() == [0.5, 0.1]
    for epoch in range(20):
        run_both(o, t, ours, theirs, steps=2, seed=epoch, quadratic=True, skip=False)
        s.step()
        ts.step()
        assert s.get_last_lr() == ts.get_last_lr()
        assert [g["lr"] for g in o.param_groups] == [g["lr"] for g in t.param_groups]
    assert_params_close(ours, theirs)
    assert o.param_groups[0]["initial_lr"] == 0.5


@needs_torch
def test_lambda_lr_matches_torch():
    ours, theirs = make_params(24, shapes=[(2,), (3,)])
    o = optim.Adam([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.1}], lr=0.01)
    t = torch.optim.Adam([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.1}], lr=0.01)
    fns = [lambda e: 0.95**e, lambda e: 1.0 / (1 + e)]
    s, ts = optim.LambdaLR(o, fns), torch.optim.lr_scheduler.LambdaLR(t, fns)
    for _ in range(10):
        o.step()  # no gradients: nothing moves (torch warns if its schedule steps first)
        t.step()
        s.step()
        ts.step()
        assert s.get_last_lr() == ts.get_last_lr()
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        optim.LambdaLR(o, [fns[0]])


def test_scheduler_state_dict_and_errors():
    ours, _ = make_params(25, shapes=[(2,)])
    o = optim.SGD(ours, lr=1.0)
    s = optim.StepLR(o, step_size=2, gamma=0.1)
    for _ in range(5):
        s.step()
    sd = s.state_dict()
    assert sd == {"type": "StepLR", "last_epoch": 5, "base_lrs": [1.0], "last_lr": s.get_last_lr(),
                  "step_size": 2, "gamma": 0.1}
    s2 = optim.StepLR(optim.SGD(make_params(25, shapes=[(2,)])[0], lr=1.0), step_size=7)
    s2.load_state_dict(sd)
    assert (s2.last_epoch, s2.step_size, s2.get_last_lr()) == (5, 2, s.get_last_lr())
    with pytest.raises(StateDictError, match="missing keys"):
        s2.load_state_dict({k: v for k, v in sd.items() if k != "gamma"})
    with pytest.raises(StateDictError, match=r"base_lrs has shape \(2,\)"):
        s2.load_state_dict({**sd, "base_lrs": [1.0, 2.0]})
    with pytest.raises(TypeError, match="is not an Optimizer"):
        optim.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        optim.StepLR(o, step_size=0)
    with pytest.raises(KeyError, match="initial_lr"):
        optim.StepLR(optim.SGD(make_params(26, shapes=[(2,)])[0], lr=1.0), step_size=1, last_epoch=3)


@needs_torch
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_fused_adam_updates_every_memory_layout_in_place(layout):
    """The fused step works through flat views: on a Fortran-ordered parameter (and its state)
    in memory order; on a strided view it falls back to the formulas. Either way the parameter
    array is updated in place and the trajectory is torch's."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((6, 8))
    data = {"C": base.copy(), "F": np.asfortranarray(base), "strided": base.copy()[:, ::2]}[layout]
    p, tp = Param(data), torch.tensor(np.ascontiguousarray(data), requires_grad=True)
    o, t = optim.Adam([p], lr=0.05, amsgrad=True), torch.optim.Adam([tp], lr=0.05, amsgrad=True)
    held = p.data
    for k in range(20):
        g = rng.standard_normal(data.shape)
        p.grad, tp.grad = (g if k % 2 else g.T.copy().T), torch.from_numpy(g.copy())  # grads of either layout
        o.step()
        t.step()
    assert p.data is held
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_optim_submodules_are_torchs_layout():
    assert optim.adam.adam is optim.adam.__dict__["adam"] and callable(optim.sgd.sgd)
    assert optim.lr_scheduler.StepLR is optim.StepLR and optim.adam.Adam is optim.Adam


# ---------------------------------------------------------------------------------------------
# Non-leaf tensors, frozen parameters, zero_grad's argument
# ---------------------------------------------------------------------------------------------
@needs_tensor
def test_non_leaf_tensors_are_refused_as_torch():
    from gradengine import Tensor

    leaf = Tensor([1.0], requires_grad=True)
    if torch is not None:
        with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
            torch.optim.SGD([torch.ones(1, requires_grad=True) * 2], lr=0.1)
    with pytest.raises(ValueError, match=r"^can't optimize a non-leaf Tensor: parameter 0 of param group 0 "
                                         r"\(shape \(1,\)\) was computed by mul"):
        optim.SGD([leaf * 2], lr=0.1)
    with pytest.raises(ValueError, match=r"non-leaf Tensor: parameter 1 of param group 1 'h' .*detach"):
        optim.Adam([{"params": [leaf]}, {"params": [Tensor([2.0], requires_grad=True), ("h", leaf + 1)]}])
    opt = optim.SGD([leaf], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf Tensor: parameter 0 of param group 1"):
        opt.add_param_group({"params": [leaf.exp()]})
    assert len(opt.param_groups) == 1
    with pytest.raises(ValueError, match=r"non-leaf Value: parameter 0 of param group 0"):
        optim.SGD([Value(1.0) * 2], lr=0.1)
    optim.SGD([(leaf * 2).detach().requires_grad_()], lr=0.1)  # the fix the message suggests works


@needs_torch
@needs_tensor
def test_frozen_parameters_are_skipped_like_torch():
    """Adam and SGD over a model with a frozen layer: the same trajectory as torch's, and the
    frozen parameter gets neither a gradient nor state."""
    from gradengine import nn
    import gradengine.functional as F

    for make, tmake in [(lambda ps: optim.Adam(ps, lr=0.05), lambda ps: torch.optim.Adam(ps, lr=0.05)),
                        (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9))]:
        model = nn.Sequential(nn.Linear(3, 4, rng=0, dtype=np.float64), nn.Tanh(), nn.Linear(4, 1, rng=1, dtype=np.float64))
        tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
        tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
        model[0].weight.requires_grad_(False)
        tmodel[0].weight.requires_grad_(False)
        opt, topt = make(model.parameters()), tmake(tmodel.parameters())
        x = np.random.default_rng(2).standard_normal((5, 3))
        for _ in range(5):
            opt.zero_grad()
            topt.zero_grad()
            F.mse_loss(model(x), np.zeros((5, 1))).backward()
            torch.nn.functional.mse_loss(tmodel(torch.from_numpy(x)), torch.zeros(5, 1, dtype=torch.float64)).backward()
            opt.step()
            topt.step()
        for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
        assert model[0].weight.grad is None and model[0].weight not in opt.state


def test_zero_grad_rejects_a_non_bool():
    o = optim.SGD([Param(np.zeros(2))], lr=0.1)
    with pytest.raises(TypeError, match="set_to_none must be True or False, got 'no'"):
        o.zero_grad(set_to_none="no")
    o.zero_grad(set_to_none=np.False_)


@pytest.mark.parametrize("fast", [None, False])
def test_a_nan_gradient_reaches_the_weight_as_in_torch(fast):
    """The fused step flushes moments that would be subnormal to 0; a nan moment is not one of
    them: it makes the weight nan, as in torch and in the formula path (divergence shows)."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the comparison is skipped")
    w0 = np.array([[0.5, -0.25, 1.0]], np.float32)
    x = np.array([[1.0, np.nan, 1.0]], np.float32)
    from gradengine import Tensor

    w = Tensor(w0.copy(), requires_grad=True)
    opt = optim.Adam([w], lr=0.1, fast=fast)
    tw = torch.tensor(w0.copy(), requires_grad=True)
    topt = torch.optim.Adam([tw], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        (w * x).sum().backward()
        opt.step()
        topt.zero_grad()
        (tw * torch.from_numpy(x)).sum().backward()
        topt.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-6)  # nan in the same place
    assert np.isnan(w.data[0, 1]) and np.isfinite(w.data[0, [0, 2]]).all()


def test_a_schedule_state_is_checked_as_its_constructor_checks_and_changes_nothing():
    from gradengine import Tensor

    w = Tensor(np.ones(2), requires_grad=True)
    sched = optim.lr_scheduler.StepLR(optim.SGD([w], lr=1.0), step_size=np.int64(3))  # NumPy ints are ints
    for _ in range(4):
        sched.step()
    good = sched.state_dict()
    for bad, message in [({"step_size": 0}, "step_size must be a positive integer, got 0"),
                         ({"step_size": 2.5}, "step_size must be a positive integer, got 2.5"),
                         ({"step_size": True}, "step_size must be a positive integer, got True"),
                         ({"last_epoch": 2.7}, "last_epoch should be an integer >= -1, got 2.7"),
                         ({"last_epoch": -2}, "last_epoch should be an integer >= -1, got -2")]:
        with pytest.raises(StateDictError, match=message):
            sched.load_state_dict({**good, **bad})
        assert sched.state_dict() == good
    sched.step()  # still usable


def test_a_refused_param_group_renames_nothing():
    from gradengine import Tensor

    a = Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([("a", a)], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [("renamed", a)]})
    assert opt._describe(a) == opt._describe(opt.param_groups[0]["params"][0]) and "renamed" not in opt._describe(a)
