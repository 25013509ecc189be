// Exteros zone editor: draw zones and product areas on a camera snapshot, save them
// into the edge YAML. Coordinates are kept relative (0..1 of width and height), as
// in the config; the canvas only scales them for display.
"use strict";

const $ = (id) => document.getElementById(id);
const SLUG = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const THRESHOLDS = ["confirm_s", "discovery_s", "engagement_s", "exit_grace_s", "interaction_s"];
const HIT_PX = 9; // how close a click must be to a point to grab or close on it

const canvas = $("canvas");
const ctx = canvas.getContext("2d");
let S = null; // state from the server
let cams = []; // per camera: server info + the zones being edited
let cur = 0; // index of the shown camera
let sel = null; // {zone, area}: area is null when the zone itself is selected
let draw = null; // {kind: "zone"|"area", zone, points}
let drag = null; // {zone, area, idx, before}
let hover = null; // last pointer position, relative
let img = null;
let dirty = false;

// ---------------------------------------------------------------- geometry
function cross(o, a, b) {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}
function onSegment(p, q, r) {
  return Math.min(p[0], r[0]) <= q[0] && q[0] <= Math.max(p[0], r[0]) &&
    Math.min(p[1], r[1]) <= q[1] && q[1] <= Math.max(p[1], r[1]);
}
function segmentsTouch(a, b, c, d) {
  const d1 = cross(c, d, a), d2 = cross(c, d, b), d3 = cross(a, b, c), d4 = cross(a, b, d);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  const eps = 1e-12;
  return (Math.abs(d1) < eps && onSegment(c, a, d)) || (Math.abs(d2) < eps && onSegment(c, b, d)) ||
    (Math.abs(d3) < eps && onSegment(a, c, b)) || (Math.abs(d4) < eps && onSegment(a, d, b));
}
function signedArea(pts) {
  let s = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x1, y1] = pts[i], [x2, y2] = pts[(i + 1) % pts.length];
    s += x1 * y2 - x2 * y1;
  }
  return s / 2;
}
// The same rules (and words) as edge.geometry.validate_relative_polygon.
function polygonProblem(pts) {
  const distinct = new Set(pts.map((p) => p[0].toFixed(6) + "," + p[1].toFixed(6)));
  if (distinct.size < 3) return `needs at least 3 points, got ${distinct.size} distinct`;
  if (Math.abs(signedArea(pts)) < 1e-12) return "has no area (all points on one line)";
  const n = pts.length;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (j === i + 1 || (i === 0 && j === n - 1)) continue; // neighbours share a point
      if (segmentsTouch(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n])) {
        return `is self-intersecting (edge ${i + 1} crosses edge ${j + 1})`;
      }
    }
  }
  return null;
}
function pointInPolygon(p, pts) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i], [xj, yj] = pts[j];
    if ((yi > p[1]) !== (yj > p[1]) && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
// Image (relative) -> floor (m) homography from the 4 ground plane points: 8 unknowns,
// solved by Gaussian elimination; null when the points are degenerate or incomplete.
function homographyOf(gp) {
  if (!gp) return null;
  const A = [];
  for (let k = 0; k < 4; k++) {
    const [x, y] = gp.image[k], [X, Y] = gp.floor_m[k];
    if (![x, y, X, Y].every((v) => typeof v === "number" && isFinite(v))) return null;
    A.push([x, y, 1, 0, 0, 0, -x * X, -y * X, X]);
    A.push([0, 0, 0, x, y, 1, -x * Y, -y * Y, Y]);
  }
  for (let c = 0; c < 8; c++) {
    let piv = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(A[r][c]) > Math.abs(A[piv][c])) piv = r;
    if (Math.abs(A[piv][c]) < 1e-10) return null;
    [A[c], A[piv]] = [A[piv], A[c]];
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const f = A[r][c] / A[c][c];
      for (let k = c; k < 9; k++) A[r][k] -= f * A[c][k];
    }
  }
  const h = A.map((row, i) => row[8] / row[i]);
  return [[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], 1]];
}
function threeOnALine(pts) {
  for (let i = 0; i < 4; i++) {
    const [a, b, c] = pts.filter((_, j) => j !== i);
    if (Math.abs(cross(a, b, c)) < 1e-9) return true;
  }
  return false;
}
function areaM2(pts, H) {
  if (!H) return null;
  const floor = pts.map(([x, y]) => {
    const w = H[2][0] * x + H[2][1] * y + H[2][2];
    return [(H[0][0] * x + H[0][1] * y + H[0][2]) / w, (H[1][0] * x + H[1][1] * y + H[1][2]) / w];
  });
  return Math.abs(signedArea(floor));
}

