/*
 * shmemaphore.h - the public C API of libshmemaphore.
 *
 * libshmemaphore moves large binary payloads (images, frames, tensors)
 * between two processes on one host over two POSIX named semaphores and two
 * POSIX shared-memory segments.  The wire protocol is the original
 * shmemaphore apps' protocol, byte for byte; docs/PROTOCOL.md specifies it.
 *
 * Roles
 *   server  the requester: creates the channel, sends a request (a byte
 *           string, usually a name), receives a response.
 *   client  the responder: attaches to a channel, receives a request,
 *           answers with a payload (an image, raw bytes or an error).
 *
 * Conventions that hold for every function below
 *   - Every function that can fail returns an int status: SHMEMAPHORE_OK (0)
 *     or a negative code.  Codes in (-SHMEMAPHORE_ERRNO_MAX, 0) are system
 *     errors: the code is -errno (for example -ENOENT, -EACCES, -ENOSPC).
 *     Codes at or below SHMEMAPHORE_E_FIRST are the library's own.  Codes are
 *     stable across versions.  shmemaphore_strerror() and
 *     shmemaphore_error_name() describe any code.
 *   - Bad input (NULL pointers, bad names, impossible sizes, a call in the
 *     wrong role or state) returns a code; it never crashes the process.
 *   - On failure, out-parameters are left untouched unless stated otherwise.
 *   - Timeouts are in milliseconds on the monotonic clock.
 *     SHMEMAPHORE_TIMEOUT_INFINITE (-1) waits forever; 0 polls once.
 *
 * Safety against other processes (docs/SECURITY.md)
 *   Every object in /dev/shm is opened once, by descriptor, without following
 *   symlinks, and checked before use: a regular file, of this process's user
 *   (unless SHMEMAPHORE_FLAG_ALLOW_FOREIGN_OWNER), writable by nobody beyond
 *   the configured mode, large enough for what it must hold.  Every size read
 *   from shared memory is checked against the segment's real size.
 *
 * SIGBUS
 *   A process that shrinks a segment (or its semaphore file) while this one
 *   maps it can make an access fault with SIGBUS.  The library installs a
 *   SIGBUS handler the first time it maps shared memory (sigaction, SA_SIGINFO
 *   | SA_NODEFER | SA_ONSTACK).  A fault in an access the library itself makes
 *   (its copies in and out of DATA, its header and semaphore accesses) is
 *   repaired and reported as an error code (SHMEMAPHORE_E_PROTOCOL when the
 *   segment shrank, -ENOSPC when its memory could not be allocated); it never
 *   terminates the process.  Every other SIGBUS is passed on to the handler
 *   that was installed before (or to the default action: termination).  A
 *   program that installs its own SIGBUS handler after opening a channel
 *   must pass on the faults it does not handle to the handler sigaction
 *   returned as the old one, or it disables this protection.
 *   Views that the library hands out (shmemaphore_response.data, the request
 *   view, a reserved buffer) point into shared memory and are read by the
 *   caller, outside the library: a process that breaks the protocol and
 *   shrinks DATA while the caller reads such a view can make the caller
 *   fault.  Only a process of the channel's user can do that (others cannot
 *   open the objects).  With SHMEMAPHORE_FLAG_UNTRUSTED_PEER, received views
 *   point to a private copy instead and cannot fault.
 *
 * Interrupts and signals (Ctrl-C)
 *   Every call that waits (shmemaphore_client_open while it waits for the
 *   server, shmemaphore_receive_response, shmemaphore_request,
 *   shmemaphore_receive_request) returns SHMEMAPHORE_E_INTERRUPTED:
 *   - at once when a signal handler installed without SA_RESTART runs in
 *     the waiting thread (with SA_RESTART, and with signal(), which sets
 *     it, the kernel resumes the wait by itself: call shmemaphore_interrupt
 *     from such a handler);
 *   - at once when shmemaphore_interrupt(channel) is called, from any thread
 *     or from a signal handler; an interrupt that finds no wait in progress
 *     ends the channel's next wait instead, so that a handler that calls it
 *     is never missed, whatever the waiting thread was doing.
 *   The channel is left as before the call: make the same call again to go
 *   on (see each function for what a repeated call does).  Typical Ctrl-C
 *   handling: a SIGINT handler sets a flag and calls shmemaphore_interrupt;
 *   the loop sees SHMEMAPHORE_E_INTERRUPTED, checks the flag, closes the
 *   channel and exits (c-examples/client.c, server.c).  A signal that lands
 *   while the waiting thread is not asleep in the kernel (it spins for at
 *   most 2 ms at a time, and runs its liveness checks, a few
 *   microseconds, between 50 ms slices of sleep) is seen only through
 *   shmemaphore_interrupt: a handler that must never be missed calls it.
 *
 * Thread safety
 *   Functions that take no channel are thread-safe, and so is
 *   shmemaphore_interrupt.  A channel must not be
 *   used by two threads at once (serialise with your own lock); distinct
 *   channels may be used concurrently from distinct threads, and one process
 *   may hold several channels (of either role, on distinct channel names).
 *
 * Linking
 *   cc app.c $(pkg-config --cflags --libs shmemaphore)
 *   or: cc app.c -I<prefix>/include -L<prefix>/lib -lshmemaphore
 *   The library links the Swift runtime statically: no Swift toolchain is
 *   needed at run time.
 */
