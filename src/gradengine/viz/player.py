"""The HTML player of :func:`gradengine.viz.replay`: one self-contained page, no server, no network.

The page holds the graph as one inline SVG (laid out once, so nothing jumps between steps), the
state of every step as JSON, and a small script that applies a step to the SVG. Without
JavaScript (an untrusted notebook, GitHub's static view) the page still shows the final picture
and every step's chain-rule text as a list; the controls appear only when the script runs.

The script defines ``window.gradengineReplay`` (the last player on the page; every player is
also in ``window.gradengineReplays`` under its id) with ``step(k)``, ``next()``, ``prev()``,
``play()``, ``pause()`` and ``state()``, which returns ``{step, total, active, explanation}``.
Each node's SVG group carries ``data-node`` (its label, or a stable id such as ``n3``),
``data-id`` (the stable id) and ``data-grad`` (the gradient shown at this step; empty until
it is computed). Everything that comes from user data enters the page escaped: JSON inside the
script has ``<``, ``>`` and ``&`` as ``\\u003c`` escapes, attributes and text go through
``html.escape``.
"""

from __future__ import annotations

import html
import json
from typing import Any

CSS = """
.gradengine-replay{font-family:Helvetica,Arial,sans-serif;font-size:13px;color:#222;max-width:100%}
.gradengine-replay .ge-controls{display:none;align-items:center;gap:6px;margin:4px 0}
.gradengine-replay.ge-live .ge-controls{display:flex}
.gradengine-replay button{font-size:13px;padding:2px 8px;cursor:pointer}
.gradengine-replay .ge-slider{flex:1;max-width:420px}
.gradengine-replay .ge-explain{white-space:pre-wrap;font-family:Menlo,Consolas,monospace;
  background:#f4f4f4;border-left:4px solid #3182bd;padding:6px 8px;margin:4px 0;min-height:3.2em}
.gradengine-replay .ge-svg{overflow:auto}
.gradengine-replay .ge-svg svg{max-width:100%;height:auto}
.gradengine-replay .ge-tip{position:fixed;z-index:10;background:#fff;border:1px solid #888;
  padding:6px 8px;font-family:Menlo,Consolas,monospace;white-space:pre-wrap;max-width:40em;
  box-shadow:2px 2px 6px rgba(0,0,0,.25);pointer-events:none}
.gradengine-replay.ge-dark{color:#e8e8e8}
.gradengine-replay.ge-dark .ge-explain{background:#2b2b2b}
.gradengine-replay.ge-dark .ge-tip{background:#2b2b2b;color:#e8e8e8}
.gradengine-replay g.node{cursor:pointer}
"""