// ---------------------------------------------------------------- messages
function message(kind, text, lines) {
  const box = $("message");
  box.className = kind || "";
  box.textContent = text || "";
  if (lines && lines.length) {
    const ul = document.createElement("ul");
    for (const l of lines) {
      const li = document.createElement("li");
      li.textContent = l;
      ul.appendChild(li);
    }
    box.appendChild(ul);
  }
}

// ---------------------------------------------------------------- state
function camera() { return cams[cur]; }
function zones() { return camera().zones; }
function colour(i) { return S.palette[i % S.palette.length]; }
function setDirty() { dirty = true; $("save").textContent = "Save *"; }

async function load() {
  const r = await fetch("/api/state");
  S = await r.json();
  cams = S.cameras.map((c) => ({ ...c, zones: structuredClone(c.zones) }));
  $("config-path").textContent = S.config_path;
  const selEl = $("camera");
  selEl.innerHTML = "";
  cams.forEach((c, i) => {
    const o = document.createElement("option");
    o.value = i;
    o.textContent = c.camera_id + (c.error ? " (no picture)" : "");
    selEl.appendChild(o);
  });
  selectCamera(Math.min(cur, cams.length - 1));
}

function selectCamera(i) {
  cur = i;
  sel = null;
  draw = null;
  drag = null;
  $("camera").value = i;
  const c = camera();
  $("camera-error").hidden = !c.error;
  $("camera-error").textContent = c.error ? `No picture from ${c.camera_id}: ${c.error}` : "";
  canvas.hidden = !!c.error;
  img = null;
  if (!c.error) {
    const im = new Image();
    im.onload = () => { img = im; fit(); redraw(); document.body.dataset.ready = "1"; };
    im.src = c.snapshot + "?t=" + Date.now();
  } else {
    document.body.dataset.ready = "1";
  }
  renderSide();
  updateButtons();
}

function fit() {
  const c = camera();
  if (!c.width) return;
  const maxW = $("view").clientWidth || c.width;
  const maxH = Math.max(window.innerHeight - 150, 240);
  const scale = Math.min(maxW / c.width, maxH / c.height);
  canvas.width = Math.round(c.width * scale);
  canvas.height = Math.round(c.height * scale);
}

