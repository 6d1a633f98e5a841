"""Optimizers, gradient clipping and learning-rate schedules, with PyTorch's update rules.

::

    from gradengine import optim

    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)      # optional
    for epoch in range(epochs):
        for x, y in batches:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optim.clip_grad_norm_(model.parameters(), 1.0)  # optional
            opt.step()
        sched.step()

What is here
------------
* :class:`SGD`, :class:`Adam`, :class:`AdamW`: the same arguments, defaults, validation errors,
  state and update formulas as ``torch.optim`` (its single-tensor implementation). Each
  optimizer's whole update rule is the ``_update`` method: a dozen lines, torch's formula
  written with NumPy.
* :func:`clip_grad_norm_`, :func:`clip_grad_value_`: as ``torch.nn.utils``.
* :class:`StepLR`, :class:`LambdaLR`: as ``torch.optim.lr_scheduler``.
* Checkpoints: ``state_dict()`` of an optimizer or a schedule is a *flat* dict of numbers,
  strings and NumPy arrays, so it can be written with ``np.savez`` and read back with
  ``np.load(..., allow_pickle=False)``; ``load_state_dict`` checks every key and shape first
  and changes nothing if anything does not fit.

Parameters
----------
An optimizer takes the parameters a :class:`~gradengine.nn.Module` returns, or any mix of

* scalar :class:`~gradengine.Value` objects: ``data`` is a float, replaced by assignment;
* tensor parameters: any object with ``.data`` (a floating-point NumPy array) and ``.grad``
  (``None`` or an array of the same shape), such as :class:`gradengine.tensor.Tensor`.

As in PyTorch, a parameter whose ``grad`` is ``None`` is skipped by ``step()``: it is not
changed and its state (step count, moving averages) does not advance.

**The optimizer owns the storage of tensor parameters.** For speed, the constructor copies the
data of all tensor parameters of a param group that share a dtype into one flat contiguous
buffer and rebinds each ``p.data`` to a view of it (same shape, dtype and values). A step then
gathers the gradients into one flat buffer and updates every parameter with about a dozen
whole-buffer NumPy operations, instead of a dozen small operations per parameter. What this
means for code that uses the parameters:

* After constructing the optimizer, ``p.data`` is a different array object with the same
  values: do not keep references to the old arrays. In-place writes such as
  ``p.data[...] = x`` or :meth:`Module.load_state_dict` go straight into the buffer.
* If code assigns a new array to ``p.data``, the next ``step()`` notices (it checks
  ``p.data is view``), copies the new values into the buffer and rebinds ``p.data`` to the
  view again. An array of a new dtype or shape makes the optimizer rebuild its buffers, keeping
  the state of every parameter it still fits (a parameter with state whose shape changed is an
  error, as in PyTorch). If ``p.data`` cannot be rebound (a setter that copies), the optimizer
  copies that parameter in and out of the buffer around every step instead.
* Two parameters whose data arrays share memory (one a view of the other) end up separated.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from .engine import Value
from .grad_mode import enable_grad
from .nn.module import StateDictError

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "clip_grad_norm_",
    "clip_grad_value_",
    "LRScheduler",
    "StepLR",
    "LambdaLR",
    "StateDictError",
]

Params = Union[Iterable[Any], Iterable[dict]]
StateDict = dict  # flat: str -> number | str | tuple | np.ndarray


# ---------------------------------------------------------------------------------------------
# Storage: the parameters of a group, packed into flat buffers by kind.
# ---------------------------------------------------------------------------------------------
class _Bucket:
    """The parameters of one param group that share storage: all tensor parameters of one
    dtype, or all ``Value`` parameters (float64; their data is gathered and written back each
    step, since a Python float cannot be a view).

    ``data[offsets[s]:offsets[s + 1]]`` holds parameter ``s`` flattened; for a tensor parameter
    ``views[s]`` is that slice reshaped, and (when ``bound[s]``) it *is* ``params[s].data``.
    ``state[name]`` (e.g. ``"exp_avg"``) is a flat array laid out like ``data``; ``steps[s]``
    counts the updates of parameter ``s`` (0: no state yet).
    """

    __slots__ = (
        "is_value", "dtype", "params", "shapes", "offsets", "total",
        "data", "grad", "t1", "t2", "views", "bound", "state", "steps", "uniform_step",
    )

    def __init__(self, params: list, is_value: bool) -> None:
        self.is_value = is_value
        self.params = params
        self.shapes: list[tuple] = [() if is_value else tuple(p.data.shape) for p in params]
        self.dtype = np.dtype(np.float64) if is_value else params[0].data.dtype
        self.offsets = [0]
        for shape in self.shapes:
            self.offsets.append(self.offsets[-1] + math.prod(shape))
        self.total = n = self.offsets[-1]
        self.data = np.empty(n, self.dtype)
        self.grad = np.empty(n, self.dtype)
        self.t1 = np.empty(n, self.dtype)  # scratch for the update formulas
        self.t2 = np.empty(n, self.dtype)
        self.views: list[Optional[np.ndarray]] = []
        self.bound: list[bool] = []
        for s, p in enumerate(params):
            if is_value:
                self.views.append(None)
                self.bound.append(False)
                continue
            view = self.data[self.offsets[s] : self.offsets[s + 1]].reshape(self.shapes[s])
            view[...] = p.data
            p.data = view
            self.views.append(view)
            self.bound.append(p.data is view)  # False if p.data's setter made a copy
        self.state: dict[str, np.ndarray] = {}
        self.steps = [0] * len(params)
        self.uniform_step: Optional[int] = 0  # steps[0] if all steps are equal, else None

    def slot_slice(self, s: int) -> slice:
        return slice(self.offsets[s], self.offsets[s + 1])

    def get_state(self, s: int, with_step: bool) -> Optional[dict[str, Any]]:
        """A copy of parameter ``s``'s state shaped like the parameter, or None if it has none."""
        if self.steps[s] == 0:
            return None
        out: dict[str, Any] = {"step": self.steps[s]} if with_step else {}
        sl, shape = self.slot_slice(s), self.shapes[s]
        for name, arr in self.state.items():
            out[name] = arr[sl].reshape(shape).copy()
        return out

    def set_state(self, s: int, st: Optional[Mapping[str, Any]]) -> None:
        """Replace parameter ``s``'s state (None: no state, as before its first step). Call
        :meth:`refresh_uniform_step` when done."""
        sl = self.slot_slice(s)
        for arr in self.state.values():
            arr[sl] = 0
        if st is None:
            self.steps[s] = 0
        else:
            self.steps[s] = int(st.get("step", 1))
            for name, value in st.items():
                if name == "step":
                    continue
                if name not in self.state:
                    self.state[name] = np.zeros(self.total, self.dtype)
                self.state[name][sl] = np.asarray(value).reshape(-1)

    def refresh_uniform_step(self) -> None:
        """Recompute ``uniform_step`` after ``steps`` changed parameter by parameter."""
        first = self.steps[0]
        self.uniform_step = first if all(k == first for k in self.steps) else None


