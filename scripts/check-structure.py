#!/usr/bin/env python3
"""Structure checks that .ci/run enforces; prints every finding and exits 1 if any.

1. No import cycle between the top-level modules of the server crate (`api/src`):
   an edge a -> b for every `crate::b` path written in module a.
2. Only the HTTP and gRPC edges import axum or tonic: `api/src/http/`, `api/src/grpc.rs`,
   and `api/src/error.rs` (their shared answer type).
3. No function over 80 lines (from its `fn` line to its closing brace) in the server
   crate, the index crate, the verifier and the agent, except those named in
   `scripts/structure-exceptions.txt` with a reason.
4. No known blocking storage call (RocksDB log reads and synced writes, SQLite, the
   stores built on them) written directly in an `async fn` of the server crate: it must
   sit inside a closure passed to `blocking(...)` (or a module's `off_worker(...)`
   wrapper of it).

Usage: scripts/check-structure.py [REPO_ROOT]
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
SERVER = os.path.join(ROOT, "api", "src")
LONG_FN_CRATES = ["api/src", "ledger/index/src", "verifier/src", "appliance/src"]
EDGE_FILES = ("http/", "grpc.rs", "error.rs")
MAX_LINES = 80

# Methods that block on disk: the log's reads and synced writes, SQLite, and the stores
# and index built on them. Called from async code they stall a worker thread.
RECEIVERS = r"(?:log|store\(\)|index|auth|checkins|state_db|db|conn\(\)|conn|anchoring)"
BLOCKING = [
    RECEIVERS + r"\.(?:entry|entries|hash_tile|entry_bundle|checkpoint|consistency_proof|"
    r"inclusion_proof|inclusion_prover|root_at|put_anchor|anchors|anchor|find_leaf|lookup_leaves|"
    r"close|backup_to|catch_up|indexed_size|search_records|search_incidents|incident|"
    r"daily_status|pattern_stats|site_chains|site_keys|chain_alarms|chain_range|find_by_hash|"
    r"execute|execute_batch|query_row|prepare|prepare_cached|record|site|"
    r"issue_enrolment_token|consume_enrolment_token|release_enrolment_token|"
    r"issue_appliance_credential|issue_read_token|revoke_appliance_credentials)\(",
    r"Connection::open", r"std::fs::", r"\.output\(\)", r"\.sync_all\(",
]
BLOCKING_RE = re.compile("|".join(BLOCKING))
# `off_worker` is the name of the domain modules' thin wrappers around `blocking`.
SHELTER_RE = re.compile(r"\b(blocking|spawn_blocking|off_worker)\s*\(")


def rust_files(rel):
    base = os.path.join(ROOT, rel)
    for dp, _, fs in os.walk(base):
        for f in sorted(fs):
            if f.endswith(".rs"):
                yield os.path.join(dp, f)


def strip_comments_and_strings(text):
    """Blanks comments and string/char literals (keeping newlines) so braces and calls
    inside them do not count."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not text[i - 1].isalnum()):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:end])); i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('"' + re.sub(r"[^\n]", " ", text[i + 1:j]) + '"'); i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'\n])'", text[i:i + 4] + " "):
            m = re.match(r"'(\\.[^']*|[^\\'\n])'", text[i:])
            k = len(m.group(0)) if m else 1
            out.append(" " * k); i += k
        else:
            out.append(c); i += 1
    return "".join(out)


def functions(text):
    """(name, first line, last line, is_async, body text) of every fn with a body."""
    clean = strip_comments_and_strings(text)
    lines = clean.split("\n")
    pat = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)")
    for i, line in enumerate(lines):
        m = pat.match(line)
        if not m:
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            depth += lines[j].count("{") - lines[j].count("}")
            started = started or "{" in lines[j]
            if ";" in lines[j] and not started:
                break
            if started and depth <= 0:
                yield m.group(6), i + 1, j + 1, bool(m.group(4)), "\n".join(lines[i:j + 1])
                break
            j += 1


def check_cycles(findings):
    mods = {}
    for path in rust_files("api/src"):
        rel = os.path.relpath(path, SERVER)[:-3].split(os.sep)
        if rel[0] == "bin" or rel[-1] in ("main",):
            continue
        top = rel[0] if rel[0] not in ("lib",) else None
        if top:
            mods.setdefault(top, set())
            text = strip_comments_and_strings(open(path).read())
            for t in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text):
                if t != top:
                    mods[top].add(t)
    seen, cycles = set(), []

    def dfs(node, stack):
        seen.add(node); stack.append(node)
        for nxt in sorted(mods.get(node, ())):
            if nxt in stack:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in seen and nxt in mods:
                dfs(nxt, stack)
        stack.pop()

    for m in sorted(mods):
        if m not in seen:
            dfs(m, [])
    for c in cycles:
        findings.append("import cycle in the server crate: " + " -> ".join(c))


def check_edges(findings):
    for path in rust_files("api/src"):
        rel = os.path.relpath(path, SERVER).replace(os.sep, "/")
        if rel.startswith(EDGE_FILES) or rel.startswith("bin/"):
            continue
        text = strip_comments_and_strings(open(path).read())
        for m in re.finditer(r"\b(axum|tonic)::", text):
            line = text[:m.start()].count("\n") + 1
            findings.append(f"api/src/{rel}:{line}: {m.group(1)} outside the HTTP/gRPC edges")
            break


def allowed_long():
    path = os.path.join(ROOT, "scripts", "structure-exceptions.txt")
    names = set()
    if os.path.exists(path):
        for line in open(path):
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(line.split()[0])
    return names


def check_long(findings):
    allow = allowed_long()
    for crate in LONG_FN_CRATES:
        for path in rust_files(crate):
            for name, first, last, _, _ in functions(open(path).read()):
                n = last - first + 1
                key = f"{os.path.relpath(path, ROOT)}::{name}"
                if n > MAX_LINES and key not in allow:
                    findings.append(f"{os.path.relpath(path, ROOT)}:{first}: fn {name} has {n} lines (over {MAX_LINES})")


def unsheltered(body):
    """Blocking calls in `body` outside any `blocking(...)`/`spawn_blocking(...)` call."""
    spans = []
    for m in SHELTER_RE.finditer(body):
        depth, j = 0, m.end() - 1
        while j < len(body):
            depth += {"(": 1, ")": -1}.get(body[j], 0)
            if depth == 0:
                break
            j += 1
        spans.append((m.start(), j))
    for m in BLOCKING_RE.finditer(body):
        if not any(a <= m.start() <= b for a, b in spans):
            yield m.group(0), body[:m.start()].count("\n")


def check_blocking(findings):
    for path in rust_files("api/src"):
        rel = os.path.relpath(path, ROOT)
        text = open(path).read()
        for name, first, _, is_async, body in functions(text):
            if not is_async:
                continue
            for call, offset in unsheltered(body):
                findings.append(f"{rel}:{first + offset}: `{call}` in async fn {name} outside blocking(...)")


def main():
    findings = []
    check_cycles(findings)
    check_edges(findings)
    check_long(findings)
    check_blocking(findings)
    for f in findings:
        print(f)
    if findings:
        print(f"{len(findings)} structure finding(s)", file=sys.stderr)
        return 1
    print("structure: no import cycle, axum/tonic only at the edges, no fn over 80 lines, "
          "no blocking storage call in async code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
