// Everything the console verifies itself instead of trusting the server, with WebCrypto
// only (SHA-256 and Ed25519):
// - C2SP signed-note verifier keys and notes (https://c2sp.org/signed-note),
// - C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint),
// - C2SP tlog-proof receipts (https://c2sp.org/tlog-proof),
// - RFC 9162 §2.1.3.2 inclusion and §2.1.4.2 consistency verification
//   (leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right)).
// Parsers are strict: a malformed input is refused, never half-read. Tree sizes and
// indexes are BigInt so that no size above 2^53 is silently rounded.

const enc = new TextEncoder();

/** A check that did not hold; `failure` names which one (the console contract's names). */
export class VerifyError extends Error {
  constructor(failure, message) {
    super(message);
    this.failure = failure;
  }
}

/** WebCrypto's SubtleCrypto, or a clear error where the page is not a secure context. */
export function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) {
    throw new VerifyError(
      "no_webcrypto",
      "WebCrypto (crypto.subtle) is not available: browsers offer it only in secure " +
        "contexts (https://, http://localhost, http://127.0.0.1). Open the console " +
        "through one of those to verify anything.",
    );
  }
  return s;
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Lowercase or uppercase hex to bytes; null when it is not hex of whole bytes. */
export function fromHex(text) {
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

export function toBase64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** RFC 4648 §4 base64 with padding, canonical only (re-encoding gives the same text); null otherwise. */
export function fromBase64(text) {
  if (typeof text !== "string" || text.length % 4 !== 0) return null;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  let raw;
  try {
    raw = atob(text);
  } catch {
    return null;
  }
  const out = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  return toBase64(out) === text ? out : null;
}

// ---- Merkle tree (RFC 9162 §2.1) ----

/** SHA-256(0x00 || entry), RFC 9162 §2.1.1. */
export function leafHash(entry) {
  return sha256(concat(Uint8Array.of(0), entry));
}

/** SHA-256(0x01 || left || right), RFC 9162 §2.1.1. */
export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

const odd = (n) => (n & 1n) === 1n;

function checkHashes(hashes, what) {
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== 32) {
      throw new VerifyError("inclusion_proof", `${what}: a proof hash is not 32 bytes`);
    }
  }
}

/**
 * The root an inclusion proof leads to (RFC 9162 §2.1.3.2); throws when the proof has
 * too many or too few hashes for the index and size.
 */
export async function rootFromInclusionProof(index, size, leaf, proof) {
  index = BigInt(index);
  size = BigInt(size);
  checkHashes(proof, "inclusion proof");
  if (index < 0n || index >= size) {
    throw new VerifyError("inclusion_proof", `index ${index} is not below the tree size ${size}`);
  }
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) {
      throw new VerifyError("inclusion_proof", "the inclusion proof has more hashes than the path needs");
    }
    if (odd(fn) || fn === sn) {
      r = await nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) {
    throw new VerifyError("inclusion_proof", "the inclusion proof has fewer hashes than the path needs");
  }
  return r;
}

/** Verifies that `leaf` is at `index` of the tree of `size` with `root`; throws VerifyError. */
export async function verifyInclusion(index, size, leaf, proof, root) {
  checkHashes([leaf, root], "leaf or root");
  const got = await rootFromInclusionProof(index, size, leaf, proof);
  if (!equalBytes(got, root)) {
    throw new VerifyError(
      "inclusion_proof",
      `the audit path leads to root ${toBase64(got)}, the checkpoint's root is ${toBase64(root)}`,
    );
  }
}

/**
 * RFC 9162 §2.1.4.2: verifies that the tree of size `size2` with `root2` extends the one
 * of `size1` with `root1`. Refuses size 0 (nothing to prove) and extra or missing hashes.
 */
export async function verifyConsistency(size1, size2, root1, root2, proof) {
  size1 = BigInt(size1);
  size2 = BigInt(size2);
  const fail = (why) => {
    throw new VerifyError("consistency_proof", why);
  };
  if (size1 <= 0n) fail("a consistency proof from an empty tree proves nothing");
  if (size2 < size1) fail(`size ${size2} is smaller than ${size1}`);
  if (size1 === size2) {
    if (proof.length !== 0) fail("a proof between equal sizes must be empty");
    if (!equalBytes(root1, root2)) fail("equal sizes with different roots");
    return;
  }
  for (const h of [root1, root2, ...proof]) {
    if (!(h instanceof Uint8Array) || h.length !== 32) fail("a hash of the proof or a root is not 32 bytes");
  }
  if (proof.length === 0) fail("the consistency proof is empty");
  let path = proof;
  if ((size1 & (size1 - 1n)) === 0n) path = [root1, ...proof];
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while (odd(fn)) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) fail("the consistency proof has more hashes than needed");
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (!odd(fn) && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail("the consistency proof has fewer hashes than needed");
  if (!equalBytes(fr, root1)) fail("the proof does not lead to the older root");
  if (!equalBytes(sr, root2)) fail("the proof does not lead to the newer root");
}

