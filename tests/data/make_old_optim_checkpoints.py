"""Write ``old_optim_checkpoints.npz``: optimizer state dicts saved by the flat-buffer
``optim.py`` (commit 5ba28ef, before the rewrite), with the parameters at the moment of the
save, the gradients of five more steps and the parameters those steps led to *under the old
code*. ``tests/test_optim.py::test_checkpoint_saved_by_the_old_optimizer_resumes`` loads it into
the current optimizers and checks they continue the same trajectory.

It was run once, from the repository root of a checkout of commit 5ba28ef (the old code)::

    PYTHONPATH=src python tests/data/make_old_optim_checkpoints.py

Running it against the current code would write the current format instead: do not.
"""

from pathlib import Path

import numpy as np

from gradengine import Value, optim


class Param:
    def __init__(self, data):
        self.data, self.grad = data, None


SHAPES = [(3, 2), (2,), (4,), (1, 1)]
CONFIGS = {
    "sgd": lambda ps: optim.SGD([{"params": ps[:2], "lr": 0.05}, {"params": ps[2:]}], lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: optim.Adam([{"params": ps[:2], "lr": 0.05}, {"params": ps[2:], "amsgrad": True}], lr=0.01, weight_decay=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "adam32": lambda ps: optim.Adam(ps, lr=0.01),
}


def params(dtype=np.float64):
    rng = np.random.default_rng(20)
    return [Param(rng.standard_normal(s).astype(dtype)) for s in SHAPES] + [Value(0.5)]


def grads(rng, ps, k):
    out = []
    for i, p in enumerate(ps):
        g = rng.standard_normal(np.shape(p.data)).astype(np.asarray(p.data).dtype)
        if i == 4:  # the Value gets a gradient only sometimes: partial state
            g = float(g) if k % 3 == 0 and k > 2 else None
        out.append(g)
    return out


def main():
    out = {}
    for name, make in CONFIGS.items():
        ps = params(np.float32 if name == "adam32" else np.float64)
        opt = make(ps)
        rng = np.random.default_rng(1)
        for k in range(10):
            for p, g in zip(ps, grads(rng, ps, k)):
                p.grad = g
            opt.step()
        out.update({f"{name}/optim/{k}": v for k, v in opt.state_dict().items()})
        out.update({f"{name}/param_before/{i}": np.array(p.data) for i, p in enumerate(ps)})
        for k in range(10, 15):
            for i, (p, g) in enumerate(zip(ps, grads(rng, ps, k))):
                p.grad = g
                out[f"{name}/grad/{k - 10}/{i}"] = np.array(np.nan if g is None else g)
            opt.step()
        out.update({f"{name}/param_after/{i}": np.array(p.data) for i, p in enumerate(ps)})
    np.savez_compressed(Path(__file__).with_name("old_optim_checkpoints.npz"), **out)


if __name__ == "__main__":
    main()
