/*
 * shmemaphore.hpp - header-only C++17 interface to libshmemaphore.
 *
 * A thin layer over the C API of <shmemaphore.h> (read that header first:
 * it is the contract; this one adds ownership, exceptions and types, and no
 * behaviour of its own).  Everything is in namespace `shmemaphore`.
 *
 *   #include <shmemaphore.hpp>
 *   c++ -std=c++17 app.cpp $(pkg-config --cflags --libs shmemaphore)
 *   CMake: find_package(shmemaphore CONFIG REQUIRED)
 *          target_link_libraries(app PRIVATE shmemaphore::shmemaphore)
 *
 * The server (the requester):
 *
 *   shmemaphore::server srv("tensors");                  // throws shmemaphore::error
 *   shmemaphore::response r = srv.request("dog", std::chrono::seconds(5));
 *   if (r.kind() == shmemaphore::payload_kind::error)     // the client said no
 *       std::cerr << r.error_code() << ": " << r.error_message() << "\n";
 *   else
 *       use(r.data(), r.size(), r.width(), r.height(), r.channels());
 *
 * The client (the responder):
 *
 *   shmemaphore::client cli("tensors");                  // waits for the server
 *   for (;;) {
 *       std::error_code ec;
 *       shmemaphore::request_view req = cli.receive(shmemaphore::infinite, ec);
 *       if (ec == shmemaphore::errc::interrupted) { if (stop) break; continue; }
 *       if (ec == shmemaphore::errc::peer_gone) break;   // the server closed
 *       if (ec) throw shmemaphore::error(ec, "receive");
 *       cli.send_image_file(std::string("img/") + std::string(req.view()));
 *   }
 *
 * Design decisions
 *   Errors.  Every call that can fail comes in two forms: one that throws
 *     shmemaphore::error (a std::system_error whose code() is in
 *     shmemaphore::category(), with the C status code as its value), and one
 *     that takes a `std::error_code&` last, is noexcept, sets it (cleared on
 *     success) and returns an empty value on failure.  Out of memory in the
 *     wrapper (a copy of a long path or message) is -ENOMEM in that category
 *     for the error_code forms; the throwing forms may also throw
 *     std::bad_alloc.  Compare codes with shmemaphore::errc
 *     (`ec == shmemaphore::errc::timeout`); system codes (-errno) also
 *     compare equal to the matching std::errc (`ec == std::errc::permission_denied`),
 *     and errc::interrupted, which is -EINTR, to std::errc::interrupted.
 *   A peer's error response is an answer, not a failure: request() returns
 *     a response of kind payload_kind::error (C: SHMEMAPHORE_E_PEER_ERROR
 *     with the response filled) and does not throw or set the error_code.
 *     response::throw_if_error() turns it into a shmemaphore::peer_error
 *     for code that wants exceptions.
 *   Interrupts.  An interrupted wait (interrupt() from another thread or a
 *     signal handler, or a signal without SA_RESTART) is errc::interrupted:
 *     an exception from the throwing forms, the error_code from the others.
 *     The channel is as before the call; make it again to go on.
 *   Timeouts are std::chrono::milliseconds on the monotonic clock.
 *     shmemaphore::infinite waits forever, 0 polls once.  Any other negative
 *     timeout polls once as well (as 0): a deadline computed as
 *     `deadline - now` that has passed never turns into waiting forever.
 *   Views.  response data, the request view and a reserved buffer point into
 *     the channel's shared memory (or its private copy) and are valid only
 *     until the next call on their channel (any call but interrupt()) or its
 *     close, destruction or move-assignment over it (a move construction
 *     keeps them valid: the channel lives on in the new object).  Every
 *     view can tell: valid() is always available and cheap.  With
 *     SHMEMAPHORE_CPP_CHECKED set to 1 (the default when NDEBUG is not
 *     defined), the accessors that touch the bytes (data(), bytes(),
 *     view(), error_message(), save(), ...) check valid() and on a stale
 *     view call SHMEMAPHORE_CPP_STALE_VIEW_HANDLER(what), which by default
 *     prints a message to stderr and calls std::abort(); define both macros
 *     before including this header to change that (the test program makes
 *     the handler throw).  The check costs one heap-allocated counter per
 *     channel and a weak reference per view; the counter is kept (and
 *     valid() works) in every build, so that translation units compiled with
 *     and without NDEBUG agree on every class's layout (only the bodies of
 *     the checking accessors differ, as assert's do).  A view and its
 *     channel are used from one thread (as the channel itself).
 *   Ownership.  server and client own their C handle: move-only, closed by
 *     the destructor (a server's close removes the channel's four objects
 *     from /dev/shm).  A moved-from or default-constructed object is empty:
 *     is_open() is false, every call on it fails with
 *     errc::invalid_argument (as the C API's for a closed handle), and it
 *     may be destroyed, assigned to or closed again.
 *   Thread safety, as the C API's: a channel object must not be used by two
 *     threads at once, except interrupt(), which any thread (and a signal
 *     handler) may call at any time while the object exists, also while
 *     another thread waits on it or closes it.  The free functions are
 *     thread-safe.
 *
 * Compiles warning-free with g++ and clang++ at -std=c++17 and -std=c++20,
 * -Wall -Wextra -pedantic -Wconversion -Wshadow.  With C++20 (and <span>)
 * the views also give std::span and the senders take std::span.
 */
#ifndef SHMEMAPHORE_HPP
#define SHMEMAPHORE_HPP

#include <shmemaphore.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#if __cplusplus >= 202002L && defined(__has_include)
#if __has_include(<span>)
#include <span>
#define SHMEMAPHORE_CPP_HAS_SPAN 1
#endif
#endif
#ifndef SHMEMAPHORE_CPP_HAS_SPAN
#define SHMEMAPHORE_CPP_HAS_SPAN 0
#endif

/** 1: view accessors check that the view is still valid (see "Views"
 *  above); 0: they do not (valid() still works).  Default: 1 unless NDEBUG. */
#ifndef SHMEMAPHORE_CPP_CHECKED
#ifdef NDEBUG
#define SHMEMAPHORE_CPP_CHECKED 0
#else
#define SHMEMAPHORE_CPP_CHECKED 1
#endif
#endif

/** Called with a C string naming the accessor when a checked accessor finds
 *  its view stale.  Must not return normally (abort, or throw). */
#ifndef SHMEMAPHORE_CPP_STALE_VIEW_HANDLER
#define SHMEMAPHORE_CPP_STALE_VIEW_HANDLER(what) ::shmemaphore::detail::stale_view_abort(what)
#endif

