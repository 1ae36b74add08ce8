// Photo review: the estimated outline and the marker over the photo; drag points, add
// points on an edge (click or press on the edge, then drag), Alt-click to remove; the
// corrected area is shown before saving, computed as the server does (each vertex through
// the image->mm homography, then the shoelace formula). An outline that crosses itself
// cannot be saved (the server refuses it too). With no suggestion (or after "Draw a new
// outline") the nurse draws one: clicks place points, a drag draws a freehand loop, a click
// on the first point ends the drawing; the area shows live as soon as there are 3 points.
// Keyboard: A accept, C save the outline, R reject, N next photo. Texts shown come from
// the template (data-* attributes).
(function () {
  "use strict";
  var figure = document.getElementById("photo");
  if (!figure) { return; }
  var geometry = JSON.parse(figure.getAttribute("data-geometry"));
  var next = figure.getAttribute("data-next") || "../today";
  var svg = figure.querySelector("svg.overlay");
  var NS = "http://www.w3.org/2000/svg";
  var original = (geometry.outline || []).map(function (p) { return [p[0], p[1]]; });
  var points = original.map(function (p) { return [p[0], p[1]]; });
  var radius = Math.max(geometry.width, geometry.height) / 250;
  var field = document.getElementById("outline-field");
  var save = document.getElementById("save-outline");
  var problem = document.getElementById("outline-problem");
  var areaOut = document.getElementById("corrected-area");
  var forms = ["accept-form", "correct-form", "reject-form"].map(function (id) {
    return document.getElementById(id);
  }).filter(Boolean);
  var editable = Boolean(save);
  var drawing = editable && original.length === 0;
  var stroke = null;  // a press while drawing: a click places a point, a drag a freehand loop
  var MAX_POINTS = 500;  // the server's limit
  var dragging = -1;
  var submitting = false;

  function el(name, attrs) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function toMm(p) {
    var h = geometry.homography;
    var w = h[2][0] * p[0] + h[2][1] * p[1] + h[2][2];
    return [(h[0][0] * p[0] + h[0][1] * p[1] + h[0][2]) / w, (h[1][0] * p[0] + h[1][1] * p[1] + h[1][2]) / w];
  }

  function areaMm2(pts) {
    if (!geometry.homography || pts.length < 3) { return null; }
    var mm = pts.map(toMm), sum = 0;
    for (var i = 0; i < mm.length; i++) {
      var a = mm[i], b = mm[(i + 1) % mm.length];
      sum += a[0] * b[1] - b[0] * a[1];
    }
    return Math.abs(sum) / 2;
  }

  // Whether any two edges cross or touch (neighbours only at their shared vertex, and not
  // folding back along each other): the same rule as the server's check.
  function orient(a, b, c) { return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]); }

  function onSegment(a, b, c) {
    return Math.min(a[0], b[0]) <= c[0] && c[0] <= Math.max(a[0], b[0]) &&
      Math.min(a[1], b[1]) <= c[1] && c[1] <= Math.max(a[1], b[1]);
  }

  function touch(a, b, c, d) {
    var d1 = orient(a, b, c), d2 = orient(a, b, d), d3 = orient(c, d, a), d4 = orient(c, d, b);
    if (d1 * d2 < 0 && d3 * d4 < 0) { return true; }
    return (d1 === 0 && onSegment(a, b, c)) || (d2 === 0 && onSegment(a, b, d)) ||
      (d3 === 0 && onSegment(c, d, a)) || (d4 === 0 && onSegment(c, d, b));
  }

  function crossesItself(pts) {
    var n = pts.length;
    for (var i = 0; i < n; i++) {
      var a = pts[i], b = pts[(i + 1) % n], c = pts[(i + 2) % n];
      if (orient(a, b, c) === 0 && (b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1]) < 0) { return true; }
      for (var j = i + 2; j < n; j++) {
        if (i === 0 && j === n - 1) { continue; }
        if (touch(a, b, pts[j], pts[(j + 1) % n])) { return true; }
      }
    }
    return false;
  }

  function changed() {
    if (points.length !== original.length) { return true; }
    return points.some(function (p, i) { return p[0] !== original[i][0] || p[1] !== original[i][1]; });
  }

  function clamp(value, max) { return Math.min(max, Math.max(0, value)); }

  // The pointer in image pixels (0.1 px), kept inside the image.
  function svgPoint(event) {
    var box = svg.getBoundingClientRect();
    return [
      clamp(Math.round((event.clientX - box.left) / box.width * geometry.width * 10) / 10, geometry.width),
      clamp(Math.round((event.clientY - box.top) / box.height * geometry.height * 10) / 10, geometry.height)
    ];
  }

  function startDrag(index, event) {
    dragging = index;
    svg.setPointerCapture(event.pointerId);
  }

  function draw() {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    if (geometry.marker) {
      svg.appendChild(el("polygon", {"class": "marker", points: geometry.marker.map(String).join(" ")}));
    }
    if (!points.length) { return; }
    var list = points.map(String).join(" ");
    svg.appendChild(el(drawing && points.length < 3 ? "polyline" : "polygon", {"class": "outline", points: list}));
    if (editable && !drawing) {
      // A wide transparent stroke along the edge takes the clicks that add a point.
      var edge = el("polygon", {"class": "edge", points: list});
      edge.addEventListener("pointerdown", addPoint);
      svg.appendChild(edge);
    }
    points.forEach(function (p, i) {
      var handle = el("circle", {"class": "handle", cx: p[0], cy: p[1], r: radius, "data-index": i});
      if (editable) {
        handle.addEventListener("pointerdown", function (event) {
          if (event.button !== 0 || submitting) { return; }
          event.preventDefault();
          event.stopPropagation();
          if (drawing) {
            if (i === 0 && points.length >= 3) { drawing = false; update(); }  // the loop is closed
            return;
          }
          if (event.altKey) {
            if (points.length > 3) { points.splice(i, 1); update(); }
            return;
          }
          startDrag(i, event);
        });
      }
      svg.appendChild(handle);
    });
  }

  function addPoint(event) {
    if (event.button !== 0 || submitting) { return; }
    event.preventDefault();
    // Insert the new point into the edge nearest the click; keep dragging it.
    var p = svgPoint(event), best = 0, bestDistance = Infinity;
    for (var i = 0; i < points.length; i++) {
      var a = points[i], b = points[(i + 1) % points.length];
      var dx = b[0] - a[0], dy = b[1] - a[1];
      var t = Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy || 1)));
      var ex = a[0] + t * dx - p[0], ey = a[1] + t * dy - p[1], d = ex * ex + ey * ey;
      if (d < bestDistance) { bestDistance = d; best = i; }
    }
    points.splice(best + 1, 0, p);
    update();
    startDrag(best + 1, event);
  }

  function update() {
    draw();
    var drawHint = document.getElementById("draw-hint"), editHint = document.getElementById("edit-hint");
    if (drawHint) { drawHint.hidden = !drawing; }
    if (editHint) { editHint.hidden = drawing; }
    var edited = changed();
    var crossing = edited && crossesItself(points);
    var area = crossing ? null : areaMm2(points);
    areaOut.textContent = edited && area !== null ? area.toFixed(1) + " mm²" : areaOut.getAttribute("data-none");
    if (problem) { problem.textContent = crossing ? problem.getAttribute("data-crossing") : ""; }
    if (field) { field.value = JSON.stringify(points); }
    if (save) { save.disabled = submitting || !edited || points.length < 3 || crossing || !geometry.homography; }
  }

  function stopDrag() { dragging = -1; stroke = null; }

  function far(a, b, distance) {
    return (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) >= distance * distance;
  }

  // At most MAX_POINTS points, evenly picked along the stroke.
  function thin(pts) {
    if (pts.length <= MAX_POINTS) { return pts; }
    var step = pts.length / MAX_POINTS, kept = [];
    for (var i = 0; i < MAX_POINTS; i++) { kept.push(pts[Math.floor(i * step)]); }
    return kept;
  }

  svg.addEventListener("pointerdown", function (event) {
    if (!drawing || event.button !== 0 || submitting) { return; }
    event.preventDefault();
    stroke = {path: [svgPoint(event)], freehand: false};
    svg.setPointerCapture(event.pointerId);
  });

  svg.addEventListener("pointermove", function (event) {
    if (stroke) {
      var p = svgPoint(event), last = stroke.path[stroke.path.length - 1];
      if (!stroke.freehand && far(p, stroke.path[0], 3 * radius)) { stroke.freehand = true; }
      if (stroke.freehand && far(p, last, radius / 2)) {
        stroke.path.push(p);
        points = stroke.path.slice();
        update();
      }
      return;
    }
    if (dragging < 0) { return; }
    points[dragging] = svgPoint(event);
    update();
  });
  svg.addEventListener("pointerup", function () {
    if (stroke) {
      if (!stroke.freehand) {
        points.push(stroke.path[0]);
      } else {
        // A loop ends where it began: points back at the start would only fold the outline.
        var path = stroke.path;
        while (path.length > 3 && !far(path[path.length - 1], path[0], 2 * radius)) { path.pop(); }
        points = path.length >= 3 ? thin(path) : [];
        drawing = points.length === 0;  // a loop is a whole outline: its points can now be moved
      }
      stroke = null;
      update();
    }
    stopDrag();
  });
  svg.addEventListener("pointercancel", stopDrag);
  svg.addEventListener("lostpointercapture", function () { dragging = -1; });

  var reset = document.getElementById("reset-outline");
  if (reset) {
    reset.addEventListener("click", function () {
      points = original.map(function (p) { return [p[0], p[1]]; });
      drawing = original.length === 0;
      update();
    });
  }

  var redraw = document.getElementById("draw-outline");
  if (redraw) {
    redraw.addEventListener("click", function () {
      points = [];
      drawing = true;
      update();
    });
  }

  // One decision per page: once a form is sent, its buttons and the keys do nothing more.
  function setButtons(disabled) {
    forms.forEach(function (form) {
      Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = disabled; });
    });
  }

  forms.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (submitting) { event.preventDefault(); return; }
      submitting = true;
      stopDrag();
      setButtons(true);
    });
  });

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    submitting = false;  // back from the next page: usable again
    setButtons(false);
    update();
  });

  function send(form) {
    if (form.requestSubmit) { form.requestSubmit(); return; }  // fires "submit" above
    submitting = true;
    setButtons(true);
    form.submit();
  }

  document.addEventListener("keydown", function (event) {
    if (event.repeat || event.altKey || event.ctrlKey || event.metaKey || submitting) { return; }
    var target = event.target;
    if (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA" || target.isContentEditable) { return; }
    var key = event.key.toLowerCase();
    var accept = document.getElementById("accept-form"), reason = document.getElementById("reject-reason");
    if (key === "a" && accept) { send(accept); }
    else if (key === "c" && save && !save.disabled) { send(document.getElementById("correct-form")); }
    else if (key === "r" && reason) { reason.focus(); }
    else if (key === "n") { window.location.href = next; }
    else { return; }
    event.preventDefault();
  });

  update();
  figure.setAttribute("data-ready", "1");
}());