#ifndef SHMEMAPHORE_H
#define SHMEMAPHORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Visibility                                                               */
/* ------------------------------------------------------------------------ */

#if defined(__GNUC__) || defined(__clang__)
#define SHMEMAPHORE_API __attribute__((visibility("default")))
#else
#define SHMEMAPHORE_API
#endif

/* ------------------------------------------------------------------------ */
/* Versions                                                                 */
/* ------------------------------------------------------------------------ */

/** Library version this header describes (semantic versioning).  These
 *  three lines are the one place the version is written: the library's
 *  shmemaphore_version_number() and shmemaphore_version_string() are built
 *  from them, and CMake reads them for the project version. */
#define SHMEMAPHORE_VERSION_MAJOR 0
#define SHMEMAPHORE_VERSION_MINOR 3
#define SHMEMAPHORE_VERSION_PATCH 0
/** MAJOR * 10000 + MINOR * 100 + PATCH, comparable with `>=`. */
#define SHMEMAPHORE_VERSION_NUMBER                                            \
    (SHMEMAPHORE_VERSION_MAJOR * 10000 + SHMEMAPHORE_VERSION_MINOR * 100 +     \
     SHMEMAPHORE_VERSION_PATCH)
/** "MAJOR.MINOR.PATCH" as a string literal, e.g. "0.3.0". */
#define SHMEMAPHORE_VERSION_STRING                                            \
    SHMEMAPHORE_STRINGIFY_(SHMEMAPHORE_VERSION_MAJOR) "."                      \
    SHMEMAPHORE_STRINGIFY_(SHMEMAPHORE_VERSION_MINOR) "."                      \
    SHMEMAPHORE_STRINGIFY_(SHMEMAPHORE_VERSION_PATCH)
/* Helpers of SHMEMAPHORE_VERSION_STRING: expand the macro, then quote it. */
#define SHMEMAPHORE_STRINGIFY_(macro) SHMEMAPHORE_QUOTE_(macro)
#define SHMEMAPHORE_QUOTE_(text) #text
/** Version of the wire protocol spoken by default.  Version 1 is the
 *  original shmemaphore apps' protocol (docs/PROTOCOL.md). */
#define SHMEMAPHORE_PROTOCOL_VERSION 1

/** Runtime version of the loaded library, as SHMEMAPHORE_VERSION_NUMBER.
 *  Compare it with the macro to detect a header/library mismatch.
 *  Thread-safe; never fails. */
SHMEMAPHORE_API unsigned shmemaphore_version_number(void);

/** Runtime version as a static, NUL-terminated string such as "0.1.0".
 *  The pointer is valid for the life of the process; do not free it. */
SHMEMAPHORE_API const char *shmemaphore_version_string(void);

/** Wire protocol version spoken by the loaded library
 *  (SHMEMAPHORE_PROTOCOL_VERSION of the build).  Never fails. */
SHMEMAPHORE_API unsigned shmemaphore_protocol_version(void);

/* ------------------------------------------------------------------------ */
/* Status codes                                                             */
/* ------------------------------------------------------------------------ */

/** Success. */
#define SHMEMAPHORE_OK 0
/** System errors are -errno; errno values are below this bound. */
#define SHMEMAPHORE_ERRNO_MAX 1000
/** The library's own codes are at or below this value. */
#define SHMEMAPHORE_E_FIRST (-1001)

/** A pointer argument was NULL, a size was impossible, or an options
 *  struct was malformed. */
#define SHMEMAPHORE_E_INVALID_ARGUMENT (-1001)
/** The channel name is empty, too long (> SHMEMAPHORE_CHANNEL_NAME_MAX bytes
 *  after an optional leading '/'), not valid UTF-8, contains a control
 *  character (0x01-0x1F, 0x7F), or contains '/' after its first byte. */
#define SHMEMAPHORE_E_INVALID_NAME (-1002)
/** The timeout expired before the peer acted.  The channel stays usable:
 *  the same receive call may be repeated. */
#define SHMEMAPHORE_E_TIMEOUT (-1003)
/** The peer (or another process) left shared memory in a state that breaks
 *  the protocol: a header that promises more bytes than the data segment
 *  holds, a header segment shorter than its layout, bytes != width * height
 *  * channels for an image, a product that overflows 64 bits, an object file
 *  too short for what it must hold, a segment or semaphore file that shrank
 *  while in use (the SIGBUS is averted), or response tokens that never carried
 *  the outstanding request's exchange number before the timeout
 *  (docs/PROTOCOL.md, "Exchange numbers"). */
#define SHMEMAPHORE_E_PROTOCOL (-1004)
/** The client answered with an error response; the response struct holds
 *  its code and message (see shmemaphore_response). */
#define SHMEMAPHORE_E_PEER_ERROR (-1005)
/** The peer is gone: the server closed the channel (unlinked its segments),
 *  or the peer's process died (its liveness lock vanished).  A server that
 *  gets this from shmemaphore_receive_response may send a new request for
 *  the next client. */
