"""Pictures of backpropagation: graphs (:func:`draw`) and a step-by-step replay (:func:`replay`).

* :func:`draw` draws a ``Value`` or ``Tensor`` graph, or a ``Module`` (see :mod:`gradengine.viz.graph`);
  big graphs are summarised (:mod:`gradengine.viz.summary`);
* :func:`render` and :func:`to_svg` write it with Graphviz's ``dot``;
* :func:`replay` records a backward pass node by node, as pictures and as an HTML player
  (:mod:`gradengine.viz.replay`).
"""

from .graph import THEMES, Drawing, GraphvizNotFoundError, draw, grad_fill, render, to_svg
from .replay import Frame, Replay, replay

__all__ = ["draw", "render", "to_svg", "grad_fill", "Drawing", "GraphvizNotFoundError", "THEMES",
           "replay", "Replay", "Frame"]