/** `/proof/consistency` text: one base64 hash per line. */
export function parseHashLines(text) {
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l, i) => {
    const h = fromBase64(l.trim());
    if (!h || h.length !== 32) throw new VerifyError("consistency_proof", `line ${i + 1} of the proof is not a base64 SHA-256 hash`);
    return h;
  });
}

// ---- Signed notes and verifier keys (C2SP signed-note) ----

const keyNameOk = (name) => name.length > 0 && !/[\s+\u0000-\u001f]/u.test(name);

/** Key id: first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key). */
export async function noteKeyId(name, pub) {
  return (await sha256(concat(enc.encode(name), Uint8Array.of(0x0a, 0x01), pub))).slice(0, 4);
}

/** Parses `name+hex8+base64(0x01||pub32)` and checks that the key id matches the key. */
export async function parseVerifierKey(text) {
  const bad = (why) => {
    throw new VerifyError("log_key", `not a log verifier key: ${why}`);
  };
  text = String(text).trim();
  // The base64 key may itself contain "+": split at the first two only.
  const m = /^([^+]*)\+([^+]*)\+(.*)$/s.exec(text);
  if (!m) bad("expected name+keyid+key");
  const [, name, idHex, keyB64] = m;
  if (!keyNameOk(name)) bad("the name is empty or has spaces or control characters");
  if (!/^[0-9a-f]{8}$/.test(idHex)) bad("the key id is not 8 lowercase hex digits");
  const key = fromBase64(keyB64);
  if (!key || key.length !== 33) bad("the key is not base64 of 33 bytes");
  if (key[0] !== 0x01) bad("the key type is not Ed25519 (0x01)");
  const pub = key.slice(1);
  const id = await noteKeyId(name, pub);
  if (toHex(id) !== idHex) bad(`the key id ${idHex} does not match the key (${toHex(id)})`);
  return { name, keyId: id, keyIdHex: idHex, publicKey: pub, text };
}

/**
 * Splits a signed note into its text (with its final newline) and signature lines
 * `— <name> <base64(keyid4 || signature)>`, as Go's sumdb/note does: the signature
 * block follows the last blank line. Throws on anything malformed.
 */
export function parseNote(note) {
  const bad = (why) => {
    throw new VerifyError("note_malformed", `malformed signed note: ${why}`);
  };
  if (typeof note !== "string") bad("not text");
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/u.test(note) || note.includes("\ufffd")) {
    bad("control characters or invalid UTF-8");
  }
  const split = note.lastIndexOf("\n\n");
  if (split < 0) bad("no blank line before the signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block.endsWith("\n")) bad("the signature block does not end with a newline");
  const signatures = block
    .slice(0, -1)
    .split("\n")
    .map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/u.exec(line);
      if (!m || !keyNameOk(m[1])) bad(`not a signature line: ${JSON.stringify(line)}`);
      const raw = fromBase64(m[2]);
      if (!raw || raw.length < 5) bad(`signature of ${m[1]} is not base64 of a key id and signature`);
      return { name: m[1], keyId: raw.slice(0, 4), signature: raw.slice(4) };
    });
  if (signatures.length === 0) bad("no signatures");
  return { text, signatures };
}

/** Ed25519 verification with WebCrypto; false for a signature of the wrong length. */
export async function ed25519Verify(pub, signature, message) {
  if (signature.length !== 64) return false;
  const s = subtle();
  let key;
  try {
    key = await s.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
  } catch (e) {
    throw new VerifyError("no_webcrypto", `this browser cannot import an Ed25519 key: ${e.message}`);
  }
  return s.verify({ name: "Ed25519" }, key, signature, message);
}

/**
 * Verifies a note against one verifier key: signatures by other keys (witness
 * cosignatures) are ignored; one valid signature by `key` is required.
 */