#define SHMEMAPHORE_E_PEER_GONE (-1006)
/** The function belongs to the other role (for example a client called
 *  shmemaphore_send_request). */
#define SHMEMAPHORE_E_WRONG_ROLE (-1007)
/** The function is not allowed in the channel's current state (for example
 *  receiving a response before sending a request, committing without a
 *  reservation, or a second request while one is outstanding). */
#define SHMEMAPHORE_E_WRONG_STATE (-1008)
/** The channel's segments already exist (or its semaphores hold counts)
 *  and the options asked to fail rather than reset them
 *  (SHMEMAPHORE_STALE_FAIL). */
#define SHMEMAPHORE_E_EXISTS (-1009)
/** An image file could not be decoded (the message of
 *  shmemaphore_strerror is generic; stb gives no thread-safe detail). */
#define SHMEMAPHORE_E_IMAGE_DECODE (-1010)
/** An image could not be encoded or written. */
#define SHMEMAPHORE_E_IMAGE_ENCODE (-1011)
/** A file extension names no supported image format, or the image has a
 *  shape the format cannot hold (channels outside 1..4, dimensions above
 *  INT_MAX). */
#define SHMEMAPHORE_E_UNSUPPORTED_FORMAT (-1012)
/** The response is not an image (it holds raw bytes or an error), so it
 *  cannot be saved as one. */
#define SHMEMAPHORE_E_NOT_IMAGE (-1013)
/** A size does not fit the address space or a 64-bit product overflowed. */
#define SHMEMAPHORE_E_TOO_LARGE (-1014)
/** An existing object is owned by another user, or is writable by group or
 *  others beyond what the options allow. */
#define SHMEMAPHORE_E_UNSAFE_PERMISSIONS (-1015)
/** The channel is taken: another client is attached (client_open), or a
 *  live server holds it (server_open).  A channel has one server and one
 *  client, detected through their liveness locks (docs/PROTOCOL.md, 9a). */
#define SHMEMAPHORE_E_BUSY (-1016)
/** A waiting call ended early: a signal handler ran in the waiting thread,
 *  or shmemaphore_interrupt was called ("Interrupts and signals" above).
 *  The channel is as before the call; the call may be made again.  Equal to
 *  -EINTR (Linux's EINTR is 4 on every architecture). */
#define SHMEMAPHORE_E_INTERRUPTED (-4)

/** Static, NUL-terminated English description of any status code (also of
 *  unknown ones).  Never NULL, never to be freed.  Thread-safe. */
SHMEMAPHORE_API const char *shmemaphore_strerror(int code);

/** Static symbolic name of a status code, such as "SHMEMAPHORE_E_TIMEOUT"
 *  or "ENOENT" for -ENOENT; "SHMEMAPHORE_E_UNKNOWN" for codes that mean
 *  nothing.  Never NULL, never to be freed.  Thread-safe. */
SHMEMAPHORE_API const char *shmemaphore_error_name(int code);

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

/** Longest channel name, in bytes, excluding the terminating NUL. */
#define SHMEMAPHORE_CHANNEL_NAME_MAX 200
/** Wait forever. */
#define SHMEMAPHORE_TIMEOUT_INFINITE (-1)

/** What a server does with objects whose server is gone (a crashed earlier
 *  run, or one that takes no liveness lock).  A channel whose server is alive
 *  (holds its liveness lock) is never touched: server_open returns
 *  SHMEMAPHORE_E_BUSY under either policy. */
#define SHMEMAPHORE_STALE_RESET 0 /**< default: drain the semaphores to 0 and
                                       replace both segments; a client that
                                       is already waiting keeps working */
#define SHMEMAPHORE_STALE_FAIL 1  /**< fail with SHMEMAPHORE_E_EXISTS if a
                                       segment exists or a semaphore holds a
                                       count (semaphores that a waiting
                                       client created are fine) */

/** Flags for shmemaphore_options.flags.  Each applies to the side that sets
 *  it; the two sides of a channel may choose differently. */
#define SHMEMAPHORE_FLAG_ALLOW_FOREIGN_OWNER 0x1u /**< attach to objects owned
                                                       by another user */
/** Never spin or yield: every wait sleeps in the kernel at once.  Default
 *  (flag clear): adaptive waiting, which, when recent waits show it pays,
 *  first spins in user space (a peer on another CPU; at most 200 us) or
 *  yields the CPU (a peer on the same CPU; at most 20 us) before it sleeps;
 *  for a peer on another CPU that takes about as long every turn, it sleeps
 *  with a timer until shortly before the answer is due and spins from then
 *  on (up to four times the turns' mean deviation, 200 us to 2 ms); it stops
 *  all of it by itself when the peer answers slowly and irregularly
 *  (docs/PERFORMANCE.md, "Waiting").  Set it to spend no CPU
 *  time waiting, at the cost of a kernel wake-up per turn. */
#define SHMEMAPHORE_FLAG_BLOCKING_WAIT 0x2u
/** For peers you do not trust (docs/SECURITY.md): check the segments' sizes
 *  (fstat) and read and write HEAD with pread/pwrite on every turn, even when
 *  the peer holds its liveness lock, and hand every received request or
 *  response over as a private copy, so that reading it cannot fault however
 *  another process resizes the segments.  Default (flag clear): with a
 *  lock-holding peer, which thereby promises never to shrink the segments,
 *  HEAD is mapped, sizes are checked only when a payload needs more than was
 *  verified (docs/PROTOCOL.md, "Trusted peers"), and received data is a view
 *  into shared memory.  Costs 3 system calls and one copy per round trip
 *  (docs/PERFORMANCE.md). */
