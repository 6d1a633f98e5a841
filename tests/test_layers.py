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


# ---------------------------------------------------------------------------------------------
# PyTorch's everyday modules: losses, Softmax/LogSoftmax, LeakyReLU, Identity, ModuleList
# ---------------------------------------------------------------------------------------------
def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: comparison with torch.nn skipped")


def test_linear_default_init_is_pytorchs():
    """kaiming_uniform_(a=sqrt(5)) for the weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the
    bias: the same bounds and the same (uniform) distribution as torch.nn.Linear's."""
    torch = _torch()
    torch.manual_seed(0)
    theirs = torch.nn.Linear(50, 400)
    ours = nn.Linear(50, 400, rng=0)
    quantiles = np.linspace(0.05, 0.95, 19)
    for name in ("weight", "bias"):
        a, b = getattr(ours, name).data.ravel(), getattr(theirs, name).detach().numpy().ravel()
        assert np.abs(a).max() <= 1 / math.sqrt(50) and np.abs(b).max() <= 1 / math.sqrt(50)
        spread = 0.1 if name == "weight" else 0.25  # 20000 weights, 400 biases
        np.testing.assert_allclose(np.quantile(a, quantiles) * math.sqrt(50),
                                   np.quantile(b, quantiles) * math.sqrt(50), atol=spread, err_msg=name)


def test_linear_rejects_int64_input_as_torch():
    layer = nn.Linear(4, 3, rng=0)
    with pytest.raises(TypeError, match=r"input has dtype int64 but the weight is float32.*astype\(np.float32\)"):
        layer(np.ones((2, 4), np.int64))
    with pytest.raises(TypeError, match="uint8"):
        nn.Sequential(nn.Flatten(), nn.Linear(4, 2))(np.ones((1, 2, 2), np.uint8))  # raw pixels
    assert layer(np.ones((2, 4), np.float32)).dtype == np.float32


LOSS_CASES = {
    "MSELoss": ((3, 4), "float"), "L1Loss": ((3, 4), "float"), "CrossEntropyLoss": ((5, 3), "labels"),
    "NLLLoss": ((5, 3), "labels"), "BCEWithLogitsLoss": ((3, 4), "probabilities"),
}


def _loss_inputs(shape, kind, rng):
    x = rng.standard_normal(shape)
    if kind == "labels":
        return x, rng.integers(0, shape[1], shape[0])
    return x, (rng.random(shape) if kind == "probabilities" else rng.standard_normal(shape))


@pytest.mark.parametrize("name", list(LOSS_CASES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_match_torch(name, reduction):
    torch = _torch()
    shape, kind = LOSS_CASES[name]
    x, y = _loss_inputs(shape, kind, np.random.default_rng(0))
    kw = {"reduction": reduction}
    if name in ("CrossEntropyLoss", "NLLLoss"):
        kw.update(weight=np.array([0.5, 2.0, 1.0]), ignore_index=1)
    if name == "CrossEntropyLoss":
        kw["label_smoothing"] = 0.1
    if name == "BCEWithLogitsLoss":
        kw["pos_weight"] = np.array([1.0, 2.0, 0.5, 3.0])
    criterion = getattr(nn, name)(**kw)
    t_criterion = getattr(torch.nn, name)(**{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                                             for k, v in kw.items()})
    xt = Tensor(x, requires_grad=True)
    loss = criterion(xt, y)
    tx = torch.tensor(x, requires_grad=True)
    tloss = t_criterion(tx, torch.from_numpy(y))
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=1e-10, atol=1e-12)
    loss.sum().backward()
    tloss.sum().backward()
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert criterion.parameters() == []  # weights are constants, not parameters


def test_loss_module_arguments_as_torch():
    assert nn.MSELoss().reduction == "mean" and "reduction='sum'" in repr(nn.MSELoss(reduction="sum"))
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.L1Loss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.MSELoss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=2.0)
    ce = nn.CrossEntropyLoss(weight=Tensor([1.0, 2.0], requires_grad=True))
    assert not ce.weight.requires_grad and ce.parameters() == []
    assert "ignore_index=0" in repr(nn.NLLLoss(ignore_index=0))
    # the usual pairing: LogSoftmax + NLLLoss == CrossEntropyLoss
    x, y = np.random.default_rng(1).standard_normal((4, 3)), np.array([0, 2, 1, 1])
    np.testing.assert_allclose(nn.NLLLoss()(nn.LogSoftmax(dim=1)(x), y).item(), nn.CrossEntropyLoss()(x, y).item())