// ---------------------------------------------------------------- drawing
function px(p) { return [p[0] * canvas.width, p[1] * canvas.height]; }
function rel(ev) {
  const r = canvas.getBoundingClientRect();
  const x = (ev.clientX - r.left) / r.width, y = (ev.clientY - r.top) / r.height;
  return [Math.min(Math.max(x, 0), 1), Math.min(Math.max(y, 0), 1)];
}
function distPx(a, b) {
  const [ax, ay] = px(a), [bx, by] = px(b);
  return Math.hypot(ax - bx, ay - by);
}
function path(pts) {
  ctx.beginPath();
  pts.forEach((p, i) => { const [x, y] = px(p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
  ctx.closePath();
}
function vertex(p, fill, r) {
  const [x, y] = px(p);
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#000";
  ctx.stroke();
}
function labelAt(text, x, y, col) {
  ctx.font = "600 13px system-ui, sans-serif";
  const w = ctx.measureText(text).width + 10;
  x = Math.max(Math.min(x, canvas.width - w), 0);
  y = Math.max(Math.min(y, canvas.height - 20), 0);
  ctx.fillStyle = "rgba(0,0,0,.65)";
  ctx.fillRect(x, y, w, 20);
  ctx.strokeStyle = col;
  ctx.lineWidth = 1;
  ctx.strokeRect(x + 0.5, y + 0.5, w - 1, 19);
  ctx.fillStyle = "#fff";
  ctx.fillText(text, x + 5, y + 14);
}

function redraw() {
  if (!img) return;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  const c = camera();
  zones().forEach((z, i) => {
    const col = colour(i);
    const isSel = sel && sel.zone === i;
    path(z.polygon);
    ctx.globalAlpha = 0.35; ctx.fillStyle = col; ctx.fill(); ctx.globalAlpha = 1;
    ctx.lineWidth = isSel && sel.area === null ? 4 : 2; ctx.strokeStyle = col; ctx.stroke();
    z.product_areas.forEach((a, j) => {
      path(a);
      ctx.globalAlpha = 0.55; ctx.fillStyle = col; ctx.fill(); ctx.globalAlpha = 1;
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = isSel && sel.area === j ? 3 : 1.5; ctx.strokeStyle = "#fff"; ctx.stroke();
      ctx.setLineDash([]);
    });
  });
  // Labels and points on top of every fill.
  zones().forEach((z, i) => {
    const col = colour(i);
    const xs = z.polygon.map((p) => px(p)[0]), ys = z.polygon.map((p) => px(p)[1]);
    const m2 = areaM2(z.polygon, homographyOf(c.ground_plane));
    const name = z.location || "(unnamed)";
    labelAt(m2 === null ? name : `${name} · ${m2.toFixed(1)} m²`, Math.min(...xs) + 4, Math.min(...ys) + 4, col);
    const all = [z.polygon, ...z.product_areas];
    all.forEach((pts) => pts.forEach((p) => vertex(p, col, sel && sel.zone === i ? 5 : 3.5)));
  });
  if (c.ground_plane) {
    path(c.ground_plane.image);
    ctx.setLineDash([2, 4]); ctx.lineWidth = 1.5; ctx.strokeStyle = "#fff"; ctx.stroke(); ctx.setLineDash([]);
    c.ground_plane.image.forEach((p, k) => {
      const [x, y] = px(p);
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(x - 6, y); ctx.lineTo(x + 6, y); ctx.moveTo(x, y - 6); ctx.lineTo(x, y + 6); ctx.stroke();
      ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#fff";
      const f = c.ground_plane.floor_m[k];
      const t = `P${k + 1} (${f[0]}, ${f[1]}) m`, tw = ctx.measureText(t).width;
      ctx.fillText(t, x + 7 + tw > canvas.width ? x - 7 - tw : x + 7, y < 14 ? y + 16 : y - 5);
    });
  }
  if (draw) {
    const col = draw.kind === "zone" ? colour(zones().length) : draw.kind === "ground" ? "#fff" : colour(draw.zone);
    ctx.beginPath();
    draw.points.forEach((p, i) => { const [x, y] = px(p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    if (hover && draw.points.length) { const [x, y] = px(hover); ctx.lineTo(x, y); }
    ctx.lineWidth = 2; ctx.strokeStyle = col; ctx.setLineDash([5, 4]); ctx.stroke(); ctx.setLineDash([]);
    draw.points.forEach((p, i) => vertex(p, i === 0 && closeable() ? "#fff" : col, i === 0 ? 7 : 4));
  }
}
function closeable() { return draw && draw.kind !== "ground" && draw.points.length >= 3 && hover && distPx(hover, draw.points[0]) <= HIT_PX; }

// ---------------------------------------------------------------- side panel
function renderSide() {
  const box = $("zones");
  box.innerHTML = "";
  const c = camera();
  if (!zones().length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "No zones yet: press New zone and click the corners on the picture.";
    box.appendChild(p);
  }
  zones().forEach((z, i) => {
    const div = document.createElement("div");
    div.className = "zone" + (sel && sel.zone === i ? " selected" : "");
    div.style.setProperty("--c", colour(i));
    div.dataset.zone = i;
    div.addEventListener("mousedown", (ev) => {
      if (ev.target.tagName === "BUTTON") return;
      if (!(sel && sel.zone === i && sel.area === null)) { sel = { zone: i, area: null }; markSelected(); }
    });
    const row = document.createElement("div");
    row.className = "row";
    const loc = document.createElement("input");
    loc.type = "text";
    loc.value = z.location;
    loc.placeholder = "location slug, e.g. store.denim-table";
    loc.dataset.field = "location";
    loc.setAttribute("aria-label", `location of zone ${i + 1}`);
    loc.className = z.location && !SLUG.test(z.location) ? "invalid" : "";
    loc.addEventListener("input", () => {
      z.location = loc.value.trim();
      loc.className = z.location && !SLUG.test(z.location) ? "invalid" : "";
      loc.title = loc.className ? "lower-case letters, digits, '.', '_', '-'; starts with a letter or digit" : "";
      setDirty();
      redraw();
    });
    const del = document.createElement("button");
    del.textContent = "Delete";
    del.className = "danger";
    del.title = "Delete this zone and its product areas";
    del.addEventListener("click", () => { zones().splice(i, 1); sel = null; setDirty(); renderSide(); redraw(); updateButtons(); });
    row.append(loc, del);
    div.appendChild(row);
    const m2 = areaM2(z.polygon, homographyOf(c.ground_plane));
    const a = document.createElement("div");
    a.className = "area-m2";
    a.textContent = m2 === null ? "" : `floor area ${m2.toFixed(2)} m²`;
    div.appendChild(a);
    const thHead = document.createElement("div");
    thHead.className = "small muted";
    thHead.textContent = "thresholds (seconds)";
    div.appendChild(thHead);
    const th = document.createElement("div");
    th.className = "thresholds";
    for (const name of THRESHOLDS) {
      const lab = document.createElement("label");
      lab.textContent = name.replace(/_s$/, "").replace("_", " ");
      lab.title = S.descriptions[name];
      const inp = document.createElement("input");
      inp.type = "number"; inp.step = "0.1"; inp.min = "0";
      inp.value = z[name];
      inp.dataset.field = name;
      inp.title = S.descriptions[name];
      inp.setAttribute("aria-label", `${name} of zone ${i + 1}`);
      inp.addEventListener("input", () => { z[name] = inp.value === "" ? null : Number(inp.value); setDirty(); });
      lab.appendChild(inp);
      th.append(lab);
    }
    div.appendChild(th);
    const areas = document.createElement("div");
    areas.className = "areas";
    z.product_areas.forEach((a, j) => {
      const r = document.createElement("div");
      r.className = "row";
      const t = document.createElement("span");
      t.textContent = `product area ${j + 1} (${a.length} points)`;
      t.style.flex = "1";
      const b = document.createElement("button");
      b.textContent = "Delete";
      b.className = "danger";
      b.addEventListener("click", () => { z.product_areas.splice(j, 1); sel = { zone: i, area: null }; setDirty(); renderSide(); redraw(); });
      r.append(t, b);
      areas.appendChild(r);
    });
    div.appendChild(areas);
    box.appendChild(div);
  });
  renderGround();
}
function renderGround() {
  const g = $("ground");
  g.innerHTML = "";
  const c = camera();
  const h = document.createElement("h2");
  h.textContent = "Ground plane";
  g.appendChild(h);
  const p = document.createElement("p");
  p.className = "small muted";
  if (!c.ground_plane) {
    p.textContent = "Optional: 4 floor points with known positions (m) give zone areas in m² and walking speed. Press Ground plane and click them.";
    g.appendChild(p);
    return;
  }
  const H = homographyOf(c.ground_plane);
  p.textContent = H ? "Floor position of each point (white crosses), in metres." :
    "These floor positions do not give a ground plane (3 on one line?).";
  p.className = H ? "small muted" : "small error";
  g.appendChild(p);
  c.ground_plane.image.forEach((pt, k) => {
    const row = document.createElement("div");
    row.className = "gp-row";
    const lab = document.createElement("span");
    lab.textContent = `P${k + 1}`;
    row.appendChild(lab);
    ["X", "Y"].forEach((axis, a) => {
      const inp = document.createElement("input");
      inp.type = "number"; inp.step = "0.1";
      inp.value = c.ground_plane.floor_m[k][a];
      inp.dataset.field = `floor-${k}-${axis}`;
      inp.setAttribute("aria-label", `floor ${axis} of ground point ${k + 1} (m)`);
      inp.addEventListener("input", () => {
        c.ground_plane.floor_m[k][a] = inp.value === "" ? null : Number(inp.value);
        setDirty();
        redraw();
        document.querySelectorAll(".area-m2").forEach((el) => {
          const z = zones()[Number(el.closest(".zone").dataset.zone)];
          const m2 = areaM2(z.polygon, homographyOf(c.ground_plane));
          el.textContent = m2 === null ? "" : `floor area ${m2.toFixed(2)} m²`;
        });
      });
      const l = document.createElement("label");
      l.textContent = axis + " ";
      l.appendChild(inp);
      row.appendChild(l);
    });
    const m = document.createElement("span");
    m.textContent = "m";
    row.appendChild(m);
    g.appendChild(row);
  });
  const rm = document.createElement("button");
  rm.textContent = "Remove ground plane";
  rm.className = "danger";
  rm.addEventListener("click", () => { c.ground_plane = null; setDirty(); renderSide(); redraw(); });
  g.appendChild(rm);
}
function markSelected() {
  document.querySelectorAll(".zone").forEach((d) => d.classList.toggle("selected", !!sel && Number(d.dataset.zone) === sel.zone));
  updateButtons();
  redraw();
}
function updateButtons() {
  const noPic = !!camera().error;
  $("new-zone").disabled = noPic || !!draw;
  $("new-area").disabled = noPic || !!draw || !sel;
  $("ground-plane").disabled = noPic || !!draw;
  $("finish").disabled = !draw;
  $("cancel").disabled = !draw;
  $("delete").disabled = !!draw || !sel;
  $("new-zone").classList.toggle("active", !!draw && draw.kind === "zone");
  $("new-area").classList.toggle("active", !!draw && draw.kind === "area");
  $("hint").textContent = draw
    ? "Click to add points; click the first point or Finish to close; Esc cancels."
    : "Drag a point to move it; double-click an edge to add a point, right-click a point to remove it.";
}

// ---------------------------------------------------------------- actions
function startDrawing(kind) {
  if (kind === "area" && !sel) { message("error", "Select the zone the product area belongs to first."); return; }
  draw = { kind, zone: kind === "area" ? sel.zone : null, points: [] };
  message("info", kind === "zone" ? "Drawing a zone: click its corners on the picture." :
    kind === "ground" ? "Ground plane: click 4 points on the floor whose floor positions you know (m)." :
    `Drawing a product area of ${zones()[sel.zone].location || "the selected zone"}.`);
  updateButtons();
  redraw();
  canvas.focus();
}
function finishDrawing() {
  if (!draw) return;
  if (draw.kind === "ground") {
    if (draw.points.length !== 4 || threeOnALine(draw.points)) {
      message("error", "Ground plane refused: it needs 4 points, no 3 of them on one line.");
      return;
    }
    const old = camera().ground_plane;
    camera().ground_plane = { image: draw.points, floor_m: old ? old.floor_m : [[0, 0], [1, 0], [1, 1], [0, 1]] };
    draw = null;
    setDirty();
    renderSide();
    updateButtons();
    redraw();
    message("ok", "Ground plane points set: type where each lies on the floor (metres) in the panel.");
    return;
  }
  const what = draw.kind === "zone" ? "Zone" : "Product area";
  const problem = polygonProblem(draw.points);
  if (problem) {
    message("error", `${what} refused: polygon ${problem}. Add or move points, or Cancel.`);
    return;
  }
  const pts = draw.points.map(([x, y]) => [x, y]);
  if (draw.kind === "zone") {
    const z = { location: "", polygon: pts, product_areas: [], ...structuredClone(S.defaults) };
    zones().push(z);
    sel = { zone: zones().length - 1, area: null };
    message("ok", "Zone added: give it a location name, then Save.");
  } else {
    zones()[draw.zone].product_areas.push(pts);
    sel = { zone: draw.zone, area: zones()[draw.zone].product_areas.length - 1 };
    message("ok", "Product area added.");
  }
  draw = null;
  setDirty();
  renderSide();
  updateButtons();
  redraw();
  if (sel.area === null) {
    const inp = document.querySelector(`.zone[data-zone="${sel.zone}"] input[data-field=location]`);
    if (inp) inp.focus();
  }
}
function cancelDrawing() { draw = null; message("", ""); updateButtons(); redraw(); }
function deleteSelected() {
  if (!sel || draw) return;
  if (sel.area !== null) zones()[sel.zone].product_areas.splice(sel.area, 1);
  else zones().splice(sel.zone, 1);
  sel = null;
  setDirty();
  renderSide();
  updateButtons();
  redraw();
}

function hitVertex(p) {
  let best = null;
  const gp = camera().ground_plane;
  if (gp) {
    gp.image.forEach((q, idx) => {
      const d = distPx(p, q);
      if (d <= HIT_PX && (!best || d < best.d)) best = { zone: null, area: "gp", idx, d };
    });
  }
  zones().forEach((z, i) => {
    const cands = [[null, z.polygon], ...z.product_areas.map((a, j) => [j, a])];
    for (const [area, pts] of cands) {
      pts.forEach((q, idx) => {
        const d = distPx(p, q);
        if (d <= HIT_PX && (!best || d < best.d)) best = { zone: i, area, idx, d };
      });
    }
  });
  return best;
}
function hitPolygon(p) {
  // Product areas first: they lie inside zones and are the smaller target.
  for (let i = zones().length - 1; i >= 0; i--) {
    const z = zones()[i];
    for (let j = 0; j < z.product_areas.length; j++) if (pointInPolygon(p, z.product_areas[j])) return { zone: i, area: j };
  }
  for (let i = zones().length - 1; i >= 0; i--) if (pointInPolygon(p, zones()[i].polygon)) return { zone: i, area: null };
  return null;
}
function pointsOf(ref) {
  if (ref.area === "gp") return camera().ground_plane.image;
  const z = zones()[ref.zone]; return ref.area === null ? z.polygon : z.product_areas[ref.area]; }

canvas.addEventListener("mousedown", (ev) => {
  if (draw || !img) return;
  const p = rel(ev);
  const v = hitVertex(p);
  if (v) {
    drag = { ...v, before: pointsOf(v).map((q) => [...q]), moved: false };
    sel = v.area === "gp" ? null : { zone: v.zone, area: v.area };
  } else {
    sel = hitPolygon(p);
  }
  markSelected();
});
canvas.addEventListener("mousemove", (ev) => {
  hover = rel(ev);
  if (drag) {
    pointsOf(drag)[drag.idx] = hover;
    drag.moved = true;
    redraw();
    return;
  }
  canvas.style.cursor = !draw && hitVertex(hover) ? "move" : "crosshair";
  if (draw) redraw();
});
window.addEventListener("mouseup", () => {
  if (!drag) return;
  const d = drag;
  drag = null;
  if (!d.moved) return;
  if (d.area === "gp") {
    if (threeOnALine(pointsOf(d))) {
      camera().ground_plane.image = d.before;
      message("error", "Move refused: 3 of the 4 ground plane points would lie on one line.");
    } else setDirty();
    renderSide();
    redraw();
    return;
  }
  const problem = polygonProblem(pointsOf(d));
  if (problem) {
    const z = zones()[d.zone];
    if (d.area === null) z.polygon = d.before; else z.product_areas[d.area] = d.before;
    message("error", `Move refused: the polygon would be ${problem.replace(/^is /, "")}.`);
  } else {
    setDirty();
    message("", "");
  }
  renderSide();
  redraw();
});
canvas.addEventListener("click", (ev) => {
  if (!draw) return;
  const p = rel(ev);
  hover = p;
  if (closeable()) { finishDrawing(); return; }
  const last = draw.points[draw.points.length - 1];
  if (last && distPx(p, last) < 3) return; // a double click: one point
  draw.points.push(p);
  if (draw.kind === "ground" && draw.points.length === 4) { finishDrawing(); return; }
  redraw();
});
function distToSegmentPx(p, a, b) {
  const [px_, py] = px(p), [ax, ay] = px(a), [bx, by] = px(b);
  const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  const t = len2 ? Math.min(Math.max(((px_ - ax) * dx + (py - ay) * dy) / len2, 0), 1) : 0;
  return Math.hypot(px_ - (ax + t * dx), py - (ay + t * dy));
}
canvas.addEventListener("dblclick", (ev) => {
  if (draw || !img) return;
  const p = rel(ev);
  let best = null;
  zones().forEach((z, i) => {
    [[null, z.polygon], ...z.product_areas.map((a, j) => [j, a])].forEach(([area, pts]) => {
      for (let k = 0; k < pts.length; k++) {
        const d = distToSegmentPx(p, pts[k], pts[(k + 1) % pts.length]);
        if (d <= HIT_PX && (!best || d < best.d)) best = { zone: i, area, k, d };
      }
    });
  });
  if (!best || hitVertex(p)) return;
  pointsOf(best).splice(best.k + 1, 0, p);
  sel = { zone: best.zone, area: best.area };
  setDirty();
  renderSide();
  markSelected();
});
canvas.addEventListener("contextmenu", (ev) => {
  if (draw || !img) return;
  const v = hitVertex(rel(ev));
  if (!v || v.area === "gp") return;
  ev.preventDefault();
  const pts = pointsOf(v);
  const problem = polygonProblem(pts.filter((_, k) => k !== v.idx));
  if (problem) { message("error", `Point not removed: the polygon ${problem}.`); return; }
  pts.splice(v.idx, 1);
  setDirty();
  renderSide();
  redraw();
});
canvas.addEventListener("mouseleave", () => { hover = null; if (draw) redraw(); });

document.addEventListener("keydown", (ev) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (ev.key === "Escape" && draw) cancelDrawing();
  else if (ev.key === "Enter" && draw) finishDrawing();
  else if ((ev.key === "Delete" || ev.key === "Backspace") && !typing) deleteSelected();
});

$("camera").addEventListener("change", (ev) => selectCamera(Number(ev.target.value)));
$("new-zone").addEventListener("click", () => startDrawing("zone"));
$("new-area").addEventListener("click", () => startDrawing("area"));
$("ground-plane").addEventListener("click", () => startDrawing("ground"));
$("finish").addEventListener("click", finishDrawing);
$("cancel").addEventListener("click", cancelDrawing);
$("delete").addEventListener("click", deleteSelected);
window.addEventListener("resize", () => { fit(); redraw(); });
window.addEventListener("beforeunload", (ev) => { if (dirty) { ev.preventDefault(); ev.returnValue = ""; } });

// ---------------------------------------------------------------- save
function problems() {
  const out = [];
  cams.forEach((c) => {
    if (c.error) return;
    const seen = new Set();
    c.zones.forEach((z, i) => {
      const where = `${c.camera_id} zone ${i + 1}${z.location ? ` (${z.location})` : ""}`;
      if (!z.location) out.push(`${where}: give it a location name`);
      else if (!SLUG.test(z.location)) out.push(`${where}: location must be a slug (lower-case letters, digits, '.', '_', '-')`);
      else if (seen.has(z.location)) out.push(`${where}: this camera has two zones for ${z.location}`);
      seen.add(z.location);
      const pp = polygonProblem(z.polygon);
      if (pp) out.push(`${where}: polygon ${pp}`);
      z.product_areas.forEach((a, j) => { const ap = polygonProblem(a); if (ap) out.push(`${where}: product area ${j + 1} ${ap}`); });
      for (const name of THRESHOLDS) if (typeof z[name] !== "number" || !isFinite(z[name])) out.push(`${where}: ${name} must be a number`);
    });
    if (!c.zones.length) out.push(`${c.camera_id}: a camera needs at least one zone`);
    if (c.ground_plane && !homographyOf(c.ground_plane)) out.push(`${c.camera_id}: the ground plane's floor positions are incomplete or 3 lie on one line`);
  });
  return out;
}
async function save() {
  if (draw) { message("error", "Finish or cancel the polygon you are drawing first."); return; }
  const bad = problems();
  if (bad.length) { message("error", "Not saved:", bad); return; }
  const body = { cameras: {} };
  for (const c of cams) {
    if (c.error) continue;
    body.cameras[c.camera_id] = {
      zones: c.zones.map((z) => {
        const out = { location: z.location, polygon: z.polygon, product_areas: z.product_areas };
        for (const name of THRESHOLDS) out[name] = z[name];
        return out;
      }),
      ground_plane: c.ground_plane,
    };
  }
  $("save").disabled = true;
  message("info", "Saving…");
  try {
    const r = await fetch("/api/save", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await r.json();
    if (!r.ok) {
      message("error", "Not saved: the config refused it:", data.error.errors || [data.error.message]);
      return;
    }
    dirty = false;
    $("save").textContent = "Save";
    S = data.state;
    cams = S.cameras.map((c) => ({ ...c, zones: structuredClone(c.zones) }));
    sel = null;
    renderSide();
    redraw();
    message("ok", `Saved ${data.path} (previous version kept as ${data.backup}).`);
  } catch (e) {
    message("error", `Not saved: ${e}`);
  } finally {
    $("save").disabled = false;
  }
}
$("save").addEventListener("click", save);

load().catch((e) => message("error", `Cannot load the editor state: ${e}`));
