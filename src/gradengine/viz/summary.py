"""Summarise a big computation graph into a picture that stays readable.

A graph of 65,818 scalar nodes (one training step of micrograd's demo MLP) or a chain of a
million additions cannot be drawn node by node. :func:`summarise` chooses what to show:

* **nodes**, drawn one by one, starting at the root and always taking next the node with the
  largest gradient (a priority queue), so the path that carries the largest gradients is the one
  that stays expanded;
* **chains**: a run of at least ``min_chain`` nodes, each the only consumer of the next, whose
  ops repeat a unit of at most four ("add", or "linear, sigmoid"), becomes one group ("chain of
  999,999 add", "×12 (linear → sigmoid)"). A chain's own leaves (a layer's weight and bias, the
  constant of ``x * 1.5``) fold into it and are listed per repetition, with their gradient
  norms; the leaves at its input end stay drawn;
* **repeats**: the other inputs of a chain that have the same structure (the 100 per-sample
  terms of a summed loss, the 16 ``w * x`` products of a neuron) become one "×99" group, except
  the one with the largest gradient, which is drawn (and summarised in turn);
* **the rest**: what does not fit in ``budget`` items is one group that says how many nodes of
  which ops it holds. Nothing is silently cut: every node of the graph is either drawn or
  counted in exactly one group.

A group absorbs a node only if every consumer of that node is in the group, so shared nodes
(the parameters of an MLP, used by every sample) stay visible where the drawn path uses them.
Everything is iterative and linear in the graph size; the result is deterministic (no ``id()``
in it), so the same graph always gives the same picture.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain as _chain
from typing import Any, Callable, Optional, Sequence

import numpy as np

Children = Callable[[Any], Sequence[Any]]


@dataclass(eq=False)
class Item:
    """One box of the picture: a single node, or a group of nodes."""

    id: str  # the DOT node id: "v3" for a node, "g2" for a group
    kind: str  # "node", "chain", "repeat" or "rest"
    node: Any = None  # the engine node, for kind "node"
    members: list = field(default_factory=list)  # the nodes folded into a group, top first
    spine: list = field(default_factory=list)  # chain: the chain nodes (without folded leaves)
    period: tuple = ()  # chain: the op names of one repetition, in forward order from the input end
    instances: int = 0  # repeat: how many subgraphs it stands for; rest: 1 if the budget ran out
    head: Any = None  # repeat: the drawn representative (a node); chain: None
    counts: Counter = field(default_factory=Counter)  # group: nodes per op name ("leaf" for leaves)


@dataclass
class Summary:
    """What :func:`summarise` decided: the items to draw and the edges between them."""

    items: list[Item]
    edges: list[tuple[Item, Item, Optional[int], int]]  # (source, target, operand position, count)
    total: int  # number of nodes in the graph
    folded: bool  # True if any group was made


def traverse(root: Any, children: Children) -> tuple[list, dict]:
    """Every node ``root`` depends on (breadth first, operands in order) and its consumer count.

    Iterative: graphs may be a million nodes deep. Nodes are dict keys, so they must hash by
    identity (``Value`` and ``Tensor`` do).
    """
    uses = {root: 0}
    order = [root]
    get = uses.get
    append = order.append
    for n in order:  # the list grows while we iterate: a breadth-first queue
        for c in children(n):
            k = get(c)
            if k is None:
                uses[c] = 1
                append(c)
            else:
                uses[c] = k + 1
    return order, uses


def summarise(root: Any, order: list, uses: dict, *, children: Children, op_of: Callable[[Any], Any],
              magnitude: Callable[[Any], Optional[float]], budget: int, fold: bool,
              min_chain: int = 6, min_repeat: int = 3) -> Summary:
    """Choose the items of the picture of the graph ``order`` (from :func:`traverse`).

    ``children(node)`` gives a node's operands and ``op_of(node)`` its op (with a ``.name``; None
    for a leaf). ``magnitude(node)`` is the node's gradient magnitude (None: none), used to pick
    the path to expand. A leaf used only by one chain node folds into the chain's box (a layer's
    weight, the constant of ``x * 1.5``), except at the chain's input end, which stays visible.
    With ``fold`` False every node is drawn.
    """
    items: list[Item] = []
    placed: dict = {}  # node -> the item it is drawn in
    node_in: dict = {}  # item -> [(operand node, position)] for node items; Counter for groups
    heap: list = []
    tick = 0

    def mag(n: Any) -> float:
        m = magnitude(n)
        return 0.0 if m is None or m != m else m

    def push(n: Any) -> None:
        nonlocal tick
        tick += 1
        heapq.heappush(heap, (-mag(n), tick, n))

    def new_item(kind: str, **kw: Any) -> Item:
        prefix = "v" if kind == "node" else "g"
        it = Item(f"{prefix}{len(items)}", kind, **kw)
        items.append(it)
        return it

    def place_node(n: Any) -> Item:
        it = new_item("node", node=n)
        placed[n] = it
        ops = children(n)
        node_in[it] = [(c, i) for i, c in enumerate(ops)]
        for c in ops:
            if c not in placed:
                push(c)
        return it

    claims: dict = {}  # node -> (item, consumers of it absorbed into that item) or (None, 0)

    def absorb(it: Item, starts: list) -> None:
        """Fold ``starts`` into ``it``, then every node whose consumers are all in ``it``."""
        incoming = node_in.setdefault(it, Counter())
        stack = []
        for s in starts:
            if s not in placed:
                placed[s] = it
                it.members.append(s)
                stack.append(s)
        while stack:
            n = stack.pop()
            for c in children(n):
                incoming[c] += 1
                if c in placed:
                    continue
                owner, k = claims.get(c, (it, 0))
                if owner is not it:
                    claims[c] = (None, 0)
                    continue
                k += 1
                if k == uses[c]:
                    placed[c] = it
                    it.members.append(c)
                    stack.append(c)
                claims[c] = (it, k)

    signature_memo: dict = {}

    def signature(n: Any) -> int:
        """A hash of the structure under ``n`` (ops and leaf kinds, not values); memoised."""
        if n in signature_memo:
            return signature_memo[n]
        stack = [(n, False)]
        while stack:
            m, ready = stack.pop()
            if m in signature_memo:
                continue
            o = op_of(m)
            if o is None:
                signature_memo[m] = hash("leaf")
                continue
            kids = children(m)
            if ready:
                signature_memo[m] = hash((o.name, tuple(signature_memo[c] for c in kids)))
            else:
                stack.append((m, True))
                stack.extend((c, False) for c in kids if c not in signature_memo)
        return signature_memo[n]

    def walk(n: Any) -> tuple[list, tuple, list]:
        """The chain below ``n``: follow the operand consumed only by its consumer (of the same op
        if there is one, else the only computed one), while the op sequence stays periodic.
        Returns the chain's nodes (output end first), the ops of one repetition in forward order
        (counted from the input end) and the nodes' operand tuples."""
        spine, ops, kids_of = [], [], []
        append_node, append_op, append_kids = spine.append, ops.append, kids_of.append
        cur_op = op_of(n)
        kids = children(n)
        while True:  # the hot loop of a million-node chain: kept lean
            nxt = other = other_op = None
            n_other = 0
            for c in kids:
                if uses[c] == 1 and c not in placed:
                    o = op_of(c)
                    if o is not None:
                        if o is cur_op:
                            nxt = c
                            break
                        n_other += 1
                        other, other_op = c, o
            if nxt is None:
                if n_other != 1:
                    break
                nxt, cur_op = other, other_op
            append_node(nxt)
            append_op(cur_op)
            kids = children(nxt)
            append_kids(kids)
        keep, period = _periodic_prefix(ops)
        if keep < len(spine):
            del spine[keep:], ops[keep:], kids_of[keep:]
        return spine, ops[len(ops) - period:][::-1], kids_of

    def try_chain(n: Any) -> bool:
        spine, unit, kids_of = walk(n)
        if len(spine) < min_chain:
            return False
        place_node(n)
        chain = new_item("chain", spine=spine, period=tuple(o.name for o in unit))
        placed.update(dict.fromkeys(spine, chain))
        # every operand of the chain's nodes that is not the next chain node (set and Counter
        # operations run in C: a chain may be a million nodes long)
        flat = list(_chain.from_iterable(kids_of))
        on_spine = set(spine)
        counted = Counter(flat)  # first-seen order, never a set's (id-based) order: deterministic
        inputs = Counter({c: k for c, k in counted.items() if c not in on_spine})
        bottom = set(kids_of[-1])  # the input end stays visible: never folded
        node_in[chain] = inputs
        folded_leaves, sides = [], []
        for c in inputs:
            if c in placed:
                continue
            if c not in bottom and uses[c] == 1 and op_of(c) is None:
                placed[c] = chain
                folded_leaves.append(c)
            else:
                sides.append(c)
        chain.members = spine + folded_leaves
        reps, extra = divmod(len(spine), len(unit))
        chain.counts = Counter({o.name: reps for o in unit})
        for o in unit[:extra]:  # the partial repetition at the output end (the unit runs from the input end)
            chain.counts[o.name] += 1
        if folded_leaves:
            chain.counts["leaf"] = len(folded_leaves)
        # the chain's other inputs: repeated structures become one group each
        groups: dict[int, list] = {}
        for c in sides:
            if op_of(c) is None or uses[c] != 1:
                push(c)
            else:
                groups.setdefault(signature(c), []).append(c)
        for same in groups.values():
            if len(same) < min_repeat:
                for c in same:
                    push(c)
                continue
            rep = max(same, key=mag)  # the first of the largest: deterministic
            rest = [c for c in same if c is not rep]
            group = new_item("repeat", instances=len(rest), head=rep)
            absorb(group, rest)
            push(rep)
        return True

    push(root)
    while heap:
        _, _, n = heapq.heappop(heap)
        if n in placed:
            continue
        if len(items) >= budget - 1:  # keep one box for the rest
            break
        if fold and op_of(n) is not None and try_chain(n):
            continue
        place_node(n)

    leftover = [n for n in order if n not in placed] if len(placed) < len(order) else []
    if leftover:
        rest = new_item("rest", instances=int(bool(heap)))  # instances=1: the budget ran out
        absorb(rest, leftover)
    for it in items:
        if it.kind in ("repeat", "rest"):
            it.counts = op_counts(it.members, op_of)

    # edges between items: one per operand for a drawn node, one per source for a group
    edges: list = []
    for it in items:
        incoming = node_in.get(it)
        if not incoming:
            continue
        if it.kind == "node":
            for c, pos in incoming:
                edges.append((placed[c], it, pos, 1))
        else:
            counts: dict = {}
            for c, k in incoming.items():
                src = placed[c]
                if src is not it:
                    counts[src] = counts.get(src, 0) + k
            edges.extend((src, it, None, k) for src, k in counts.items())
    folded = any(it.kind != "node" for it in items)
    return Summary(items, edges, len(order), folded)