#define SHMEMAPHORE_FLAG_UNTRUSTED_PEER 0x4u
/** The former name of SHMEMAPHORE_FLAG_UNTRUSTED_PEER (same bit). */
#define SHMEMAPHORE_FLAG_CHECK_EVERY_TURN SHMEMAPHORE_FLAG_UNTRUSTED_PEER

/**
 * Options for opening a channel.  Forward compatible in both directions:
 * always initialise with shmemaphore_options_init(&o, sizeof o), then change
 * fields.  A newer library reads only the struct_size bytes you compiled
 * (fields you lack take their defaults); an older library accepts a larger
 * struct as long as the fields it does not know are zero.
 */
typedef struct shmemaphore_options {
    /** sizeof(shmemaphore_options) as the caller compiled it. */
    size_t struct_size;
    /** Client only: how long shmemaphore_client_open waits for the server to
     *  create the segments.  Default 5000; SHMEMAPHORE_TIMEOUT_INFINITE. */
    int64_t attach_timeout_ms;
    /** Permission bits for the objects this process creates, applied
     *  regardless of umask.  0 means the default, 0600 (owner only).
     *  Only owner and group bits are allowed (0660 grants the group). */
    uint32_t mode;
    /** Server only: SHMEMAPHORE_STALE_RESET (default) or
     *  SHMEMAPHORE_STALE_FAIL. */
    uint32_t stale_policy;
    /** Bitwise OR of SHMEMAPHORE_FLAG_* values (ALLOW_FOREIGN_OWNER,
     *  BLOCKING_WAIT, UNTRUSTED_PEER); default 0: own objects only,
     *  adaptive waiting, trusted lock-holding peers.  Unknown bits give
     *  SHMEMAPHORE_E_INVALID_ARGUMENT. */
    uint32_t flags;
    /** Must be 0. */
    uint32_t reserved;
} shmemaphore_options;

/** Size of the first version of shmemaphore_options; no struct_size may be smaller. */
#define SHMEMAPHORE_OPTIONS_MIN_SIZE 32

/**
 * Fill the first `struct_size` bytes of *options with the defaults and set
 * options->struct_size = struct_size.  Pass sizeof(shmemaphore_options) as
 * your program sees it, so that a newer library never writes past your
 * struct.  Bytes beyond the fields this library knows are zeroed.
 *
 * Returns  SHMEMAPHORE_OK, or SHMEMAPHORE_E_INVALID_ARGUMENT when options is
 *          NULL or struct_size is below SHMEMAPHORE_OPTIONS_MIN_SIZE or above
 *          4096 (nothing is written then).  Thread-safe.
 */
SHMEMAPHORE_API int shmemaphore_options_init(shmemaphore_options *options, size_t struct_size);

/* ------------------------------------------------------------------------ */
/* Channels                                                                 */
/* ------------------------------------------------------------------------ */

/** An open channel: one role on one channel name.  Opaque; create it with
 *  shmemaphore_server_open or shmemaphore_client_open, free it with
 *  shmemaphore_close. */
typedef struct shmemaphore_channel shmemaphore_channel;

/**
 * Open channel `name` as its server.  Creates (or, after a crash, resets)
 * the two semaphores and creates both segments anew with mode
 * options->mode.  Returns at once; it does not wait for a client.  A channel
 * whose server is alive is not touched (SHMEMAPHORE_E_BUSY).
 *
 * name     NUL-terminated channel name (not NULL): 1 to
 *          SHMEMAPHORE_CHANNEL_NAME_MAX bytes of UTF-8 without control
 *          characters and without '/', after one optional leading '/' that
 *          is dropped: "/tensors" and "tensors" are the same channel, and
 *          "ibis" is the original apps' channel.  A '/' elsewhere is
 *          SHMEMAPHORE_E_INVALID_NAME: the original apps turned it into '_',
 *          which would make "a/b" and "a_b" one channel.  Object names:
 *          /SEM_<name>_REQ, /SEM_<name>_RES, /SEG_<name>_HEAD,
 *          /SEG_<name>_DATA (docs/PROTOCOL.md, "Object names").
 * options  NULL for the defaults.
 * out      receives the new channel (not NULL); owned by the caller, who
 *          must pass it to shmemaphore_close.  Set only on success.
 * Returns  SHMEMAPHORE_OK, SHMEMAPHORE_E_INVALID_ARGUMENT,
 *          SHMEMAPHORE_E_INVALID_NAME, SHMEMAPHORE_E_BUSY (a live server
 *          holds the channel), SHMEMAPHORE_E_EXISTS (STALE_FAIL),
 *          SHMEMAPHORE_E_UNSAFE_PERMISSIONS (an object of another user, too
 *          permissive, or not a regular file), SHMEMAPHORE_E_PROTOCOL (a
 *          semaphore file too short for a sem_t), or -errno (-ELOOP: an
 *          object is a symlink; -EACCES, -ENOSPC, ...).
 */