# The script reads its data from the JSON block next to it, so no user text is ever inside code.
SCRIPT = r"""
(function () {
  var root = document.getElementById(%(id)s);
  if (!root) { return; }
  var data = JSON.parse(root.querySelector("script.ge-data").textContent);
  var svg = root.querySelector(".ge-svg svg");
  var nodes = {}, edges = {};
  root.querySelectorAll("g.node[data-id]").forEach(function (g) { nodes[g.getAttribute("data-id")] = g; });
  root.querySelectorAll("g.edge[data-id]").forEach(function (g) { edges[g.getAttribute("data-id")] = g; });
  var explain = root.querySelector(".ge-explain"), slider = root.querySelector(".ge-slider");
  var counter = root.querySelector(".ge-counter"), tip = root.querySelector(".ge-tip");
  var playBtn = root.querySelector(".ge-play");
  var current = 0, timer = null;
  function shape(g) { return g.querySelector("path, polygon, ellipse"); }
  function texts(g) { return g.querySelectorAll("text"); }
  function apply(k) {
    var f = data.frames[k];
    data.nodes.forEach(function (id, i) {
      var g = nodes[id]; if (!g) { return; }
      var s = f.nodes[i];  // [grad text, fill, state, data-grad]
      var t = texts(g), last = t[t.length - 1];
      if (data.gradField[i] && last) { last.textContent = s[0]; }
      var sh = shape(g);
      if (sh) {
        sh.setAttribute("fill", s[1]);
        sh.setAttribute("stroke-width", s[2] === 3 ? "4" : "1");
        sh.setAttribute("stroke-dasharray", s[2] === 1 ? "5,3" : "");
        sh.setAttribute("stroke", s[2] === 3 ? data.activeColour : data.lineColour);
      }
      t.forEach(function (x) { x.setAttribute("fill", s[4]); });
      g.setAttribute("data-grad", s[3]);
      g.setAttribute("data-state", ["pending", "partial", "done", "active"][s[2]]);
    });
    data.edges.forEach(function (id, i) {
      var g = edges[id]; if (!g) { return; }
      var s = f.edges[i];  // [label, active]
      var t = texts(g);
      if (t.length) { t[0].textContent = s[0]; }
      g.querySelectorAll("path, polygon").forEach(function (p) {
        p.setAttribute("stroke", s[1] ? data.activeColour : data.lineColour);
        p.setAttribute("stroke-width", s[1] ? "3" : "1");
      });
    });
    explain.textContent = f.explanation;
    slider.value = k;
    counter.textContent = "step " + k + " / " + (data.frames.length - 1);
    current = k;
  }
  function step(k) {
    k = Math.max(0, Math.min(data.frames.length - 1, Math.floor(Number(k) || 0)));
    apply(k);
    return state();
  }
  function state() {
    var f = data.frames[current];
    return {step: current, total: data.frames.length, active: f.active, explanation: f.explanation};
  }
  function pause() { if (timer) { clearInterval(timer); timer = null; } playBtn.textContent = "\u25B6 play"; }
  function play() {
    if (timer) { return; }
    if (current === data.frames.length - 1) { apply(0); }
    playBtn.textContent = "\u23F8 pause";
    timer = setInterval(function () {
      if (current >= data.frames.length - 1) { pause(); return; }
      apply(current + 1);
    }, 900);
  }
  var api = {step: step, next: function () { return step(current + 1); },
             prev: function () { return step(current - 1); }, play: play, pause: pause, state: state,
             total: data.frames.length};
  root.querySelector(".ge-first").onclick = function () { pause(); step(0); };
  root.querySelector(".ge-prev").onclick = function () { pause(); api.prev(); };
  root.querySelector(".ge-next").onclick = function () { pause(); api.next(); };
  root.querySelector(".ge-last").onclick = function () { pause(); step(data.frames.length - 1); };
  playBtn.onclick = function () { if (timer) { pause(); } else { play(); } };
  slider.oninput = function () { pause(); step(slider.value); };
  Object.keys(nodes).forEach(function (id) {
    var g = nodes[id], i = data.nodes.indexOf(id), pinned = false;
    function show(ev) {
      var sum = data.sums[i];
      if (!sum) { return; }
      tip.textContent = sum; tip.hidden = false;
      tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px";
    }
    g.addEventListener("mousemove", function (ev) { if (!pinned) { show(ev); } });
    g.addEventListener("mouseleave", function () { if (!pinned) { tip.hidden = true; } });
    g.addEventListener("click", function (ev) { pinned = !pinned; show(ev); if (!pinned) { tip.hidden = true; } });
  });
  root.classList.add("ge-live");
  var steps = root.querySelector(".ge-steps"); if (steps) { steps.open = false; }
  apply(0);
  window.gradengineReplays = window.gradengineReplays || {};
  window.gradengineReplays[root.id] = api;
  window.gradengineReplay = api;
})();
"""


def _json_for_script(obj: Any) -> str:
    """JSON that can sit inside ``<script>``: ``<``, ``>`` and ``&`` escaped, so no string in it
    can close the element or open a comment."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def page(player_id: str, svg: str, data: dict, steps: list[str], title: str, dark: bool,
         standalone: bool) -> str:
    """The player's HTML: a fragment for a notebook, or a whole page (``standalone``)."""
    esc = html.escape
    items = "".join(f"<li>{esc(s)}</li>" for s in steps)
    body = (
        f'<div class="gradengine-replay{" ge-dark" if dark else ""}" id="{esc(player_id)}">'
        f"<style>{CSS}</style>"
        '<div class="ge-controls">'
        '<button type="button" class="ge-first" title="first step">&#x25C0;&#x25C0;</button>'
        '<button type="button" class="ge-prev" title="previous step">&#x25C0; back</button>'
        '<button type="button" class="ge-play" title="play">&#x25B6; play</button>'
        '<button type="button" class="ge-next" title="next step">step &#x25B6;</button>'
        '<button type="button" class="ge-last" title="last step">&#x25B6;&#x25B6;</button>'
        f'<input type="range" class="ge-slider" min="0" max="{len(data["frames"]) - 1}" value="0" '
        'aria-label="step">'
        '<span class="ge-counter"></span></div>'
        f'<div class="ge-explain" aria-live="polite">{esc(data["frames"][-1]["explanation"])}</div>'
        f'<div class="ge-svg">{svg}</div>'
        '<div class="ge-tip" hidden></div>'
        f'<details class="ge-steps" open><summary>{esc(title)}: every step as text</summary>'
        f"<ol start=\"0\">{items}</ol></details>"
        f'<script type="application/json" class="ge-data">{_json_for_script(data)}</script>'
        f"<script>{SCRIPT % {'id': json.dumps(player_id)}}</script>"
        "</div>"
    )
    if not standalone:
        return body
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title></head><body>{body}</body></html>\n")