def test_softmax_modules_match_torch_and_warn_without_dim():
    torch = _torch()
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    for dim in (0, 1, 2, -1):
        for name in ("Softmax", "LogSoftmax"):
            ours = getattr(nn, name)(dim=dim)(Tensor(x)).data
            np.testing.assert_allclose(ours, getattr(torch.nn, name)(dim=dim)(torch.from_numpy(x)).numpy(), rtol=1e-12)
    for shape in ((4,), (2, 4), (2, 3, 4), (2, 3, 4, 5)):  # torch's implicit choice, with its warning
        a = np.random.default_rng(3).standard_normal(shape)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
            ours = nn.Softmax()(a).data
        with pytest.warns(UserWarning):
            theirs = torch.nn.Softmax()(torch.from_numpy(a)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


def test_leaky_relu_identity_and_module_list():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).data, [[-0.2, 0.0, 3.0]])
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    ident = nn.Identity(54, unused="argument")
    assert isinstance(ident(x), Tensor) and np.array_equal(ident(x).data, x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(3, 3, rng=i) for i in range(2)])
            self.blocks.append(nn.Linear(3, 1, rng=9))

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
                     "blocks.2.weight", "blocks.2.bias"]  # torch.nn.ModuleList's names
    assert net(x).shape == (1, 1) and len(net.blocks) == 3
    assert isinstance(net.blocks[:2], nn.ModuleList) and len(net.blocks[:2]) == 2
    with pytest.raises(NotImplementedError, match="ModuleList has no forward"):
        net.blocks(x)
    with pytest.raises(TypeError, match="ModuleList takes Modules"):
        nn.ModuleList([3])


def test_nn_utils_and_nn_functional_are_where_pytorch_code_looks():
    import gradengine.functional
    import gradengine.nn.functional as NF
    from gradengine import optim
    from gradengine.nn import functional as NF2

    assert NF is NF2 is gradengine.functional
    assert nn.utils.clip_grad_norm_ is optim.clip_grad_norm_
    assert nn.utils.clip_grad_value_ is optim.clip_grad_value_
    layer = nn.Linear(3, 1, rng=0)
    (layer(np.full((1, 3), 100.0, np.float32)) ** 2).sum().backward()
    total = nn.utils.clip_grad_norm_(layer.parameters(), max_norm=1.0)
    assert total > 1.0
    norm = math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in layer.parameters()))
    assert norm == pytest.approx(1.0, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Frozen parameters (requires_grad_(False)) and zero_grad(set_to_none=False)
# ---------------------------------------------------------------------------------------------
def two_layers(dtype=np.float32) -> nn.Sequential:
    rng = np.random.default_rng(4)
    return nn.Sequential(nn.Linear(2, 3, rng=rng, dtype=dtype), nn.Linear(3, 1, rng=rng, dtype=dtype))


@pytest.mark.parametrize("listed_first", [False, True])
def test_frozen_parameters_stay_parameters_as_torch(listed_first, tmp_path):
    """A parameter frozen with requires_grad_(False) is still in parameters() and state_dict(), as in
    torch (whether or not parameters() was called before it was frozen)."""
    torch = _torch()
    model = two_layers()
    if listed_first:
        model.parameters()
    model[0].weight.requires_grad_(False)
    tmodel = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    tmodel[0].weight.requires_grad_(False)
    names = ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()] == names
    assert [p.requires_grad for p in model.parameters()] == [p.requires_grad for p in tmodel.parameters()]
    assert list(model.state_dict()) == list(tmodel.state_dict()) == names
    fresh = two_layers()
    fresh.load_state_dict({k: v * 0 for k, v in model.state_dict().items()})  # strict: every key fits
    assert not fresh[0].weight.data.any()
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    np.testing.assert_array_equal(model[0].weight.data, tmodel[0].weight.detach().numpy())
    tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in two_layers().state_dict().items()})
    model.save(tmp_path / "frozen.npz")
    fresh.load(tmp_path / "frozen.npz")
    np.testing.assert_array_equal(fresh[0].weight.data, model[0].weight.data)