def _periodic_prefix(ops: list, max_period: int = 4) -> tuple[int, int]:
    """``(length, period)`` of the longest prefix of ``ops`` that repeats one unit of at most
    ``max_period`` ops (the unit taken from the start), at least two units long; ``(0, 1)``
    if there is none. List comparisons run in C: a chain may be a million ops long."""
    best, best_p = 0, 1
    for p in range(1, max_period + 1):
        if len(ops) < 2 * p:
            break
        if ops[p:] == ops[:-p]:  # periodic all the way
            return len(ops), p
        i = next(i for i in range(p, len(ops)) if ops[i] != ops[i - p])  # the first break
        if i >= 2 * p and i > best:
            best, best_p = i, p
    return best, best_p


def group_stats(mags: list) -> tuple[Optional[float], Optional[float], Optional[float]]:
    """(L2 norm, smallest, largest) of the gradient magnitudes of a group (None: no gradient)."""
    ms = [m for m in mags if m is not None] if None in mags else mags
    if not ms:
        return None, None, None
    a = np.asarray(ms, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(a * a))), float(np.min(a)), float(np.max(a))


def op_counts(nodes: list, op_of: Callable[[Any], Any]) -> Counter:
    """How many nodes of each op (and how many leaves) a group holds."""
    return Counter("leaf" if o is None else o.name for o in map(op_of, nodes))