SHMEMAPHORE_API int shmemaphore_server_open(const char *name,
                                            const shmemaphore_options *options,
                                            shmemaphore_channel **out);

/**
 * Open channel `name` as its client.  Opens (creating if needed) the two
 * semaphores and waits up to options->attach_timeout_ms for the server's
 * segments.
 *
 * Arguments as for shmemaphore_server_open.
 * Returns  SHMEMAPHORE_OK, SHMEMAPHORE_E_INVALID_ARGUMENT,
 *          SHMEMAPHORE_E_INVALID_NAME, SHMEMAPHORE_E_TIMEOUT (no server came;
 *          semaphores this call created are removed again),
 *          SHMEMAPHORE_E_INTERRUPTED (a signal handler ran while it waited;
 *          nothing is left behind), SHMEMAPHORE_E_BUSY (another client is attached),
 *          SHMEMAPHORE_E_UNSAFE_PERMISSIONS, or -errno.
 */
SHMEMAPHORE_API int shmemaphore_client_open(const char *name,
                                            const shmemaphore_options *options,
                                            shmemaphore_channel **out);

/**
 * Close a channel and free it.  NULL is ignored.  Every pointer the channel
 * handed out (request and response views, reserved buffers) becomes invalid.
 *
 * A server unlinks all four objects of the channel (both segments and both
 * semaphores), so /dev/shm is left clean and a waiting client sees
 * SHMEMAPHORE_E_PEER_GONE; a name that no longer names the object this
 * channel opened (same device and inode) is left alone.  A client unlinks
 * nothing.
 * Handles are checked, not dereferenced: closing a channel twice does
 * nothing the second time, and any call on a closed (or made-up) handle
 * returns SHMEMAPHORE_E_INVALID_ARGUMENT.  Handles are never reused.
 */
SHMEMAPHORE_API void shmemaphore_close(shmemaphore_channel *channel);

/** Role of an open channel. */
#define SHMEMAPHORE_ROLE_SERVER 1
#define SHMEMAPHORE_ROLE_CLIENT 2

/** The role of `channel` (SHMEMAPHORE_ROLE_*), or SHMEMAPHORE_E_INVALID_ARGUMENT
 *  for NULL. */
SHMEMAPHORE_API int shmemaphore_channel_role(const shmemaphore_channel *channel);

/**
 * Interrupt the channel's wait: the call waiting on `channel` now, or, if
 * none is, the channel's next call that has to wait, returns
 * SHMEMAPHORE_E_INTERRUPTED (one wait per interrupt; several interrupts
 * before a wait end that one wait).  Nothing else about the channel changes.
 *
 * Thread-safe, and async-signal-safe: it may be called from a signal handler
 * (it takes no lock, allocates nothing and keeps errno).  Calling it while
 * another thread closes the channel is safe; the interrupt then has no effect.
 *
 * Returns  SHMEMAPHORE_OK, or SHMEMAPHORE_E_INVALID_ARGUMENT (NULL, or not an
 *          open channel).
 */
SHMEMAPHORE_API int shmemaphore_interrupt(shmemaphore_channel *channel);

/* ------------------------------------------------------------------------ */
/* Payload metadata and responses                                           */
/* ------------------------------------------------------------------------ */

/** Kinds of response payload.  On the wire they are told apart by the
 *  {width, height, channels} words (docs/PROTOCOL.md, "Responses"). */
#define SHMEMAPHORE_PAYLOAD_IMAGE 0u /**< 8-bit pixels, bytes = w * h * c, all >= 1 */
#define SHMEMAPHORE_PAYLOAD_BYTES 1u /**< opaque bytes: width = height = channels = 0 */
#define SHMEMAPHORE_PAYLOAD_ERROR 2u /**< error: channels = UINT64_MAX, width =
                                         the client's error code, height = 0,
                                         data = UTF-8 message of `bytes` bytes */

/** The channels word that marks an error response on the wire. */
#define SHMEMAPHORE_CHANNELS_ERROR UINT64_MAX

/** The four header words of a response, exactly as on the wire. */
typedef struct shmemaphore_metadata {
    uint64_t bytes;    /**< payload length in bytes */
    uint64_t width;    /**< image width in pixels; 0 for raw bytes */
    uint64_t height;   /**< image height in pixels; 0 for raw bytes */
    uint64_t channels; /**< interleaved 8-bit channels per pixel; 0 for raw bytes */
} shmemaphore_metadata;

/** A received response.  Filled by shmemaphore_receive_response. */
typedef struct shmemaphore_response {
    /** The wire header words. */
    shmemaphore_metadata metadata;
    /** SHMEMAPHORE_PAYLOAD_IMAGE, _BYTES or _ERROR. */
    uint32_t kind;
    /** Must be ignored; keeps the layout stable. */
    uint32_t reserved;
    /** For SHMEMAPHORE_PAYLOAD_ERROR: the client's error code; else 0. */
    uint64_t error_code;
    /** Read-only view of metadata.bytes bytes inside the shared data
     *  segment (for an error, its message, not NUL-terminated).  Owned by
     *  the channel; valid until the next call on the channel or its close.
     *  Never NULL after success, even when metadata.bytes is 0. */
    const uint8_t *data;
} shmemaphore_response;