namespace shmemaphore {

// ===========================================================================
// Versions
// ===========================================================================

/** The version this header was compiled with (SHMEMAPHORE_VERSION_NUMBER). */
inline constexpr unsigned header_version_number = SHMEMAPHORE_VERSION_NUMBER;

/** Runtime version of the loaded library, as SHMEMAPHORE_VERSION_NUMBER
 *  (MAJOR * 10000 + MINOR * 100 + PATCH).  Thread-safe; never fails. */
inline unsigned version_number() noexcept { return ::shmemaphore_version_number(); }

/** Runtime version of the loaded library as "MAJOR.MINOR.PATCH"; a static
 *  string, valid for the life of the process.  Thread-safe. */
inline std::string_view version_string() noexcept { return ::shmemaphore_version_string(); }

/** Wire protocol version spoken by the loaded library.  Thread-safe. */
inline unsigned protocol_version() noexcept { return ::shmemaphore_protocol_version(); }

// ===========================================================================
// Errors
// ===========================================================================

/** The library's status codes, with the C codes as values
 *  (SHMEMAPHORE_E_*; interrupted is -EINTR).  An std::error_code enum:
 *  `ec == shmemaphore::errc::timeout` works for codes in category(). */
enum class errc : int {
    invalid_argument = SHMEMAPHORE_E_INVALID_ARGUMENT,
    invalid_name = SHMEMAPHORE_E_INVALID_NAME,
    timeout = SHMEMAPHORE_E_TIMEOUT,
    protocol = SHMEMAPHORE_E_PROTOCOL,
    peer_error = SHMEMAPHORE_E_PEER_ERROR,
    peer_gone = SHMEMAPHORE_E_PEER_GONE,
    wrong_role = SHMEMAPHORE_E_WRONG_ROLE,
    wrong_state = SHMEMAPHORE_E_WRONG_STATE,
    exists = SHMEMAPHORE_E_EXISTS,
    image_decode = SHMEMAPHORE_E_IMAGE_DECODE,
    image_encode = SHMEMAPHORE_E_IMAGE_ENCODE,
    unsupported_format = SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
    not_image = SHMEMAPHORE_E_NOT_IMAGE,
    too_large = SHMEMAPHORE_E_TOO_LARGE,
    unsafe_permissions = SHMEMAPHORE_E_UNSAFE_PERMISSIONS,
    busy = SHMEMAPHORE_E_BUSY,
    interrupted = SHMEMAPHORE_E_INTERRUPTED,
};

} // namespace shmemaphore

namespace std {
/** shmemaphore::errc converts to std::error_code. */
template <> struct is_error_code_enum<shmemaphore::errc> : true_type {};
} // namespace std

namespace shmemaphore {

namespace detail {

class category_impl final : public std::error_category {
public:
    const char *name() const noexcept override { return "shmemaphore"; }
    std::string message(int code) const override { return ::shmemaphore_strerror(code); }
    // System codes (-errno) are also the generic condition errno, so that
    // they compare equal to std::errc values.
    std::error_condition default_error_condition(int code) const noexcept override {
        if (code < 0 && code > -SHMEMAPHORE_ERRNO_MAX)
            return std::error_condition(-code, std::generic_category());
        return std::error_condition(code, *this);
    }
};

} // namespace detail

/** The error category of the library's status codes: value() is the C code
 *  (negative), message() shmemaphore_strerror's text, name() "shmemaphore".
 *  One object per program (an inline function's static). */
inline const std::error_category &category() noexcept {
    static const detail::category_impl instance;
    return instance;
}

/** A C status code as an std::error_code: empty (success) for
 *  SHMEMAPHORE_OK, else {code, category()}. */
inline std::error_code make_error_code(int c_code) noexcept {
    return c_code == SHMEMAPHORE_OK ? std::error_code() : std::error_code(c_code, category());
}

/** For std::error_code's errc support (found by argument-dependent lookup). */
inline std::error_code make_error_code(errc code) noexcept {
    return std::error_code(static_cast<int>(code), category());
}

/** The symbolic name of a C status code ("SHMEMAPHORE_E_TIMEOUT", "ENOENT",
 *  "SHMEMAPHORE_E_UNKNOWN"); static, thread-safe. */
inline const char *error_name(int c_code) noexcept { return ::shmemaphore_error_name(c_code); }

/** The symbolic name of an error_code of category() (else
 *  "SHMEMAPHORE_E_UNKNOWN"; "SHMEMAPHORE_OK" for an empty one). */
inline const char *error_name(const std::error_code &ec) noexcept {
    if (!ec)
        return "SHMEMAPHORE_OK";
    return ec.category() == category() ? ::shmemaphore_error_name(ec.value()) : "SHMEMAPHORE_E_UNKNOWN";
}

/**
 * The exception of every throwing call: a std::system_error whose code() is
 * {C status code, category()} and whose what() is "<context>: <strerror>".
 * c_code() and name() give the C code and its symbolic name.
 */
class error : public std::system_error {
public:
    /** A C status code (not SHMEMAPHORE_OK) and where it happened. */
    error(int c_code, const char *context) : std::system_error(c_code, category(), context) {}
    /** An error_code (usually of category()) and where it happened. */
    error(const std::error_code &ec, const char *context) : std::system_error(ec, context) {}
    error(const std::error_code &ec, const std::string &context) : std::system_error(ec, context) {}

    /** The C status code (code().value()), for code() in category(). */
    int c_code() const noexcept { return code().value(); }
    /** Its symbolic name, such as "SHMEMAPHORE_E_TIMEOUT". */
    const char *name() const noexcept { return error_name(code()); }
};

/**
 * A peer's error response turned into an exception by
 * response::throw_if_error(): code() is errc::peer_error, peer_code() the
 * client's code, peer_message() a copy of its message.
 */
class peer_error : public error {
public:
    peer_error(std::uint64_t code, std::string message)
        : error(SHMEMAPHORE_E_PEER_ERROR, "shmemaphore: the client answered with an error"),
          code_(code), message_(std::make_shared<const std::string>(std::move(message))) {}
    /** The client's error code (SHMEMAPHORE_PEER_ERROR_* suggests values). */
    std::uint64_t peer_code() const noexcept { return code_; }
    /** The client's message (UTF-8 from another process: untrusted text). */
    const std::string &peer_message() const noexcept { return *message_; }

private:
    std::uint64_t code_;
    std::shared_ptr<const std::string> message_; // copying an exception must not throw
};

// ===========================================================================
// Options, timeouts, small types
// ===========================================================================

/** Wait forever (SHMEMAPHORE_TIMEOUT_INFINITE). */
inline constexpr std::chrono::milliseconds infinite{SHMEMAPHORE_TIMEOUT_INFINITE};

/** Bits of options::flags (SHMEMAPHORE_FLAG_*; see <shmemaphore.h>). */
namespace flag {
inline constexpr std::uint32_t allow_foreign_owner = SHMEMAPHORE_FLAG_ALLOW_FOREIGN_OWNER;
inline constexpr std::uint32_t blocking_wait = SHMEMAPHORE_FLAG_BLOCKING_WAIT;
inline constexpr std::uint32_t untrusted_peer = SHMEMAPHORE_FLAG_UNTRUSTED_PEER;
} // namespace flag

/** What a server does with a crashed server's objects (options::stale). */
enum class stale_policy : std::uint32_t {
    reset = SHMEMAPHORE_STALE_RESET, ///< default: reset them
    fail = SHMEMAPHORE_STALE_FAIL,   ///< fail with errc::exists
};

/**
 * Options for opening a channel: shmemaphore_options as C++ fields.  The
 * constructor takes the defaults from shmemaphore_options_init, so they
 * are the loaded library's (no default is written here).
 */
struct options {
    /** Client only: how long opening waits for the server (default 5 s);
     *  infinite waits forever. */
    std::chrono::milliseconds attach_timeout{0};
    /** Permission bits of the objects this process creates; 0: 0600. */
    std::uint32_t mode = 0;
    /** Server only: reset (default) or fail on a crashed server's objects. */
    stale_policy stale = stale_policy::reset;
    /** Bitwise OR of shmemaphore::flag values (default 0). */
    std::uint32_t flags = 0;

