"""Optimizers and learning-rate schedules with PyTorch's update rules, laid out as ``torch.optim``.

::

    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)   # optional
    for epoch in range(epochs):
        for x, y in batches:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)         # optional
            opt.step()
        sched.step()

:mod:`.optimizer` holds the base class; :mod:`.sgd` and :mod:`.adam` an optimizer each, with the
pure update function its ``step()`` calls; :mod:`.lr_scheduler` the schedules (also importable
from here, as is clipping from :mod:`gradengine.nn.utils`).
"""

from ..nn.module import StateDictError
from ..nn.utils import clip_grad_norm_, clip_grad_value_
from . import adam, lr_scheduler, sgd  # the modules, as torch's: the update functions are adam.adam, sgd.sgd
from .adam import Adam, AdamW
from .lr_scheduler import LambdaLR, LRScheduler, StepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "sgd", "adam", "lr_scheduler", "LRScheduler", "StepLR",
           "LambdaLR", "clip_grad_norm_", "clip_grad_value_", "StateDictError"]