/* ------------------------------------------------------------------------ */
/* Server: requests out, responses in                                       */
/* ------------------------------------------------------------------------ */

/**
 * Send a request and return without waiting for the answer.
 *
 * request  `length` bytes, copied into shared memory; may be NULL only when
 *          length is 0.  Not NUL-terminated on the wire.
 *
 * A request still outstanding (its receive timed out or was interrupted) is
 * given up first (docs/PROTOCOL.md, "Giving up a request"): its response, if
 * it ever comes, is never returned for the new request.  With a client of
 * this library, the server moves the channel to new segments (the client
 * follows by itself), so that the late answer cannot touch the new request.
 * A client that numbers no answers (an original app) cannot be told apart
 * from its late answer: the old request is given up only if the client has
 * not taken it yet or has answered it meanwhile, else this returns
 * SHMEMAPHORE_E_WRONG_STATE (receive the response first).
 *
 * Returns  SHMEMAPHORE_OK, SHMEMAPHORE_E_INVALID_ARGUMENT,
 *          SHMEMAPHORE_E_WRONG_ROLE, SHMEMAPHORE_E_WRONG_STATE (an original
 *          client is still answering the outstanding request),
 *          SHMEMAPHORE_E_TOO_LARGE, -ENOSPC, -errno.
 */
SHMEMAPHORE_API int shmemaphore_send_request(shmemaphore_channel *channel,
                                             const void *request,
                                             uint64_t length);

/**
 * Wait up to timeout_ms for the response to the outstanding request.
 *
 * out      filled on SHMEMAPHORE_OK and on SHMEMAPHORE_E_PEER_ERROR (then
 *          out->kind is SHMEMAPHORE_PAYLOAD_ERROR and out->data holds the
 *          client's message).  Not NULL.  out->data is a view into shared
 *          memory, valid until the next call on the channel.
 * A response token that does not carry this request's exchange number (a
 * third process posted, or the client answered another request) is not an
 * answer: it is dropped and the wait goes on (docs/PROTOCOL.md, "Exchange
 * numbers"); it never yields a payload.
 *
 * Returns  SHMEMAPHORE_OK, SHMEMAPHORE_E_TIMEOUT (the request stays
 *          outstanding: call again to wait on, or send a new request to
 *          give it up), SHMEMAPHORE_E_INTERRUPTED (the same: the request
 *          stays outstanding), SHMEMAPHORE_E_PEER_ERROR,
 *          SHMEMAPHORE_E_PEER_GONE (the client died; the request is
 *          withdrawn and a new one may be sent),
 *          SHMEMAPHORE_E_PROTOCOL (also: only tokens with a wrong exchange
 *          number came before the timeout, beyond the one owed for each
 *          given-up request's late answer; the request stays outstanding),
 *          SHMEMAPHORE_E_WRONG_ROLE,
 *          SHMEMAPHORE_E_WRONG_STATE (no request outstanding),
 *          SHMEMAPHORE_E_INVALID_ARGUMENT, -errno.
 */
SHMEMAPHORE_API int shmemaphore_receive_response(shmemaphore_channel *channel,
                                                 int64_t timeout_ms,
                                                 shmemaphore_response *out);

/**
 * One round trip: shmemaphore_send_request, then
 * shmemaphore_receive_response.  Arguments, ownership and codes as theirs.
 * After SHMEMAPHORE_E_TIMEOUT or SHMEMAPHORE_E_INTERRUPTED the same call may
 * simply be made again: it gives up the unanswered request and sends anew.
 */
SHMEMAPHORE_API int shmemaphore_request(shmemaphore_channel *channel,
                                        const void *request, uint64_t length,
                                        int64_t timeout_ms,
                                        shmemaphore_response *out);

/* ------------------------------------------------------------------------ */
/* Client: requests in, responses out                                       */
/* ------------------------------------------------------------------------ */

/**
 * Wait up to timeout_ms for the next request.
 *
 * A request token that comes with the exchange number of the request
 * answered last (a third process posted REQ, or a double post) is not a new
 * request: it is dropped without touching the segments and the wait goes on.
 *
 * request  (not NULL) receives a read-only view of the request bytes
 *          inside shared memory: not NUL-terminated, and never NULL itself,
 *          even for length 0.  Owned by the channel; valid until the next
 *          call on the channel (reserving a response buffer overwrites it).
 * length   (not NULL) receives the request length.
 * After this call reported SHMEMAPHORE_E_PEER_GONE, the next call waits
 * (within its timeout) for a new server on the same channel name, attaches
 * to it and serves it: one client handle serves successive servers, like a
 * daemon.  A server that restarts while the client waits is followed
 * without an error at all.
 *
 * Returns  SHMEMAPHORE_OK, SHMEMAPHORE_E_TIMEOUT (nothing came; after
 *          PEER_GONE also: no new server came), SHMEMAPHORE_E_PEER_GONE
 *          (the server closed the channel or died; reported once),
 *          SHMEMAPHORE_E_INTERRUPTED, SHMEMAPHORE_E_BUSY (after PEER_GONE:
 *          another client attached to the new server first), SHMEMAPHORE_E_PROTOCOL,
 *          SHMEMAPHORE_E_WRONG_ROLE, SHMEMAPHORE_E_WRONG_STATE (the previous
 *          request is not answered yet), SHMEMAPHORE_E_INVALID_ARGUMENT, -errno.
 */
