#!/usr/bin/env bash
# check-abi.sh - proves the ABI discipline of the release libshmemaphore.so.
#
# Usage: scripts/check-abi.sh [--scratch-path DIR]
#
#   --scratch-path DIR   passed to `swift build` (default: the package's .build)
#
# Runs from any directory.  Prints one line per check ("ok: ..." or
# "FAIL: ..."; indented lines below a check are its details), then a final
# line "N passed, N failed".  Exits 1 if any check failed.
#
# Checks, in order:
#   1. the release product builds (relinked from scratch, so that a changed
#      version script is honoured)
#   2. the libshmemaphore.so.1 -> libshmemaphore.so symlink (the SONAME) exists
#   3. exported symbols == SHMEMAPHORE_API functions of the header == the
#      names in the version script
#   4. SONAME is libshmemaphore.so.1
#   5. no Swift runtime or Foundation among the dependencies
#   6. the header compiles standalone and warning-free as C99, C11, C++17
#   7. the Swift @c layer has not drifted from the header (see the comment
#      above check 7 for how)
#   8. runtime versions and error names agree with the header's macros, also
#      in an empty environment (no Swift toolchain on the library path)
set -euo pipefail

# ---------------------------------------------------------------------------
# Arguments and locations
# ---------------------------------------------------------------------------

usage() { sed -n '4,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

scratch=""
while [ $# -gt 0 ]; do
    case "$1" in
        --scratch-path)
            [ $# -ge 2 ] || { usage >&2; exit 2; }
            scratch=$2; shift 2 ;;
        --scratch-path=*)
            scratch=${1#--scratch-path=}; shift ;;
        -h|--help)
            usage; exit 0 ;;
        *)
            echo "check-abi: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# A relative scratch path means relative to the caller's directory, so make it
# absolute before moving to the repository root.
if [ -n "$scratch" ]; then
    case "$scratch" in /*) ;; *) scratch="$PWD/$scratch" ;; esac
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
[ -n "$scratch" ] || scratch="$root/.build"

header="$root/include/shmemaphore.h"
version_script="$root/Sources/ShmemaphoreC/shmemaphore.map"
c_layer_dir="$root/Sources/ShmemaphoreC"
library_name=libshmemaphore.so
expected_soname=libshmemaphore.so.1

swift_build=(swift build -c release --product shmemaphore --scratch-path "$scratch")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

passed=0
failed=0
ok()     { passed=$((passed + 1)); echo "ok: $*"; }
fail()   { failed=$((failed + 1)); echo "FAIL: $*"; }
skip()   { echo "skip: $*"; }            # not counted either way
detail() { sed 's/^/    /'; }            # indents a check's details (stdin)

# Prints the summary line and exits with the verdict.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && exit 0 || exit 1
}

# Joins the lines of stdin with ", ", showing at most 15 of them.
join_names() { awk '{ n++; if (n <= 15) s = s (n > 1 ? ", " : "") $0 }
                    END { if (n > 15) s = s ", ... (" n - 15 " more)"; printf "%s", s }'; }

# Items of the sorted file $1 missing from the sorted file $2, joined.
only_in() { comm -23 "$1" "$2" | join_names; }

# Prints a C-like file with /* */ and // comments removed; the second variant
# also removes # comments, which linker version scripts allow.
strip_comments() { perl -0777 -pe 's{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g' "$1"; }
strip_hash_comments() { strip_comments "$1" | sed 's/#.*//'; }

have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------
# 1. Build
# ---------------------------------------------------------------------------
# SwiftPM does not relink when only the version script changes (it is not an
# input of the link step), so the library is deleted first to force a relink.

if ! bin=$("${swift_build[@]}" --show-bin-path 2>"$tmp/bin-path.log"); then
    fail "cannot determine the release bin directory (swift build --show-bin-path)"
    detail <"$tmp/bin-path.log"
    finish
fi
library="$bin/$library_name"
rm -f "$library"
if "${swift_build[@]}" >"$tmp/build.log" 2>&1 && [ -f "$library" ]; then
    ok "release build: $library"
