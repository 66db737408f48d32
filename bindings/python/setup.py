"""Build of the shmemaphore binding: the C extension and the library inside.

The library libshmemaphore.so comes from SHMEMAPHORE_LIBRARY (a path to a
built libshmemaphore.so or .so.1) or, without it, from
`swift build -c release --product shmemaphore` run in the repository root
(two folders up).  It is copied into the package as libshmemaphore.so.1 (its
soname), and the extension finds it there through the RUNPATH $ORIGIN, so
the installed package and the wheel need no Swift toolchain and no
LD_LIBRARY_PATH.  The header comes from SHMEMAPHORE_INCLUDE or <root>/include.
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SONAME = "libshmemaphore.so.1"


def find_library():
    given = os.environ.get("SHMEMAPHORE_LIBRARY")
    if given:
        if not os.path.isfile(given):
            sys.exit(f"SHMEMAPHORE_LIBRARY={given}: no such file")
        return os.path.abspath(given)
    if not os.path.isfile(os.path.join(ROOT, "Package.swift")):
        sys.exit(f"{ROOT} holds no Package.swift: set SHMEMAPHORE_LIBRARY to a built libshmemaphore.so")
    swift = shutil.which("swift")
    if not swift:
        sys.exit("swift not found: install the Swift toolchain, or set SHMEMAPHORE_LIBRARY to a built libshmemaphore.so")
    print(f"building the library: swift build -c release --product shmemaphore (in {ROOT})", flush=True)
    subprocess.check_call([swift, "build", "-c", "release", "--product", "shmemaphore"], cwd=ROOT)
    bin_path = subprocess.check_output([swift, "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip()
    lib = os.path.join(bin_path, "libshmemaphore.so")
    if not os.path.isfile(lib):
        sys.exit(f"swift build made no {lib}")
    return lib


class BuildExt(build_ext):
    def build_extensions(self):
        lib = find_library()
        # Link against a copy named by the soname, beside the extension.
        link_dir = os.path.join(os.path.abspath(self.build_temp), "shmemaphore-lib")
        os.makedirs(link_dir, exist_ok=True)
        shutil.copyfile(lib, os.path.join(link_dir, SONAME))
        package_dir = os.path.join(os.path.abspath(self.build_lib), "shmemaphore")
        os.makedirs(package_dir, exist_ok=True)
        shutil.copyfile(lib, os.path.join(package_dir, SONAME))
        self._library = lib
        for ext in self.extensions:
            ext.extra_link_args += [f"-L{link_dir}", f"-l:{SONAME}", "-Wl,-rpath,$ORIGIN"]
        super().build_extensions()

    def copy_extensions_to_source(self):
        # --inplace (and editable installs): the library goes beside the extension too.
        super().copy_extensions_to_source()
        shutil.copyfile(self._library, os.path.join(HERE, "src", "shmemaphore", SONAME))


include = os.environ.get("SHMEMAPHORE_INCLUDE", os.path.join(ROOT, "include"))


def header_version():
    """MAJOR.MINOR.PATCH from the C header's version macros, the one place the version is written."""
    import re
    with open(os.path.join(include, "shmemaphore.h"), encoding="utf-8") as header:
        text = header.read()
    parts = [re.search(rf"#define SHMEMAPHORE_VERSION_{part} (\d+)", text) for part in ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        sys.exit(f"{include}/shmemaphore.h: no SHMEMAPHORE_VERSION_MAJOR/MINOR/PATCH")
    return ".".join(match.group(1) for match in parts)


setup(
    version=header_version(),
    ext_modules=[
        Extension(
            "shmemaphore._shmemaphore",
            sources=["src/shmemaphore/_shmemaphore.c"],
            include_dirs=[include],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wno-missing-field-initializers",
                                "-Wno-unused-parameter", "-Wno-cast-function-type"],
        )
    ],
    cmdclass={"build_ext": BuildExt},
)
