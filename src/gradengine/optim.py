"""Optimizers, gradient clipping and learning-rate schedules, with PyTorch's update rules.

::

    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)      # optional
    for epoch in range(epochs):
        for x, y in batches:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            optim.clip_grad_norm_(model.parameters(), 1.0)  # optional
            opt.step()
        sched.step()

Laid out as ``torch/optim/adam.py``: an :class:`Optimizer` keeps ``param_groups`` and
``state`` (per parameter, a dict such as ``{"step": 3, "exp_avg": array, "exp_avg_sq": array}``);
``step()`` gathers the parameters that have a gradient and calls a pure update function,
:func:`sgd` or :func:`adam`, which updates the arrays in place (``p.data`` is never replaced).
Parameters are :class:`~gradengine.Value` objects or tensors (a floating-point ndarray ``.data``
and a ``.grad``). ``state_dict()`` is a flat dict for ``np.savez``.
"""

from __future__ import annotations

import functools
from collections import defaultdict
import math
from numbers import Real
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from .engine import Value
from .grad_mode import enable_grad
from .nn.module import StateDictError

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "sgd", "adam", "clip_grad_norm_", "clip_grad_value_",
           "LRScheduler", "StepLR", "LambdaLR", "StateDictError"]

Params = Union[Iterable[Any], Iterable[dict]]
StateDict = dict  # flat: str -> number | str | tuple | np.ndarray