else
    fail "release build (swift build -c release --product shmemaphore); last lines of its log:"
    tail -n 30 "$tmp/build.log" | detail
    finish                  # nothing else can be checked without the library
fi

# ---------------------------------------------------------------------------
# 2. SONAME symlink
# ---------------------------------------------------------------------------
# SwiftPM makes no versioned name; consumers linked with -lshmemaphore record
# the SONAME libshmemaphore.so.1 and need it at run time (check 8 relies on it).

ln -sfn "$library_name" "$bin/$expected_soname" 2>"$tmp/ln.log" || true
if [ "$(readlink "$bin/$expected_soname" || true)" = "$library_name" ] && [ -e "$bin/$expected_soname" ]; then
    ok "symlink $bin/$expected_soname -> $library_name"
else
    fail "could not create $bin/$expected_soname -> $library_name"
    detail <"$tmp/ln.log"
fi

# ---------------------------------------------------------------------------
# 3. Exports == header == version script
# ---------------------------------------------------------------------------

# Version node name, e.g. LIBSHMEMAPHORE_1 (first "NAME {" of the script).
version_node=$(strip_hash_comments "$version_script" | tr '\n' ' ' |
    sed -nE 's/^[[:space:]]*([A-Za-z_][A-Za-z0-9_.]*)[[:space:]]*\{.*/\1/p')

# Header: every SHMEMAPHORE_API declaration, comments and preprocessor lines
# removed and declarations joined into one line each (they span lines); the
# function name is the last identifier before the first "(".
strip_comments "$header" | grep -v '^[[:space:]]*#' | tr '\n' ' ' | tr ';' '\n' >"$tmp/header.decls"
sed -nE 's/.*\bSHMEMAPHORE_API\b[^(]*\b([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/p' "$tmp/header.decls" |
    sort >"$tmp/header.all"
sort -u "$tmp/header.all" >"$tmp/header.names"
# Functions the header declares WITHOUT SHMEMAPHORE_API (typedefs excluded):
# they would be neither exported nor checked, so they count as a mismatch.
{ grep -vw -e SHMEMAPHORE_API -e typedef "$tmp/header.decls" || true; } |
    sed -nE 's/^[^(]*\b(shmemaphore_[A-Za-z0-9_]*)[[:space:]]*\(.*/\1/p' | sort -u >"$tmp/header.undecorated"

# Version script: the global entries of the (first) node, i.e. what lies
# between "{" (or "global:") and "local:".  Entries are taken verbatim, so a
# wildcard such as "shmemaphore_*" shows up as a mismatch.
strip_hash_comments "$version_script" | tr '\n' ' ' |
    sed -E 's/^[^{]*\{//; s/\}.*//; s/local:.*//; s/global://' |
    tr ';' '\n' | sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' | { grep -v '^$' || true; } |
    sort -u >"$tmp/map.names"

# Library: global (upper-case type) defined dynamic symbols, default version
# suffix stripped, the version node itself (type A) ignored.
nm -D --defined-only "$library" >"$tmp/nm.txt"
awk -v node="$version_node" 'NF >= 3 && $2 ~ /^[A-Z]$/ && !($2 == "A" && $3 == node) { print $3 }' "$tmp/nm.txt" |
    sed "s/@@$version_node\$//" | sort -u >"$tmp/exports.names"
local_dynsyms=$(awk 'NF >= 3 && $2 ~ /^[a-z]$/' "$tmp/nm.txt" | wc -l)

count=$(wc -l <"$tmp/exports.names")
duplicates=$(uniq -d "$tmp/header.all" | join_names)
undecorated=$(join_names <"$tmp/header.undecorated")
if cmp -s "$tmp/exports.names" "$tmp/header.names" && cmp -s "$tmp/exports.names" "$tmp/map.names" &&
    [ "$count" -gt 0 ] && [ -z "$duplicates" ] && [ -z "$undecorated" ]; then
    ok "exports: $count global symbols (version $version_node) == the header's SHMEMAPHORE_API functions == the version script"
    if [ "$local_dynsyms" -gt 0 ]; then
        echo "note: $local_dynsyms more .dynsym entries are LOCAL (lower-case in nm -D), so not exported" | detail
    fi