    /** The library's defaults (shmemaphore_options_init).  Never fails. */
    options() noexcept {
        ::shmemaphore_options c;
        if (::shmemaphore_options_init(&c, sizeof c) == SHMEMAPHORE_OK) {
            attach_timeout = std::chrono::milliseconds(c.attach_timeout_ms);
            mode = c.mode;
            stale = static_cast<stale_policy>(c.stale_policy);
            flags = c.flags;
        }
    }

    /** The C struct: shmemaphore_options_init, then these fields. */
    ::shmemaphore_options to_c() const noexcept {
        ::shmemaphore_options c;
        ::shmemaphore_options_init(&c, sizeof c);
        c.attach_timeout_ms = attach_timeout.count(); // milliseconds' rep: at least 45 bits
        c.mode = mode;
        c.stale_policy = static_cast<std::uint32_t>(stale);
        c.flags = flags;
        return c;
    }
};

/** Kinds of response payload (SHMEMAPHORE_PAYLOAD_*). */
enum class payload_kind : std::uint32_t {
    image = SHMEMAPHORE_PAYLOAD_IMAGE, ///< 8-bit pixels, bytes = width * height * channels
    bytes = SHMEMAPHORE_PAYLOAD_BYTES, ///< opaque bytes
    error = SHMEMAPHORE_PAYLOAD_ERROR, ///< the client's error: error_code() and error_message()
};

/** The role of a channel (SHMEMAPHORE_ROLE_*). */
enum class role : int {
    server = SHMEMAPHORE_ROLE_SERVER,
    client = SHMEMAPHORE_ROLE_CLIENT,
};

/** The wire metadata of a payload (the C struct, exactly). */
using metadata = ::shmemaphore_metadata;

/** Metadata of a raw-bytes payload of `length` bytes. */
inline constexpr metadata bytes_metadata(std::uint64_t length) noexcept { return metadata{length, 0, 0, 0}; }

// ===========================================================================
// Internals
// ===========================================================================

namespace detail {

[[noreturn]] inline void stale_view_abort(const char *what) noexcept {
    std::fprintf(stderr,
                 "shmemaphore: %s used after the next call on its channel (or its close): "
                 "the view is no longer valid\n",
                 what);
    std::abort();
}

/** The C timeout of a duration (see "Timeouts" above). */
inline std::int64_t timeout_ms(std::chrono::milliseconds timeout) noexcept {
    if (timeout == infinite)
        return SHMEMAPHORE_TIMEOUT_INFINITE;
    std::int64_t ms = timeout.count();
    return ms < 0 ? 0 : ms;
}

/** Sets ec from a C code; true on success. */
inline bool set(std::error_code &ec, int c_code) noexcept {
    ec = make_error_code(c_code);
    return c_code == SHMEMAPHORE_OK;
}

inline void throw_if(const std::error_code &ec, const char *context) {
    if (ec)
        throw error(ec, context);
}

/**
 * A NUL-terminated copy of a string_view for the C API: on the stack when
 * short, else on the heap.  ok() is false (and code() says why) when the
 * text holds a NUL (the C API would see a shorter string) or memory ran out.
 */
class c_string {
public:
    c_string(std::string_view text, int nul_code) noexcept {
        if (text.find('\0') != std::string_view::npos) {
            code_ = nul_code;
            return;
        }
        char *target = small_;
        if (text.size() >= sizeof small_) {
            large_.reset(new (std::nothrow) char[text.size() + 1]);
            if (!large_) {
                code_ = -ENOMEM;
                return;
            }
            target = large_.get();
        }
        if (!text.empty())
            std::memcpy(target, text.data(), text.size());
        target[text.size()] = '\0';
        pointer_ = target;
    }
    c_string(const c_string &) = delete;
    c_string &operator=(const c_string &) = delete;

    bool ok() const noexcept { return pointer_ != nullptr; }
    int code() const noexcept { return code_; }
    const char *get() const noexcept { return pointer_; }

private:
    char small_[256];
    std::unique_ptr<char[]> large_;
    const char *pointer_ = nullptr;
    int code_ = SHMEMAPHORE_OK;
};

/** A view's link to its channel's call counter (see "Views" above). */
class stamp {
public:
    stamp() noexcept = default;
    explicit stamp(const std::shared_ptr<std::uint64_t> &counter) noexcept
        : counter_(counter), value_(counter ? *counter : 0) {}
    bool valid() const noexcept {
        std::shared_ptr<std::uint64_t> counter = counter_.lock();
        return counter && *counter == value_;
    }
    void check(const char *what) const {
#if SHMEMAPHORE_CPP_CHECKED
        if (!valid())
            SHMEMAPHORE_CPP_STALE_VIEW_HANDLER(what);
#else
        (void)what;
#endif
    }

private:
    std::weak_ptr<std::uint64_t> counter_;
    std::uint64_t value_ = 0;
};

/** Overflow-checked w * h * c; false on overflow. */
inline bool image_bytes(std::uint64_t width, std::uint64_t height, std::uint64_t channels,
                        std::uint64_t &bytes) noexcept {
    std::uint64_t product = width;
    if (height != 0 && product > UINT64_MAX / height)
        return false;
    product *= height;
    if (channels != 0 && product > UINT64_MAX / channels)
        return false;
    bytes = product * channels;
    return true;
}

} // namespace detail

// ===========================================================================
// Views: response, request_view, writable_buffer
// ===========================================================================

/**
 * A response received by server::request or server::receive_response.
 *
 * Copyable; holds the C struct (metadata, kind, error code: valid forever)
 * and a view of the payload bytes, which is valid only until the next call
 * on the server that received it, or its close (see "Views" at the top).
 * Copy what you keep.  A default-constructed response is empty: kind bytes,
 * size 0, never valid().
 */
class response {
public:
    response() noexcept : c_() { c_.kind = SHMEMAPHORE_PAYLOAD_BYTES; }