class Optimizer:
    """Base class: param groups, per-parameter ``state``, ``zero_grad``, ``step``, state dicts.

    A subclass defines ``_check_hparams(group)`` (raising torch's ``ValueError``s),
    ``_state_names(group)`` and ``_update(group, params, grads, states)``, which updates the
    arrays in place from the gradients and the state dicts (``{}`` before a first update).

    Args:
        params: parameters (``Value`` or tensor), ``(name, parameter)`` pairs (the names appear
            in error messages), or param groups: ``[{"params": [...], "lr": 0.1}, ...]``, whose
            missing hyperparameters come from ``defaults``.
        defaults: the default hyperparameters.
    """

    _all_state_names: tuple[str, ...] = ()  # every array name this optimizer may keep
    _step_in_state = True  # whether "step" is part of a parameter's state (torch: not for SGD)

    def __init__(self, params: Params, defaults: Mapping[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)  # parameter -> {"step": int, name: array}
        self._names: dict[int, str] = {}  # id(param) -> name, from (name, param) pairs
        if _is_single_param(params) or isinstance(params, (dict, str, set)):
            hint = {True: "; to optimize one parameter pass [p]", set: " (a set has no fixed order: use a list)",
                    dict: " (to pass one param group, wrap it in a list: [group])"}
            raise TypeError(f"params should be an iterable of parameters or of dicts (param groups), got "
                            f"{type(params).__name__}{hint.get(_is_single_param(params) or type(params), '')}")
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
        params, ids = [], set()
        for i, p in enumerate([group["params"]] if _is_single_param(group["params"]) else group["params"]):
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                self._names[id(p[1])], p = p
            _check_param(p, i)
            if id(p) in ids:
                raise ValueError(f"parameter {self._describe(p)} appears twice in one param group")
            params.append(p)
            ids.add(id(p))
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if any(id(q) in ids for q in self._params()):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        self._normalize_hparams(group)
        self._check_hparams(group)
        self.param_groups.append(group)

    def _normalize_hparams(self, group: dict[str, Any]) -> None:
        """Put hyperparameters in canonical form (e.g. betas as a tuple of floats)."""

    def _check_hparams(self, group: Mapping[str, Any]) -> None:
        """Raise ValueError for invalid hyperparameters (the messages are torch's)."""

    def _state_names(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return ()

    def _params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to ``None`` (default; ``step()`` then skips parameters that get
        no gradient) or, with ``set_to_none=False``, to zero in place. A ``Value``'s becomes 0.0."""
        for p in self._params():
            if isinstance(p, Value):
                p.grad = 0.0
            elif set_to_none or p.grad is None:
                p.grad = None
            elif isinstance(p.grad, np.ndarray) and p.grad.flags.writeable:
                p.grad[...] = 0
            else:
                p.grad = np.zeros(np.shape(p.grad), np.result_type(p.grad))

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Update every parameter that has a gradient, once. ``closure``, if given, recomputes
        and returns the loss (zero_grad, forward, backward); it is called first, with gradient
        recording on, and its loss is returned."""
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

    def _update(self, group: Mapping[str, Any], params: list[np.ndarray], grads: list[np.ndarray],
                states: list[dict[str, Any]]) -> None:
        raise NotImplementedError

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
        index = next((i for i, q in enumerate(self._params()) if q is p), None)
        if index is None:
            return repr(name) if name else f"of shape {_shape(p)}"
        return f"{index} ({name})" if name else str(index)

    def state_dict(self) -> StateDict:
        """Hyperparameters and state as a flat dict, ready for ``np.savez``::

            {"type": "Adam", "param_groups.0.lr": 0.001, "param_groups.0.betas": (0.9, 0.999), ...,
             "param_groups.0.params": array([0, 1, 2]),     # parameter indices, as torch
             "state.0.step": 10, "state.0.exp_avg": array, "state.0.exp_avg_sq": array, ...}

        Parameters are numbered in param-group order; one never updated has no ``state.<i>.*``
        keys. Arrays are copies. Group entries that ``np.load(allow_pickle=False)`` could not
        read back (anything but numbers, bools, strings and tuples of numbers) are left out."""
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
            self._normalize_hparams(new)
            try:
                self._check_hparams(new)
            except ValueError as e:
                raise StateDictError(f"param group {gi}: {e}") from None
            new_groups.append(new)
        new_state, allowed = {}, {*self._all_state_names, *(["step"] if self._step_in_state else [])}
        for i, st in sorted(saved["state"].items()):
            if i not in param_of:
                raise StateDictError(f"state.{i}.* is the state of parameter {i}, which no param group lists")
            gi, p = param_of[i]
            unexpected += [f"state.{i}.{k}" for k in st if k not in allowed]
            missing = sorted(f"state.{i}.{k}" for k in {*self._state_names(new_groups[gi]), *allowed & {"step"}} if k not in st)
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
        if arr.shape != _shape(p):
            raise StateDictError(f"shape mismatch for '{key}': the state dict has {arr.shape}, "
                                 f"parameter {self._describe(p)} has shape {_shape(p)}")
        return np.array(arr, np.float64 if isinstance(p, Value) else p.data.dtype)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for gi, group in enumerate(self.param_groups):
            lines += [f"Parameter Group {gi}"] + [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"


def _shape(p: Any) -> tuple:
    return () if isinstance(p, Value) else tuple(np.shape(p.data))


def _is_single_param(obj: Any) -> bool:
    """A Value, or a tensor-like object (has ``data`` and ``grad``), rather than a collection."""
    return isinstance(obj, Value) or (hasattr(obj, "data") and hasattr(obj, "grad") and not isinstance(obj, (list, tuple)))


def _check_param(p: Any, index: int) -> None:
    if isinstance(p, Value):
        return
    if not hasattr(p, "grad") or not isinstance(getattr(p, "data", None), np.ndarray):
        raise TypeError(f"an optimizer can only optimize Values and tensors (objects with a NumPy array .data "
                        f"and a .grad), but parameter {index} is {type(p).__name__}")
    if not np.issubdtype(p.data.dtype, np.floating):
        raise TypeError(f"parameter {index} has dtype {p.data.dtype}; optimizers need floating-point parameters")


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
    """A hyperparameter read back from ``np.load`` (a 0-d or 1-d array), as the type of
    ``like`` (the current value; None for a key the group does not have)."""
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


# -- SGD ---------------------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``);
    the update is :func:`sgd`.

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
        _check_real(group["dampening"], "dampening")
        _check_nonnegative(group, lr="learning rate", momentum="momentum value", weight_decay="weight_decay value")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _state_names(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update(self, group, params, grads, states) -> None:
        bufs = [st.get("momentum_buffer") for st in states]
        sgd(params, grads, bufs, lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"], maximize=group["maximize"])
        for st, buf in zip(states, bufs):
            if buf is not None:
                st["momentum_buffer"] = buf


def sgd(params: list[np.ndarray], grads: list[np.ndarray], momentum_buffers: list[Optional[np.ndarray]], *,
        lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool, maximize: bool) -> None:
    """One SGD step, in place (torch's ``_single_tensor_sgd``). ``momentum_buffers[i]`` is None
    before parameter ``i``'s first step with momentum; it is then set to the new buffer."""
    for i, (p, g) in enumerate(zip(params, grads)):
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            buf = momentum_buffers[i]
            if buf is None:
                buf = momentum_buffers[i] = np.array(g)  # the buffer starts as (a copy of) the first gradient
            else:
                buf *= momentum
                buf += (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p -= lr * g


# -- Adam and AdamW ----------------------------------------------------------------------------
class Adam(Optimizer):
    """Adam (PyTorch's ``torch.optim.Adam``), optionally AMSGrad; AdamW's decoupled weight decay
    with ``decoupled_weight_decay=True`` (or use :class:`AdamW`). The update is :func:`adam`.

    Args:
        params: parameters or param groups (see :class:`Optimizer`).
        lr: learning rate (>= 0). betas: decay rates of the moving averages, each in [0, 1).
        eps: added to the denominator (>= 0). weight_decay: (>= 0).
        amsgrad: use the maximum of past second moments (AMSGrad).
        maximize: maximize the objective. decoupled_weight_decay: AdamW's weight decay.
        fast: which implementation :func:`adam` uses (None: its default).
    """

    _all_state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, fast: Optional[bool] = None) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        self._normalize_hparams(defaults)
        self._check_hparams(defaults)
        self.fast = fast
        super().__init__(params, defaults)

    def _normalize_hparams(self, group: dict[str, Any]) -> None:
        betas = group.get("betas")
        if not (isinstance(betas, (tuple, list, np.ndarray)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for i, b in enumerate(betas):
            _check_real(b, f"betas[{i}]")
        group["betas"] = (float(betas[0]), float(betas[1]))

    def _check_hparams(self, group: Mapping[str, Any]) -> None:
        _check_nonnegative(group, lr="learning rate", eps="epsilon value")
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        _check_nonnegative(group, weight_decay="weight_decay value")

    def _state_names(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return self._all_state_names if group["amsgrad"] else self._all_state_names[:2]

    def _update(self, group, params, grads, states) -> None:
        for p, st in zip(params, states):
            for name in self._state_names(group):  # zeros on the first update (or amsgrad turned on)
                if name not in st:
                    st[name] = np.zeros_like(p)
            st["step"] = st.get("step", 0) + 1
        beta1, beta2 = group["betas"]
        adam(params, grads, [st["exp_avg"] for st in states], [st["exp_avg_sq"] for st in states],
             [st.get("max_exp_avg_sq") for st in states], [st["step"] for st in states],
             amsgrad=group["amsgrad"], beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
             eps=group["eps"], maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"],
             fast=self.fast)


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``): the parameters are
    shrunk by ``lr * weight_decay`` each step instead of adding ``weight_decay * p`` to the
    gradient, so the decay does not pass through the moving averages. Default weight decay 1e-2."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, fast: Optional[bool] = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, fast=fast)

    def _normalize_hparams(self, group: dict[str, Any]) -> None:
        super()._normalize_hparams(group)
        group["decoupled_weight_decay"] = True  # as torch: always, even when loading a state dict


def adam(params: list[np.ndarray], grads: list[np.ndarray], exp_avgs: list[np.ndarray],
         exp_avg_sqs: list[np.ndarray], max_exp_avg_sqs: list[Optional[np.ndarray]], state_steps: list[int], *,
         amsgrad: bool, beta1: float, beta2: float, lr: float, weight_decay: float, eps: float,
         maximize: bool, decoupled_weight_decay: bool, fast: Optional[bool] = None) -> None:
    """One Adam step, in place (``grads`` are not written); ``state_steps[i]`` counts parameter
    ``i``'s steps including this one. Like torch's ``adam``, this only picks an implementation:
    :func:`_single_tensor_adam`, the formulas (``fast=False``, and always for 0-d arrays, i.e.
    ``Value`` parameters), or :func:`_fused_adam`, the same rule in one pass over memory
    (``fast=True`` or None, for float32/float64 arrays it can update in place)."""
    for i, p in enumerate(params):
        fused = fast is not False and p.ndim > 0 and p.dtype in (np.float32, np.float64) and all(
            a.flags.c_contiguous for a in (p, exp_avgs[i], exp_avg_sqs[i], max_exp_avg_sqs[i] if amsgrad else p))
        impl = _fused_adam if fused and _adam_kernel() is not None else _single_tensor_adam
        impl([p], [grads[i]], [exp_avgs[i]], [exp_avg_sqs[i]], [max_exp_avg_sqs[i]], [state_steps[i]], amsgrad=amsgrad,
             beta1=beta1, beta2=beta2, lr=lr, weight_decay=weight_decay, eps=eps, maximize=maximize,
             decoupled_weight_decay=decoupled_weight_decay)


def _single_tensor_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad,
                        beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay) -> None:
    """Adam as torch's ``_single_tensor_adam`` writes it, one parameter at a time."""
    for p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, step in zip(
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps):
        if maximize:
            g = -g
        if weight_decay != 0 and decoupled_weight_decay:
            p *= 1 - lr * weight_decay
        elif weight_decay != 0:
            g = g + weight_decay * p
        exp_avg += (1 - beta1) * (g - exp_avg)  # exp_avg.lerp_(g, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * g * g
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        if amsgrad:
            np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            exp_avg_sq = max_exp_avg_sq
        denom = np.sqrt(exp_avg_sq) / math.sqrt(bias_correction2) + eps
        p -= step_size * (exp_avg / denom)


def _fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad,
                beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay) -> None:
    """:func:`_single_tensor_adam`'s rule as one compiled loop per parameter (:func:`_adam_loop`,
    compiled by numba): Adam is memory-bound, and the formulas in NumPy make a dozen passes over
    the state and allocate temporaries where this makes one pass (about 4x faster inside MNIST
    training: ``benchmarks/bench_adam.py``). The arithmetic is in the parameter's dtype, as
    torch's; the one difference: an ``exp_avg`` or ``exp_avg_sq`` entry that would become
    subnormal is stored as 0. Where a gradient is exactly zero step after step (MNIST's border
    pixels) ``exp_avg`` decays into float32's subnormal range (below 2**-126), where arithmetic is
    many times slower on many CPUs; the update changes by less than ``lr * 1e-30``."""
    for p, g, m, v, v_max, step in zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps):
        f = p.dtype.type  # scalars in the parameter's dtype, so the loop computes in it
        _adam_kernel()(p.reshape(-1), np.ascontiguousarray(g).reshape(-1), m.reshape(-1), v.reshape(-1),
                       (v_max if amsgrad else v).reshape(-1), f(1 - beta1), f(beta2), f(1 - beta2), f(lr / (1 - beta1**step)),
                       f(math.sqrt(1 - beta2**step)), f(eps), f(weight_decay), f(1 - lr * weight_decay),
                       f(np.finfo(p.dtype).tiny), amsgrad, maximize, decoupled_weight_decay)


def _adam_loop(p, g, m, v, v_max, one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps,
               weight_decay, decay, tiny, amsgrad, maximize, decoupled):
    """One Adam step on flat arrays, element by element (the body of :func:`_fused_adam`); every
    number is in the parameter's dtype."""
    zero = tiny - tiny
    for i in range(p.shape[0]):
        gi = -g[i] if maximize else g[i]
        if weight_decay != 0 and decoupled:
            p[i] *= decay
        elif weight_decay != 0:
            gi = gi + weight_decay * p[i]
        mi = m[i] + one_minus_beta1 * (gi - m[i])  # exp_avg.lerp_(g, 1 - beta1)
        vi = beta2 * v[i] + one_minus_beta2 * gi * gi
        m[i] = mi = mi if abs(mi) >= tiny else zero  # never store a subnormal
        v[i] = vi = vi if vi >= tiny else zero
        if amsgrad:
            v_max[i] = vi = max(v_max[i], vi)
        p[i] -= step_size * (mi / (np.sqrt(vi) / bias_correction2_sqrt + eps))


@functools.cache
def _adam_kernel() -> Optional[Callable[..., None]]:
    """:func:`_adam_loop` compiled by numba (imported and compiled on first use, then cached on
    disk), or None if numba cannot be imported: :func:`adam` then uses the formulas."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency; a platform without wheels
        return None
    return numba.njit(cache=True, error_model="numpy")(_adam_loop)  # numpy errors: no checks, so it vectorizes


# -- Gradient clipping -------------------------------------------------------------------------
def _grads(parameters: Any) -> list:
    """``(param, grad)`` for every parameter with a gradient."""
    params = [parameters] if _is_single_param(parameters) else list(parameters)
    pairs = [(p, p.grad.data if isinstance(p.grad, Value) else p.grad) for p in params]
    return [(p, g) for p, g in pairs if g is not None]


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale the gradients in place so that their total norm is at most ``max_norm`` (PyTorch's
    ``torch.nn.utils.clip_grad_norm_``), and return the total norm before clipping.

    The total norm is the ``norm_type``-norm of all gradients together, as if concatenated into
    one vector (``inf``: the max-norm). If it exceeds ``max_norm``, every gradient is multiplied
    by ``max_norm / (total_norm + 1e-6)``. Parameters without a gradient are ignored."""
    max_norm, norm_type = float(max_norm), float(norm_type)
    pairs = _grads(parameters)
    norms = [float(np.linalg.norm(np.ravel(g), ord=norm_type)) if np.size(g) else 0.0 for _, g in pairs]
    total = float(np.linalg.norm(np.array(norms, np.float64), ord=norm_type)) if pairs else 0.0
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           f"it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           f"norm anyway, set `error_if_nonfinite=False`")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # as torch: clamp(coef, max=1); a nan norm makes every gradient nan
        for p, g in pairs:
            if isinstance(g, np.ndarray) and g.flags.writeable and not isinstance(p, Value):
                np.multiply(g, coef, out=g, casting="unsafe")
            else:
                p.grad = g * coef if isinstance(p, Value) else np.multiply(g, coef)
    return total


def clip_grad_value_(parameters: Any, clip_value: float) -> None:
    """Clamp every gradient in place to ``[-clip_value, clip_value]`` (PyTorch's
    ``torch.nn.utils.clip_grad_value_``); nan stays nan."""
    c = float(clip_value)
    for p, g in _grads(parameters):
        if isinstance(p, Value):
            p.grad = g if g != g else min(max(g, -c), c)
        elif isinstance(g, np.ndarray) and g.flags.writeable:
            np.clip(g, -c, c, out=g)
        else:
            p.grad = np.clip(g, -c, c)


# -- Learning-rate schedules -------------------------------------------------------------------
class LRScheduler:
    """Base class of learning-rate schedules (PyTorch's ``torch.optim.lr_scheduler``).

    Construction records each group's ``"initial_lr"`` and makes the first ``step()`` (epoch 0).
    Call :meth:`step` after ``optimizer.step()``, usually once per epoch. A subclass defines
    :meth:`get_lr`, the learning rates for ``self.last_epoch``. To resume with ``last_epoch=k``,
    the optimizer's groups need ``"initial_lr"`` (a loaded optimizer state dict has it); or
    construct with the default and call :meth:`load_state_dict`.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                               f"a schedule with last_epoch={last_epoch}: load the optimizer's state first")
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
        """A flat dict for ``np.savez``: ``last_epoch``, ``base_lrs``, ``last_lr`` and the
        schedule's own numbers (e.g. ``step_size``, ``gamma``)."""
        return {"type": type(self).__name__, "last_epoch": self.last_epoch,
                "base_lrs": list(self.base_lrs), "last_lr": list(self._last_lr), **self._hparams()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`, checking every key first (the optimizer's
        lr is not changed: it is in the optimizer's own state dict)."""
        sd = {k: state_dict[k] for k in state_dict}
        kind = str(np.asarray(sd.get("type", "")))
        if kind != type(self).__name__:
            raise StateDictError(f"this state dict is for {kind or 'an unknown schedule'}, not {type(self).__name__}")
        hp = self._hparams()
        expected = {"type", "last_epoch", "base_lrs", "last_lr", *hp}
        if set(sd) != expected:
            raise StateDictError(f"schedule state dict: missing keys {sorted(expected - set(sd))}, "
                                 f"unexpected keys {sorted(set(sd) - expected)}")
        lists = {k: np.asarray(sd[k], dtype=np.float64) for k in ("base_lrs", "last_lr")}
        for key, arr in lists.items():
            if arr.shape != (len(self.optimizer.param_groups),):
                raise StateDictError(f"{key} has shape {arr.shape}, the optimizer has "
                                     f"{len(self.optimizer.param_groups)} param group(s)")
        values = {k: _restore(sd[k], v, k) for k, v in hp.items()}
        self.last_epoch = int(np.asarray(sd["last_epoch"]))
        self.base_lrs, self._last_lr = lists["base_lrs"].tolist(), lists["last_lr"].tolist()
        for k, v in values.items():
            setattr(self, k, v)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (PyTorch's ``StepLR``):
    ``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        _check_real(gamma, "gamma")
        self.step_size, self.gamma = step_size, float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]  # chained, exactly as torch

    def _hparams(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)`` (PyTorch's ``LambdaLR``): one function for all
    param groups, or a list with one per group. The functions are not part of the state dict."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]],
                 last_epoch: int = -1) -> None:
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)) and len(lr_lambda) != n:
            raise ValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]