else
    fail "exports: nm -D ($count), header ($(wc -l <"$tmp/header.names")) and version script ($(wc -l <"$tmp/map.names")) disagree"
    {
        [ -z "$duplicates" ] || echo "declared twice in the header: $duplicates"
        [ -z "$undecorated" ] || echo "declared in the header without SHMEMAPHORE_API: $undecorated"
        label_exports="the library (nm -D)" label_header="the header" label_map="the version script"
        for pair in "exports header" "header exports" "exports map" "map exports" "header map" "map header"; do
            read -r a b <<<"$pair"
            missing=$(only_in "$tmp/$a.names" "$tmp/$b.names")
            label_a="label_$a" label_b="label_$b"
            [ -z "$missing" ] || echo "in ${!label_a} but not in ${!label_b}: $missing"
        done
    } | detail
fi

# ---------------------------------------------------------------------------
# 4. SONAME
# ---------------------------------------------------------------------------

readelf -d "$library" >"$tmp/dynamic.txt"
soname=$(sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p' "$tmp/dynamic.txt")
if [ "$soname" = "$expected_soname" ]; then
    ok "SONAME is $soname"
else
    fail "SONAME is '${soname:-<none>}', expected $expected_soname"
fi

# ---------------------------------------------------------------------------
# 5. No Swift runtime, no Foundation
# ---------------------------------------------------------------------------
# Release builds link the Swift runtime statically (-static-stdlib in
# Package.swift), so neither the direct NEEDED entries nor anything ldd
# resolves transitively may be libswift* or lib*Foundation*.

needed=$(sed -nE 's/.*\(NEEDED\).*\[(.*)\].*/\1/p' "$tmp/dynamic.txt" | paste -sd' ' -)
bad_needed=$(sed -nE 's/.*\(NEEDED\).*\[(.*)\].*/\1/p' "$tmp/dynamic.txt" | grep -E '^libswift|Foundation' || true)
bad_ldd=$(ldd "$library" 2>&1 | grep -E 'libswift|Foundation' || true)
size=$(stat -c %s "$library")
size_text=$(awk -v b="$size" 'BEGIN { printf "%d bytes, %.1f MB, %.1f MiB", b, b / 1e6, b / 1048576 }')
if [ -z "$bad_needed" ] && [ -z "$bad_ldd" ]; then
    ok "no Swift runtime or Foundation needed (NEEDED: $needed); size $size_text"
else
    fail "the library needs the Swift runtime or Foundation; size $size_text"
    { [ -z "$bad_needed" ] || echo "NEEDED: $bad_needed"; [ -z "$bad_ldd" ] || echo "ldd: $bad_ldd"; } | detail
fi

# ---------------------------------------------------------------------------
# 6. The header compiles standalone
# ---------------------------------------------------------------------------
# A tiny translation unit includes the header (twice: the include guard) and
# uses declarations and macros from each part of it.  Valid C and C++ at once.

cat >"$tmp/header_tu.c" <<'EOF'
#include "shmemaphore.h"
#include "shmemaphore.h"

#if SHMEMAPHORE_VERSION_NUMBER < 0 || SHMEMAPHORE_PROTOCOL_VERSION < 1
#error "bad version macros"
#endif

int check_abi_header_tu(shmemaphore_channel *channel);

int check_abi_header_tu(shmemaphore_channel *channel)
{
    shmemaphore_options o;
    shmemaphore_metadata m = {0, 0, 0, 0};
    shmemaphore_response r;
    int64_t timeout = SHMEMAPHORE_TIMEOUT_INFINITE;
    const char *name = shmemaphore_error_name(SHMEMAPHORE_E_TIMEOUT);
    const char *version = SHMEMAPHORE_VERSION_STRING;

    shmemaphore_options_init(&o, sizeof o);
    o.flags |= SHMEMAPHORE_FLAG_ALLOW_FOREIGN_OWNER | SHMEMAPHORE_FLAG_BLOCKING_WAIT |
               SHMEMAPHORE_FLAG_CHECK_EVERY_TURN;
    o.stale_policy = SHMEMAPHORE_STALE_FAIL;
    m.channels = SHMEMAPHORE_CHANNELS_ERROR;
    if (shmemaphore_channel_role(channel) == SHMEMAPHORE_ROLE_SERVER)
        return shmemaphore_receive_response(channel, timeout, &r);
    if (name == NULL || version[0] == '\0' || m.channels == 0)
        return SHMEMAPHORE_E_INVALID_ARGUMENT;
    return shmemaphore_version_number() == SHMEMAPHORE_VERSION_NUMBER ? SHMEMAPHORE_OK : SHMEMAPHORE_E_FIRST;
}
EOF
cp "$tmp/header_tu.c" "$tmp/header_tu.cpp"

warnings=(-Wall -Wextra -Werror -pedantic)
# compile_header LABEL COMPILER STANDARD SOURCE [EXTRA FLAGS...]
compile_header() {
    local label=$1 compiler=$2 std=$3 source=$4
    shift 4
    if ! have "$compiler"; then
        skip "header as $label: $compiler not found"
        return 1
    fi
    if "$compiler" -std="$std" "${warnings[@]}" "$@" -I "$root/include" -fsyntax-only "$source" \
        >"$tmp/compile.log" 2>&1; then
        ok "header compiles cleanly as $label ($compiler -std=$std ${warnings[*]}${*:+ $*})"
    else
        fail "header as $label ($compiler -std=$std ${warnings[*]}${*:+ $*}):"
        detail <"$tmp/compile.log"
    fi
    return 0
}

# -Wstrict-prototypes (C only) also catches "f()" declarations without "void".
compile_header "C99"   cc    c99   "$tmp/header_tu.c" -Wstrict-prototypes || fail "no C compiler (cc)"
compile_header "C11"   cc    c11   "$tmp/header_tu.c" -Wstrict-prototypes || true
compile_header "C99"   clang c99   "$tmp/header_tu.c" -Wstrict-prototypes || true
compile_header "C11"   clang c11   "$tmp/header_tu.c" -Wstrict-prototypes || true
cxx_found=0
compile_header "C++17" c++     c++17 "$tmp/header_tu.cpp" && cxx_found=1
compile_header "C++17" clang++ c++17 "$tmp/header_tu.cpp" && cxx_found=1
[ "$cxx_found" -eq 1 ] || fail "no C++ compiler (c++ or clang++) to compile the header as C++17"

# ---------------------------------------------------------------------------
# 7. Drift between the Swift @c layer and the header
# ---------------------------------------------------------------------------
# Why not simply compile the build's ShmemaphoreC-Swift.h together with the
# header?  With Swift 6.3 the compiler prints no declaration for an
# `@c @implementation` function (it implements a declaration that already
# comes from a C header), so the build's generated header has an empty C
# section.  That is itself a useful fact, checked in 7a: any function that
# does appear there is a `@c` function WITHOUT `@implementation`, i.e. one
# whose signature the compiler did not check against include/shmemaphore.h.
#
# 7b/7c get the compiler's own C prototypes of the exports: a copy of
# Sources/ShmemaphoreC/*.swift with `@implementation` removed is type-checked
# (only; nothing is built) with the very flags SwiftPM used for ShmemaphoreC,
# read from the build manifest, and -emit-clang-header-path prints every
# `@c` function as a C prototype.  Those are compared with the header:
#   7b  names, both ways;
#   7c  types: one C11 translation unit (clang -fsyntax-only) includes the
#       header and the generated prototypes, so any conflicting prototype is
#       an error.  Swift imports a pointer to the opaque struct
#       shmemaphore_channel (const or not) as OpaquePointer and prints that
#       back as plain `void *`; that one lossy mapping is undone by including
#       a copy of the header in which `shmemaphore_channel` is `void` and has
#       no const.  Every other type must match as it is.  (The exact spelling
#       of the channel parameters is what `@c @implementation` checks when the
#       library is built.)

generated_build_header="$bin/ShmemaphoreC.build/include/ShmemaphoreC-Swift.h"
if [ ! -f "$generated_build_header" ]; then
    generated_build_header=$(find "$scratch" -path '*release*' -name 'ShmemaphoreC-Swift.h' 2>/dev/null | head -n 1)
fi
# Function declarations in a generated header are single lines "SWIFT_EXTERN
# <type> name(...) ...;"; this prints their names.
generated_names() {
    sed -nE 's/^SWIFT_EXTERN[^(]*\b([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/p' "$1" | sort -u
}

# 7a
if [ -z "$generated_build_header" ] || [ ! -f "$generated_build_header" ]; then
    fail "drift: the release build produced no ShmemaphoreC-Swift.h under $scratch"
else
    unchecked=$(generated_names "$generated_build_header" | join_names)
    if [ -z "$unchecked" ]; then
        ok "drift: the build's ShmemaphoreC-Swift.h declares no C function: every @c export is @c @implementation"
    else
        fail "drift: @c functions without @implementation (not checked against the header): $unchecked"
    fi
fi

# The swiftc flags SwiftPM used to compile ShmemaphoreC, from the llbuild
# manifest <scratch>/release.yaml: the line `args: ["swiftc","-module-name",...]`
# of the command "C.ShmemaphoreC-<triple>-release.module".  Only flags that
# decide how imports resolve are kept.
manifest="$scratch/release.yaml"
swiftc_flags=()
if [ -f "$manifest" ]; then
    awk '/^  "C\.ShmemaphoreC-.*-release\.module":/ { found = 1 }
         found && /^    args: \[/ { print; exit }' "$manifest" |
        sed -e 's/^ *args: \["//' -e 's/"\]$//' -e 's/","/\n/g' >"$tmp/swiftc-args.txt"
    mapfile -t manifest_args <"$tmp/swiftc-args.txt"
    i=1                                            # [0] is swiftc itself
    while [ "$i" -lt "${#manifest_args[@]}" ]; do
        arg=${manifest_args[$i]}
        case "$arg" in
            -module-name|-package-name|-I|-F|-D|-Xcc|-target|-sdk|-resource-dir|-swift-version|\
            -enable-experimental-feature|-enable-upcoming-feature|-Xfrontend)
                swiftc_flags+=("$arg" "${manifest_args[$((i + 1))]:-}")
                i=$((i + 2)) ;;
            -I?*|-F?*|-D?*|-enable-*|-strict-concurrency=*|-parse-as-library)
                swiftc_flags+=("$arg"); i=$((i + 1)) ;;
            *)
                i=$((i + 1)) ;;
        esac
    done
