"""Forward mode's cost structure (issue 8): ``jvp`` is one forward sweep, and an op that uses
the double-vjp trick costs "one extra reverse pass through that op's rules"
(``gradengine.autograd.forward_sweep``), not one through the whole graph below it.

Counted, not timed: the number of times a node's chain rule runs (``Tensor._backward``)
while ``jvp`` pushes a tangent through a chain of ``depth`` ops must grow linearly in depth.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradengine import Tensor
from gradengine.func import jvp

CHAINS = {  # op -> one link of a chain; the elementwise ones need no double-vjp at all
    "softmax": lambda x: x.softmax(-1),
    "log_softmax": lambda x: x.log_softmax(-1) * 0.5,
    "matmul": lambda x: (x @ np.array([[0.9, 0.1, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.9]])),
    "logsumexp": lambda x: x - x.logsumexp(-1, keepdims=True),
    "tanh": lambda x: x.tanh(),
}


def _rule_calls(monkeypatch, link, depth):
    calls = [0]
    original = Tensor._backward

    def counting(self, g, create_graph):
        calls[0] += 1
        return original(self, g, create_graph)

    with monkeypatch.context() as m:
        m.setattr(Tensor, "_backward", counting)

        def f(x):
            for _ in range(depth):
                x = link(x)
            return x

        _, t = jvp(f, (np.array([0.3, -0.2, 0.5]),), (np.ones(3),))
    assert t.shape == (3,)
    return calls[0]


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_jvp_cost_is_linear_in_depth(monkeypatch, name):
    """Doubling the depth at most (about) doubles the rule applications of a jvp; a double-vjp
    that backpropagates through everything upstream of the op makes it quadruple."""
    shallow, deep = (_rule_calls(monkeypatch, CHAINS[name], d) for d in (8, 16))
    assert deep <= 2.3 * shallow + 4, (
        f"jvp through {name} x 8 ran {shallow} chain rules, x 16 ran {deep}: quadratic in depth"
    )