export async function verifyNote(noteText, key) {
  const note = parseNote(noteText);
  const mine = note.signatures.filter((s) => s.name === key.name && equalBytes(s.keyId, key.keyId));
  if (mine.length === 0) {
    throw new VerifyError("checkpoint_signature", `the note carries no signature by ${key.name}+${key.keyIdHex}`);
  }
  const message = enc.encode(note.text);
  for (const s of mine) {
    if (await ed25519Verify(key.publicKey, s.signature, message)) return note;
  }
  throw new VerifyError("checkpoint_signature", `the signature by ${key.name}+${key.keyIdHex} does not verify`);
}

// ---- Checkpoints (C2SP tlog-checkpoint) ----

/** Parses checkpoint text: origin, decimal size, base64 root, extension lines. */
export function parseCheckpointText(text) {
  const bad = (why) => {
    throw new VerifyError("checkpoint_malformed", `malformed checkpoint: ${why}`);
  };
  if (!text.endsWith("\n")) bad("does not end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) bad("fewer than three lines");
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === "") bad("empty origin");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) bad(`tree size ${JSON.stringify(sizeText)} is not a decimal`);
  const size = BigInt(sizeText);
  if (size >= 1n << 64n) bad("tree size beyond 64 bits");
  const root = fromBase64(rootText);
  if (!root || root.length !== 32) bad("root hash is not base64 of 32 bytes");
  if (extensions.some((e) => e === "")) bad("empty extension line");
  return { origin, size, root, rootB64: rootText, extensions };
}

/**
 * Verifies a signed checkpoint against the pinned key: its origin must be the key's
 * name, then one valid signature. Failures are `checkpoint_origin`/`checkpoint_signature`.
 */
export async function verifyCheckpoint(noteText, key) {
  const note = parseNote(noteText);
  const cp = parseCheckpointText(note.text);
  if (cp.origin !== key.name) {
    throw new VerifyError("checkpoint_origin", `the checkpoint's origin ${JSON.stringify(cp.origin)} is not the pinned key's name ${JSON.stringify(key.name)}`);
  }
  await verifyNote(noteText, key);
  return { ...cp, note: noteText, cosignatures: note.signatures.filter((s) => s.name !== key.name).length };
}

// ---- Receipts (C2SP tlog-proof) ----

/** Parses a tlog-proof receipt: header, optional extra, index, audit path, blank line, checkpoint. */
export function parseReceipt(text) {
  const bad = (why) => {
    throw new VerifyError("receipt_malformed", `malformed receipt: ${why}`);
  };
  if (typeof text !== "string") bad("not text");
  const blank = text.indexOf("\n\n");
  if (blank < 0) bad("no blank line before the checkpoint");
  const head = text.slice(0, blank).split("\n");
  const checkpoint = text.slice(blank + 2);
  if (head[0] !== "c2sp.org/tlog-proof@v1") bad("the first line is not c2sp.org/tlog-proof@v1");
  let at = 1;
  let extra = null;
  if (head[at] && head[at].startsWith("extra ")) {
    extra = fromBase64(head[at].slice(6));
    if (!extra || extra.length === 0) bad("the extra line is not non-empty base64");
    at++;
  }
  const m = /^index (0|[1-9][0-9]*)$/.exec(head[at] || "");
  if (!m) bad("no index line");
  const index = BigInt(m[1]);
  const proof = head.slice(at + 1).map((line, i) => {
    const h = fromBase64(line);
    if (!h || h.length !== 32) bad(`audit path line ${i + 1} is not a base64 SHA-256 hash`);
    return h;
  });
  if (checkpoint === "") bad("no checkpoint");
  return { index, proof, checkpoint, extra };
}

// ---- The record view's checks, in the contract's order ----

/**
 * Verifies one record: receipt parse (and that it names `index`), checkpoint origin,
 * signature by the pinned key, SHA-256(record bytes) = the hash in the route, and
 * inclusion of SHA-256(0x00 || record bytes) at the index. Returns every check as
 * `{label, ok, detail}` (checks after the first failure are `ok: null`, not run) and
 * `failure`, the name of the failed check or null.
 */
