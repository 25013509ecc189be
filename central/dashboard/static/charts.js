// Charts through the vendored Chart.js (window.Chart, loaded by index.html). When it is
// missing every function here does nothing and the page says so; the tables carry the data.

export const COLORS = {
  impressions: "#2b6cb0",
  discoveries: "#dd6b20",
  engagements: "#2f855a",
  interactions: "#805ad5",
  median: "#2b6cb0",
  p90: "#c53030",
  thisWeek: "#2b6cb0",
  lastWeek: "#a0aec0",
};

const charts = new Map();

export function available() {
  return typeof window.Chart === "function";
}

function base(yTitle, integerTicks = true) {
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    plugins: {
      legend: { position: "bottom", labels: { boxWidth: 14, font: { size: 13 } } },
    },
    scales: {
      x: {
        grid: { display: false },
        ticks: { font: { size: 12 }, maxRotation: 0, autoSkip: true },
      },
      y: {
        beginAtZero: true,
        title: { display: Boolean(yTitle), text: yTitle, font: { size: 12 } },
        ticks: integerTicks ? { precision: 0, font: { size: 12 } } : { font: { size: 12 } },
      },
    },
  };
}

/** Draw (or redraw) the chart on canvas ``id``. */
function draw(id, config) {
  if (!available()) return;
  const canvas = document.getElementById(id);
  const old = charts.get(id);
  if (old) old.destroy();
  charts.set(id, new window.Chart(canvas, config));
}

export function clearAll() {
  for (const chart of charts.values()) chart.destroy();
  charts.clear();
}

/** series: [{label, key, color}], rows: objects holding row[key] per label. */
export function bars(id, labels, series, rows, yTitle) {
  draw(id, {
    type: "bar",
    data: {
      labels,
      datasets: series.map((s) => ({
        label: s.label,
        data: rows.map((r) => r[s.key]),
        backgroundColor: s.color,
        borderWidth: 0,
        borderRadius: 2,
      })),
    },
    options: base(yTitle),
  });
}

export function lines(id, labels, series, rows, yTitle, integerTicks = true) {
  draw(id, {
    type: "line",
    data: {
      labels,
      datasets: series.map((s) => ({
        label: s.label,
        data: rows.map((r) => r[s.key]),
        borderColor: s.color,
        backgroundColor: s.color,
        borderWidth: 2,
        pointRadius: 3,
        tension: 0,
        spanGaps: false,
      })),
    },
    options: base(yTitle, integerTicks),
  });
}
