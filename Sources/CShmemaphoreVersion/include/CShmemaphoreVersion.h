/*
 * The version of include/shmemaphore.h, for Sources/ShmemaphoreC/Library.swift.
 *
 * Swift imports the plain integer macros SHMEMAPHORE_VERSION_MAJOR/MINOR/PATCH
 * but neither SHMEMAPHORE_VERSION_NUMBER (an expression) nor
 * SHMEMAPHORE_VERSION_STRING (made by stringification): these two functions
 * hand both over as they are, so the version is written only in the header.
 * They are compiled C (version.c), not inline functions of a module map, so
 * that a changed header rebuilds them: SwiftPM recompiles a C file when a
 * header it includes changes (the compiler's dependency file), but not a
 * Swift module when a header behind a module map changes.
 * Not exported from libshmemaphore.so (the version script keeps them local).
 */
#ifndef CSHMEMAPHORE_VERSION_H
#define CSHMEMAPHORE_VERSION_H

/** SHMEMAPHORE_VERSION_NUMBER of include/shmemaphore.h. */
unsigned shmemaphore_shim_version_number(void);

/** SHMEMAPHORE_VERSION_STRING of include/shmemaphore.h: a string literal,
 *  so static and NUL-terminated. */
const char *shmemaphore_shim_version_string(void);

#endif
