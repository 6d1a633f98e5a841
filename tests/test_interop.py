"""Tests of gradengine.interop: models, tensors and state dicts to PyTorch and back."""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

import gradengine as ge
from gradengine import Tensor, nn
from gradengine.interop import from_torch, to_torch

torch = pytest.importorskip("torch", reason="PyTorch is not installed: the interop tests are skipped")
tnn = torch.nn

X = np.random.default_rng(0).standard_normal((6, 2, 4)).astype(np.float32)


def every_layer_model(dtype=np.float32) -> nn.Sequential:
    """A model with every gradengine layer (the losses are tested separately)."""
    rng = np.random.default_rng(1)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(8, 6, rng=rng, dtype=dtype), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(6, 6, bias=False, rng=rng, dtype=dtype), nn.Tanh(), nn.Identity(),
        nn.Linear(6, 5, rng=rng, dtype=dtype), nn.LeakyReLU(0.2), nn.Sequential(nn.Linear(5, 4, rng=rng, dtype=dtype),
                                                                                 nn.Sigmoid()),
        nn.Linear(4, 3, rng=rng, dtype=dtype), nn.Softmax(dim=1), nn.Flatten(0), nn.LogSoftmax(dim=0),
    )


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_torch_builds_the_same_model(dtype):
    model = every_layer_model(dtype).eval()
    tmodel = to_torch(model)
    assert isinstance(tmodel, tnn.Sequential)
    assert [type(m).__name__ for m in tmodel] == [type(m).__name__ for m in model]
    assert isinstance(tmodel[9], tnn.Sequential) and tmodel[4].bias is None
    assert list(tmodel.state_dict()) == list(model.state_dict())
    assert tmodel[1].weight.dtype == (torch.float32 if dtype == np.float32 else torch.float64)
    assert not tmodel.training and not tmodel[3].training
    x = X.astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(_np(tmodel(torch.from_numpy(x))), model(x).data, rtol=rtol, atol=rtol * 1e-2)
    # gradients agree too: the trained weights are the same parameters
    model(x).sum().backward()
    tmodel(torch.from_numpy(x)).sum().backward()
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(tparams[name].grad.numpy(), p.grad, rtol=rtol * 10, atol=1e-6, err_msg=name)


def test_to_torch_copies_weights_and_keeps_train_mode():
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.Dropout(0.5))
    tmodel = to_torch(model)
    assert tmodel.training and tmodel[1].training and tmodel[1].p == 0.5
    model[0].weight.data[...] = 0.0  # the torch model shares no memory with ours
    assert torch.count_nonzero(tmodel[0].weight) == 6


