#!/usr/bin/env python3
"""Checks that the core calls libc only through its syscall choke point.

Sources/Shmemaphore/Syscalls.swift is the one place where errno is read
and EINTR is handled.  Everywhere else in the library (Sources/Shmemaphore,
Sources/ShmemaphoreC), a libc or shim function that can fail may only be
called inside the closure of one of its wrappers (`syscall`, `valueOrErrno`,
`mappingSyscall`, `errorNumberSyscall`, `bestEffort`, ...), and errno is
never read.  A call that cannot fail (clock_gettime with a valid clock)
carries `// cannot fail: WHY` on its line.

Lexical, not a compiler: comments and string literals are blanked, a
wrapper's region is the brace or parenthesis nesting its call opens, and a
call with an argument label (`read(into:`) or after a `.` is a method, not
libc.  Run from anywhere; exit status 1 lists each violation.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FOLDERS = ["Sources/Shmemaphore", "Sources/ShmemaphoreC"]
CHOKE_POINT = "Sources/Shmemaphore/Syscalls.swift"

WRAPPERS = ["syscall", "valueOrErrno", "mappingSyscall", "errorNumberSyscall", "nothingOrErrorNumber", "bestEffort"]

# libc functions that report failure through errno or a return code, and
# the shims that wrap such calls (CShmemaphoreShims.h says which).
FALLIBLE = """
    open openat close read write pread pwrite lseek ftruncate fsync fstat lstat stat fstatvfs statvfs fchmod fchown
    mmap munmap mprotect madvise msync fcntl flock dup dup2 unlink unlinkat rename renameat access faccessat readlink
    opendir fdopendir readdir closedir fopen fclose fread fwrite nanosleep clock_nanosleep clock_gettime posix_fallocate
    shm_open shm_unlink sem_open sem_close sem_unlink sem_init sem_destroy sem_post sem_wait sem_trywait
    sem_timedwait sem_clockwait sem_getvalue kill sigaction pthread_sigmask
    shmemaphore_shim_open_nofollow shmemaphore_shim_open_for_reading shmemaphore_shim_make_temporary
    shmemaphore_shim_ofd_lock shmemaphore_shim_ofd_unlock shmemaphore_shim_ofd_lock_end
    shmemaphore_shim_sem_wait_interruptible shmemaphore_shim_sem_initial_bytes shmemaphore_shim_fault_region_register
""".split()
ERRNO_READS = re.compile(r"\b(errno|currentErrno|shmemaphore_shim_errno|shmemaphore_shim_set_errno)\b(?!\s*:)")
CALL = re.compile(r"(?<![.\w])(?:Glibc\.)?(" + "|".join(FALLIBLE) + r")\(")
WRAPPER = re.compile(r"(?<![.\w])(" + "|".join(WRAPPERS) + r")\b")


def blank(source: str) -> str:
    """The source with comments and string literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(source)
    while i < n:
        if source.startswith("//", i):
            end = source.find("\n", i)
            end = n if end < 0 else end
            marker = source[i:end]
            # Keep the exemption marker visible to the checker.
            out.append(" " * len(marker) if "cannot fail:" not in marker else marker)
            i = end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", source[i:end]))
            i = end
        elif source.startswith('"""', i):
            end = source.find('"""', i + 3)
            end = n if end < 0 else end + 3
            out.append(re.sub(r"[^\n]", " ", source[i:end]))
            i = end
        elif source[i] == '"':
            j = i + 1
            depth = 0  # inside \( ... ) interpolation
            while j < n:
                c = source[j]
                if depth == 0 and c == "\\" and j + 1 < n and source[j + 1] == "(":
                    depth = 1
                    j += 2
                    continue
                if depth > 0:
                    depth += (c == "(") - (c == ")")
                elif c == "\\":
                    j += 2
                    continue
                elif c == '"' or c == "\n":
                    break
                j += 1
            out.append('"' + re.sub(r"[^\n]", " ", source[i + 1 : j]) + '"')
            i = j + 1
        else:
            out.append(source[i])
            i += 1
    return "".join(out)


def is_own_function(text: str, start: int) -> bool:
    """Whether the call whose arguments begin at `start` is one of ours, not
    libc's: no arguments (a struct's zero value, `close()`), or an argument
    label at the top level of its list (`read(into:`, `write(&x, count:`)."""
    depth, i, arguments = 0, start, []
    while i < len(text):
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                break
            depth -= 1
        arguments.append(c if depth == 0 else " ")
        i += 1
    top = "".join(arguments)
    return not top.strip() or re.search(r"(^|,)\s*\w+\s*:(?!:)", top) is not None


def violations(path: pathlib.Path):
    relative = path.relative_to(ROOT).as_posix()
    text = blank(path.read_text())
    # Offsets inside a wrapper's region: from the wrapper's name through the
    # end of the nesting its first ( or { opens (trailing closures included).
    inside = bytearray(len(text))
    for match in WRAPPER.finditer(text):
        i = match.end()
        depth, opened = 0, False
        while i < len(text):
            c = text[i]
            if c in "({":
                depth += 1
                opened = True
            elif c in ")}":
                depth -= 1
                if opened and depth == 0:
                    # A trailing closure after the parentheses belongs to the call too.
                    rest = re.match(r"\s*\{", text[i + 1 :])
                    if c == ")" and rest:
                        i += rest.end()
                        depth = 1
                        continue
                    break
            elif not opened and not c.isspace() and c not in "<>":
                break  # a mention, not a call
            i += 1
        for k in range(match.start(), min(i + 1, len(text))):
            inside[k] = 1
    lines = text.split("\n")
    offset = 0
    for number, line in enumerate(lines, 1):
        exempt = "cannot fail:" in line
        if relative != CHOKE_POINT:
            for match in ERRNO_READS.finditer(line):
                yield f"{relative}:{number}: reads errno ({match.group(1)}) outside the choke point"
            for match in CALL.finditer(line):
                if is_own_function(text, offset + match.end()):
                    continue
                if re.search(r"\bfunc\s+$", line[: match.start()]):
                    continue
                if not inside[offset + match.start()] and not exempt:
                    yield f"{relative}:{number}: {match.group(1)}() outside the syscall choke point"
        offset += len(line) + 1


def main() -> int:
    files = sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.swift"))
    found = [v for p in files for v in violations(p)]
    for v in found:
        print(v)
    if found:
        print(f"check-syscalls: {len(found)} call(s) bypass {CHOKE_POINT}", file=sys.stderr)
        return 1
    print(f"check-syscalls: ok ({len(files)} files: every fallible libc call goes through {CHOKE_POINT})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
