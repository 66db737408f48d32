#!/usr/bin/env python3
"""check-doc-comments.py - every public symbol of a Swift module has a doc comment.

Usage: scripts/check-doc-comments.py SYMBOL_GRAPH_DIR [MODULE]

Reads the symbol graphs of MODULE (default Shmemaphore) in SYMBOL_GRAPH_DIR:
MODULE.symbols.json and MODULE@Other.symbols.json (extensions of other
modules' types), as `swift build -Xswiftc -emit-symbol-graph ...` or the DocC
plugin (scripts/check-docs.sh) writes them.  A symbol is checked when it is
public or open and declared in a source file (it has a location): members
the compiler synthesizes (`!=`, `hash(into:)`, `init(rawValue:)`, ...) have
none, and cannot carry a comment.  It is documented when it has a `///`
comment of its own, written in MODULE: a comment inherited from another
module's protocol (Swift's `description`, say) does not count.

Prints one line per undocumented symbol (file:line: kind name), then a
summary line; exits 1 if any symbol is undocumented or no graph was found.
"""

import json
import os
import sys
from urllib.parse import unquote, urlparse

CHECKED_ACCESS = {"public", "open"}
# A graph with fewer checked symbols than this was built from the wrong
# target or at the wrong access level: an empty check must not pass.
MINIMUM_SYMBOLS = 20


def graph_files(directory, module):
    names = sorted(os.listdir(directory))
    return [
        os.path.join(directory, name)
        for name in names
        if name == f"{module}.symbols.json" or (name.startswith(f"{module}@") and name.endswith(".symbols.json"))
    ]


def source_path(uri, root):
    path = unquote(urlparse(uri).path)
    try:
        relative = os.path.relpath(path, root)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def has_own_comment(symbol, module):
    comment = symbol.get("docComment")
    if not comment:
        return False
    if comment.get("module", module) != module:
        return False  # inherited from a protocol of another module
    return any(line.get("text", "").strip() for line in comment.get("lines", []))


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    directory = argv[1]
    module = argv[2] if len(argv) == 3 else "Shmemaphore"
    root = os.getcwd()
    files = graph_files(directory, module) if os.path.isdir(directory) else []
    if not files:
        print(f"FAIL: no symbol graph of {module} in {directory}")
        return 1

    checked = 0
    missing = []
    seen = set()
    for path in files:
        with open(path, encoding="utf-8") as handle:
            graph = json.load(handle)
        for symbol in graph.get("symbols", []):
            if symbol.get("accessLevel") not in CHECKED_ACCESS or "location" not in symbol:
                continue
            identifier = symbol["identifier"]["precise"]
            if identifier in seen:
                continue
            seen.add(identifier)
            checked += 1
            if has_own_comment(symbol, module):
                continue
            location = symbol["location"]
            missing.append((
                source_path(location["uri"], root),
                location["position"]["line"] + 1,
                symbol["kind"]["displayName"].lower(),
                ".".join(symbol["pathComponents"]),
            ))

    if checked < MINIMUM_SYMBOLS:
        print(f"FAIL: only {checked} public symbols of {module} in {directory}; expected at least {MINIMUM_SYMBOLS}")
        return 1
    for file, line, kind, name in sorted(missing):
        print(f"{file}:{line}: {kind} {name} has no doc comment")
    if missing:
        print(f"{len(missing)} of {checked} public symbols of {module} have no doc comment")
        return 1
    print(f"all {checked} public symbols of {module} have a doc comment")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