    /** Whether the payload view is still usable (no call on the channel
     *  since, channel not closed).  Metadata accessors work regardless. */
    bool valid() const noexcept { return stamp_.valid(); }

    /** SHMEMAPHORE_PAYLOAD_* as payload_kind. */
    payload_kind kind() const noexcept { return static_cast<payload_kind>(c_.kind); }
    bool is_image() const noexcept { return c_.kind == SHMEMAPHORE_PAYLOAD_IMAGE; }
    bool is_error() const noexcept { return c_.kind == SHMEMAPHORE_PAYLOAD_ERROR; }

    /** The four wire words. */
    const ::shmemaphore_metadata &metadata() const noexcept { return c_.metadata; }
    /** Payload length in bytes (for an error: of its message). */
    std::size_t size() const noexcept { return static_cast<std::size_t>(c_.metadata.bytes); }
    bool empty() const noexcept { return c_.metadata.bytes == 0; }
    /** Image shape; 0 for raw bytes (for an error, width() is its code). */
    std::uint64_t width() const noexcept { return c_.metadata.width; }
    std::uint64_t height() const noexcept { return c_.metadata.height; }
    std::uint64_t channels() const noexcept { return c_.metadata.channels; }

    /** The payload: size() bytes, never null after a successful receive
     *  (even when empty).  Valid until the next call on the channel;
     *  checked in checked builds. */
    const std::byte *data() const {
        stamp_.check("shmemaphore::response::data()");
        return reinterpret_cast<const std::byte *>(c_.data);
    }
    /** The same bytes as unsigned char (for APIs that want them). */
    const unsigned char *bytes() const {
        stamp_.check("shmemaphore::response::bytes()");
        return c_.data;
    }
    /** The payload as characters (e.g. a text answer).  Same lifetime. */
    std::string_view view() const {
        stamp_.check("shmemaphore::response::view()");
        return c_.data ? std::string_view(reinterpret_cast<const char *>(c_.data), size()) : std::string_view();
    }
#if SHMEMAPHORE_CPP_HAS_SPAN
    /** C++20: the payload as a span.  Same lifetime. */
    std::span<const std::byte> span() const {
        stamp_.check("shmemaphore::response::span()");
        return {reinterpret_cast<const std::byte *>(c_.data), c_.data ? size() : 0};
    }
#endif

    /** For an error response: the client's code, else 0. */
    std::uint64_t error_code() const noexcept { return c_.kind == SHMEMAPHORE_PAYLOAD_ERROR ? c_.error_code : 0; }
    /** For an error response: the client's message (UTF-8 text from
     *  another process, not NUL-terminated: untrusted), else empty.
     *  A view, with the payload's lifetime. */
    std::string_view error_message() const {
        if (c_.kind != SHMEMAPHORE_PAYLOAD_ERROR)
            return {};
        stamp_.check("shmemaphore::response::error_message()");
        return c_.data ? std::string_view(reinterpret_cast<const char *>(c_.data), size()) : std::string_view();
    }
    /** Throws shmemaphore::peer_error (with a copy of the message) if this
     *  is an error response; else returns *this. */
    const response &throw_if_error() const {
        if (is_error())
            throw peer_error(error_code(), std::string(error_message()));
        return *this;
    }

    /** Save an image response to `path` (format from the extension: .png,
     *  .jpg/.jpeg, .bmp, .tga; shmemaphore_save_image).  Needs a valid
     *  view.  Throws error: errc::not_image, unsupported_format,
     *  image_encode, invalid_argument (a path with a NUL, or a stale view
     *  in unchecked builds is not detected: check valid()). */
    void save(std::string_view path) const {
        std::error_code ec;
        save(path, ec);
        detail::throw_if(ec, "shmemaphore::response::save");
    }
    /** save() without exceptions; sets ec. */
    void save(std::string_view path, std::error_code &ec) const noexcept {
        if (!valid()) { // a stale view would make the library read freed memory
            detail::set(ec, SHMEMAPHORE_E_INVALID_ARGUMENT);
            return;
        }
        detail::c_string c_path(path, SHMEMAPHORE_E_INVALID_ARGUMENT);
        if (!c_path.ok()) {
            detail::set(ec, c_path.code());
            return;
        }
        detail::set(ec, ::shmemaphore_save_image(&c_, c_path.get()));
    }

    /** The C struct, for the C API (its data has the same lifetime). */
    const ::shmemaphore_response &native() const noexcept { return c_; }

private:
    friend class server;
    response(const ::shmemaphore_response &c, const std::shared_ptr<std::uint64_t> &counter) noexcept
        : c_(c), stamp_(counter) {}

    ::shmemaphore_response c_;
    detail::stamp stamp_;
};

/**
 * The request a client received: a read-only view of its bytes (not
 * NUL-terminated; any bytes, from another process: untrusted), valid until
 * the next call on the client (reserve() included) or its close.  Copy what
 * you keep: str().  Copyable.
 */
class request_view {
public:
    request_view() noexcept = default;

    bool valid() const noexcept { return stamp_.valid(); }
    std::size_t size() const noexcept { return static_cast<std::size_t>(length_); }
    bool empty() const noexcept { return length_ == 0; }

    /** The bytes as characters.  Checked in checked builds. */
    std::string_view view() const {
        stamp_.check("shmemaphore::request_view::view()");
        return data_ ? std::string_view(reinterpret_cast<const char *>(data_), size()) : std::string_view();
    }
    /** Implicit conversion to the view (checked). */
    operator std::string_view() const { return view(); }
    /** A copy, safe to keep. */
    std::string str() const { return std::string(view()); }
    const std::byte *data() const {
        stamp_.check("shmemaphore::request_view::data()");
        return reinterpret_cast<const std::byte *>(data_);
    }
#if SHMEMAPHORE_CPP_HAS_SPAN
    std::span<const std::byte> span() const {
        stamp_.check("shmemaphore::request_view::span()");
        return {reinterpret_cast<const std::byte *>(data_), data_ ? size() : 0};
    }
#endif

private:
    friend class client;
    request_view(const std::uint8_t *data, std::uint64_t length, const std::shared_ptr<std::uint64_t> &counter) noexcept
        : data_(data), length_(length), stamp_(counter) {}