def test_from_torch_builds_the_same_model():
    torch.manual_seed(0)
    tmodel = tnn.Sequential(
        tnn.Flatten(), tnn.Linear(8, 6), tnn.ReLU(inplace=True), tnn.Dropout(0.2), tnn.Linear(6, 6, bias=False),
        tnn.Tanh(), tnn.Identity(), tnn.LeakyReLU(0.3), tnn.Linear(6, 4), tnn.Sigmoid(),
        tnn.Softmax(dim=-1), tnn.LogSoftmax(dim=1),
    ).eval()
    model = from_torch(tmodel)
    assert isinstance(model, nn.Sequential)
    assert [type(m).__name__ for m in model] == [type(m).__name__ for m in tmodel]
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert not model.training and not model[3].training and model[3].p == 0.2
    np.testing.assert_allclose(model(X).data, _np(tmodel(torch.from_numpy(X))), rtol=1e-5, atol=1e-7)
    blocks = from_torch(tnn.ModuleList([tnn.Linear(4, 4), tnn.Linear(4, 2).double()]))
    assert isinstance(blocks, nn.ModuleList) and list(blocks.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert blocks[1].weight.dtype == np.float64


def test_round_trip_is_exact():
    model = every_layer_model()
    back = from_torch(to_torch(model))
    assert repr(back) == repr(model)
    for (k, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.eval()(X).data, model.eval()(X).data)


def test_named_torch_sequential_is_numbered():
    tmodel = tnn.Sequential(OrderedDict(fc1=tnn.Linear(4, 3), act=tnn.ReLU(), fc2=tnn.Linear(3, 1)))
    model = from_torch(tmodel)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = X.reshape(12, 4)
    np.testing.assert_allclose(model(x).data, _np(tmodel(torch.from_numpy(x))), rtol=1e-5, atol=1e-7)


LOSSES = [
    (nn.MSELoss(reduction="sum"), "float"), (nn.L1Loss(), "float"),
    (nn.CrossEntropyLoss(weight=Tensor([1.0, 2.0, 0.5]), ignore_index=2, label_smoothing=0.1), "labels"),
    (nn.NLLLoss(weight=Tensor([1.0, 2.0, 0.5]), reduction="none"), "labels"),
    (nn.BCEWithLogitsLoss(pos_weight=Tensor([2.0, 1.0, 3.0]), weight=Tensor([1.0, 0.0, 1.0])), "probabilities"),
]


@pytest.mark.parametrize("criterion, kind", LOSSES, ids=[type(c).__name__ for c, _ in LOSSES])
def test_loss_modules_convert_with_their_options(criterion, kind):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    y = {"float": rng.standard_normal((5, 3)).astype(np.float32), "labels": np.array([0, 1, 2, 1, 0]),
         "probabilities": rng.random((5, 3)).astype(np.float32)}[kind]
    tcriterion = to_torch(criterion)
    assert type(tcriterion).__name__ == type(criterion).__name__
    assert tcriterion.reduction == criterion.reduction
    np.testing.assert_allclose(_np(tcriterion(torch.from_numpy(x), torch.from_numpy(y))), criterion(x, y).data,
                               rtol=1e-5, atol=1e-6)
    back = from_torch(tcriterion)
    assert type(back) is type(criterion) and vars(back).keys() == vars(criterion).keys()
    np.testing.assert_allclose(back(x, y).data, criterion(x, y).data, rtol=1e-6)


def test_tensors_convert_both_ways():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    t = to_torch(x)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.requires_grad and t.is_leaf
    np.testing.assert_array_equal(_np(t), x.data)
    t.detach()[0, 0] = 100.0  # a copy: ours is unchanged
    assert x.data[0, 0] == 0.0
    labels = to_torch(ge.tensor([1, 0]))
    assert labels.dtype == torch.int64 and not labels.requires_grad
    assert to_torch(ge.randn(2)).dtype == torch.float32
    assert to_torch(np.zeros(3, np.float32)).dtype == torch.float32

    back = from_torch(torch.ones(2, 2, dtype=torch.float64, requires_grad=True) * 3)
    assert isinstance(back, Tensor) and back.dtype == np.float64 and back.requires_grad and back.is_leaf
    assert from_torch(torch.tensor([1, 2])).dtype == np.int64
    with pytest.raises(TypeError, match="bfloat16.*t.float\\(\\)"):
        from_torch(torch.ones(2, dtype=torch.bfloat16))


def test_state_dict_loads_into_the_matching_torch_model_with_one_call():
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=1))
    torch.manual_seed(0)
    tmodel = tnn.Sequential(tnn.Linear(4, 8), tnn.ReLU(), tnn.Linear(8, 2))
    result = tmodel.load_state_dict(to_torch(model.state_dict()))  # the documented call
    assert not result.missing_keys and not result.unexpected_keys
    x = X.reshape(12, 4)
    np.testing.assert_allclose(_np(tmodel(torch.from_numpy(x))), model(x).data, rtol=1e-5, atol=1e-7)
    # and back: torch's state dict into the gradengine model
    with torch.no_grad():
        tmodel[0].weight.mul_(2.0)
    model.load_state_dict(from_torch(tmodel.state_dict()))
    np.testing.assert_allclose(_np(tmodel(torch.from_numpy(x))), model(x).data, rtol=1e-5, atol=1e-7)


def test_unsupported_layers_are_named():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) * 2

    with pytest.raises(TypeError, match=r"cannot convert .*Net \(at '1'\).*load_state_dict\(to_torch\(model.state_dict"):
        to_torch(nn.Sequential(nn.ReLU(), Net()))
    with pytest.raises(TypeError, match=r"no counterpart of torch.nn.modules.conv.Conv2d \(at '0.1'\)"):
        from_torch(tnn.Sequential(tnn.Sequential(tnn.ReLU(), tnn.Conv2d(1, 1, 3))))
    with pytest.raises(TypeError, match=r"supported|converts are .*Linear"):
        from_torch(tnn.GELU())
    with pytest.raises(TypeError, match="expects a gradengine Module, a Tensor"):
        to_torch("model")
    with pytest.raises(TypeError, match="expects a torch.nn.Module"):
        from_torch(3)


def test_scalar_mlp_converts_to_a_torch_stack():
    import random

    random.seed(0)
    mlp = nn.MLP(3, [4, 4, 1])
    tmodel = to_torch(mlp)
    assert [type(m).__name__ for m in tmodel] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    xs = [[0.5, -1.0, 2.0], [1.5, 0.0, -0.3]]
    out = _np(tmodel(torch.tensor(xs, dtype=torch.float32)))
    np.testing.assert_allclose(out[:, 0], [mlp(row).data for row in xs], rtol=1e-5, atol=1e-6)