fi

swift_header="$tmp/ShmemaphoreC-prototypes.h"
mkdir -p "$tmp/swift-src"
for source in "$c_layer_dir"/*.swift; do
    sed -E 's/@implementation\b//g' "$source" >"$tmp/swift-src/$(basename "$source")"
done

if [ "${#swiftc_flags[@]}" -eq 0 ] || ! printf '%s\n' "${swiftc_flags[@]}" | grep -qx ShmemaphoreC; then
    fail "drift: no ShmemaphoreC compile command in the build manifest $manifest"
elif ! swiftc "${swiftc_flags[@]}" -parse-as-library -typecheck \
    -module-cache-path "$tmp/module-cache" \
    -emit-clang-header-path "$swift_header" -emit-clang-header-min-access internal \
    "$tmp"/swift-src/*.swift >"$tmp/swiftc.log" 2>&1 || [ ! -f "$swift_header" ]; then
    fail "drift: could not generate the C prototypes of the @c layer (swiftc -typecheck -emit-clang-header-path):"
    tail -n 30 "$tmp/swiftc.log" | detail
else
    # 7b: names both ways.
    generated_names "$swift_header" >"$tmp/swift.names"
    if cmp -s "$tmp/swift.names" "$tmp/header.names"; then
        ok "drift: the @c layer's $(wc -l <"$tmp/swift.names") C functions (compiler-generated prototypes) are exactly the header's"
    else
        fail "drift: the @c layer and the header declare different functions"
        {
            missing=$(only_in "$tmp/header.names" "$tmp/swift.names")
            [ -z "$missing" ] || echo "in the header but not @c in Sources/ShmemaphoreC: $missing"
            missing=$(only_in "$tmp/swift.names" "$tmp/header.names")
            [ -z "$missing" ] || echo "@c in Sources/ShmemaphoreC but not in the header: $missing"
        } | detail
    fi

    # 7c: prototypes.  Swift imports size_t as Int and prints Int back as
    # ptrdiff_t, so size_t parameters are spelled ptrdiff_t in the copy (same
    # width and calling convention).  The copy keeps the include guard SHMEMAPHORE_H, so the
    # generated header's own `#include <../../include/shmemaphore.h>` (found
    # through -I Sources/CShmemaphoreHeader, as the module map places it) is
    # skipped and the copy's declarations are the ones compared.
    sed -E -e 's/typedef[[:space:]]+struct[[:space:]]+shmemaphore_channel[[:space:]]+shmemaphore_channel;/typedef void shmemaphore_channel;/' \
           -e 's/\bconst[[:space:]]+shmemaphore_channel\b/shmemaphore_channel/g' \
           -e 's/\bshmemaphore_channel[[:space:]]+const\b/shmemaphore_channel/g' \
           -e 's/\bsize_t[[:space:]]+struct_size\)/ptrdiff_t struct_size)/' \
        "$header" >"$tmp/shmemaphore_as_swift_sees_it.h"
    if ! grep -q '^typedef void shmemaphore_channel;' "$tmp/shmemaphore_as_swift_sees_it.h"; then
        fail "drift: the header no longer declares 'typedef struct shmemaphore_channel shmemaphore_channel;' (update check 7c)"
    elif ! have clang; then
        fail "drift: clang not found (it comes with the Swift toolchain)"
    else
        printf '%s\n' '#include "shmemaphore_as_swift_sees_it.h"' \
            "#include \"$(basename "$swift_header")\"" >"$tmp/drift_tu.c"
        if clang -std=c11 -Wall -Wextra -Werror -fsyntax-only -I "$tmp" -I "$root/Sources/CShmemaphoreHeader" \
            "$tmp/drift_tu.c" >"$tmp/drift.log" 2>&1; then
            ok "drift: the compiler-generated C prototypes of all @c functions compile together with the header (C11, clang)"
        else
            fail "drift: the compiler-generated C prototypes conflict with the header:"
            { grep -E 'error|note: previous' "$tmp/drift.log" || cat "$tmp/drift.log"; } | sed "s|$tmp/||g" | detail
        fi
    fi
fi

# ---------------------------------------------------------------------------
# 8. Versions and status-code names at run time
# ---------------------------------------------------------------------------
# The library takes its version from include/shmemaphore.h when it is built
# (Sources/CShmemaphoreVersion), so a mismatch means a library built from
# another header.  Its string is compared with the numeric macros formatted
# here (and so is SHMEMAPHORE_VERSION_STRING), so a broken stringification in
# the header shows as well.

cat >"$tmp/version.c" <<'EOF'
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "shmemaphore.h"

static int failures = 0;

static void expect(int condition, const char *what)
{
    if (!condition) {
        printf("mismatch: %s\n", what);
        failures++;
    }
}

/* strerror and error_name must answer every code; NULL expected_name means
 * only "not NULL" is checked. */