    const std::uint8_t *data_ = nullptr;
    std::uint64_t length_ = 0;
    detail::stamp stamp_;
};

/**
 * A buffer reserved by client::reserve, to be filled and published with
 * client::commit (zero copy).  Writable, valid until commit, the next call
 * on the client, or its close.  Copyable (a view).
 */
class writable_buffer {
public:
    writable_buffer() noexcept = default;

    bool valid() const noexcept { return stamp_.valid(); }
    std::size_t size() const noexcept { return static_cast<std::size_t>(length_); }
    /** The reserved bytes.  Checked in checked builds. */
    std::byte *data() const {
        stamp_.check("shmemaphore::writable_buffer::data()");
        return static_cast<std::byte *>(data_);
    }
    unsigned char *bytes() const {
        stamp_.check("shmemaphore::writable_buffer::bytes()");
        return static_cast<unsigned char *>(data_);
    }
#if SHMEMAPHORE_CPP_HAS_SPAN
    std::span<std::byte> span() const {
        stamp_.check("shmemaphore::writable_buffer::span()");
        return {static_cast<std::byte *>(data_), data_ ? size() : 0};
    }
#endif

private:
    friend class client;
    writable_buffer(void *data, std::uint64_t length, const std::shared_ptr<std::uint64_t> &counter) noexcept
        : data_(data), length_(length), stamp_(counter) {}

    void *data_ = nullptr;
    std::uint64_t length_ = 0;
    detail::stamp stamp_;
};

// ===========================================================================
// Channels
// ===========================================================================

/**
 * What server and client share: ownership of one C handle.  Not used on its
 * own (its constructors are protected).
 */
class channel {
public:
    channel(const channel &) = delete;
    channel &operator=(const channel &) = delete;

    /** Close now (a server removes the channel's objects from /dev/shm;
     *  every view becomes invalid).  Idempotent; the object is then empty. */
    void close() noexcept {
        counter_.reset();
        ::shmemaphore_channel *handle = handle_.exchange(nullptr);
        if (handle)
            ::shmemaphore_close(handle);
    }

    /** Whether the object holds an open channel. */
    bool is_open() const noexcept { return handle_.load() != nullptr; }
    explicit operator bool() const noexcept { return is_open(); }

    /**
     * End the channel's current wait, or its next one if none is in
     * progress, with errc::interrupted (shmemaphore_interrupt).  Thread-safe
     * and async-signal-safe: may be called from any thread or a signal
     * handler while the object exists, also during close().  Returns false
     * if the object holds no open channel (nothing to interrupt).
     * An interrupt that comes as the wait ends for another reason (a signal
     * without SA_RESTART whose handler also calls this, the answer
     * arriving) stays pending and ends the next wait: a loop that goes on
     * after errc::interrupted must expect a spurious one (the C API has no
     * way to clear a pending interrupt).
     */
    bool interrupt() const noexcept {
        ::shmemaphore_channel *handle = handle_.load();
        return handle && ::shmemaphore_interrupt(handle) == SHMEMAPHORE_OK;
    }

    /** The C handle (still owned by this object), or nullptr when empty.
     *  For the C API and for signal handlers (shmemaphore_interrupt). */
    ::shmemaphore_channel *native_handle() const noexcept { return handle_.load(); }

    /** Give up ownership: returns the C handle (the caller must
     *  shmemaphore_close it) and leaves this object empty.  Views made
     *  before stay valid until the next call on the handle, but can no
     *  longer tell (valid() is false from now on). */
    ::shmemaphore_channel *release() noexcept {
        counter_.reset();
        return handle_.exchange(nullptr);
    }

protected:
    channel() noexcept = default;
    /** Closes the channel (shmemaphore_close). */
    ~channel() { close(); }
    explicit channel(::shmemaphore_channel *handle, std::shared_ptr<std::uint64_t> counter) noexcept
        : handle_(handle), counter_(std::move(counter)) {}
    channel(channel &&other) noexcept : handle_(other.handle_.exchange(nullptr)), counter_(std::move(other.counter_)) {}
    channel &operator=(channel &&other) noexcept {
        if (this != &other) {
            close();
            handle_.store(other.handle_.exchange(nullptr));
            counter_ = std::move(other.counter_);
        }
        return *this;
    }

    /** The handle for a call; bumps the call counter, which ends the
     *  validity of every view made before.  nullptr when empty (the C API
     *  then returns SHMEMAPHORE_E_INVALID_ARGUMENT). */
    ::shmemaphore_channel *begin_call() const noexcept {
        if (counter_)
            ++*counter_;
        return handle_.load();
    }
    const std::shared_ptr<std::uint64_t> &counter() const noexcept { return counter_; }

    /** Opens through `opener` (server_open or client_open). */
    template <class Channel>
    static Channel open_with(int (*opener)(const char *, const ::shmemaphore_options *, ::shmemaphore_channel **),
                             std::string_view name, const options *opts, std::error_code &ec) noexcept {
        Channel result;
        detail::c_string c_name(name, SHMEMAPHORE_E_INVALID_NAME);
        if (!c_name.ok()) {
            detail::set(ec, c_name.code());
            return result;
        }
        std::shared_ptr<std::uint64_t> counter;
        try {
            counter = std::make_shared<std::uint64_t>(0);
        } catch (const std::bad_alloc &) {
            detail::set(ec, -ENOMEM);
            return result;
        }
        ::shmemaphore_options c_options;
        if (opts)
            c_options = opts->to_c();
        ::shmemaphore_channel *handle = nullptr;
        if (!detail::set(ec, opener(c_name.get(), opts ? &c_options : nullptr, &handle)))
            return result;
        return Channel(handle, std::move(counter));
    }

    /** Adopts a C handle of role `expected` (see server::adopt). */
    template <class Channel>
    static Channel adopt_with(::shmemaphore_channel *handle, int expected, std::error_code &ec) noexcept {
        int actual = ::shmemaphore_channel_role(handle);
        if (actual < 0) {
            detail::set(ec, actual);
            return Channel();
        }
        if (actual != expected) {
            detail::set(ec, SHMEMAPHORE_E_WRONG_ROLE);
            return Channel();
        }
        try {
            auto counter = std::make_shared<std::uint64_t>(0);
            ec.clear();
            return Channel(handle, std::move(counter));
        } catch (const std::bad_alloc &) {
            detail::set(ec, -ENOMEM);
            return Channel();
        }
    }

private:
    static_assert(std::atomic<::shmemaphore_channel *>::is_always_lock_free,
                  "interrupt() must be async-signal-safe");
    std::atomic<::shmemaphore_channel *> handle_{nullptr};
    std::shared_ptr<std::uint64_t> counter_;
};

/**
 * The server (the requester) of one channel: creates the channel's objects,
 * sends requests and receives responses.  Move-only; the destructor closes
 * the channel and removes its four objects from /dev/shm.
 */
class server : public channel {
public:
    /** An empty object (no channel). */
    server() noexcept = default;

