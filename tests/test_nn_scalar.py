"""``gradengine.nn`` on the scalar engine: micrograd parity, Module discovery, state dicts."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

import gradengine as ge
from gradengine import Value, nn
from gradengine.nn import MLP, Layer, Module, Neuron, StateDictError


def _micrograd():
    return pytest.importorskip("micrograd.nn", reason="micrograd (PyPI) is the reference for nn parity")


@pytest.mark.parametrize("nin, nouts", [(2, [16, 16, 1]), (3, [4, 4]), (1, [1])])
def test_mlp_matches_micrograd_parameters_outputs_and_gradients(nin, nouts):
    mg = _micrograd()
    random.seed(7)
    ours = MLP(nin, nouts)
    random.seed(7)
    theirs = mg.MLP(nin, nouts)
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]
    assert repr(ours) == repr(theirs)

    x = [0.3 * (i + 1) - 0.5 for i in range(nin)]
    out_o, out_t = ours(x), theirs(x)
    if not isinstance(out_o, list):
        out_o, out_t = [out_o], [out_t]
    assert [o.data for o in out_o] == pytest.approx([t.data for t in out_t], rel=1e-12)
    loss_o = ge.engine.sum(o * o for o in out_o)
    loss_t = sum((t * t for t in out_t), mg.Value(0.0) if hasattr(mg, "Value") else 0.0)
    loss_o.backward()
    loss_t.backward()
    assert [p.grad for p in ours.parameters()] == pytest.approx([p.grad for p in theirs.parameters()], rel=1e-12)


def test_neuron_layer_signatures_and_behaviour():
    random.seed(0)
    n = Neuron(3, nonlin=False)
    assert len(n.parameters()) == 4 and repr(n) == "LinearNeuron(3)"
    assert isinstance(n([1.0, 2.0, 3.0]), Value)
    layer = Layer(3, 2, nonlin=True)
    assert len(layer([1.0, 2.0, 3.0])) == 2 and len(layer.parameters()) == 8
    assert isinstance(Layer(3, 1)([1.0, 2.0, 3.0]), Value)
    with pytest.raises(ValueError, match="expects 3 inputs, got 2"):
        n([1.0, 2.0])


def test_zero_grad_and_sgd_training_reaches_full_accuracy_on_a_toy_problem():
    random.seed(1)
    model = MLP(2, [8, 1])
    data = [([0.0, 1.0], 1.0), ([1.0, 0.0], -1.0), ([0.5, 1.5], 1.0), ([1.5, 0.5], -1.0)]
    for _ in range(60):
        loss = ge.engine.sum((1 + -y * model(x)).relu() for x, y in data)
        model.zero_grad()
        assert all(p.grad == 0.0 for p in model.parameters())
        loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad
    assert all((model(x).data > 0) == (y > 0) for x, y in data)


class Custom(Module):
    """A micrograd-style subclass that never calls super().__init__()."""

    def __init__(self):
        self.a = Value(1.0)
        self.blocks = [Neuron(2), {"extra": Value(2.0)}]
        self.shared = self.a  # the same parameter twice is yielded once
        self.not_a_param = 3.0

    def __call__(self, x):
        return self.a * x


def test_module_discovers_parameters_in_assignment_order():
    random.seed(0)
    m = Custom()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["a", "blocks.0.w.0", "blocks.0.w.1", "blocks.0.b", "blocks.1.extra"]
    assert [n for n, _ in m.named_modules()] == ["", "blocks.0"]
    assert m.training and not m.eval().training and m.train().training


def test_state_dict_round_trip_and_atomic_checkpoint(tmp_path):
    random.seed(0)
    m = MLP(2, [3, 1])
    path = tmp_path / "ckpt" / "m.npz"
    m.save(path)
    assert list(tmp_path.joinpath("ckpt").iterdir()) == [path]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600
    random.seed(1)
    m2 = MLP(2, [3, 1])
    m2.load(path)
    assert [p.data for p in m2.parameters()] == [p.data for p in m.parameters()]


def test_load_state_dict_errors_change_nothing():
    random.seed(0)
    m = MLP(2, [3, 1])
    before = [p.data for p in m.parameters()]
    sd = m.state_dict()
    bad_shape = dict(sd, **{"layers.0.neurons.0.w.0": np.zeros(3)})
    with pytest.raises(StateDictError, match=r"layers.0.neurons.0.w.0.*\(3,\).*\(\)"):
        m.load_state_dict(bad_shape)
    missing = {k: v for k, v in sd.items() if k != "layers.1.neurons.0.b"}
    with pytest.raises(StateDictError, match="missing keys.*layers.1.neurons.0.b"):
        m.load_state_dict(missing)
    with pytest.raises(StateDictError, match="unexpected keys.*bogus"):
        m.load_state_dict(dict(sd, bogus=np.zeros(())))
    assert [p.data for p in m.parameters()] == before


def test_checkpoints_never_unpickle(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"layers.0.neurons.0.w.0": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match="evil.npz"):
        MLP(2, [1]).load(path)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        MLP(2, [1]).load(tmp_path / "missing.npz")


def test_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="Empty"):
        type("Empty", (Module,), {})()(1)


def test_nn_is_exported():
    assert ge.nn is nn and nn.MLP is MLP
