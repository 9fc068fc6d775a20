// How figures are written on the page (UTC everywhere: the API's days are UTC).

export function time(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** "3 min ago" style age of a Unix-ms time. */
export function ago(ms) {
  if (ms === null || ms === undefined) return "never";
  const s = Math.round((Date.now() - Number(ms)) / 1000);
  if (s < 0) return `in ${duration(-s * 1000)}`;
  return `${duration(s * 1000)} ago`;
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return "—";
  const s = Number(ms) / 1000;
  if (s < 1) return `${Math.round(Number(ms))} ms`;
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function num(n) {
  if (n === null || n === undefined) return "—";
  return Number(n).toLocaleString("en-US");
}

export function short(hex, n = 12) {
  if (!hex) return "—";
  return hex.length > n ? `${hex.slice(0, n)}…` : hex;
}

/** Tone (CSS class) for a status word of the API. */
export function tone(word) {
  switch (word) {
    case "online":
    case "active":
    case "ok":
    case "pass":
    case "success":
    case "complete":
    case "verified":
      return "green";
    case "stale":
    case "warning":
    case "degraded":
    case "pending":
    case "escalated":
      return "amber";
    case "fail":
    case "failure":
    case "error":
    case "alarm":
    case "revoked":
    case "failed":
      return "red";
    default:
      return "grey";
  }
}