def test_torch_is_not_imported_with_gradengine():
    code = "import sys, gradengine, gradengine.interop; sys.exit('torch' in sys.modules)"
    src = str(__import__("pathlib").Path(ge.__file__).parents[1])
    proc = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": src}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr or "importing gradengine imported torch"


# ---------------------------------------------------------------------------------------------
# Exact round trips: shape (0-d included), dtype, requires_grad, .grad and training flags
# ---------------------------------------------------------------------------------------------
def test_zero_d_tensors_keep_their_shape_both_ways():
    t = to_torch(Tensor(np.array(2.5)))
    assert t.shape == torch.Size([]) and t.dtype == torch.float64 and t.item() == 2.5
    loss = (Tensor(np.ones(3), requires_grad=True) ** 2).sum()  # a scalar loss, with history
    tl = to_torch(loss)
    assert tl.shape == torch.Size([]) and tl.requires_grad and tl.is_leaf and tl.dtype == torch.float64
    assert to_torch(np.array(3, np.int32)).shape == torch.Size([])
    assert to_torch(np.array(3, np.int32)).dtype == torch.int32
    sd = to_torch({"s": np.array(1.0), "g": np.float32(2.0), "f": 1.5, "v": ge.Value(2.0),
                   "t": Tensor(np.array(4, np.int16)), "b": np.array(True)})
    assert {k: (tuple(v.shape), v.dtype) for k, v in sd.items()} == {
        "s": ((), torch.float64), "g": ((), torch.float32), "f": ((), torch.float64), "v": ((), torch.float64),
        "t": ((), torch.int16), "b": ((), torch.bool)}
    # the scalar engine's state dict is all 0-d entries
    import random
    random.seed(0)
    mlp = nn.MLP(2, [1])
    assert all(v.shape == torch.Size([]) for v in to_torch(mlp.state_dict()).values())
    # a 0-d gradient, and a 0-d loss buffer
    x = Tensor(np.array(3.0), requires_grad=True)
    (x * x).backward()
    assert to_torch(x).grad.shape == torch.Size([]) and to_torch(x).grad.item() == 6.0
    bce = to_torch(nn.BCEWithLogitsLoss(pos_weight=Tensor(np.array(2.0, np.float32))))
    assert bce.pos_weight.shape == torch.Size([]) and bce.pos_weight.dtype == torch.float32
    assert from_torch(bce).pos_weight.shape == ()
    # and from torch
    back = from_torch(torch.tensor(2.5, dtype=torch.float64, requires_grad=True))
    assert back.shape == () and back.dtype == np.float64 and back.requires_grad
    assert from_torch({"n": torch.tensor(7)})["n"].shape == ()
    assert from_torch(to_torch(Tensor(np.array(1.5, np.float16)))).shape == ()
    assert from_torch(to_torch(Tensor(np.array(1.5, np.float16)))).dtype == np.float16


def _flags(model):
    return [m.training for m in model.modules()]


def test_training_flags_are_kept_per_module_both_ways():
    net = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.3))
    net[1].eval()
    assert [m.training for m in to_torch(net)] == [True, False]
    # mixed flags at several depths, with the parent in either mode
    for top in (True, False):
        inner = nn.Sequential(nn.Dropout(0.1), nn.Sequential(nn.Dropout(0.2), nn.ReLU()),
                              nn.ModuleList([nn.Dropout(0.3), nn.Tanh()]))
        model = nn.Sequential(nn.Linear(4, 4, rng=0), inner, nn.MSELoss())
        model.train(top)
        model[1].train(not top)
        model[1][1][0].train(top)
        model[1][2][1].train(top)
        model[2].train(not top)
        tmodel = to_torch(model)
        assert _flags(tmodel) == _flags(model)
        assert _flags(from_torch(tmodel)) == _flags(model)
    tmodel = tnn.Sequential(tnn.Linear(2, 2),
                            tnn.Sequential(tnn.Dropout(), tnn.Sequential(tnn.ReLU(), tnn.Dropout())))
    tmodel.eval()
    tmodel[1][1].train()
    tmodel[1][1][0].eval()
    assert _flags(from_torch(tmodel)) == [m.training for m in tmodel.modules()]
    # the scalar MLP: each Layer's flag goes to its Linear (and ReLU)
    import random
    random.seed(0)
    mlp = nn.MLP(2, [3, 1])
    mlp.layers[0].eval()
    assert [m.training for m in to_torch(mlp)] == [False, False, True]
    assert to_torch(mlp).training