def test_frozen_parameter_gets_no_gradient_and_the_optimizer_skips_it():
    from gradengine import optim

    model = two_layers()
    frozen = model[0].weight
    frozen.requires_grad_(False)
    before = frozen.data.copy()
    opt = optim.SGD(model.parameters(), lr=0.5)
    model(np.ones((4, 2), np.float32)).sum().backward()
    assert frozen.grad is None and all(p.grad is not None for p in model.parameters()[1:])
    opt.step()
    np.testing.assert_array_equal(frozen.data, before)
    assert model[0].bias.grad is not None
    frozen.requires_grad_(True)  # unfrozen: trained again, still the same parameter
    assert model.parameters()[0] is frozen
    opt.zero_grad()
    model(np.ones((4, 2), np.float32)).sum().backward()
    opt.step()
    assert not np.array_equal(frozen.data, before)


def test_parameter_discovery_frozen_in_containers_constants_and_cached_outputs():
    """Tensors that required grad when assigned stay parameters (also in lists and dicts); a tensor
    assigned with requires_grad=False is a constant, and a tensor computed by an op (a cached
    output) is not a parameter, as neither is an nn.Parameter in torch."""
    import copy

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = [Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)]
            self.d = {"a": Tensor(np.ones(1), requires_grad=True)}
            self.mask = Tensor(np.ones(2))  # a constant

        def forward(self, x):
            self.last = (x * self.w[0] * self.mask).sum() * self.d["a"]  # cached, has history
            return self.last

    net = Net()
    for p in net.parameters():
        p.requires_grad_(False)
    names = ["w.0", "w.1", "d.a"]
    assert [n for n, _ in net.named_parameters()] == names and list(net.state_dict()) == names
    for p in net.parameters():
        p.requires_grad_(True)
    net(Tensor(np.ones(2)))
    assert [n for n, _ in net.named_parameters()] == names
    net.w[0].requires_grad_(False)
    clone = copy.deepcopy(net)
    assert [n for n, _ in clone.named_parameters()] == names and clone.w[0] is not net.w[0]
    net.w = [Tensor(np.zeros(4))]  # replaced by a constant: no longer a parameter
    assert [n for n, _ in net.named_parameters()] == ["d.a"]
    del net.d
    assert net.parameters() == []


def test_module_zero_grad_set_to_none_false_as_torch():
    torch = _torch()
    model, tmodel = two_layers(np.float64), torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1)).double()
    for m in (model, tmodel):
        m[0].weight.requires_grad_(False)
    model(np.ones((1, 2))).sum().backward()
    tmodel(torch.ones(1, 2, dtype=torch.float64)).sum().backward()
    grads = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=False)
    tmodel.zero_grad(set_to_none=False)
    for p, g, tp in zip(model.parameters(), grads, tmodel.parameters()):
        assert (p.grad is None) == (tp.grad is None)
        if g is not None:
            assert p.grad is g and not g.any()  # zeroed in place
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    mlp = nn.MLP(2, [2, 1])
    mlp([1.0, 2.0]).backward()
    mlp.zero_grad(set_to_none=False)
    assert all(p.grad == 0.0 for p in mlp.parameters())
    with pytest.raises(TypeError, match="set_to_none must be True or False"):
        model.zero_grad(set_to_none="no")


def test_flatten_of_an_empty_batch_is_empty_as_torch():
    torch = _torch()
    for x in (np.zeros((0, 3, 4), np.float32), Tensor(np.zeros((0, 3, 4), np.float32))):
        assert nn.Flatten()(x).shape == tuple(torch.nn.Flatten()(torch.zeros(0, 3, 4)).shape) == (0, 12)
    assert Tensor(np.zeros((2, 0, 3))).flatten().shape == (0,)
    assert Tensor(np.zeros((2, 0, 3))).flatten(0, 1).shape == (0, 3)
