// Pan and zoom for the run graph (no inline script: the CSP forbids it). The SVG keeps its
// viewBox; zooming changes its drawn size inside the scrolling frame, so native scrolling,
// the keyboard and the links keep working, and without this file the graph still scrolls.
(function () {
  "use strict";
  var MIN = 0.05, MAX = 4, STEP = 1.25;

  function setup(frame) {
    var svg = frame.querySelector("svg");
    if (!svg) return;
    var width = svg.width.baseVal.value, height = svg.height.baseVal.value;
    var scale = 1;

    function apply(next, cx, cy) {
      next = Math.min(MAX, Math.max(MIN, next));
      // Keep the point under (cx, cy) in the frame where it was.
      var x = (frame.scrollLeft + cx) / scale, y = (frame.scrollTop + cy) / scale;
      scale = next;
      svg.setAttribute("width", String(Math.round(width * scale)));
      svg.setAttribute("height", String(Math.round(height * scale)));
      frame.scrollLeft = x * scale - cx;
      frame.scrollTop = y * scale - cy;
    }
    function fit() {
      apply(Math.min(frame.clientWidth / width, frame.clientHeight / height, 1), 0, 0);
      frame.scrollLeft = 0; frame.scrollTop = 0;
    }

    var controls = frame.previousElementSibling;
    if (controls && controls.classList.contains("graph-controls")) {
      controls.hidden = false;
      controls.addEventListener("click", function (event) {
        var button = event.target.closest("[data-graph-zoom]");
        if (!button) return;
        var what = button.getAttribute("data-graph-zoom");
        var cx = frame.clientWidth / 2, cy = frame.clientHeight / 2;
        if (what === "in") apply(scale * STEP, cx, cy);
        else if (what === "out") apply(scale / STEP, cx, cy);
        else if (what === "reset") apply(1, cx, cy);
        else fit();
      });
    }

    frame.addEventListener("wheel", function (event) {
      if (!event.ctrlKey && !event.metaKey) return; // plain wheel scrolls
      event.preventDefault();
      var box = frame.getBoundingClientRect();
      apply(event.deltaY < 0 ? scale * STEP : scale / STEP, event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });

    // Drag to pan; a click without movement still follows a node's link.
    var start = null, moved = false;
    frame.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      start = { x: event.clientX, y: event.clientY, left: frame.scrollLeft, top: frame.scrollTop };
      moved = false;
    });
    frame.addEventListener("pointermove", function (event) {
      if (!start) return;
      var dx = event.clientX - start.x, dy = event.clientY - start.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      moved = true;
      frame.classList.add("dragging");
      frame.scrollLeft = start.left - dx;
      frame.scrollTop = start.top - dy;
    });
    function end() { start = null; frame.classList.remove("dragging"); }
    frame.addEventListener("pointerup", end);
    frame.addEventListener("pointerleave", end);
    frame.addEventListener("click", function (event) {
      if (moved) { event.preventDefault(); moved = false; }
    }, true);

    if (width > frame.clientWidth * 3 || height > frame.clientHeight * 3) fit();
  }

  function init() {
    var frames = document.querySelectorAll("[data-graph-frame]");
    for (var i = 0; i < frames.length; i++) setup(frames[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