def test_grads_round_trip_both_ways():
    x = Tensor(np.arange(3.0, dtype=np.float32), requires_grad=True)
    (x * x).sum().backward()
    t = to_torch(x)
    assert t.is_leaf and t.requires_grad and t.grad is not None and t.grad.dtype == torch.float32
    np.testing.assert_array_equal(t.grad.numpy(), x.grad)
    t.grad[0] = 100.0  # a copy
    assert x.grad[0] == 0.0
    back = from_torch(t)
    assert back.requires_grad and back.grad.dtype == np.float32
    np.testing.assert_array_equal(back.grad, [100.0, 2.0, 4.0])
    t.grad[1] = -1.0  # a copy again
    assert back.grad[1] == 2.0
    assert to_torch(Tensor(np.ones(2))).grad is None and from_torch(torch.ones(2)).grad is None
    # a non-leaf torch tensor becomes a leaf without a gradient (and without torch's warning)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = from_torch(torch.ones(2, requires_grad=True) * 2)
    assert y.requires_grad and y.grad is None
    # parameters' gradients, both ways
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.ReLU(), nn.Linear(2, 1, rng=1, dtype=np.float64))
    model(X.reshape(-1, 4)[:, :3]).sum().backward()
    tmodel = to_torch(model)
    for name, p in model.named_parameters():
        tp = tmodel.get_parameter(name)
        assert tp.grad is not None and tp.grad.dtype == tp.dtype
        np.testing.assert_array_equal(tp.grad.numpy(), p.grad, err_msg=name)
    back = from_torch(tmodel)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(dict(back.named_parameters())[name].grad, p.grad, err_msg=name)
    assert to_torch(nn.Linear(2, 2)).weight.grad is None and from_torch(tnn.Linear(2, 2)).weight.grad is None


def test_frozen_weights_stay_frozen_both_ways():
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.ReLU(), nn.Linear(2, 1, rng=1, dtype=np.float64))
    keys = list(model.state_dict())
    model[2].weight.requires_grad = False
    tmodel = to_torch(model)
    assert not tmodel[2].weight.requires_grad and tmodel[2].bias.requires_grad and tmodel[0].weight.requires_grad
    assert tmodel[2].weight.dtype == torch.float64 and list(tmodel.state_dict()) == keys
    np.testing.assert_array_equal(tmodel[2].weight.detach().numpy(), model[2].weight.data)
    back = from_torch(tmodel)
    assert not back[2].weight.requires_grad and back[2].bias.requires_grad and back[0].weight.requires_grad
    assert list(back.state_dict()) == list(model.state_dict())  # frozen weights listed as in `model`
    tlin = tnn.Linear(2, 2)
    tlin.bias.requires_grad_(False)
    lin = from_torch(tlin)
    assert lin.weight.requires_grad and not lin.bias.requires_grad
    assert to_torch(lin).weight.requires_grad and not to_torch(lin).bias.requires_grad


def test_linear_keeps_each_parameter_dtype():
    lin = nn.Linear(3, 2, rng=0)
    lin.bias = Tensor(np.zeros(2), requires_grad=True, name="bias")  # float64 beside a float32 weight
    t = to_torch(lin)
    assert t.weight.dtype == torch.float32 and t.bias.dtype == torch.float64
    back = from_torch(t)
    assert back.weight.dtype == np.float32 and back.bias.dtype == np.float64 and back.bias.name == "bias"


def test_other_dtypes_and_layouts_convert():
    big_endian = np.arange(3.0).astype(">f8")
    t = to_torch(Tensor(big_endian))
    assert t.dtype == torch.float64
    np.testing.assert_array_equal(t.numpy(), big_endian)
    assert to_torch({"w": big_endian})["w"].dtype == torch.float64
    assert to_torch(np.arange(6.0)[::-2]).tolist() == [5.0, 3.0, 1.0]
    neg = torch.tensor([1 + 2j, 3 - 1j]).conj().imag  # a view with the negative bit set
    np.testing.assert_array_equal(from_torch(neg).data, [-2.0, 1.0])
    if np.dtype(np.longdouble).itemsize > 8:
        with pytest.raises(TypeError, match=r"to_torch: .*float128.*astype\(np.float64\)"):
            to_torch(Tensor(np.ones(2, np.longdouble)))


def test_a_module_used_twice_stays_one_module_both_ways():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: interop is skipped")
    lin = nn.Linear(3, 3, rng=np.random.default_rng(0))
    net = nn.Sequential(lin, nn.ReLU(), lin)
    tnet = to_torch(net)
    assert tnet[0] is tnet[2] and len(list(tnet.parameters())) == 2  # tied, as in the gradengine model
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(tnet(torch.from_numpy(x)).detach().numpy(), net(x).numpy(), rtol=1e-6, atol=1e-6)
    back = from_torch(tnet)
    assert back[0] is back[2] and len(back.parameters()) == 2
    # separate calls convert separately: no module is shared between two conversions
    assert to_torch(lin) is not to_torch(lin)
