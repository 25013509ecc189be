// Numbers, durations and days as people read them (the browser's locale).

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal1 = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});
const percent1 = new Intl.NumberFormat(undefined, {
  style: "percent",
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});
const signedPercent1 = new Intl.NumberFormat(undefined, {
  style: "percent",
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
  signDisplay: "exceptZero",
});

export const DASH = "\u2014";

export function count(n) {
  return n === null || n === undefined ? DASH : integer.format(n);
}

export function fps(n) {
  return n === null || n === undefined ? DASH : decimal1.format(n);
}

/** A rate in 0..1 as a percentage; null (no impressions) as a dash. */
export function rate(r) {
  return r === null || r === undefined ? DASH : percent1.format(r);
}

/** Change from ``before`` to ``now`` as "+12.5%"; "new" from nothing, a dash for 0 -> 0. */
export function change(now, before) {
  if (!before) return now ? "new" : DASH;
  return signedPercent1.format((now - before) / before);
}

/** Seconds as "45 s", "3 min 05 s", "1 h 02 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export function hourLabel(hr, min = 0) {
  return `${String(hr).padStart(2, "0")}:${String(min).padStart(2, "0")}`;
}

// -- days as yyyy-MM-dd strings (calendar arithmetic in UTC, so no DST surprises) ----------

export function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

export function daysBetween(from, to) {
  const out = [];
  for (let d = from; d <= to && out.length < 3700; d = addDays(d, 1)) out.push(d);
  return out;
}

const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", timeZone: "UTC" });
const dayFmt = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  day: "numeric",
  month: "short",
  year: "numeric",
  timeZone: "UTC",
});
const shortDayFmt = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  timeZone: "UTC",
});

function asDate(day) {
  return new Date(`${day}T00:00:00Z`);
}

export function weekday(day) {
  return weekdayFmt.format(asDate(day));
}

/** "Wed, Jan 1, 2020" in the browser's locale. */
export function longDay(day) {
  return dayFmt.format(asDate(day));
}

export function shortDay(day) {
  return shortDayFmt.format(asDate(day));
}

/** The local calendar day (yyyy-MM-dd) of an instant in an IANA time zone. */
export function dayIn(instant, timeZone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(instant);
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

const stampFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** An ISO instant as local date and time, in ``timeZone`` when given. */
export function stamp(iso, timeZone = undefined) {
  if (!iso) return DASH;
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso);
  if (!timeZone) return stampFmt.format(when);
  return new Intl.DateTimeFormat(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
    timeZone,
  }).format(when);
}

/** "3 minutes ago" from an ISO instant and the current time. */
export function ago(iso, now = Date.now()) {
  if (!iso) return "never";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return String(iso);
  const s = Math.round((t - now) / 1000);
  const abs = Math.abs(s);
  if (abs < 60) return relative.format(s, "second");
  if (abs < 3600) return relative.format(Math.round(s / 60), "minute");
  if (abs < 86400) return relative.format(Math.round(s / 3600), "hour");
  return relative.format(Math.round(s / 86400), "day");
}