SHMEMAPHORE_API int shmemaphore_receive_request(shmemaphore_channel *channel,
                                                int64_t timeout_ms,
                                                const uint8_t **request,
                                                uint64_t *length);

/**
 * Answer the current request with a copy of `payload`.
 *
 * Sending does not wait for the server.  If the server has closed the channel
 * meanwhile the response is lost without an error here; the next
 * shmemaphore_receive_request reports SHMEMAPHORE_E_PEER_GONE.
 *
 * metadata the four wire words.  Images need width, height, channels >= 1
 *          and bytes == width * height * channels; raw bytes need
 *          width == height == channels == 0.  Not NULL.
 * payload  metadata->bytes bytes; may be NULL only when bytes is 0.
 * Returns  SHMEMAPHORE_OK, SHMEMAPHORE_E_INVALID_ARGUMENT (inconsistent
 *          metadata, or channels == SHMEMAPHORE_CHANNELS_ERROR: use
 *          shmemaphore_send_error), SHMEMAPHORE_E_TOO_LARGE,
 *          SHMEMAPHORE_E_WRONG_ROLE, SHMEMAPHORE_E_WRONG_STATE (no request
 *          to answer), -ENOSPC, -errno.
 */
SHMEMAPHORE_API int shmemaphore_send_response(shmemaphore_channel *channel,
                                              const shmemaphore_metadata *metadata,
                                              const void *payload);

/**
 * Answer the current request with an error, so the server does not wait in
 * vain.  The server's shmemaphore_receive_response returns
 * SHMEMAPHORE_E_PEER_ERROR with `code` and `message`.
 *
 * code     application-defined; SHMEMAPHORE_PEER_ERROR_* suggests values.
 * message  NUL-terminated UTF-8 text, copied; NULL sends an empty message.
 * Returns  as shmemaphore_send_response.
 */
SHMEMAPHORE_API int shmemaphore_send_error(shmemaphore_channel *channel,
                                           uint64_t code, const char *message);

/** Suggested error codes for shmemaphore_send_error. */
#define SHMEMAPHORE_PEER_ERROR_UNSPECIFIED 0 /**< the request failed */
#define SHMEMAPHORE_PEER_ERROR_NOT_FOUND 1   /**< the requested name is unknown */
#define SHMEMAPHORE_PEER_ERROR_BAD_REQUEST 2 /**< the request is malformed */

/**
 * Zero-copy answer, step 1: reserve a writable buffer of `length` bytes
 * inside the data segment (growing it if needed).
 *
 * buffer   receives the buffer; owned by the channel, valid until
 *          shmemaphore_commit, another call on the channel, or close.
 *          Not NULL.  The request view becomes invalid.
 * Returns  SHMEMAPHORE_OK, SHMEMAPHORE_E_INVALID_ARGUMENT,
 *          SHMEMAPHORE_E_TOO_LARGE, SHMEMAPHORE_E_WRONG_ROLE,
 *          SHMEMAPHORE_E_WRONG_STATE (no request to answer), -ENOSPC, -errno.
 */
SHMEMAPHORE_API int shmemaphore_reserve(shmemaphore_channel *channel,
                                        uint64_t length, void **buffer);

/**
 * Zero-copy answer, step 2: publish the reserved buffer's first
 * metadata->bytes bytes with `metadata` (rules as for
 * shmemaphore_send_response; bytes must not exceed the reservation).
 *
 * Returns  SHMEMAPHORE_OK, SHMEMAPHORE_E_INVALID_ARGUMENT,
 *          SHMEMAPHORE_E_WRONG_ROLE, SHMEMAPHORE_E_WRONG_STATE (nothing
 *          reserved), SHMEMAPHORE_E_PROTOCOL (the segment shrank under us),
 *          -errno.
 */
SHMEMAPHORE_API int shmemaphore_commit(shmemaphore_channel *channel,
                                       const shmemaphore_metadata *metadata);

/* ------------------------------------------------------------------------ */
/* Images (stb)                                                             */
/* ------------------------------------------------------------------------ */

/**
 * Client: answer the current request with the image file at `path`,
 * decoded by stb_image to 8-bit pixels with the file's own channel count
 * (PNG, JPEG, BMP, TGA, GIF, PSD, HDR, PIC, PNM).
 *
 * path     NUL-terminated path of any bytes (not NULL; < PATH_MAX bytes).
 * sent     NULL, or receives the metadata of the image sent (on success).
 * Returns  as shmemaphore_send_response, plus -ENOENT/-EACCES (file cannot
 *          be opened) and SHMEMAPHORE_E_IMAGE_DECODE.  The role and state
 *          are checked before the file is read.  On failure nothing is sent:
 *          the request is still to be answered (for example with
 *          shmemaphore_send_error).
 */
SHMEMAPHORE_API int shmemaphore_send_image_file(shmemaphore_channel *channel,
                                                const char *path,
                                                shmemaphore_metadata *sent);