export async function verifyRecord({ index, hashHex, receiptText, recordBytes, key, fetchError }) {
  const checks = [
    { id: "receipt_malformed", label: `Receipt parses and is for index ${index}` },
    { id: "checkpoint_origin", label: "Checkpoint origin is the pinned log's name" },
    { id: "checkpoint_signature", label: "Checkpoint signed by the pinned log key (Ed25519)" },
    { id: "record_hash", label: "SHA-256 of the record bytes equals the record hash" },
    { id: "inclusion_proof", label: "Audit path from the leaf reaches the checkpoint root" },
  ];
  const done = (i, detail) => {
    checks[i].ok = true;
    checks[i].detail = detail;
  };
  let step = 0;
  try {
    if (receiptText == null) throw new VerifyError("receipt_malformed", fetchError?.receipt || "no receipt");
    const receipt = parseReceipt(receiptText);
    if (receipt.index !== BigInt(index)) {
      throw new VerifyError("receipt_malformed", `the receipt is for index ${receipt.index}, not ${index}`);
    }
    const cp = parseCheckpointText(parseNote(receipt.checkpoint).text);
    done(step++, `index ${receipt.index}, ${receipt.proof.length} audit path hashes, checkpoint of size ${cp.size}`);
    if (cp.origin !== key.name) {
      throw new VerifyError("checkpoint_origin", `origin ${JSON.stringify(cp.origin)} is not ${JSON.stringify(key.name)}`);
    }
    done(step++, cp.origin);
    await verifyNote(receipt.checkpoint, key);
    done(step++, `${key.name}+${key.keyIdHex}`);
    if (recordBytes == null) throw new VerifyError("record_hash", fetchError?.record || "the record bytes could not be fetched");
    const got = toHex(await sha256(recordBytes));
    if (got !== hashHex.toLowerCase()) {
      throw new VerifyError("record_hash", `the record bytes hash to ${got}, not ${hashHex}`);
    }
    done(step++, got);
    await verifyInclusion(receipt.index, cp.size, await leafHash(recordBytes), receipt.proof, cp.root);
    done(step++, `root ${cp.rootB64} of tree size ${cp.size}`);
    return { checks, failure: null, checkpoint: cp, receipt };
  } catch (e) {
    if (!(e instanceof VerifyError)) throw e;
    // The failed check is the one being run; a malformed note inside the receipt is
    // found at the first step, so it counts as a malformed receipt.
    const failure = checks[step].id;
    checks[step].ok = false;
    checks[step].detail = e.message;
    if (e.failure === "no_webcrypto") return { checks, failure, error: e.message };
    return { checks, failure };
  }
}

// ---- Consistency between visits ----

/**
 * Compares the server's checkpoint with the newest one this browser verified before.
 * `stored` is `{origin, size, root}` or null; `fetchProof(from, to)` answers the text
 * of `/proof/consistency`. Returns `{state, text, store}`: `store` is what to keep as
 * the new last checkpoint, or null to keep the old one (fork, rollback).
 */
export async function compareWithStored(cp, stored, fetchProof) {
  const now = { origin: cp.origin, size: Number(cp.size), root: cp.rootB64 };
  const storedSize = stored && stored.size != null ? BigInt(String(stored.size)) : 0n;
  if (!stored || storedSize === 0n || stored.origin !== cp.origin) {
    return { state: "first_visit", text: `first visit: remembered size ${cp.size}`, store: now };
  }
  const both = `stored size ${storedSize} root ${stored.root}; server size ${cp.size} root ${cp.rootB64}`;
  const oldRoot = fromBase64(String(stored.root));
  if (!oldRoot || oldRoot.length !== 32) {
    return { state: "error", text: "the stored checkpoint is unreadable; forget it in Settings", store: null };
  }
  if (cp.size < storedSize) {
    return { state: "rollback", text: `ROLLBACK: the server's tree is smaller than one seen before (${both})`, store: null };
  }
  if (cp.size === storedSize) {
    if (equalBytes(oldRoot, cp.root)) return { state: "same", text: `same tree as last visit (size ${cp.size})`, store: null };
    return { state: "fork", text: `FORK: same size, different root (${both})`, store: null };
  }
  let proof;
  try {
    proof = parseHashLines(await fetchProof(storedSize, cp.size));
    await verifyConsistency(storedSize, cp.size, oldRoot, cp.root, proof);
  } catch (e) {
    if (!(e instanceof VerifyError)) throw e;
    return { state: "fork", text: `FORK: the consistency proof does not verify: ${e.message} (${both})`, store: null };
  }
  return { state: "consistent", text: `consistent with size ${storedSize} (now ${cp.size}, ${proof.length} proof hashes)`, store: now };
}
