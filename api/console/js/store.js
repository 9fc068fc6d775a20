// The browser storage keys of the console contract, in one place.

const TOKEN = "ledger.token";
const PINNED = "ledger.pinnedLogKey";
const LAST = "ledger.lastCheckpoint";

/** The credential lives in sessionStorage only (gone with the tab, never in a URL). */
export const token = {
  get: () => sessionStorage.getItem(TOKEN),
  set: (t) => sessionStorage.setItem(TOKEN, t),
  clear: () => sessionStorage.removeItem(TOKEN),
};

/** The log verifier key the user pinned in Settings (never set automatically). */
export const pinnedKey = {
  get: () => localStorage.getItem(PINNED),
  set: (k) => localStorage.setItem(PINNED, k),
  clear: () => localStorage.removeItem(PINNED),
};

/** `{origin, size, root}` of the newest checkpoint this browser verified, or null. */
export const lastCheckpoint = {
  get() {
    const raw = localStorage.getItem(LAST);
    if (!raw) return null;
    try {
      const v = JSON.parse(raw);
      return v && typeof v === "object" ? v : null;
    } catch {
      return null;
    }
  },
  set: (v) => localStorage.setItem(LAST, JSON.stringify(v)),
  clear: () => localStorage.removeItem(LAST),
};