class _Layout:
    """How one param group is stored: its buckets, and where each parameter lives."""

    __slots__ = ("params", "buckets", "where")

    def __init__(self, params: Sequence[Any]) -> None:
        self.params = tuple(params)
        by_kind: dict[Any, list[int]] = {}
        for j, p in enumerate(params):
            kind = ("value", None) if isinstance(p, Value) else ("array", p.data.dtype)
            by_kind.setdefault(kind, []).append(j)
        self.buckets: list[_Bucket] = []
        self.where: list[tuple[_Bucket, int]] = [None] * len(params)  # type: ignore[list-item]
        for kind, positions in by_kind.items():
            b = _Bucket([params[j] for j in positions], kind[0] == "value")
            self.buckets.append(b)
            for s, j in enumerate(positions):
                self.where[j] = (b, s)

    def matches(self, params: Sequence[Any]) -> bool:
        return len(params) == len(self.params) and all(a is b for a, b in zip(params, self.params))


def _value_grad(p: Value) -> Optional[float]:
    g = p.grad
    return g.data if g.__class__ is Value else g  # a Value after backward(create_graph=True)


def _shape(p: Any) -> tuple:
    return () if isinstance(p, Value) else tuple(np.shape(p.data))


# ---------------------------------------------------------------------------------------------
# Optimizer base class
# ---------------------------------------------------------------------------------------------
class Optimizer:
    """Base class: param groups, ``zero_grad``, ``step``, state dicts.

    A subclass defines ``_check_hparams(group)`` (raise ``ValueError`` like torch),
    ``_state_names(group)`` (the per-parameter arrays it keeps) and
    ``_update(group, p, g, state, step, t1, t2)``: one update of flat float arrays, where ``p``
    is updated in place, ``g`` must not be written, ``state`` maps each state name to its flat
    array, ``step`` is the parameter's new step count (1 on its first update) and ``t1``,
    ``t2`` are scratch arrays.

    Args:
        params: an iterable of parameters (``Value`` or tensor), of ``(name, parameter)``
            pairs (names then appear in error messages), or of dicts (param groups):
            ``[{"params": [...], "lr": 0.1}, {"params": [...]}]``; a group's missing
            hyperparameters come from ``defaults``.
        defaults: the default hyperparameters.
    """

    _all_state_names: tuple[str, ...] = ()  # every state array name this optimizer may keep
    _step_in_state = True  # whether "step" is part of a parameter's state (torch: not for SGD)

    def __init__(self, params: Params, defaults: Mapping[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._layouts: list[_Layout] = []
        self._names: dict[int, str] = {}  # id(param) -> name, when given (name, param) pairs
        if _is_single_param(params) or isinstance(params, (dict, str, set)):
            if _is_single_param(params):
                hint = "; to optimize one parameter pass [p]"
            elif isinstance(params, set):
                hint = " (a set has no fixed order: use a list)"
            elif isinstance(params, dict):
                hint = " (to pass one param group, wrap it in a list: [group])"
            else:
                hint = ""
            raise TypeError(
                f"params should be an iterable of parameters or of dicts (param groups), "
                f"got {type(params).__name__}{hint}"
            )
        try:
            items = list(params)
        except TypeError:
            raise TypeError(
                f"params should be an iterable of parameters or of dicts, got {type(params).__name__}"
            ) from None
        if not items:
            raise ValueError("optimizer got an empty parameter list")
        if not any(isinstance(x, dict) for x in items):
            items = [{"params": items}]
        elif not all(isinstance(x, dict) for x in items):
            raise TypeError("params mixes parameters and dicts: pass a list of parameters or a list of param groups")
        for group in items:
            self.add_param_group(group)

    # -- param groups -------------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (e.g. fine-tuning layers
        with a smaller lr). Missing hyperparameters are taken from ``defaults``."""
        if not isinstance(param_group, Mapping):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        if "params" not in group:
            raise ValueError("a param group must have a 'params' entry")
        ps = group["params"]
        if _is_single_param(ps):
            ps = [ps]
        elif isinstance(ps, set):
            raise TypeError("a param group's 'params' must be an ordered iterable, not a set")
        params = []
        for i, p in enumerate(ps):
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                name, p = p
                self._names[id(p)] = name
            _check_param(p, i)
            params.append(p)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        seen: set[int] = set()
        for p in params:
            if id(p) in seen:
                raise ValueError(f"parameter {self._describe(p)} appears twice in one param group")
            seen.add(id(p))
        for other in self.param_groups:
            if any(id(q) in seen for q in other["params"]):
                raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._normalize_hparams(group)
        self._check_hparams(group)
        self.param_groups.append(group)
        self._layouts.append(_Layout(params))

    def _normalize_hparams(self, group: dict[str, Any]) -> None:
        """Put hyperparameters in canonical form (e.g. betas as a tuple of floats)."""

    def _check_hparams(self, group: Mapping[str, Any]) -> None:
        """Raise ValueError for invalid hyperparameters (the messages follow torch's)."""

    @property
    def lr(self) -> float:
        """The learning rate of every param group (an error if the groups differ); setting it
        sets every group's ``"lr"`` (that is what a schedule changes)."""
        lrs = [g["lr"] for g in self.param_groups]
        if any(lr != lrs[0] for lr in lrs):
            raise ValueError(f"the param groups have different learning rates {lrs}; read param_groups[i]['lr']")
        return lrs[0]

    @lr.setter
    def lr(self, value: float) -> None:
        for g in self.param_groups:
            g["lr"] = value

    # -- the training-loop API ----------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: ``None`` (default; the next backward allocates them and
        ``step()`` skips parameters that got no gradient) or, with ``set_to_none=False``,
        zero in place. ``Value`` gradients are always set to ``0.0``."""
        for group in self.param_groups:
            for p in group["params"]:
                if isinstance(p, Value):
                    p.grad = 0.0
                elif set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    g = p.grad
                    if isinstance(g, np.ndarray) and g.flags.writeable:
                        g[...] = 0
                    else:
                        p.grad = np.zeros(np.shape(g), np.result_type(g))

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Update every parameter that has a gradient, once.

        Args:
            closure: optional function that recomputes the loss (zero_grad, forward, backward)
                and returns it; it is called first, with gradient recording on.
        Returns:
            the closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            layout = self._layout(gi)
            if not all(self._sync_data(b) for b in layout.buckets if not b.is_value):
                layout = self._relayout(gi)  # a p.data changed dtype or shape
            for b in layout.buckets:
                self._step_bucket(group, b)
        return loss

    def _counts_steps(self, group: Mapping[str, Any]) -> bool:
        """Whether an update creates/advances per-parameter state (SGD without momentum: no)."""
        return True

    def _state_names(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return ()

    def _update(self, group: Mapping[str, Any], p: np.ndarray, g: np.ndarray,
                state: Mapping[str, np.ndarray], step: int, t1: np.ndarray, t2: np.ndarray) -> None:
        raise NotImplementedError

    # -- the machinery of step() --------------------------------------------------------------
    def _layout(self, gi: int) -> _Layout:
        layout = self._layouts[gi]
        if not layout.matches(self.param_groups[gi]["params"]):  # the list was edited
            layout = self._relayout(gi)
        return layout

    def _relayout(self, gi: int) -> _Layout:
        """Rebuild group ``gi``'s buffers from the current ``p.data``, keeping each parameter's
        state. Raises (changing nothing) if a parameter's state no longer fits its shape."""
        group = self.param_groups[gi]
        params = list(group["params"])
        for i, p in enumerate(params):
            _check_param(p, i)
        old = self._layouts[gi]
        kept: dict[int, dict[str, Any]] = {}
        for b in old.buckets:
            for s, p in enumerate(b.params):
                st = b.get_state(s, with_step=True)
                if st is not None:
                    kept[id(p)] = st
        for p in params:
            st = kept.get(id(p))
            if st is not None and _shape(p) != _saved_shape(st):
                raise ValueError(
                    f"parameter {self._describe(p)} now has shape {_shape(p)}, but its optimizer "
                    f"state has shape {_saved_shape(st)}: the state no longer fits the parameter"
                )
        layout = _Layout(params)
        for j, p in enumerate(params):
            if id(p) in kept:
                b, s = layout.where[j]
                b.set_state(s, kept[id(p)])
        for b in layout.buckets:
            b.refresh_uniform_step()
        self._layouts[gi] = layout
        return layout

    def _sync_data(self, b: _Bucket) -> bool:
        """Make the buffer hold every ``p.data`` of bucket ``b``; False if it cannot (dtype or
        shape changed: the layout must be rebuilt)."""
        views = b.views
        for s, p in enumerate(b.params):
            d = p.data
            if d is views[s]:
                continue
            if not (isinstance(d, np.ndarray) and d.dtype == b.dtype and d.shape == b.shapes[s]):
                return False
            views[s][...] = d  # p.data was replaced (or cannot be bound): take its values
            if b.bound[s]:
                p.data = views[s]
                b.bound[s] = p.data is views[s]
        return True

    def _step_bucket(self, group: Mapping[str, Any], b: _Bucket) -> None:
        params = b.params
        if b.is_value:
            grads = [_value_grad(p) for p in params]
        else:
            grads = [p.grad for p in params]
        n = len(params)
        counts = self._counts_steps(group)
        if b.uniform_step is not None and all(g is not None for g in grads):
            runs = [(0, n)]  # the common case: one update of the whole buffer
        else:
            runs = _runs(grads, b.steps)
            if not runs:
                return
        for name in self._state_names(group):
            if name not in b.state:
                b.state[name] = np.zeros(b.total, b.dtype)
        if b.is_value:
            b.data[:] = [p.data for p in params]
        offsets = b.offsets
        for lo_s, hi_s in runs:
            self._gather_grads(b, grads, lo_s, hi_s)
            step = b.steps[lo_s] + 1 if counts else b.steps[lo_s]
            lo, hi = offsets[lo_s], offsets[hi_s]
            if lo == 0 and hi == b.total:
                self._update(group, b.data, b.grad, b.state, step, b.t1, b.t2)
            else:
                state = {k: v[lo:hi] for k, v in b.state.items()}
                self._update(group, b.data[lo:hi], b.grad[lo:hi], state, step, b.t1[lo:hi], b.t2[lo:hi])
            if counts:
                b.steps[lo_s:hi_s] = [step] * (hi_s - lo_s)
        if len(runs) == 1 and runs[0] == (0, n):
            b.uniform_step = b.steps[0]
        else:
            b.refresh_uniform_step()
        # write back what is not a view of the buffer
        if b.is_value:
            new = b.data.tolist()
            for lo_s, hi_s in runs:
                for s in range(lo_s, hi_s):
                    params[s].data = new[s]
        elif not all(b.bound):
            for lo_s, hi_s in runs:
                for s in range(lo_s, hi_s):
                    if not b.bound[s]:
                        np.copyto(params[s].data, b.views[s])

    def _gather_grads(self, b: _Bucket, grads: list, lo_s: int, hi_s: int) -> None:
        """Copy the gradients of parameters ``lo_s:hi_s`` into the flat gradient buffer."""
        buf, offsets = b.grad, b.offsets
        if b.is_value:
            buf[offsets[lo_s] : offsets[hi_s]] = grads[lo_s:hi_s]
            return
        for s in range(lo_s, hi_s):
            g = grads[s]
            if g.__class__ is not np.ndarray:
                g = np.asarray(g)
            if g.shape != b.shapes[s]:
                raise ValueError(
                    f"the gradient of parameter {self._describe(b.params[s])} has shape "
                    f"{g.shape}, but the parameter has shape {b.shapes[s]}"
                )
            buf[offsets[s] : offsets[s + 1]] = g.reshape(-1)

    def _describe(self, p: Any) -> str:
        """How error messages name a parameter: its index in the optimizer, and its name."""
        index = 0
        for group in self.param_groups:
            for q in group["params"]:
                if q is p:
                    name = self._names.get(id(p))
                    return f"{index} ({name})" if name else str(index)
                index += 1
        name = self._names.get(id(p))
        return repr(name) if name else f"of shape {_shape(p)}"

    # -- state ---------------------------------------------------------------------------------
    def state_of(self, param: Any) -> dict[str, Any]:
        """The optimizer state of one parameter (``{}`` before its first update), e.g.
        ``{"step": 3, "exp_avg": array, "exp_avg_sq": array}`` for Adam. The arrays are
        read-only views of the live state, shaped like the parameter."""
        for gi, group in enumerate(self.param_groups):
            for j, p in enumerate(group["params"]):
                if p is param:
                    b, s = self._layout(gi).where[j]
                    if b.steps[s] == 0:
                        return {}
                    out: dict[str, Any] = {"step": b.steps[s]} if self._step_in_state else {}
                    for name, arr in b.state.items():
                        v = arr[b.slot_slice(s)].reshape(b.shapes[s])
                        v.flags.writeable = False
                        out[name] = v
                    return out
        raise KeyError(f"{type(param).__name__} of shape {_shape(param)} is not a parameter of this optimizer")

    def state_dict(self) -> StateDict:
        """The optimizer's hyperparameters and state as a flat dict, ready for ``np.savez``::

            {"type": "Adam",
             "param_groups.0.lr": 0.001, "param_groups.0.betas": (0.9, 0.999), ...,
             "param_groups.0.params": array([0, 1, 2]),     # parameter indices, like torch
             "state.0.step": 10, "state.0.exp_avg": array, "state.0.exp_avg_sq": array, ...}

        Parameters are numbered in param-group order; a parameter without state (never
        updated) has no ``state.<i>.*`` keys. Arrays are copies. Group entries whose value is
        not a number, bool, string or tuple of numbers (not storable without pickle) are left out.
        """
        out: StateDict = {"type": type(self).__name__}
        index = 0
        for gi, group in enumerate(self.param_groups):
            layout = self._layout(gi)
            for key, value in group.items():
                if key == "params":
                    out[f"param_groups.{gi}.params"] = np.arange(index, index + len(value))
                elif _storable(value):
                    out[f"param_groups.{gi}.{key}"] = value
            for j in range(len(group["params"])):
                b, s = layout.where[j]
                st = b.get_state(s, with_step=self._step_in_state)
                for name, value in (st or {}).items():
                    out[f"state.{index + j}.{name}"] = value
            index += len(group["params"])
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict` (also straight from
        ``np.load(path, allow_pickle=False)``). The optimizer must have the same param groups
        with the same number of parameters. Every key, shape and value is checked first: on any
        mismatch a :class:`StateDictError` names the key and shapes, and nothing is changed."""
        sd = {k: state_dict[k] for k in state_dict}  # also reads an NpzFile
        kind = str(np.asarray(sd.get("type", "")))
        if kind != type(self).__name__:
            raise StateDictError(
                f"this state dict is for {kind or 'an unknown optimizer (no type key)'}, "
                f"not {type(self).__name__}"
            )
        groups_in: dict[int, dict[str, Any]] = {}
        states_in: dict[int, dict[str, Any]] = {}
        unexpected = []
        for key, value in sd.items():
            parts = key.split(".", 2)
            if key == "type":
                continue
            if len(parts) == 3 and parts[1].isdigit() and parts[0] in ("param_groups", "state"):
                target = groups_in if parts[0] == "param_groups" else states_in
                target.setdefault(int(parts[1]), {})[parts[2]] = value
            else:
                unexpected.append(key)
        if sorted(groups_in) != list(range(len(self.param_groups))):
            raise StateDictError(
                f"the state dict has {len(groups_in)} param group(s) {sorted(groups_in)}, "
                f"this optimizer has {len(self.param_groups)}"
            )
        # param groups: hyperparameters, and the map from saved parameter ids to our parameters
        new_groups = []
        saved_to_param: dict[int, tuple[int, int]] = {}
        for gi, group in enumerate(self.param_groups):
            saved = groups_in[gi]
            key = f"param_groups.{gi}.params"
            if "params" not in saved:
                raise StateDictError(f"missing key {key!r}")
            ids = np.asarray(saved["params"])
            if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or len(ids) != len(group["params"]):
                raise StateDictError(
                    f"{key} lists {ids.size} parameter(s) (shape {ids.shape}), "
                    f"but param group {gi} of this optimizer has {len(group['params'])}"
                )
            for j, i in enumerate(ids.tolist()):
                saved_to_param[i] = (gi, j)
            missing = [f"param_groups.{gi}.{k}" for k in self.defaults if k not in saved]
            if missing:
                raise StateDictError(f"missing key(s) {missing}")
            new = {"params": group["params"]}
            for k, v in saved.items():
                if k != "params":
                    new[k] = _restore(v, group.get(k), f"param_groups.{gi}.{k}")
            self._normalize_hparams(new)
            try:
                self._check_hparams(new)
            except ValueError as e:
                raise StateDictError(f"param group {gi}: {e}") from None
            new_groups.append(new)
        # per-parameter state
        new_states: dict[tuple[int, int], dict[str, Any]] = {}
        allowed = set(self._all_state_names) | ({"step"} if self._step_in_state else set())
        for i, st in sorted(states_in.items()):
            if i not in saved_to_param:
                raise StateDictError(
                    f"state.{i}.* is the state of parameter {i}, which no param group lists"
                )
            gi, j = saved_to_param[i]
            p = self.param_groups[gi]["params"][j]
            want = _shape(p)
            unexpected += [f"state.{i}.{k}" for k in st if k not in allowed]
            required = set(self._state_names(new_groups[gi])) | ({"step"} if self._step_in_state else set())
            missing = sorted(f"state.{i}.{k}" for k in required if k not in st)
            if missing:
                raise StateDictError(f"missing key(s) {missing}")
            clean: dict[str, Any] = {}
            for k, v in st.items():
                if k not in allowed:
                    continue
                arr = np.asarray(v)
                if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                    raise StateDictError(f"state.{i}.{k} has non-numeric dtype {arr.dtype}")
                if k == "step":
                    if arr.shape != () or not float(arr) >= 1 or float(arr) != int(float(arr)):
                        raise StateDictError(f"state.{i}.step must be a whole number >= 1, got {arr!r}")
                    clean[k] = int(float(arr))
                elif arr.shape != want:
                    raise StateDictError(
                        f"shape mismatch for 'state.{i}.{k}': the state dict has {arr.shape}, "
                        f"parameter {self._describe(p)} has shape {want}"
                    )
                else:
                    clean[k] = arr
            new_states[(gi, j)] = clean
        if unexpected:
            raise StateDictError(f"unexpected key(s) {sorted(unexpected)}")
        # every check passed: now change state
        for gi, new in enumerate(new_groups):
            self.param_groups[gi].clear()
            self.param_groups[gi].update(new)
            layout = self._layout(gi)
            for j in range(len(new["params"])):
                b, s = layout.where[j]
                b.set_state(s, new_states.get((gi, j)))
            for b in layout.buckets:
                b.refresh_uniform_step()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for gi, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {gi}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


def _saved_shape(st: Mapping[str, Any]) -> tuple:
    """The parameter shape a state dict entry was saved for (from any of its arrays)."""
    for k, v in st.items():
        if k != "step":
            return tuple(np.shape(v))
    return ()


def _runs(grads: list, steps: list[int]) -> list[tuple[int, int]]:
    """Maximal runs ``(lo, hi)`` of consecutive parameters that have a gradient and the same
    step count: each run is updated with one call of the update formula."""
    runs, i, n = [], 0, len(grads)
    while i < n:
        if grads[i] is None:
            i += 1
            continue
        j = i + 1
        while j < n and grads[j] is not None and steps[j] == steps[i]:
            j += 1
        runs.append((i, j))
        i = j
    return runs


def _is_single_param(obj: Any) -> bool:
    """A Value, or a tensor-like object (has ``data`` and ``grad``), rather than a collection."""
    if isinstance(obj, Value):
        return True
    return hasattr(obj, "data") and hasattr(obj, "grad") and not isinstance(obj, (list, tuple))


def _check_param(p: Any, index: int) -> None:
    if isinstance(p, Value):
        return
    data = getattr(p, "data", None)
    if not hasattr(p, "grad") or not isinstance(data, np.ndarray):
        raise TypeError(
            f"an optimizer can only optimize Values and tensors (objects with a NumPy array .data "
            f"and a .grad), but parameter {index} is {type(p).__name__}"
        )
    if not np.issubdtype(data.dtype, np.floating):
        raise TypeError(f"parameter {index} has dtype {data.dtype}; optimizers need floating-point parameters")


def _storable(value: Any) -> bool:
    """Whether ``np.savez`` stores ``value`` so that ``allow_pickle=False`` can read it back."""
    if isinstance(value, (bool, Real, str, np.ndarray, np.generic)):
        return not (isinstance(value, np.ndarray) and value.dtype == object)
    if isinstance(value, (tuple, list)):
        return all(isinstance(v, Real) for v in value)
    return False


def _restore(value: Any, like: Any, key: str) -> Any:
    """Turn a hyperparameter read back from ``np.load`` (a 0-d or 1-d array) into the type the
    optimizer uses (``like``, the current value; None for a key the group does not have)."""
    arr = np.asarray(value)
    if isinstance(like, tuple):
        if arr.ndim != 1 or len(arr) != len(like):
            raise StateDictError(f"{key} should hold {len(like)} numbers, got shape {arr.shape}")
        return tuple(float(x) for x in arr.tolist())
    if arr.ndim != 0:
        if like is None and arr.ndim == 1:
            return tuple(arr.tolist())
        raise StateDictError(f"{key} should be a single value, got shape {arr.shape}")
    item = arr.item()
    if isinstance(like, bool):
        if not isinstance(item, (bool, int)):
            raise StateDictError(f"{key} should be a bool, got {item!r}")
        return bool(item)
    if isinstance(like, Real) and not isinstance(item, Real):
        raise StateDictError(f"{key} should be a number, got {item!r}")
    if isinstance(like, float):
        return float(item)
    return item


# ---------------------------------------------------------------------------------------------
# The optimizers
# ---------------------------------------------------------------------------------------------
def _check_real(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}: {value!r}")


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``).

    Per parameter, with gradient ``g`` (``-g`` if ``maximize``)::

        g = g + weight_decay * p                      # if weight_decay != 0 (L2 penalty)
        if momentum != 0:
            buf = g  (first step)  or  buf = momentum * buf + (1 - dampening) * g
            g = g + momentum * buf  if nesterov  else  buf
        p = p - lr * g

    Args:
        params: parameters or param groups (see :class:`Optimizer`).
        lr: learning rate (>= 0). momentum: momentum factor (>= 0).
        dampening: dampening of the momentum. weight_decay: L2 penalty (>= 0).
        nesterov: Nesterov momentum (needs momentum > 0 and dampening == 0).
        maximize: maximize the objective instead of minimizing it.
    """

    _all_state_names = ("momentum_buffer",)
    _step_in_state = False

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        self._check_hparams(defaults)
        super().__init__(params, defaults)

    def _check_hparams(self, group: Mapping[str, Any]) -> None:
        for key in ("lr", "momentum", "dampening", "weight_decay"):
            _check_real(group[key], key)
        if not group["lr"] >= 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not group["momentum"] >= 0.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if not group["weight_decay"] >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _counts_steps(self, group: Mapping[str, Any]) -> bool:
        return group["momentum"] != 0

    def _state_names(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update(self, group, p, g, state, step, t1, t2) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay = group["weight_decay"]
        if group["maximize"]:
            np.negative(g, out=t1)
            g = t1
        if weight_decay != 0:
            np.multiply(p, weight_decay, out=t2)
            np.add(g, t2, out=t1)  # g + weight_decay * p
            g = t1
        if momentum != 0:
            buf = state["momentum_buffer"]
            if step == 1:
                np.copyto(buf, g)  # the buffer starts as the first gradient
            else:
                buf *= momentum
                if dampening != 0:
                    np.multiply(g, 1 - dampening, out=t2)
                    buf += t2
                else:
                    buf += g
            if group["nesterov"]:
                np.multiply(buf, momentum, out=t2)
                np.add(g, t2, out=t1)  # g + momentum * buf
                g = t1
            else:
                g = buf
        np.multiply(g, -lr, out=t2)
        p += t2


class Adam(Optimizer):
    """Adam (PyTorch's ``torch.optim.Adam``), optionally AMSGrad; AdamW's decoupled weight
    decay with ``decoupled_weight_decay=True`` (or use :class:`AdamW`).

    Per parameter, with gradient ``g`` (``-g`` if ``maximize``) and step count ``t``::

        p = p * (1 - lr * weight_decay)        # decoupled weight decay (AdamW)
        g = g + weight_decay * p               # L2 weight decay (Adam)
        m = m + (1 - beta1) * (g - m)          # m.lerp_(g, 1 - beta1)
        v = beta2 * v + (1 - beta2) * g * g
        vmax = max(vmax, v); use vmax for v    # if amsgrad
        denom = sqrt(v) / sqrt(1 - beta2 ** t) + eps
        p = p - lr / (1 - beta1 ** t) * m / denom

    Args:
        params: parameters or param groups (see :class:`Optimizer`).
        lr: learning rate (>= 0). betas: decay rates of the moving averages, each in [0, 1).
        eps: added to the denominator (>= 0). weight_decay: (>= 0).
        amsgrad: use the maximum of past second moments (AMSGrad).
        maximize: maximize the objective. decoupled_weight_decay: AdamW's weight decay.
    """

    _all_state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        self._normalize_hparams(defaults)
        self._check_hparams(defaults)
        super().__init__(params, defaults)

    def _normalize_hparams(self, group: dict[str, Any]) -> None:
        betas = group.get("betas")
        if not (isinstance(betas, (tuple, list, np.ndarray)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for i, b in enumerate(betas):
            _check_real(b, f"betas[{i}]")
        group["betas"] = (float(betas[0]), float(betas[1]))

    def _check_hparams(self, group: Mapping[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay"):
            _check_real(group[key], key)
        beta1, beta2 = group["betas"]
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1}")
        if not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def _state_names(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        if group["amsgrad"]:
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _update(self, group, p, g, state, step, t1, t2) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        if group["maximize"]:
            np.negative(g, out=t1)
            g = t1
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p *= 1 - lr * weight_decay
            else:
                np.multiply(p, weight_decay, out=t2)
                np.add(g, t2, out=t1)  # g + weight_decay * p
                g = t1
        # exp_avg.lerp_(g, 1 - beta1), computed the way torch's lerp does
        weight = 1 - beta1
        np.subtract(g, exp_avg, out=t2)
        if weight < 0.5:
            t2 *= weight
            exp_avg += t2
        else:
            t2 *= 1 - weight
            np.subtract(g, t2, out=exp_avg)
        # exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        exp_avg_sq *= beta2
        np.multiply(g, 1 - beta2, out=t2)
        t2 *= g
        exp_avg_sq += t2
        # g (maybe in t1) is not needed any more: t1 becomes the denominator
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        if group["amsgrad"]:
            max_sq = state["max_exp_avg_sq"]
            np.maximum(max_sq, exp_avg_sq, out=max_sq)
            np.sqrt(max_sq, out=t1)
        else:
            np.sqrt(exp_avg_sq, out=t1)
        t1 /= bias_correction2_sqrt
        t1 += eps
        # p.addcdiv_(exp_avg, denom, value=-step_size)
        np.multiply(exp_avg, -step_size, out=t2)
        np.divide(t2, t1, out=t1)
        p += t1


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``): the parameters are
    shrunk by ``lr * weight_decay`` each step instead of adding ``weight_decay * p`` to the
    gradient, so the decay does not pass through the moving averages. Default weight decay 1e-2.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def _normalize_hparams(self, group: dict[str, Any]) -> None:
        super()._normalize_hparams(group)
        group["decoupled_weight_decay"] = True  # as torch: always, even when loading a state dict


# ---------------------------------------------------------------------------------------------
# Gradient clipping
# ---------------------------------------------------------------------------------------------
def _params_list(parameters: Any) -> list:
    return [parameters] if _is_single_param(parameters) else list(parameters)


def _grads(params: list) -> list:
    """``(param, grad)`` for every parameter with a gradient."""
    out = []
    for p in params:
        g = _value_grad(p) if isinstance(p, Value) else p.grad
        if g is not None:
            out.append((p, g))
    return out


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale the gradients in place so that their total norm is at most ``max_norm``
    (PyTorch's ``torch.nn.utils.clip_grad_norm_``).

    The total norm is the ``norm_type``-norm of all gradients together, as if concatenated
    into one vector (``inf`` for the max-norm). If it exceeds ``max_norm``, every gradient is
    multiplied by ``max_norm / (total_norm + 1e-6)``. Parameters without a gradient are ignored.

    Returns:
        the total norm before clipping, as a float.
    """
    params = _params_list(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    pairs = _grads(params)
    if not pairs:
        return 0.0
    norms = []
    for _, g in pairs:
        if isinstance(g, np.ndarray):
            flat = g.reshape(-1)
            if norm_type == 2.0:
                norms.append(math.sqrt(float(np.dot(flat, flat))))
            else:
                norms.append(float(np.linalg.norm(flat, ord=norm_type)) if flat.size else 0.0)
        else:
            norms.append(abs(float(g)) if norm_type != 0.0 else float(g != 0.0))
    total = float(np.linalg.norm(np.array(norms, np.float64), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            f"so it cannot be clipped. To disable this error and scale the gradients by the "
            f"non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # as torch: clamp(coef, max=1); a nan norm makes every gradient nan
        for p, g in pairs:
            if isinstance(p, Value):
                p.grad = g * coef
            elif isinstance(g, np.ndarray) and g.flags.writeable:
                np.multiply(g, coef, out=g, casting="unsafe")
            else:
                p.grad = np.multiply(g, coef)
    return total


def clip_grad_value_(parameters: Any, clip_value: float) -> None:
    """Clamp every gradient in place to ``[-clip_value, clip_value]``
    (PyTorch's ``torch.nn.utils.clip_grad_value_``); nan stays nan."""
    c = float(clip_value)
    for p, g in _grads(_params_list(parameters)):
        if isinstance(p, Value):
            p.grad = g if g != g else min(max(g, -c), c)
        elif isinstance(g, np.ndarray) and g.flags.writeable:
            np.clip(g, -c, c, out=g)
        else:
            p.grad = np.clip(g, -c, c)


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------------------------
class LRScheduler:
    """Base class of learning-rate schedules (PyTorch's ``torch.optim.lr_scheduler``).

    Construction records each group's ``"initial_lr"`` and makes the first ``step()`` (epoch 0).
    Call :meth:`step` after ``optimizer.step()``, usually once per epoch. A subclass defines
    :meth:`get_lr`, the learning rates for ``self.last_epoch``.

    To resume with ``last_epoch=k``, the optimizer's groups must have ``"initial_lr"`` (a loaded
    optimizer state dict has it); or construct with the default and call :meth:`load_state_dict`.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                        f"a schedule with last_epoch={last_epoch}: load the optimizer's state first"
                    )
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self.step()

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the new learning rate of every param group."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last :meth:`step`, one per param group."""
        return list(self._last_lr)

    def _hparams(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> StateDict:
        """A flat dict ready for ``np.savez``: ``last_epoch``, ``base_lrs``, ``last_lr`` and
        the schedule's own numbers (e.g. ``step_size``, ``gamma``)."""
        return {"type": type(self).__name__, "last_epoch": self.last_epoch,
                "base_lrs": list(self.base_lrs), "last_lr": list(self._last_lr), **self._hparams()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (does not change the optimizer's lr:
        that is in the optimizer's own state dict). Checks every key first."""
        sd = {k: state_dict[k] for k in state_dict}
        kind = str(np.asarray(sd.get("type", "")))
        if kind != type(self).__name__:
            raise StateDictError(f"this state dict is for {kind or 'an unknown schedule'}, not {type(self).__name__}")
        hp = self._hparams()
        expected = {"type", "last_epoch", "base_lrs", "last_lr", *hp}
        missing = sorted(expected - set(sd))
        unexpected = sorted(set(sd) - expected)
        if missing or unexpected:
            raise StateDictError(f"schedule state dict: missing keys {missing}, unexpected keys {unexpected}")
        n = len(self.optimizer.param_groups)
        lists = {}
        for key in ("base_lrs", "last_lr"):
            arr = np.asarray(sd[key], dtype=np.float64)
            if arr.shape != (n,):
                raise StateDictError(f"{key} has shape {arr.shape}, the optimizer has {n} param group(s)")
            lists[key] = arr.tolist()
        values = {k: _restore(sd[k], v, k) for k, v in hp.items()}
        self.last_epoch = int(np.asarray(sd["last_epoch"]))
        self.base_lrs, self._last_lr = lists["base_lrs"], lists["last_lr"]
        for k, v in values.items():
            setattr(self, k, v)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs
    (PyTorch's ``StepLR``): ``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        _check_real(gamma, "gamma")
        self.step_size = step_size
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]  # chained, exactly as torch

    def _hparams(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)`` (PyTorch's ``LambdaLR``); one function for all
    param groups, or a list with one per group. The functions are not part of the state dict."""

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]],
                 last_epoch: int = -1) -> None:
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]