    /**
     * Open channel `name` as its server (shmemaphore_server_open): creates
     * (or, after a crash, resets) the objects; does not wait for a client.
     * Throws error: errc::invalid_name, busy (a live server holds it),
     * exists (stale_policy::fail), unsafe_permissions, -errno, ...
     */
    explicit server(std::string_view name) : server(open_or_throw(name, nullptr)) {}
    server(std::string_view name, const options &opts) : server(open_or_throw(name, &opts)) {}

    /** As the constructors, without exceptions: an empty server and ec set
     *  on failure. */
    static server open(std::string_view name, std::error_code &ec) noexcept {
        return open_with<server>(&::shmemaphore_server_open, name, nullptr, ec);
    }
    static server open(std::string_view name, const options &opts, std::error_code &ec) noexcept {
        return open_with<server>(&::shmemaphore_server_open, name, &opts, ec);
    }

    /** Take ownership of an open C server handle.  Throws error
     *  (errc::wrong_role for a client handle, invalid_argument for one that
     *  is not open); the handle then stays the caller's. */
    static server adopt(::shmemaphore_channel *handle) {
        std::error_code ec;
        server result = adopt(handle, ec);
        detail::throw_if(ec, "shmemaphore::server::adopt");
        return result;
    }
    static server adopt(::shmemaphore_channel *handle, std::error_code &ec) noexcept {
        return adopt_with<server>(handle, SHMEMAPHORE_ROLE_SERVER, ec);
    }

    server(server &&) noexcept = default;
    server &operator=(server &&) noexcept = default;

    /**
     * One round trip (shmemaphore_request): send `request` (any bytes; a
     * string_view of binary data is fine), wait up to `timeout` for the
     * answer.  The answer may be an error response (kind error): returned,
     * not thrown.  Its data is valid until the next call on this server.
     * Throws error: errc::timeout and errc::interrupted (the request stays
     * outstanding: call again, which gives it up and sends anew),
     * peer_gone, protocol, wrong_state, too_large, -errno.
     */
    response request(std::string_view request, std::chrono::milliseconds timeout = infinite) {
        std::error_code ec;
        response r = this->request(request, timeout, ec);
        detail::throw_if(ec, "shmemaphore::server::request");
        return r;
    }
    /** request() without exceptions: ec set (and an empty response) on
     *  failure; ec cleared for an answer, error responses included. */
    response request(std::string_view request, std::chrono::milliseconds timeout, std::error_code &ec) noexcept {
        return finish(::shmemaphore_request(begin_call(), request.data(), request.size(),
                                            detail::timeout_ms(timeout), &scratch_),
                      ec);
    }
    /** A binary request of `size` bytes at `data` (null only when size is 0). */
    response request(const void *data, std::size_t size, std::chrono::milliseconds timeout = infinite) {
        return this->request(as_view(data, size), timeout);
    }
    response request(const void *data, std::size_t size, std::chrono::milliseconds timeout,
                     std::error_code &ec) noexcept {
        return this->request(as_view(data, size), timeout, ec);
    }
#if SHMEMAPHORE_CPP_HAS_SPAN
    /** C++20: a binary request. */
    response request(std::span<const std::byte> request, std::chrono::milliseconds timeout = infinite) {
        return this->request(as_view(request), timeout);
    }
    response request(std::span<const std::byte> request, std::chrono::milliseconds timeout,
                     std::error_code &ec) noexcept {
        return this->request(as_view(request), timeout, ec);
    }
#endif

    /**
     * Send a request without waiting (shmemaphore_send_request); an
     * outstanding one is given up first.  Throws error: wrong_state,
     * too_large, -ENOSPC, -errno.
     */
    void send_request(std::string_view request) {
        std::error_code ec;
        send_request(request, ec);
        detail::throw_if(ec, "shmemaphore::server::send_request");
    }
    void send_request(std::string_view request, std::error_code &ec) noexcept {
        detail::set(ec, ::shmemaphore_send_request(begin_call(), request.data(), request.size()));
    }
    void send_request(const void *data, std::size_t size) { send_request(as_view(data, size)); }
    void send_request(const void *data, std::size_t size, std::error_code &ec) noexcept {
        send_request(as_view(data, size), ec);
    }
#if SHMEMAPHORE_CPP_HAS_SPAN
    /** C++20: a binary request. */
    void send_request(std::span<const std::byte> request) { send_request(as_view(request)); }
    void send_request(std::span<const std::byte> request, std::error_code &ec) noexcept {
        send_request(as_view(request), ec);
    }
#endif

    /**
     * Wait up to `timeout` for the answer to the outstanding request
     * (shmemaphore_receive_response).  As request() for what is returned
     * and thrown; errc::wrong_state when no request is outstanding.
     */
    response receive_response(std::chrono::milliseconds timeout = infinite) {
        std::error_code ec;
        response r = receive_response(timeout, ec);
        detail::throw_if(ec, "shmemaphore::server::receive_response");
        return r;
    }
    response receive_response(std::chrono::milliseconds timeout, std::error_code &ec) noexcept {
        return finish(::shmemaphore_receive_response(begin_call(), detail::timeout_ms(timeout), &scratch_), ec);
    }

private:
    friend class channel;
    server(::shmemaphore_channel *handle, std::shared_ptr<std::uint64_t> counter) noexcept
        : channel(handle, std::move(counter)) {}

    static server open_or_throw(std::string_view name, const options *opts) {
        std::error_code ec;
        server result = open_with<server>(&::shmemaphore_server_open, name, opts, ec);
        detail::throw_if(ec, "shmemaphore::server: cannot open the channel");
        return result;
    }

    static std::string_view as_view(const void *data, std::size_t size) noexcept {
        return {static_cast<const char *>(data), size};
    }
#if SHMEMAPHORE_CPP_HAS_SPAN
    static std::string_view as_view(std::span<const std::byte> bytes) noexcept {
        return {reinterpret_cast<const char *>(bytes.data()), bytes.size()};
    }
#endif

    response finish(int rc, std::error_code &ec) noexcept {
        if (rc == SHMEMAPHORE_E_PEER_ERROR)
            rc = SHMEMAPHORE_OK; // an answer: the response says it is an error
        if (!detail::set(ec, rc))
            return response();
        return response(scratch_, counter());
    }

    ::shmemaphore_response scratch_{};
};

/**
 * The client (the responder) of one channel: attaches to the server's
 * channel, receives requests and answers each one exactly once.  Move-only;
 * the destructor closes the handle (a client removes nothing).
 */
class client : public channel {
public:
    /** An empty object (no channel). */
    client() noexcept = default;

