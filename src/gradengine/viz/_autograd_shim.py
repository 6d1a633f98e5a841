"""TEMPORARY stand-in for :mod:`gradengine.autograd` until the shared reverse pass lands.

Same signatures as the core's ``toposort``, ``backprop`` and ``op_label``; delete this file once
``gradengine.autograd`` exists (the viz modules import it first).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ..engine import Value


def _parents(node: Any) -> tuple:
    if isinstance(node, Value):
        return node.children
    return tuple(p for p in node.children if p.requires_grad)


def toposort(root: Any) -> list:
    """Nodes ``root`` depends on, root first, every node before its operands."""
    order, seen, stack = [], {id(root)}, [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        stack.append((node, True))
        for c in reversed(node.children):
            if id(c) not in seen:
                seen.add(id(c))
                stack.append((c, False))
    order.reverse()  # post-order reversed: consumers before operands
    return order


def op_label(node: Any) -> str:
    op = node.op
    if op is None:
        return ""
    if isinstance(node, Value):
        return "neg" if op.name == "neg" else op.label(node._b)
    ctx = node._ctx
    if op.name in ("sum", "mean", "max", "logsumexp") and ctx is not None and ctx[0] is not None:
        axes = ctx[0]
        return f"{op.symbol}(axis={axes[0] if len(axes) == 1 else axes})"
    if op.name == "getitem":
        return f"[{ctx[0]!r}]"
    return str(op.symbol or op.name)


def backprop(root: Any, seed: Any, *, create_graph: bool = False,
             watch: Optional[Callable[[Any, Any, tuple], None]] = None) -> dict:
    order = toposort(root)
    grads: dict = {root: seed}
    for node in order:
        g = grads.get(node)
        if g is None:  # a tensor that needs no gradient
            continue
        sent = []
        op = node.op
        if op is not None and g is not None:
            if isinstance(node, Value):
                a, b = node._a, node._b
                if b.__class__ is Value:
                    ga, gb = op.vjp(float(g), a.data, b.data, node.data)
                    sent = [(a, ga), (b, gb)]
                else:
                    sent = [(a, op.vjp(float(g), a.data, b, node.data))]
            else:
                for i, p in enumerate(node._parents):
                    if p.requires_grad:
                        sent.append((p, op.vjps[i](g, node.data, node._ctx, *node._inputs)))
            for p, c in sent:
                grads[p] = c if p not in grads else grads[p] + c
        if watch is not None:
            watch(node, g, tuple(sent))
    return grads
