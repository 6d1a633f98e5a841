"""Tests of gradengine.grad_mode: the no_grad / enable_grad / set_grad_enabled decorators on
generator functions, and detect_anomaly(check_nan=...)."""

from __future__ import annotations

import numpy as np
import pytest

import gradengine as ge
from gradengine import AnomalyError, Tensor, Value, detect_anomaly, enable_grad, no_grad, set_grad_enabled


def _gen_recording_modes(n):
    for _ in range(n):
        yield ge.is_grad_enabled()
    return "done"


# Factories: set_grad_enabled(False) switches recording off when it is made, so not at import.
@pytest.mark.parametrize("decorator", [lambda: no_grad(), lambda: no_grad, lambda: set_grad_enabled(False)],
                         ids=["no_grad()", "bare no_grad", "set_grad_enabled(False)"])
def test_no_grad_decorator_on_a_generator_runs_its_body_without_grad(decorator):
    @decorator()
    def gen(x):
        for _ in range(3):
            y = x * 2
            yield ge.is_grad_enabled(), y.requires_grad
            assert not ge.is_grad_enabled()  # still off when resumed

    x = Tensor([1.0], requires_grad=True)
    seen = []
    for mode, req in gen(x):
        seen.append((mode, req))
        assert ge.is_grad_enabled()  # the caller's mode is back between yields
        assert (x * 2).requires_grad
    assert seen == [(False, False)] * 3
    assert ge.is_grad_enabled()


def test_enable_grad_decorator_on_a_generator_inside_no_grad():
    @enable_grad()
    def gen():
        yield ge.is_grad_enabled()
        yield ge.is_grad_enabled()

    @enable_grad
    def bare():
        yield ge.is_grad_enabled()

    with no_grad():
        g = gen()
        assert next(g) is True
        assert not ge.is_grad_enabled()  # restored to the caller's no_grad between yields
        assert next(g) is True
        assert list(bare()) == [True]
        assert not ge.is_grad_enabled()


def test_decorated_generator_send_throw_close_and_return_value():
    @no_grad()
    def echo():
        modes = []
        try:
            while True:
                got = yield ge.is_grad_enabled()
                modes.append((got, ge.is_grad_enabled()))
                if got == "stop":
                    return modes
        except KeyError:
            yield ("caught", ge.is_grad_enabled())
        finally:
            closed.append(ge.is_grad_enabled())

    closed = []
    g = echo()
    assert next(g) is False and g.send("a") is False
    with pytest.raises(StopIteration) as stop:
        g.send("stop")
    assert stop.value.value == [("a", False), ("stop", False)] and closed == [False]
    g = echo()
    next(g)
    assert g.throw(KeyError("k")) == ("caught", False) and ge.is_grad_enabled()
    g.close()
    assert closed == [False, False] and ge.is_grad_enabled()
    assert no_grad()(_gen_recording_modes).__name__ == "_gen_recording_modes"


def test_decorating_a_generator_does_not_run_or_change_the_mode_early():
    calls = []

    @no_grad()
    def gen():
        calls.append(1)
        yield 1

    g = gen()
    assert calls == [] and ge.is_grad_enabled()
    assert list(g) == [1] and calls == [1] and ge.is_grad_enabled()


def test_detect_anomaly_check_nan_false_enables_anomaly_mode_without_nan_checks():
    with detect_anomaly(check_nan=False):
        assert ge.is_anomaly_enabled() and not ge.grad_mode.is_anomaly_check_nan_enabled()
        v = Value(-1.0).log()  # no AnomalyError: nan is not checked
        assert np.isnan(v.data)
        x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
        x.sqrt().sum().backward()
        assert np.isinf(x.grad[0])
        with detect_anomaly():  # a nested checking block, restored on exit
            assert ge.grad_mode.is_anomaly_check_nan_enabled()
            with pytest.raises(AnomalyError):
                Value(-1.0).log()
        assert ge.is_anomaly_enabled() and not ge.grad_mode.is_anomaly_check_nan_enabled()
    assert not ge.is_anomaly_enabled() and not ge.grad_mode.is_anomaly_check_nan_enabled()
    with detect_anomaly(True), pytest.raises(AnomalyError, match="forward of op 'log'"):
        Value(-1.0).log()


def test_detect_anomaly_check_nan_as_decorator_and_validated():
    @detect_anomaly(check_nan=False)
    def quiet():
        return ge.is_anomaly_enabled(), Value(-1.0).log().data

    @detect_anomaly
    def loud_gen():
        yield ge.is_anomaly_enabled()
        Value(-1.0).log()
        yield "unreachable"

    on, val = quiet()
    assert on and np.isnan(val) and not ge.is_anomaly_enabled()
    g = loud_gen()
    assert next(g) is True and not ge.is_anomaly_enabled()
    with pytest.raises(AnomalyError):
        next(g)
    with pytest.raises(TypeError, match="check_nan must be a bool"):
        detect_anomaly(check_nan=1)