    /**
     * Open channel `name` as its client (shmemaphore_client_open), waiting
     * up to options::attach_timeout (default 5 s) for the server.  Throws
     * error: errc::timeout (no server came), interrupted, busy (another
     * client is attached), invalid_name, unsafe_permissions, -errno.
     */
    explicit client(std::string_view name) : client(open_or_throw(name, nullptr)) {}
    client(std::string_view name, const options &opts) : client(open_or_throw(name, &opts)) {}

    /** As the constructors, without exceptions. */
    static client open(std::string_view name, std::error_code &ec) noexcept {
        return open_with<client>(&::shmemaphore_client_open, name, nullptr, ec);
    }
    static client open(std::string_view name, const options &opts, std::error_code &ec) noexcept {
        return open_with<client>(&::shmemaphore_client_open, name, &opts, ec);
    }

    /** Take ownership of an open C client handle (see server::adopt). */
    static client adopt(::shmemaphore_channel *handle) {
        std::error_code ec;
        client result = adopt(handle, ec);
        detail::throw_if(ec, "shmemaphore::client::adopt");
        return result;
    }
    static client adopt(::shmemaphore_channel *handle, std::error_code &ec) noexcept {
        return adopt_with<client>(handle, SHMEMAPHORE_ROLE_CLIENT, ec);
    }

    client(client &&) noexcept = default;
    client &operator=(client &&) noexcept = default;

    /**
     * Wait up to `timeout` for the next request (shmemaphore_receive_request).
     * The returned view is valid until the next call on this client.
     * Throws error: errc::timeout, interrupted (call again), peer_gone (the
     * server closed or died, reported once; the next receive waits for a
     * new server on the same name), busy, protocol, wrong_state (the
     * previous request is not answered yet), -errno.
     */
    request_view receive(std::chrono::milliseconds timeout = infinite) {
        std::error_code ec;
        request_view r = receive(timeout, ec);
        detail::throw_if(ec, "shmemaphore::client::receive");
        return r;
    }
    request_view receive(std::chrono::milliseconds timeout, std::error_code &ec) noexcept {
        const std::uint8_t *data = nullptr;
        std::uint64_t length = 0;
        if (!detail::set(ec, ::shmemaphore_receive_request(begin_call(), detail::timeout_ms(timeout), &data, &length)))
            return request_view();
        return request_view(data, length, counter());
    }

    /**
     * Answer the current request with a copy of `size` raw bytes
     * (shmemaphore_send_response, kind bytes).  `data` may be null only when
     * size is 0.  Throws error: errc::wrong_state (no request to answer),
     * too_large, -ENOSPC, -errno.
     */
    void respond(const void *data, std::size_t size) {
        std::error_code ec;
        respond(data, size, ec);
        detail::throw_if(ec, "shmemaphore::client::respond");
    }
    void respond(const void *data, std::size_t size, std::error_code &ec) noexcept {
        metadata m = bytes_metadata(size);
        detail::set(ec, ::shmemaphore_send_response(begin_call(), &m, data));
    }
    /** The same for a string_view of bytes. */
    void respond(std::string_view bytes) { respond(bytes.data(), bytes.size()); }
    void respond(std::string_view bytes, std::error_code &ec) noexcept { respond(bytes.data(), bytes.size(), ec); }
#if SHMEMAPHORE_CPP_HAS_SPAN
    /** C++20: the same for a span of bytes. */
    void respond(std::span<const std::byte> bytes) { respond(bytes.data(), bytes.size()); }
    void respond(std::span<const std::byte> bytes, std::error_code &ec) noexcept {
        respond(bytes.data(), bytes.size(), ec);
    }
#endif
    /** Answer with explicit metadata (shmemaphore_send_response):
     *  metadata.bytes bytes from `payload`; images need bytes == width *
     *  height * channels, raw bytes width = height = channels = 0.
     *  Throws error: errc::invalid_argument for other metadata, ... */
    void respond(const metadata &m, const void *payload) {
        std::error_code ec;
        respond(m, payload, ec);
        detail::throw_if(ec, "shmemaphore::client::respond");
    }
    void respond(const metadata &m, const void *payload, std::error_code &ec) noexcept {
        detail::set(ec, ::shmemaphore_send_response(begin_call(), &m, payload));
    }

    /**
     * Answer with an image of width x height pixels of `channels`
     * interleaved 8-bit channels (width * height * channels bytes from
     * `pixels`; each dimension >= 1).  Throws error: errc::too_large (the
     * product overflows), invalid_argument (a dimension is 0), ...
     */
    void respond_image(const void *pixels, std::uint64_t width, std::uint64_t height, std::uint64_t channels) {
        std::error_code ec;
        respond_image(pixels, width, height, channels, ec);
        detail::throw_if(ec, "shmemaphore::client::respond_image");
    }
    void respond_image(const void *pixels, std::uint64_t width, std::uint64_t height, std::uint64_t channels,
                       std::error_code &ec) noexcept {
        metadata m{0, width, height, channels};
        if (!detail::image_bytes(width, height, channels, m.bytes)) {
            begin_call();
            detail::set(ec, SHMEMAPHORE_E_TOO_LARGE);
            return;
        }
        respond(m, pixels, ec);
    }

    /**
     * Answer with an error response (shmemaphore_send_error): the server
     * gets a response of kind error with `code` and `message` (UTF-8; cut
     * at its first NUL byte, as a C string would be).  Throws error as
     * respond().
     */
    void respond_error(std::uint64_t code, std::string_view message = {}) {
        std::error_code ec;
        respond_error(code, message, ec);
        detail::throw_if(ec, "shmemaphore::client::respond_error");
    }
    void respond_error(std::uint64_t code, std::string_view message, std::error_code &ec) noexcept {
        message = message.substr(0, message.find('\0'));
        detail::c_string c_message(message, SHMEMAPHORE_E_INVALID_ARGUMENT);
        ::shmemaphore_channel *handle = begin_call();
        if (!c_message.ok()) {
            detail::set(ec, c_message.code());
            return;
        }
        detail::set(ec, ::shmemaphore_send_error(handle, code, c_message.get()));
    }

    /**
     * Answer with the image file at `path`, decoded by stb_image with its
     * own channel count (shmemaphore_send_image_file).  Returns the metadata
     * sent.  On failure nothing is sent and the request is still to be
     * answered (e.g. with respond_error).  Throws error: -ENOENT, -EACCES,
     * errc::image_decode, wrong_state, invalid_argument (a path with a
     * NUL), ...
     */
    metadata send_image_file(std::string_view path) {
        std::error_code ec;
        metadata m = send_image_file(path, ec);
        detail::throw_if(ec, "shmemaphore::client::send_image_file");
        return m;
    }
    metadata send_image_file(std::string_view path, std::error_code &ec) noexcept {
        metadata sent{};
        detail::c_string c_path(path, SHMEMAPHORE_E_INVALID_ARGUMENT);
        ::shmemaphore_channel *handle = begin_call();
        if (!c_path.ok()) {
            detail::set(ec, c_path.code());
            return sent;
        }
        detail::set(ec, ::shmemaphore_send_image_file(handle, c_path.get(), &sent));
        return sent;
    }

