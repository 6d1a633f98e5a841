"""``gradengine.nn.utils``, as ``torch.nn.utils``: gradient clipping for a training loop.

``clip_grad_norm_`` and ``clip_grad_value_`` are defined in :mod:`gradengine.optim` (beside the
optimizers whose steps they precede); this module is where PyTorch code looks for them::

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""

from ..optim import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
