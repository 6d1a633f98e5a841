"""Per-step time of Adam on the MNIST MLP's parameters (784-128-64-10, float32, 109,386 floats).

Compares a naive per-parameter NumPy Adam, gradengine's flat-buffer Adam/AdamW/SGD and
torch.optim.Adam (foreach, single-tensor, fused; 2 threads), best of 7 x 500 steps each:

    python benchmarks/bench_adam.py
"""
import timeit
import numpy as np
import torch
from gradengine import optim
from gradengine.tensor import Tensor

SHAPES = [(128, 784), (128,), (64, 128), (64,), (10, 64), (10,)]
rng = np.random.default_rng(0)
init = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in SHAPES]
grads = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in SHAPES]

def best(fn, number=500, repeat=7):
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6

class NaiveAdam:
    """The obvious per-parameter NumPy Adam (temporaries everywhere)."""
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, (self.b1, self.b2), self.eps, self.t = params, lr, betas, eps, 0
        self.m = [np.zeros_like(p.data) for p in params]
        self.v = [np.zeros_like(p.data) for p in params]
    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m[...] = self.b1 * m + (1 - self.b1) * g
            v[...] = self.b2 * v + (1 - self.b2) * g * g
            m_hat = m / (1 - self.b1 ** self.t)
            v_hat = v / (1 - self.b2 ** self.t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

def params():
    ps = [Tensor(a, requires_grad=True) for a in init]
    for p, g in zip(ps, grads):
        p.grad = g.copy()
    return ps

results = {}
results["(a) naive per-parameter NumPy Adam"] = best(NaiveAdam(params()).step)
results["    same formula, per parameter (6 groups, no flat buffer)"] = best(optim.Adam([{"params": [p]} for p in params()], lr=1e-3).step)
results["(b) gradengine.optim.Adam (flat buffer)"] = best(optim.Adam(params(), lr=1e-3).step)
results["    gradengine.optim.AdamW"] = best(optim.AdamW(params(), lr=1e-3).step)
results["    gradengine.optim.SGD(momentum=0.9)"] = best(optim.SGD(params(), lr=1e-2, momentum=0.9).step)
torch.set_num_threads(2)
for kw in (dict(foreach=True), dict(foreach=False), dict(fused=True)):
    tp = [torch.tensor(a, requires_grad=True) for a in init]
    for p, g in zip(tp, grads):
        p.grad = torch.tensor(g)
    results[f"(c) torch.optim.Adam({', '.join(f'{k}={v}' for k, v in kw.items())}), 2 threads"] = best(torch.optim.Adam(tp, lr=1e-3, **kw).step)
# context: one training step's forward + backward on a batch of 32 (gradengine)
from gradengine import cli, functional as F
model = cli.mlp((128, 64), 0)
xb = rng.random((32, 784), dtype=np.float32); yb = rng.integers(0, 10, 32)
def fwd_bwd():
    model.zero_grad(); F.cross_entropy(model(xb), yb).backward()
results["    context: MLP forward+backward, batch 32 (gradengine)"] = best(fwd_bwd, number=200)
for k, v in results.items():
    print(f"{k:55s} {v:7.1f} us/step")
