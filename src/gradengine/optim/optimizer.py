"""The :class:`Optimizer` base class, as ``torch/optim/optimizer.py``: ``param_groups`` (dicts of
``"params"`` and hyperparameters), ``state`` (per parameter, e.g. ``{"step": 3, "exp_avg": array,
"exp_avg_sq": array}``), and ``step()``, which gathers the parameters that have a gradient for a
pure update function that changes the arrays in place (``p.data`` is never replaced). Parameters
are :class:`~gradengine.Value` objects or tensors (a floating-point ndarray ``.data`` and a
``.grad``). ``state_dict()`` is a flat dict for ``np.savez``; ``load_state_dict`` checks every
key and shape first and changes nothing if anything does not fit.
"""

from __future__ import annotations

from collections import defaultdict
from numbers import Real
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import numpy as np

from ..engine import Value
from ..grad_mode import enable_grad
from ..nn.module import StateDictError, _zero_grads

__all__ = ["Optimizer", "Params", "StateDict"]

Params = Union[Iterable[Any], Iterable[dict]]
StateDict = dict  # flat: str -> number | str | tuple | np.ndarray


class Optimizer:
    """Base class: param groups, per-parameter ``state``, ``zero_grad``, ``step``, state dicts.

    A subclass sets ``_state_keys`` (every key a parameter's state may hold) and defines
    ``_check_hparams(group)`` (put a group's hyperparameters in canonical form, or raise torch's
    ``ValueError``), ``_state_names(group)`` (the keys the group needs) and ``_update(group,
    params, grads, states)``: update the arrays in place from the gradients and the state dicts
    (``{}`` before a first update).

    Args:
        params: parameters (``Value`` or tensor), ``(name, parameter)`` pairs (the names appear
            in error messages), or param groups: ``[{"params": [...], "lr": 0.1}, ...]``, whose
            missing hyperparameters come from ``defaults``. Each must be a leaf (a ``ValueError``
            names a non-leaf, as torch's ``can't optimize a non-leaf Tensor``); a frozen one
            (``requires_grad=False``) is accepted and, having no gradient, skipped by ``step()``.
        defaults: the default hyperparameters.
    """

    _state_keys: tuple[str, ...] = ()

    def __init__(self, params: Params, defaults: Mapping[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)  # parameter -> {"step": int, name: array}
        self._names: dict[int, str] = {}  # id(param) -> name, from (name, param) pairs
        if _is_single_param(params) or isinstance(params, (dict, str, set)):
            hint = {set: " (a set has no fixed order: use a list)", dict: " (wrap one param group in a list)"}
            raise TypeError(f"params should be an iterable of parameters or of dicts (param groups), got {type(params).__name__}"
                            f"{'; to optimize one parameter pass [p]' if _is_single_param(params) else hint.get(type(params), '')}")
        try:
            items = list(params)
        except TypeError:
            raise TypeError(f"params should be an iterable of parameters or of dicts, got {type(params).__name__}") from None
        if not any(isinstance(x, dict) for x in items):
            items = [{"params": items}]
        elif not all(isinstance(x, dict) for x in items):
            raise TypeError("params mixes parameters and dicts: pass a list of parameters or a list of param groups")
        for group in items:
            self.add_param_group(group)

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (e.g. fine-tuning layers with a
        smaller lr); the missing ones are taken from ``defaults``."""
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError(f"a param group must be a dict with a 'params' entry, got {param_group!r:.60}")
        group = {**self.defaults, **param_group}
        if isinstance(group["params"], set):
            raise TypeError("a param group's 'params' must be an ordered iterable, not a set")
        params, ids, names, gi = [], set(), {}, len(self.param_groups)
        for i, p in enumerate([group["params"]] if _is_single_param(group["params"]) else group["params"]):
            name = None
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                name, p = p
            _check_param(p, i, gi, name)
            if id(p) in ids:
                raise ValueError(f"parameter {name or self._describe(p)} appears twice in one param group")
            if name is not None:
                names[id(p)] = name
            params.append(p)
            ids.add(id(p))
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if any(id(q) in ids for q in self._params()):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        self._check_hparams(group)
        self._names.update(names)  # only once the group is accepted: a refused group renames nothing
        self.param_groups.append(group)

    def _check_hparams(self, group: dict[str, Any]) -> None:
        pass

    def _state_names(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return ()

    def _params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients, as ``torch.optim.Optimizer.zero_grad``: to ``None`` (default;
        ``step()`` then skips parameters that get no gradient) or, with ``set_to_none=False``, to
        zero in place (a gradient that is None stays None). A ``Value``'s becomes 0.0.

        Raises:
            TypeError: ``set_to_none`` is not a bool.
        """
        _zero_grads(self._params(), set_to_none, f"{type(self).__name__}.zero_grad")

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Update every parameter that has a gradient, once. ``closure``, if given, is called first
        (with gradient recording on) to recompute the loss, which is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            arrays, grads, states, values = [], [], [], []
            for p in group["params"]:
                g = p.grad.data if isinstance(p.grad, Value) else p.grad  # create_graph leaves a Value
                if g is None:
                    continue
                if isinstance(p, Value):  # its data is a float: update a 0-d array, then write it back
                    values.append((p, np.array(p.data, np.float64)))
                data = values[-1][1] if isinstance(p, Value) else p.data
                g = np.asarray(g, data.dtype)
                if g.shape != data.shape:
                    raise ValueError(f"the gradient of parameter {self._describe(p)} has shape {g.shape}, "
                                     f"but the parameter has shape {data.shape}")
                arrays.append(data)
                grads.append(g)
                states.append(self._param_state(p, data))
            if arrays:
                self._update(group, arrays, grads, states)
            for p, data in values:
                p.data = float(data)
        return loss

    def _param_state(self, p: Any, data: np.ndarray) -> dict[str, Any]:
        """``p``'s state dict (created empty), checked against the parameter's current data."""
        st = self.state[p]
        for name, arr in st.items():
            if name != "step" and arr.shape != data.shape:
                raise ValueError(f"parameter {self._describe(p)} now has shape {data.shape}, but its optimizer "
                                 f"state has shape {arr.shape}: the state no longer fits the parameter")
            if name != "step" and arr.dtype != data.dtype:  # p.data was replaced by another dtype
                st[name] = arr.astype(data.dtype)
        return st

    def _describe(self, p: Any) -> str:
        """How error messages name a parameter: its index in the optimizer, and its name."""
        name = self._names.get(id(p))
        index = next((str(i) for i, q in enumerate(self._params()) if q is p), None)
        return (f"{index} ({name})" if name else index) if index else repr(name) if name else f"of shape {np.shape(p.data)}"

    def state_dict(self) -> StateDict:
        """Hyperparameters and state as a flat dict, ready for ``np.savez``::

            {"type": "Adam", "param_groups.0.lr": 0.001, "param_groups.0.betas": (0.9, 0.999), ...,
             "param_groups.0.params": array([0, 1, 2]),     # parameter indices, as torch
             "state.0.step": 10, "state.0.exp_avg": array, "state.0.exp_avg_sq": array, ...}

        Parameters are numbered in param-group order (one never updated has no ``state.<i>.*``);
        arrays are copies; group entries ``np.load(allow_pickle=False)`` cannot read are left out."""
        out: StateDict = {"type": type(self).__name__}
        start = 0
        for gi, group in enumerate(self.param_groups):
            out[f"param_groups.{gi}.params"] = np.arange(start, start + len(group["params"]))
            out.update((f"param_groups.{gi}.{k}", v) for k, v in group.items() if k != "params" and _storable(v))
            start += len(group["params"])
        for i, p in enumerate(self._params()):
            out.update((f"state.{i}.{k}", np.copy(v) if isinstance(v, np.ndarray) else v) for k, v in self.state.get(p, {}).items())
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (also straight from ``np.load(path,
        allow_pickle=False)``) into an optimizer with the same param groups and parameter counts.
        Every key, shape and value is checked first: on a mismatch a :class:`StateDictError`
        names the key and shapes, and nothing is changed."""
        sd = {k: state_dict[k] for k in state_dict}  # also reads an NpzFile
        kind = str(np.asarray(sd.pop("type", "")))
        if kind != type(self).__name__:
            raise StateDictError(f"this state dict is for {kind or 'an unknown optimizer (no type key)'}, "
                                 f"not {type(self).__name__}")
        saved: dict[str, dict[int, dict[str, Any]]] = {"param_groups": {}, "state": {}}
        unexpected = []
        for key, value in sd.items():  # "state.3.exp_avg" -> saved["state"][3]["exp_avg"]
            kind, _, rest = key.partition(".")
            index, _, name = rest.partition(".")
            if kind in saved and index.isdigit() and name:
                saved[kind].setdefault(int(index), {})[name] = value
            else:
                unexpected.append(key)
        if sorted(saved["param_groups"]) != list(range(len(self.param_groups))):
            raise StateDictError(f"the state dict has {len(saved['param_groups'])} param group(s) "
                                 f"{sorted(saved['param_groups'])}, this optimizer has {len(self.param_groups)}")
        new_groups, param_of = [], {}  # param_of: saved parameter index -> (group index, parameter)
        for gi, group in enumerate(self.param_groups):
            hp = saved["param_groups"][gi]
            missing = [f"param_groups.{gi}.{k}" for k in ["params", *self.defaults] if k not in hp]
            if missing:
                raise StateDictError(f"missing key(s) {missing}")
            ids = np.asarray(hp.pop("params"))
            if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or len(ids) != len(group["params"]):
                raise StateDictError(f"param_groups.{gi}.params lists {ids.size} parameter(s) (shape {ids.shape}), "
                                     f"but param group {gi} of this optimizer has {len(group['params'])}")
            param_of.update((i, (gi, p)) for i, p in zip(ids.tolist(), group["params"]))
            new = {"params": group["params"], **{k: _restore(v, group.get(k), f"param_groups.{gi}.{k}") for k, v in hp.items()}}
            try:
                self._check_hparams(new)
            except ValueError as e:
                raise StateDictError(f"param group {gi}: {e}") from None
            new_groups.append(new)
        new_state, allowed = {}, set(self._state_keys)
        for i, st in sorted(saved["state"].items()):
            if i not in param_of:
                raise StateDictError(f"state.{i}.* is the state of parameter {i}, which no param group lists")
            gi, p = param_of[i]
            unexpected += [f"state.{i}.{k}" for k in st if k not in allowed]
            missing = sorted(f"state.{i}.{k}" for k in self._state_names(new_groups[gi]) if k not in st)
            if missing:
                raise StateDictError(f"missing key(s) {missing}")
            new_state[p] = {k: self._restore_state(f"state.{i}.{k}", k, np.asarray(v), p) for k, v in st.items() if k in allowed}
        if unexpected:
            raise StateDictError(f"unexpected key(s) {sorted(unexpected)}")
        for group, new in zip(self.param_groups, new_groups):  # every check passed: now change state
            group.clear()
            group.update(new)
        self.state = defaultdict(dict, new_state)

    def _restore_state(self, key: str, name: str, arr: np.ndarray, p: Any) -> Any:
        """One saved state entry, checked, as a copy in the parameter's dtype (``step``: an int)."""
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise StateDictError(f"{key} has non-numeric dtype {arr.dtype}")
        if name == "step":
            if arr.shape != () or not float(arr) >= 1 or float(arr) != int(float(arr)):
                raise StateDictError(f"{key} must be a whole number >= 1, got {arr!r}")
            return int(float(arr))
        if arr.shape != np.shape(p.data):
            raise StateDictError(f"shape mismatch for '{key}': the state dict has {arr.shape}, "
                                 f"parameter {self._describe(p)} has shape {np.shape(p.data)}")
        return np.array(arr, np.float64 if isinstance(p, Value) else p.data.dtype)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for gi, group in enumerate(self.param_groups):
            lines += [f"Parameter Group {gi}"] + [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"


def _is_single_param(obj: Any) -> bool:
    """A Value, or a tensor-like object (has ``data`` and ``grad``), rather than a collection."""
    return isinstance(obj, Value) or (hasattr(obj, "data") and hasattr(obj, "grad") and not isinstance(obj, (list, tuple)))


def _check_param(p: Any, index: int, group_index: int = 0, name: Optional[str] = None) -> None:
    """Raise if ``p`` (parameter ``index`` of param group ``group_index``, called ``name`` if the
    caller named it) cannot be optimized: ``TypeError`` for what is not a floating-point Value or
    tensor, ``ValueError`` for a non-leaf (computed by an op: backward never leaves it a
    gradient, and changing it would not change what it was computed from), as torch."""
    if not isinstance(p, Value) and (not hasattr(p, "grad") or not isinstance(getattr(p, "data", None), np.ndarray)):
        raise TypeError(f"an optimizer can only optimize Values and tensors (objects with a NumPy array .data "
                        f"and a .grad), but parameter {index} is {type(p).__name__}")
    if not isinstance(p, Value) and not np.issubdtype(p.data.dtype, np.floating):
        raise TypeError(f"parameter {index} has dtype {p.data.dtype}; optimizers need floating-point parameters")
    if getattr(p, "is_leaf", True) is False:  # duck-typed parameters without is_leaf count as leaves
        kind, what, fix = (("Value", f"data {p.data!r}", "Value(v.data)") if isinstance(p, Value) else
                           ("Tensor", f"shape {np.shape(p.data)}", "t.detach().requires_grad_()"))
        op = getattr(getattr(p, "op", None), "name", None) or "an op"
        label = f" {name!r}" if name else ""
        raise ValueError(f"can't optimize a non-leaf {kind}: parameter {index} of param group {group_index}{label} "
                         f"({what}) was computed by {op}; pass the leaf it was computed from (e.g. a model "
                         f"parameter), or a new leaf: {fix}")


def _check_real(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}: {value!r}")


def _check_nonnegative(group: Mapping[str, Any], **names: str) -> None:
    """torch's checks: each ``group[key]`` is a real number >= 0, else ``Invalid <name>: value``."""
    for key, name in names.items():
        _check_real(group[key], key)
        if not group[key] >= 0.0:
            raise ValueError(f"Invalid {name}: {group[key]}")


def _storable(value: Any) -> bool:
    """Whether ``np.savez`` stores ``value`` so that ``allow_pickle=False`` can read it back."""
    if isinstance(value, (bool, Real, str, np.ndarray, np.generic)):
        return not (isinstance(value, np.ndarray) and value.dtype == object)
    return isinstance(value, (tuple, list)) and all(isinstance(v, Real) for v in value)


def _restore(value: Any, like: Any, key: str) -> Any:
    """A hyperparameter read back from ``np.load`` as the type of ``like`` (None: a new key)."""
    arr = np.asarray(value)
    if isinstance(like, tuple) or (like is None and arr.ndim == 1):
        if like is not None and (arr.ndim != 1 or len(arr) != len(like)):
            raise StateDictError(f"{key} should hold {len(like)} numbers, got shape {arr.shape}")
        return tuple(float(x) for x in arr.tolist()) if like is not None else tuple(arr.tolist())
    if arr.ndim != 0:
        raise StateDictError(f"{key} should be a single value, got shape {arr.shape}")
    item = arr.item()
    if isinstance(like, bool) and not isinstance(item, (bool, int)):
        raise StateDictError(f"{key} should be a bool, got {item!r}")
    if isinstance(like, Real) and not isinstance(like, bool) and not isinstance(item, Real):
        raise StateDictError(f"{key} should be a number, got {item!r}")
    return bool(item) if isinstance(like, bool) else float(item) if isinstance(like, float) else item