    /**
     * Zero-copy answer, step 1 (shmemaphore_reserve): a writable buffer of
     * `length` bytes inside shared memory, valid until commit(), the next
     * call or close.  The request view becomes invalid.  Throws error:
     * errc::wrong_state (no request to answer), too_large, -ENOSPC, -errno.
     */
    writable_buffer reserve(std::uint64_t length) {
        std::error_code ec;
        writable_buffer b = reserve(length, ec);
        detail::throw_if(ec, "shmemaphore::client::reserve");
        return b;
    }
    writable_buffer reserve(std::uint64_t length, std::error_code &ec) noexcept {
        void *buffer = nullptr;
        if (!detail::set(ec, ::shmemaphore_reserve(begin_call(), length, &buffer)))
            return writable_buffer();
        return writable_buffer(buffer, length, counter());
    }

    /**
     * Zero-copy answer, step 2 (shmemaphore_commit): publish the reserved
     * buffer's first m.bytes bytes with metadata `m` (rules as respond's;
     * m.bytes at most the reservation).  Throws error: errc::wrong_state
     * (nothing reserved), invalid_argument, protocol, -errno.
     */
    void commit(const metadata &m) {
        std::error_code ec;
        commit(m, ec);
        detail::throw_if(ec, "shmemaphore::client::commit");
    }
    void commit(const metadata &m, std::error_code &ec) noexcept {
        detail::set(ec, ::shmemaphore_commit(begin_call(), &m));
    }
    /** commit(bytes_metadata(length)): publish `length` raw bytes. */
    void commit_bytes(std::uint64_t length) { commit(bytes_metadata(length)); }
    void commit_bytes(std::uint64_t length, std::error_code &ec) noexcept { commit(bytes_metadata(length), ec); }
    /** Publish an image of width x height x channels (overflow: too_large). */
    void commit_image(std::uint64_t width, std::uint64_t height, std::uint64_t channels) {
        std::error_code ec;
        commit_image(width, height, channels, ec);
        detail::throw_if(ec, "shmemaphore::client::commit_image");
    }
    void commit_image(std::uint64_t width, std::uint64_t height, std::uint64_t channels,
                      std::error_code &ec) noexcept {
        metadata m{0, width, height, channels};
        if (!detail::image_bytes(width, height, channels, m.bytes)) {
            begin_call();
            detail::set(ec, SHMEMAPHORE_E_TOO_LARGE);
            return;
        }
        commit(m, ec);
    }

private:
    friend class channel;
    client(::shmemaphore_channel *handle, std::shared_ptr<std::uint64_t> counter) noexcept
        : channel(handle, std::move(counter)) {}

    static client open_or_throw(std::string_view name, const options *opts) {
        std::error_code ec;
        client result = open_with<client>(&::shmemaphore_client_open, name, opts, ec);
        detail::throw_if(ec, "shmemaphore::client: cannot open the channel");
        return result;
    }
};

// ===========================================================================
// Channels in /dev/shm
// ===========================================================================

/** One channel found in /dev/shm (shmemaphore_channel_info, copied). */
struct channel_info {
    /** The name as the object names hold it: any bytes but NUL (neither
     *  UTF-8 nor a valid channel name is guaranteed). */
    std::string name;
    /** SHMEMAPHORE_OBJECT_* bits: which of the four objects exist. */
    std::uint32_t objects = 0;
    /** 1 a libshmemaphore server holds its liveness lock, 0 none does, -1
     *  unknown; the same for a client. */
    std::int32_t server_locked = -1;
    std::int32_t client_locked = -1;
};

namespace detail {
struct list_context {
    std::vector<channel_info> *out;
    bool out_of_memory;
};
inline int list_visitor(const ::shmemaphore_channel_info *info, void *context) noexcept {
    auto *c = static_cast<list_context *>(context);
    try {
        c->out->push_back(channel_info{info->name, info->objects, info->server_locked, info->client_locked});
    } catch (...) { // no exception may cross the C library
        c->out_of_memory = true;
        return 1;
    }
    return 0;
}
} // namespace detail

/** Every channel with at least one object in /dev/shm, in byte order of
 *  the names (shmemaphore_list_channels).  Thread-safe.  This form sets ec
 *  (-errno: /dev/shm cannot be read; -ENOMEM) and returns an empty list on
 *  failure; the other throws error, or std::bad_alloc. */
inline std::vector<channel_info> list_channels(std::error_code &ec) noexcept {
    std::vector<channel_info> found;
    detail::list_context context{&found, false};
    int rc = ::shmemaphore_list_channels(&detail::list_visitor, &context);
    if (context.out_of_memory)
        rc = -ENOMEM;
    if (!detail::set(ec, rc))
        found.clear();
    return found;
}
inline std::vector<channel_info> list_channels() {
    std::error_code ec;
    std::vector<channel_info> found = list_channels(ec);
    if (ec == std::errc::not_enough_memory)
        throw std::bad_alloc();
    detail::throw_if(ec, "shmemaphore::list_channels");
    return found;
}

/**
 * Remove the objects of channel `name` from /dev/shm
 * (shmemaphore_remove_channel); with `force`, even while a live server
 * holds it (SHMEMAPHORE_REMOVE_FORCE).  Returns how many objects were
 * removed (0-4; 0 when none existed).  Thread-safe.  Throws error:
 * errc::invalid_name, busy (a live server and no force: nothing removed),
 * -EACCES/-EPERM, -errno.
 */
inline unsigned remove_channel(std::string_view name, bool force, std::error_code &ec) noexcept {
    detail::c_string c_name(name, SHMEMAPHORE_E_INVALID_NAME);
    if (!c_name.ok()) {
        detail::set(ec, c_name.code());
        return 0;
    }
    unsigned removed = 0;
    detail::set(ec, ::shmemaphore_remove_channel(c_name.get(), force ? SHMEMAPHORE_REMOVE_FORCE : 0u, &removed));
    return removed;
}
inline unsigned remove_channel(std::string_view name, bool force = false) {
    std::error_code ec;
    unsigned removed = remove_channel(name, force, ec);
    detail::throw_if(ec, "shmemaphore::remove_channel");
    return removed;
}

} // namespace shmemaphore

#endif /* SHMEMAPHORE_HPP */