static void expect_code(int code, const char *expected_name)
{
    const char *description = shmemaphore_strerror(code);
    const char *name = shmemaphore_error_name(code);
    char what[160];

    snprintf(what, sizeof what, "shmemaphore_strerror(%d) is NULL or empty", code);
    expect(description != NULL && description[0] != '\0', what);
    snprintf(what, sizeof what, "shmemaphore_error_name(%d) is \"%s\", expected \"%s\"", code,
             name ? name : "(null)", expected_name ? expected_name : "non-NULL");
    expect(name != NULL && (expected_name == NULL || strcmp(name, expected_name) == 0), what);
}

int main(void)
{
    char expected[64];
    char what[160];
    const char *version = shmemaphore_version_string();

    snprintf(expected, sizeof expected, "%d.%d.%d", SHMEMAPHORE_VERSION_MAJOR,
             SHMEMAPHORE_VERSION_MINOR, SHMEMAPHORE_VERSION_PATCH);
    snprintf(what, sizeof what, "shmemaphore_version_number() is %u, SHMEMAPHORE_VERSION_NUMBER %d",
             shmemaphore_version_number(), SHMEMAPHORE_VERSION_NUMBER);
    expect(shmemaphore_version_number() == (unsigned)SHMEMAPHORE_VERSION_NUMBER, what);
    snprintf(what, sizeof what, "shmemaphore_version_string() is \"%s\", the macros say \"%s\"",
             version ? version : "(null)", expected);
    expect(version != NULL && strcmp(version, expected) == 0, what);
    snprintf(what, sizeof what, "SHMEMAPHORE_VERSION_STRING is \"%s\", the numeric macros say \"%s\"",
             SHMEMAPHORE_VERSION_STRING, expected);
    expect(strcmp(SHMEMAPHORE_VERSION_STRING, expected) == 0, what);
    snprintf(what, sizeof what, "shmemaphore_protocol_version() is %u, SHMEMAPHORE_PROTOCOL_VERSION %d",
             shmemaphore_protocol_version(), SHMEMAPHORE_PROTOCOL_VERSION);
    expect(shmemaphore_protocol_version() == (unsigned)SHMEMAPHORE_PROTOCOL_VERSION, what);

    expect_code(SHMEMAPHORE_OK, NULL);
    expect_code(-ENOENT, "ENOENT");
    expect_code(SHMEMAPHORE_E_TIMEOUT, "SHMEMAPHORE_E_TIMEOUT");
    expect_code(12345, "SHMEMAPHORE_E_UNKNOWN");

    if (failures == 0)
        printf("version %s (number %u, protocol %u); error names: 0 %s, %d %s, %d %s, 12345 %s\n",
               version, shmemaphore_version_number(), shmemaphore_protocol_version(),
               shmemaphore_error_name(0), -ENOENT, shmemaphore_error_name(-ENOENT),
               SHMEMAPHORE_E_TIMEOUT, shmemaphore_error_name(SHMEMAPHORE_E_TIMEOUT),
               shmemaphore_error_name(12345));
    return failures == 0 ? 0 : 1;
}
EOF

c_compiler=cc
have "$c_compiler" || c_compiler=clang
if ! "$c_compiler" -std=c11 -Wall -Wextra -Werror -I "$root/include" -o "$tmp/version" "$tmp/version.c" \
    -L "$bin" -lshmemaphore -Wl,-rpath,"$bin" >"$tmp/version-build.log" 2>&1; then
    fail "versions: the test program does not compile or link against $library:"
    detail <"$tmp/version-build.log"
else
    if "$tmp/version" >"$tmp/version.log" 2>&1; then
        ok "versions: library and header agree: $(cat "$tmp/version.log")"
    else
        fail "versions: library and header disagree:"
        detail <"$tmp/version.log"
    fi
    # Same program with an empty environment: the Swift toolchain's libraries
    # are not on any search path, so this proves the runtime is inside the .so.
    if env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= "$tmp/version" >"$tmp/version-env.log" 2>&1; then
        ok "versions: the test program also runs under env -i (no Swift runtime on the library path)"
    else
        fail "versions: the test program fails under env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH=:"
        detail <"$tmp/version-env.log"
    fi
fi

finish