/**
 * Save an image response to `path`; the format follows the extension
 * (case-insensitive): .png, .jpg/.jpeg (quality 90), .bmp, .tga.
 *
 * response a response filled by shmemaphore_receive_response whose data is
 *          still valid (not NULL).
 * path     NUL-terminated path of any bytes (not NULL; < PATH_MAX bytes);
 *          an existing file is replaced.
 * Returns  SHMEMAPHORE_OK, SHMEMAPHORE_E_INVALID_ARGUMENT,
 *          SHMEMAPHORE_E_NOT_IMAGE, SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
 *          SHMEMAPHORE_E_PROTOCOL (metadata inconsistent),
 *          SHMEMAPHORE_E_IMAGE_ENCODE.
 * Thread-safe with respect to other channels; the response's channel must
 * not be used meanwhile.
 */
SHMEMAPHORE_API int shmemaphore_save_image(const shmemaphore_response *response,
                                           const char *path);

/* ------------------------------------------------------------------------ */
/* Channels in /dev/shm: listing and clean-up                               */
/* ------------------------------------------------------------------------ */

/* What `shmemaphore ls` and `shmemaphore rm` do, for programs.  Nothing here
 * opens a channel: files are looked at with one read-only, no-follow
 * descriptor each and never mapped, so a file that its owner truncates,
 * swaps or turns into a symlink meanwhile cannot crash the caller or make it
 * look elsewhere.  Both are thread-safe. */

/** Bits of shmemaphore_channel_info.objects: which objects exist. */
#define SHMEMAPHORE_OBJECT_HEAD 1u /**< the header segment, SEG_S_HEAD */
#define SHMEMAPHORE_OBJECT_DATA 2u /**< the data segment, SEG_S_DATA */
#define SHMEMAPHORE_OBJECT_REQ 4u  /**< the request semaphore, sem.SEM_S_REQ */
#define SHMEMAPHORE_OBJECT_RES 8u  /**< the response semaphore, sem.SEM_S_RES */

/** One channel found in /dev/shm (see shmemaphore_list_channels). */
typedef struct shmemaphore_channel_info {
    /** S, the channel's name as the object names hold it: NUL-terminated
     *  bytes that whoever made the files chose, so neither UTF-8 nor a
     *  valid channel name is guaranteed.  Valid during the callback only. */
    const char *name;
    /** Which of the four objects exist: SHMEMAPHORE_OBJECT_* bits. */
    uint32_t objects;
    /** 1: a libshmemaphore server holds its liveness lock on HEAD (it is
     *  alive); 0: none does (a crashed server's leftovers, or a server of
     *  the original apps, which takes no lock); -1: unknown (no HEAD, or it
     *  could not be looked at). */
    int32_t server_locked;
    /** The same for a libshmemaphore client. */
    int32_t client_locked;
    /** Zero; room for later fields. */
    uint32_t reserved[5];
} shmemaphore_channel_info;

/** Called by shmemaphore_list_channels for each channel: return 0 to go on,
 *  anything else to stop (shmemaphore_list_channels returns that value). */
typedef int (*shmemaphore_channel_visitor)(const shmemaphore_channel_info *info, void *context);

/**
 * Call `visit` once for each channel with at least one object in /dev/shm,
 * in byte order of the names.
 *
 * visit    the callback (not NULL); it may call any function of this
 *          library, shmemaphore_remove_channel included.
 * context  passed to visit as is; may be NULL.
 * Returns  SHMEMAPHORE_OK, the nonzero value visit returned,
 *          SHMEMAPHORE_E_INVALID_ARGUMENT (visit is NULL), -errno (/dev/shm
 *          cannot be read).
 */
SHMEMAPHORE_API int shmemaphore_list_channels(shmemaphore_channel_visitor visit, void *context);

/** Flag of shmemaphore_remove_channel: remove the channel even while a
 *  live server holds it (its clients then lose it). */
#define SHMEMAPHORE_REMOVE_FORCE 1u

/**
 * Remove the objects of channel `name` that a crashed server (or client)
 * left in /dev/shm: exactly SEG_S_HEAD, SEG_S_DATA, sem.SEM_S_REQ and
 * sem.SEM_S_RES, each only while it is still the file just looked at (a
 * symlink is removed itself, never followed; a name that another process
 * re-created meanwhile is left alone).
 *
 * name     channel name, as for shmemaphore_server_open (not NULL).
 * flags    0 or SHMEMAPHORE_REMOVE_FORCE.
 * removed  NULL, or receives how many objects were removed (0-4; also on
 *          failure: those removed before it).
 * Returns  SHMEMAPHORE_OK (also when none existed: *removed is 0),
 *          SHMEMAPHORE_E_INVALID_NAME, SHMEMAPHORE_E_INVALID_ARGUMENT
 *          (unknown flags), SHMEMAPHORE_E_BUSY (a libshmemaphore server
 *          holds the channel and FORCE is not set: nothing was removed; a
 *          server of the original apps takes no lock and is not seen),
 *          -EACCES, -EPERM (an object is not this user's to remove; the
 *          others were removed), -errno.
 */
SHMEMAPHORE_API int shmemaphore_remove_channel(const char *name, unsigned flags, unsigned *removed);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SHMEMAPHORE_H */
