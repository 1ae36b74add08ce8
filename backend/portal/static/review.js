// Photo review: the estimated outline and the marker over the photo; drag points, add
// points on an edge, Alt-click to remove; the corrected area is shown before saving,
// computed as the server does (each vertex through the image->mm homography, then the
// shoelace formula). Keyboard: A accept, C save the outline, R reject, N next photo.
(function () {
  "use strict";
  var figure = document.getElementById("photo");
  if (!figure) { return; }
  var geometry = JSON.parse(figure.getAttribute("data-geometry"));
  var svg = figure.querySelector("svg.overlay");
  var NS = "http://www.w3.org/2000/svg";
  var original = (geometry.outline || []).map(function (p) { return [p[0], p[1]]; });
  var points = original.map(function (p) { return [p[0], p[1]]; });
  var radius = Math.max(geometry.width, geometry.height) / 250;
  var field = document.getElementById("outline-field");
  var save = document.getElementById("save-outline");
  var areaOut = document.getElementById("corrected-area");
  var dragging = -1;

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

  function changed() {
    if (points.length !== original.length) { return true; }
    return points.some(function (p, i) { return p[0] !== original[i][0] || p[1] !== original[i][1]; });
  }

  function svgPoint(event) {
    var box = svg.getBoundingClientRect();
    return [
      Math.round((event.clientX - box.left) / box.width * geometry.width * 10) / 10,
      Math.round((event.clientY - box.top) / box.height * geometry.height * 10) / 10
    ];
  }

  function draw() {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    if (geometry.marker) {
      svg.appendChild(el("polygon", {"class": "marker", points: geometry.marker.map(String).join(" ")}));
    }
    if (points.length) {
      var outline = el("polygon", {"class": "outline", points: points.map(String).join(" ")});
      outline.addEventListener("pointerdown", addPoint);
      svg.appendChild(outline);
      points.forEach(function (p, i) {
        var handle = el("circle", {"class": "handle", cx: p[0], cy: p[1], r: radius, "data-index": i});
        handle.addEventListener("pointerdown", function (event) {
          event.preventDefault();
          event.stopPropagation();
          if (event.altKey && points.length > 3) { points.splice(i, 1); update(); return; }
          dragging = i;
          svg.setPointerCapture(event.pointerId);
        });
        svg.appendChild(handle);
      });
    }
  }

  function addPoint(event) {
    // Insert the new point into the edge nearest the click.
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
  }

  function update() {
    draw();
    var area = areaMm2(points);
    areaOut.textContent = changed() && area !== null ? area.toFixed(1) + " mm²" : "—";
    field.value = JSON.stringify(points);
    if (save) { save.disabled = !changed() || !geometry.homography; }
  }

  svg.addEventListener("pointermove", function (event) {
    if (dragging < 0) { return; }
    points[dragging] = svgPoint(event);
    update();
  });
  svg.addEventListener("pointerup", function () { dragging = -1; });
  var reset = document.getElementById("reset-outline");
  if (reset) {
    reset.addEventListener("click", function () {
      points = original.map(function (p) { return [p[0], p[1]]; });
      update();
    });
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target.tagName;
    if (target === "INPUT" || target === "SELECT" || target === "TEXTAREA" || event.ctrlKey || event.metaKey) { return; }
    var key = event.key.toLowerCase();
    if (key === "a" && document.getElementById("accept-form")) { document.getElementById("accept-form").submit(); }
    else if (key === "c" && save && !save.disabled) { document.getElementById("correct-form").submit(); }
    else if (key === "r" && document.getElementById("reject-form")) { document.getElementById("reject-reason").focus(); }
    else if (key === "n") { window.location.href = "../today"; }
  });

  update();
}());
