"""Tests of the tensor layers: init, shapes, names that line up with PyTorch, modes, checkpoints."""

from __future__ import annotations

import math
import zipfile

import numpy as np
import pytest

import gradengine.functional as F
from gradengine import Tensor, nn

MLP_SIZES = [(784, 128), (128, 64), (64, 10)]


def reference_model(seed: int = 0, dtype=np.float32) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128, rng=rng, dtype=dtype), nn.ReLU(),
        nn.Linear(128, 64, rng=rng, dtype=dtype), nn.ReLU(), nn.Linear(64, 10, rng=rng, dtype=dtype),
    )


def torch_reference_model():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparison with torch.nn skipped")
    tnn = torch.nn
    return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 128), tnn.ReLU(), tnn.Linear(128, 64), tnn.ReLU(),
                          tnn.Linear(64, 10))


def test_linear_shapes_dtype_and_init_bounds():
    layer = nn.Linear(300, 20, rng=0)
    assert layer.weight.shape == (20, 300) and layer.bias.shape == (20,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad and layer.weight.is_leaf
    bound = 1 / math.sqrt(300)
    for p in (layer.weight, layer.bias):
        assert np.all(np.abs(p.data) <= bound)
    # U(-b, b) has standard deviation b / sqrt(3)
    assert abs(layer.weight.data.std() - bound / math.sqrt(3)) < 0.05 * bound
    out = layer(np.ones((7, 300), np.float32))
    assert out.shape == (7, 20) and out.dtype == np.float32
    assert nn.Linear(3, 2, bias=False).bias is None
    assert len(nn.Linear(3, 2, bias=False).parameters()) == 1
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64
    with pytest.raises(TypeError):
        nn.Linear(3, 2, dtype=np.int32)


def test_linear_seed_is_reproducible():
    a, b = nn.Linear(5, 4, rng=3), nn.Linear(5, 4, rng=3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.random.seed(0)  # without rng: NumPy's global RNG, like torch.manual_seed
    g1 = nn.Linear(5, 4)
    np.random.seed(0)
    np.testing.assert_array_equal(g1.weight.data, nn.Linear(5, 4).weight.data)
    c = nn.Linear(5, 4, rng=3, dtype=np.float64)
    np.testing.assert_allclose(a.weight.data, c.weight.data, rtol=1e-6)


def test_linear_init_matches_torch_distribution():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparison with torch.nn skipped")
    t = torch.nn.Linear(400, 50)
    ours = nn.Linear(400, 50, rng=0)
    assert ours.weight.shape == tuple(t.weight.shape) and ours.bias.shape == tuple(t.bias.shape)
    tb = float(t.weight.detach().abs().max())
    assert abs(tb - float(np.abs(ours.weight.data).max())) < 0.01 / math.sqrt(400)


def test_state_dict_names_and_shapes_match_torch():
    ours = reference_model().state_dict()
    theirs = {k: tuple(v.shape) for k, v in torch_reference_model().state_dict().items()}
    assert list(ours) == list(theirs) == ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"]
    assert {k: v.shape for k, v in ours.items()} == theirs


def test_outputs_and_gradients_match_torch_with_the_same_weights():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparison with torch.nn skipped")
    tmodel = torch_reference_model().double()
    model = reference_model(dtype=np.float64)
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    rng = np.random.default_rng(1)
    x, y = rng.random((6, 28, 28)), rng.integers(0, 10, 6)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)


def test_sequential_container():
    model = reference_model()
    assert len(model) == 6
    assert isinstance(model[1], nn.Linear) and isinstance(model[-1], nn.Linear)
    assert [type(m).__name__ for m in model] == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is model[1]
    assert head(np.zeros((2, 28, 28), np.float32)).shape == (2, 128)
    model.append(nn.Tanh())
    assert len(model) == 7 and "(6): Tanh()" in repr(model)
    r = repr(model)
    assert "(1): Linear(in_features=784, out_features=128, bias=True)" in r
    assert "(0): Flatten(start_dim=1, end_dim=-1)" in r
    with pytest.raises(TypeError):
        nn.Sequential(lambda x: x)


def test_flatten_layer():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    out = nn.Flatten()(x)
    assert out.shape == (2, 12)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 3, 4)))
    assert nn.Flatten()(np.zeros((5, 28, 28))).shape == (5, 784)
    assert nn.Flatten(0)(np.zeros((5, 2))).shape == (10,)


def test_activation_layers():
    x = np.array([[-1.0, 0.5]])
    np.testing.assert_allclose(nn.ReLU()(x).data, [[0.0, 0.5]])
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x)))


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.5, rng=0)
    x = Tensor(np.ones((100, 100), np.float32), requires_grad=True)
    y = drop(x)
    assert 0.4 < np.mean(y.data == 0) < 0.6
    drop.eval()
    assert drop(x) is x
    model = nn.Sequential(nn.Linear(4, 4, rng=0), nn.Dropout(0.5, rng=1))
    model.eval()
    assert not model[1].training
    model.train()
    assert model[1].training
    assert repr(drop) == "Dropout(p=0.5)"
    with pytest.raises(ValueError):
        nn.Dropout(-0.1)


def test_zero_grad_and_parameters():
    model = reference_model()
    assert len(model.parameters()) == 6
    F.cross_entropy(model(np.zeros((2, 28, 28), np.float32)), np.array([1, 2])).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_save_load_roundtrip_without_pickle(tmp_path):
    model = reference_model(seed=1)
    path = tmp_path / "model.npz"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == sorted(f"{k}.npy" for k in model.state_dict())
    with np.load(path, allow_pickle=False) as f:  # plain arrays: no pickle needed
        assert set(f.files) == set(model.state_dict())
    other = reference_model(seed=2)
    other.load(path)
    for (k, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(model(x).data, other(x).data)
