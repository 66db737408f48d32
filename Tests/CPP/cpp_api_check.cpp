/*
 * cpp_api_check.cpp - checks the C++ interface, include/shmemaphore.hpp.
 *
 *   shmemaphore-cpp-api-check PREFIX
 *
 * PREFIX must be unique to the run (ctest passes cppchk<shell pid>): every
 * channel is named PREFIX-<pid>-<counter>-<what>, removed again by a guard
 * (shmemaphore::remove_channel with force) whatever happens to the check
 * that made it, and the last check verifies that /dev/shm holds no channel
 * whose name starts with PREFIX.
 *
 * One process can be server and client of one channel (a server never waits
 * for its client), so most checks run the exchange step by step in one
 * thread; request() is checked against a client thread, and a forked client
 * process checks a real two-process conversation.
 *
 * Timeouts: a wait for something that is already there, or that the other
 * side is about to post, uses kBound, far longer than it can take: it only
 * bounds a failure (a hang becomes a failed check).  A wait that must time
 * out polls (0 ms) or waits 10 ms with nothing on the way.  No check
 * measures how long anything took.
 *
 * Output: "ok - ..." / "not ok - ..." per check, last line "N passed, N failed".
 * Exit status: 0 all passed, 1 some check failed, 2 bad usage.
 */

// Checked views, whose violations throw here so that they can be tested.
#include <stdexcept>
#define SHMEMAPHORE_CPP_CHECKED 1
#define SHMEMAPHORE_CPP_STALE_VIEW_HANDLER(what) throw std::logic_error(what)
#include <shmemaphore.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <type_traits>
#include <vector>

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;
namespace shm = shmemaphore;

namespace {

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

int g_passed = 0;
int g_failed = 0;

bool check(bool ok, const std::string &desc, const std::string &detail = std::string()) {
    if (ok) {
        ++g_passed;
        std::printf("ok - %s\n", desc.c_str());
    } else {
        ++g_failed;
        std::printf("not ok - %s%s%s\n", desc.c_str(), detail.empty() ? "" : ": ", detail.c_str());
    }
    std::fflush(stdout);
    return ok;
}

std::string describe(const std::error_code &ec) {
    if (!ec)
        return "success";
    return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" + shm::error_name(ec) + ")";
}

bool expect_ec(const std::error_code &got, const std::error_code &expected, const std::string &desc) {
    return check(got == expected, desc, "got " + describe(got) + ", expected " + describe(expected));
}

bool expect_ok(const std::error_code &got, const std::string &desc) { return expect_ec(got, std::error_code(), desc); }

/** Runs f; passes when it throws shmemaphore::error with `expected`. */
bool expect_throw(const std::function<void()> &f, shm::errc expected, const std::string &desc) {
    try {
        f();
    } catch (const shm::error &e) {
        return check(e.code() == expected, desc, std::string("threw ") + describe(e.code()) + ": " + e.what());
    } catch (const std::exception &e) {
        return check(false, desc, std::string("threw another exception: ") + e.what());
    }
    return check(false, desc, "did not throw");
}

/** Runs f; passes when it throws std::logic_error (a stale view). */
bool expect_stale(const std::function<void()> &f, const std::string &desc) {
    try {
        f();
    } catch (const std::logic_error &) {
        return check(true, desc);
    } catch (const std::exception &e) {
        return check(false, desc, std::string("threw another exception: ") + e.what());
    }
    return check(false, desc, "the stale view was not detected");
}

/** Runs f; passes when it throws nothing. */
bool expect_no_throw(const std::function<void()> &f, const std::string &desc) {
    try {
        f();
    } catch (const std::exception &e) {
        return check(false, desc, std::string("threw: ") + e.what());
    }
    return check(true, desc);
}

// ---------------------------------------------------------------------------
// Channels: unique names, removed whatever happens
// ---------------------------------------------------------------------------

/** Bounds a wait for something that is there or about to be (see top). */
constexpr std::chrono::milliseconds kBound = 60s;

std::string g_prefix;
unsigned g_counter = 0;

/** A unique channel name; its destructor removes whatever is left of it. */
struct channel_name {
    std::string name;
    explicit channel_name(const char *what)
        : name(g_prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(++g_counter) + "-" + what) {}
    channel_name(const channel_name &) = delete;
    channel_name &operator=(const channel_name &) = delete;
    ~channel_name() {
        std::error_code ec;
        shm::remove_channel(name, true, ec);
    }
    operator std::string_view() const { return name; }
};

bool exists_in_dev_shm(const std::string &object) {
    struct stat st;
    return ::stat(("/dev/shm/" + object).c_str(), &st) == 0;
}

/** How many of the channel's four objects exist. */
int objects_present(const std::string &name) {
    return exists_in_dev_shm("SEG_" + name + "_HEAD") + exists_in_dev_shm("SEG_" + name + "_DATA") +
           exists_in_dev_shm("sem.SEM_" + name + "_REQ") + exists_in_dev_shm("sem.SEM_" + name + "_RES");
}

shm::options client_options() {
    shm::options o;
    o.attach_timeout = kBound;
    return o;
}

/** Byte i of a test payload. */
std::uint8_t pattern(std::uint64_t seed, std::uint64_t i) {
    return static_cast<std::uint8_t>((i * 131u + seed * 7u + (i >> 8)) & 0xffu);
}

std::vector<std::uint8_t> payload(std::size_t n, std::uint64_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = pattern(seed, i);
    return v;
}

bool same_bytes(const shm::response &r, const std::vector<std::uint8_t> &expected) {
    return r.size() == expected.size() && (expected.empty() || std::memcmp(r.data(), expected.data(), expected.size()) == 0);
}

// ---------------------------------------------------------------------------
// Versions, codes, options
// ---------------------------------------------------------------------------

void test_versions() {
    check(shm::version_number() == shm::header_version_number, "version_number() is the header's",
          std::to_string(shm::version_number()));
    check(shm::version_string() == SHMEMAPHORE_VERSION_STRING, "version_string() is the header's",
          std::string(shm::version_string()));
    check(shm::protocol_version() == SHMEMAPHORE_PROTOCOL_VERSION, "protocol_version()");
}

void test_codes() {
    std::error_code timeout = shm::errc::timeout;
    check(timeout.value() == SHMEMAPHORE_E_TIMEOUT && timeout.category() == shm::category(),
          "errc::timeout is {SHMEMAPHORE_E_TIMEOUT, category()}");
    check(std::string(shm::category().name()) == "shmemaphore", "category().name() is \"shmemaphore\"");
    check(timeout.message() == shmemaphore_strerror(SHMEMAPHORE_E_TIMEOUT), "message() is shmemaphore_strerror's");
    check(shm::make_error_code(SHMEMAPHORE_OK) == std::error_code(), "make_error_code(SHMEMAPHORE_OK) is empty");
    check(shm::make_error_code(-ENOENT) == std::errc::no_such_file_or_directory,
          "-ENOENT compares equal to std::errc::no_such_file_or_directory");
    check(shm::make_error_code(SHMEMAPHORE_E_INTERRUPTED) == shm::errc::interrupted &&
              std::error_code(shm::errc::interrupted) == std::errc::interrupted,
          "errc::interrupted is -EINTR and equals std::errc::interrupted");
    check(std::error_code(shm::errc::busy) != std::errc::device_or_resource_busy,
          "library codes are not taken for errno conditions");
    check(std::string(shm::error_name(std::error_code(shm::errc::wrong_role))) == "SHMEMAPHORE_E_WRONG_ROLE",
          "error_name(errc::wrong_role)");
    shm::error e(SHMEMAPHORE_E_BUSY, "context");
    const std::system_error &as_system = e;
    check(as_system.code() == shm::errc::busy && e.c_code() == SHMEMAPHORE_E_BUSY &&
              std::string(e.name()) == "SHMEMAPHORE_E_BUSY",
          "error: a std::system_error with code(), c_code(), name()");
    check(std::string(e.what()).find("context") != std::string::npos &&
              std::string(e.what()).find(shmemaphore_strerror(SHMEMAPHORE_E_BUSY)) != std::string::npos,
          "error::what() holds the context and shmemaphore_strerror's text", e.what());
    static_assert(std::is_base_of_v<std::system_error, shm::error>, "error is a system_error");
    static_assert(std::is_base_of_v<shm::error, shm::peer_error>, "peer_error is an error");
}

void test_options() {
    shmemaphore_options c;
    shmemaphore_options_init(&c, sizeof c);
    shm::options o;
    check(o.attach_timeout.count() == c.attach_timeout_ms && o.mode == c.mode &&
              static_cast<std::uint32_t>(o.stale) == c.stale_policy && o.flags == c.flags,
          "options() holds shmemaphore_options_init's defaults",
          "attach " + std::to_string(o.attach_timeout.count()) + " ms");
    o.attach_timeout = shm::infinite;
    o.mode = 0660;
    o.stale = shm::stale_policy::fail;
    o.flags = shm::flag::blocking_wait | shm::flag::untrusted_peer;
    shmemaphore_options back = o.to_c();
    check(back.struct_size == sizeof back && back.attach_timeout_ms == SHMEMAPHORE_TIMEOUT_INFINITE &&
              back.mode == 0660 && back.stale_policy == SHMEMAPHORE_STALE_FAIL &&
              back.flags == (SHMEMAPHORE_FLAG_BLOCKING_WAIT | SHMEMAPHORE_FLAG_UNTRUSTED_PEER) && back.reserved == 0,
          "options::to_c() carries every field");
}

// ---------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------

void test_open() {
    expect_throw([] { shm::server s("a/b"); }, shm::errc::invalid_name, "server(\"a/b\") throws errc::invalid_name");
    std::error_code ec;
    shm::server s = shm::server::open(std::string_view("ab\0cd", 5), ec);
    expect_ec(ec, shm::errc::invalid_name, "server::open of a name with a NUL byte: errc::invalid_name");
    check(!s.is_open() && !s, "a failed open gives an empty server");
    shm::client c = shm::client::open(std::string(300, 'x'), ec);
    expect_ec(ec, shm::errc::invalid_name, "client::open of a 300-byte name: errc::invalid_name");

    channel_name none("noserver");
    shm::options quick;
    quick.attach_timeout = 0ms;
    expect_throw([&] { shm::client cl(none, quick); }, shm::errc::timeout,
                 "client() with attach_timeout 0 and no server throws errc::timeout");
    check(objects_present(none.name) == 0, "the failed client open left nothing in /dev/shm");

    channel_name name("open");
    {
        shm::server srv(name);
        check(srv.is_open() && srv.native_handle() != nullptr, "server(name) opens");
        check(shmemaphore_channel_role(srv.native_handle()) == SHMEMAPHORE_ROLE_SERVER, "native_handle() is the server handle");
        check(objects_present(name.name) == 4, "the server created the four objects");
        expect_throw([&] { shm::server second(name); }, shm::errc::busy, "a second server on a live channel: errc::busy");
        shm::client cli(name, client_options());
        check(cli.is_open(), "client(name, options) attaches");
        std::error_code busy;
        shm::client second = shm::client::open(name, client_options(), busy);
        expect_ec(busy, shm::errc::busy, "a second client: errc::busy (error_code form)");
    }
    check(objects_present(name.name) == 0, "the server's destructor removed the four objects");

    // A crashed server's leftovers: a child opens the channel and exits
    // without closing it.
    channel_name stale("stale");
    std::fflush(nullptr);
    pid_t child = fork();
    if (child == 0) {
        shm::server crashed(stale);
        (void)crashed.release(); // never closed: its objects stay
        _exit(0);
    }
    int status = 0;
    check(child > 0 && waitpid(child, &status, 0) == child && objects_present(stale.name) == 4,
          "setup: a crashed server left its objects");
    shm::options fail;
    fail.stale = shm::stale_policy::fail;
    std::error_code ec2;
    shm::server refused = shm::server::open(stale, fail, ec2);
    expect_ec(ec2, shm::errc::exists, "server::open with stale_policy::fail over a crashed server's objects: errc::exists");
    shm::server reset(stale, shm::options());
    check(reset.is_open(), "the default stale_policy::reset opens over them");
    shmemaphore_channel *raw = reset.release();
    check(!reset.is_open() && raw != nullptr, "release() hands over the handle and empties the object");
    shmemaphore_close(raw);
    check(objects_present(stale.name) == 0, "the released handle closed through the C API removed the objects");
}

// ---------------------------------------------------------------------------
// Round trips, step by step in one thread
// ---------------------------------------------------------------------------

struct pair {
    shm::server srv;
    shm::client cli;
};

bool open_pair(const channel_name &name, pair &p) {
    std::error_code ec;
    p.srv = shm::server::open(name, ec);
    if (!expect_ok(ec, "setup: server::open " + name.name))
        return false;
    p.cli = shm::client::open(name, client_options(), ec);
    return expect_ok(ec, "setup: client::open " + name.name);
}

/** Server sends, client receives; returns the request copied. */
std::string deliver(pair &p, std::string_view request) {
    p.srv.send_request(request);
    return p.cli.receive(kBound).str();
}

void test_round_trips() {
    channel_name name("trip");
    pair p;
    if (!open_pair(name, p))
        return;

    // An image.
    std::string got = deliver(p, "img");
    check(got == "img", "client receives the request \"img\"", got);
    std::vector<std::uint8_t> pixels = payload(3 * 2 * 3, 1);
    p.cli.respond_image(pixels.data(), 3, 2, 3);
    shm::response r = p.srv.receive_response(kBound);
    check(r.kind() == shm::payload_kind::image && r.is_image() && r.width() == 3 && r.height() == 2 &&
              r.channels() == 3 && r.size() == 18 && r.metadata().bytes == 18,
          "image response: kind, width, height, channels, size");
    check(same_bytes(r, pixels), "image response: every byte");
    check(r.bytes() == reinterpret_cast<const unsigned char *>(r.data()) && r.native().data == r.bytes(),
          "data(), bytes() and native().data are the same bytes");
    check(r.error_code() == 0 && r.error_message().empty(), "an image has no error code or message");

    // Raw bytes, through the string_view overload.
    deliver(p, "bytes");
    p.cli.respond(std::string_view("hello, world"));
    r = p.srv.receive_response(kBound);
    check(r.kind() == shm::payload_kind::bytes && r.view() == "hello, world" && r.width() == 0 && r.channels() == 0,
          "bytes response through respond(string_view)", std::string(r.view()));

    // Empty payload: data() is never null.
    deliver(p, "empty");
    p.cli.respond(nullptr, 0);
    r = p.srv.receive_response(kBound);
    check(r.kind() == shm::payload_kind::bytes && r.size() == 0 && r.empty() && r.data() != nullptr,
          "empty bytes response: size 0, data() not null");

    // A binary request with NUL bytes, and an empty request.
    std::string binary("a\0b\0\xff", 5);
    got = deliver(p, binary);
    check(got == binary, "a request with NUL bytes arrives byte for byte");
    p.cli.respond(got);
    r = p.srv.receive_response(kBound);
    check(r.view() == binary, "and goes back as bytes");
    p.srv.send_request("");
    shm::request_view empty = p.cli.receive(kBound);
    check(empty.size() == 0 && empty.empty() && empty.view().empty(), "an empty request is an empty view");

    // An error response: an answer, not an exception.
    p.cli.respond_error(7, "no such thing");
    std::error_code ec = shm::errc::busy;
    r = p.srv.receive_response(kBound, ec);
    expect_ok(ec, "an error response clears the error_code (it is an answer)");
    check(r.kind() == shm::payload_kind::error && r.is_error() && r.error_code() == 7 &&
              r.error_message() == "no such thing",
          "error response: kind error, error_code() 7, error_message()", std::string(r.error_message()));
    try {
        r.throw_if_error();
        check(false, "throw_if_error() throws peer_error", "did not throw");
    } catch (const shm::peer_error &e) {
        check(e.code() == shm::errc::peer_error && e.peer_code() == 7 && e.peer_message() == "no such thing",
              "throw_if_error() throws peer_error with the code and a copy of the message");
    }
    deliver(p, "err2");
    p.cli.respond_error(SHMEMAPHORE_PEER_ERROR_NOT_FOUND, std::string_view("cut\0here", 8));
    r = p.srv.receive_response(kBound);
    check(r.error_code() == 1 && r.error_message() == "cut", "respond_error cuts the message at a NUL",
          std::string(r.error_message()));
    deliver(p, "err3");
    p.cli.respond_error(2);
    r = p.srv.receive_response(kBound);
    check(r.is_error() && r.error_code() == 2 && r.error_message().empty(), "respond_error(code) with no message");
    deliver(p, "err4");
    std::string long_message(5000, 'm'); // beyond the wrapper's stack copy
    p.cli.respond_error(0, long_message);
    r = p.srv.receive_response(kBound);
    check(r.error_message() == long_message, "a 5000-byte error message arrives whole");

    // Explicit metadata, and inconsistent metadata.
    deliver(p, "meta");
    shm::metadata bad{5, 2, 2, 1};
    std::error_code meta_ec;
    p.cli.respond(bad, pixels.data(), meta_ec);
    expect_ec(meta_ec, shm::errc::invalid_argument, "respond(metadata) with bytes != w*h*c: errc::invalid_argument");
    std::error_code overflow_ec;
    p.cli.respond_image(pixels.data(), UINT64_MAX, 2, 2, overflow_ec);
    expect_ec(overflow_ec, shm::errc::too_large, "respond_image whose w*h*c overflows: errc::too_large");
    p.cli.respond(shm::metadata{4, 2, 2, 1}, pixels.data());
    r = p.srv.receive_response(kBound);
    check(r.is_image() && r.width() == 2 && r.size() == 4, "respond(metadata, payload) sends the image");

#if SHMEMAPHORE_CPP_HAS_SPAN
    // C++20: spans both ways.
    std::vector<std::byte> raw(300);
    for (std::size_t i = 0; i < raw.size(); ++i)
        raw[i] = static_cast<std::byte>(pattern(9, i));
    p.srv.send_request(std::span<const std::byte>(raw.data(), 3));
    shm::request_view rv = p.cli.receive(kBound);
    check(rv.span().size() == 3 && rv.span()[2] == raw[2], "C++20: send_request as a span, request_view::span()");
    p.cli.respond(std::span<const std::byte>(raw));
    r = p.srv.receive_response(kBound);
    check(r.span().size() == raw.size() && std::memcmp(r.span().data(), raw.data(), raw.size()) == 0,
          "C++20: respond(span) and response::span()");
#endif
}

// ---------------------------------------------------------------------------
// Zero copy: reserve / commit
// ---------------------------------------------------------------------------

void test_reserve_commit() {
    channel_name name("zc");
    pair p;
    if (!open_pair(name, p))
        return;
    std::error_code ec;
    p.cli.commit(shm::bytes_metadata(0), ec);
    expect_ec(ec, shm::errc::wrong_state, "commit without a request: errc::wrong_state");
    p.cli.reserve(10, ec);
    expect_ec(ec, shm::errc::wrong_state, "reserve without a request: errc::wrong_state");

    deliver(p, "zc1");
    const std::size_t n = 1 << 20;
    shm::writable_buffer b = p.cli.reserve(n);
    check(b.valid() && b.size() == n && b.data() != nullptr, "reserve(1 MiB) gives a writable buffer");
    std::vector<std::uint8_t> expected = payload(n, 3);
    std::memcpy(b.data(), expected.data(), n);
    p.cli.commit_bytes(n);
    check(!b.valid(), "the buffer is no longer valid after commit");
    shm::response r = p.srv.receive_response(kBound);
    check(r.kind() == shm::payload_kind::bytes && same_bytes(r, expected), "commit_bytes: the server gets every byte");

    deliver(p, "zc2");
    b = p.cli.reserve(64);
    std::vector<std::uint8_t> image = payload(4 * 4 * 3, 4);
    std::memcpy(b.bytes(), image.data(), image.size());
    p.cli.commit_image(4, 4, 3);
    r = p.srv.receive_response(kBound);
    check(r.is_image() && r.width() == 4 && r.height() == 4 && r.channels() == 3 && same_bytes(r, image),
          "commit_image of part of a reservation");

    deliver(p, "zc3");
    p.cli.reserve(8);
    p.cli.commit(shm::bytes_metadata(9), ec);
    expect_ec(ec, shm::errc::invalid_argument, "commit of more bytes than reserved: errc::invalid_argument");
    expect_throw([&] { p.cli.commit_image(UINT64_MAX, UINT64_MAX, 1); }, shm::errc::too_large,
                 "commit_image whose product overflows throws errc::too_large");
    shm::writable_buffer again = p.cli.reserve(8);
    std::memcpy(again.data(), "8 bytes!", 8);
    p.cli.commit(shm::bytes_metadata(8));
    r = p.srv.receive_response(kBound);
    check(r.view() == "8 bytes!", "after the rejected commits the request is still answered", std::string(r.view()));
}

// ---------------------------------------------------------------------------
// Timeouts and states
// ---------------------------------------------------------------------------

void test_timeouts() {
    channel_name name("timeout");
    pair p;
    if (!open_pair(name, p))
        return;
    expect_throw([&] { p.cli.receive(0ms); }, shm::errc::timeout, "receive(0 ms) with nothing pending throws errc::timeout");
    std::error_code ec;
    shm::request_view v = p.cli.receive(10ms, ec);
    expect_ec(ec, shm::errc::timeout, "receive(10 ms, ec) with nothing pending: errc::timeout");
    check(!v.valid() && v.size() == 0, "and an empty view");
    check(shm::detail::timeout_ms(-5ms) == 0 && shm::detail::timeout_ms(shm::infinite) == SHMEMAPHORE_TIMEOUT_INFINITE &&
              shm::detail::timeout_ms(1500ms) == 1500,
          "timeouts: infinite is -1, other negative durations poll (0)");
    p.cli.receive(-5ms, ec);
    expect_ec(ec, shm::errc::timeout, "a negative timeout other than infinite polls (errc::timeout, no hang)");

    expect_throw([&] { p.srv.receive_response(0ms); }, shm::errc::wrong_state,
                 "receive_response with no request outstanding throws errc::wrong_state");
    p.srv.send_request("slow");
    shm::response r = p.srv.receive_response(0ms, ec);
    expect_ec(ec, shm::errc::timeout, "receive_response(0 ms, ec) before the answer: errc::timeout");
    check(!r.valid() && r.size() == 0, "and an empty response");
    expect_throw([&] { p.srv.receive_response(10ms); }, shm::errc::timeout, "receive_response(10 ms) throws errc::timeout");
    shm::request_view req = p.cli.receive(kBound);
    check(req.view() == "slow", "the client still gets the request after the server's timeouts");
    expect_throw([&] { p.cli.receive(0ms); }, shm::errc::wrong_state,
                 "receive again before answering throws errc::wrong_state");
    p.cli.respond(std::string_view("late"));
    r = p.srv.receive_response(kBound);
    check(r.view() == "late", "receive_response made again gets the answer");
    std::error_code none;
    p.cli.respond(std::string_view("twice"), none);
    expect_ec(none, shm::errc::wrong_state, "respond with no request to answer: errc::wrong_state");
}

// ---------------------------------------------------------------------------
// Views become stale with the next call
// ---------------------------------------------------------------------------

void test_stale_views() {
    channel_name name("stale");
    pair p;
    if (!open_pair(name, p))
        return;
    deliver(p, "one");
    p.cli.respond(std::string_view("first"));
    shm::response r = p.srv.receive_response(kBound);
    shm::response copy = r;
    check(r.valid() && copy.valid() && r.view() == "first", "a fresh response is valid (and its copy)");
    p.srv.send_request("two"); // the next call on the server
    check(!r.valid() && !copy.valid(), "after the next call on the channel the response is not valid");
    check(r.size() == 5 && r.kind() == shm::payload_kind::bytes, "its metadata still reads");
    expect_stale([&] { (void)r.data(); }, "response::data() of a stale response is detected");
    expect_stale([&] { (void)copy.view(); }, "response::view() of a stale copy is detected");
    std::error_code ec;
    r.save("/nonexistent/x.png", ec);
    expect_ec(ec, shm::errc::invalid_argument, "save() of a stale response: errc::invalid_argument, nothing read");

    shm::request_view req = p.cli.receive(kBound);
    check(req.valid() && req.view() == "two", "a fresh request view is valid");
    shm::writable_buffer b = p.cli.reserve(4);
    check(!req.valid(), "reserve() ends the request view");
    expect_stale([&] { (void)req.str(); }, "request_view::str() of a stale view is detected");
    std::memcpy(b.data(), "abcd", 4);
    p.cli.commit_bytes(4);
    expect_stale([&] { (void)b.data(); }, "writable_buffer::data() after commit is detected");
    r = p.srv.receive_response(kBound);
    check(r.view() == "abcd", "the reserved answer arrives");
    {
        // interrupt() is not a call that ends views.
        p.srv.interrupt();
        check(r.valid(), "interrupt() does not end the views");
        std::error_code consume;
        p.srv.receive_response(0ms, consume); // the pending interrupt (or wrong_state) ends
    }

    deliver(p, "three");
    p.cli.respond(std::string_view("x"));
    r = p.srv.receive_response(kBound);
    shm::server moved(std::move(p.srv));
    check(r.valid() && r.view() == "x", "moving the server keeps its views valid");
    moved.close();
    check(!r.valid(), "closing the server ends its views");
    expect_stale([&] { (void)r.bytes(); }, "response::bytes() after close is detected");
    check(!shm::response().valid() && shm::response().kind() == shm::payload_kind::bytes && shm::response().empty(),
          "a default-constructed response is empty raw bytes, never valid");

    // The default handler (this program replaces it) aborts with a message.
    std::fflush(nullptr);
    pid_t child = fork();
    if (child == 0) {
        std::freopen("/dev/null", "w", stderr);
        shm::detail::stale_view_abort("test");
    }
    int status = 0;
    check(child > 0 && waitpid(child, &status, 0) == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
          "the default stale-view handler aborts", "status " + std::to_string(status));
}

// ---------------------------------------------------------------------------
// Moves and empty objects
// ---------------------------------------------------------------------------

void test_moves() {
    static_assert(!std::is_copy_constructible_v<shm::server> && !std::is_copy_assignable_v<shm::server>,
                  "server is move-only");
    static_assert(!std::is_copy_constructible_v<shm::client> && !std::is_copy_assignable_v<shm::client>,
                  "client is move-only");
    static_assert(std::is_nothrow_move_constructible_v<shm::server> && std::is_nothrow_move_assignable_v<shm::server>,
                  "server moves without throwing");
    static_assert(std::is_nothrow_move_constructible_v<shm::client> && std::is_nothrow_move_assignable_v<shm::client>,
                  "client moves without throwing");
    static_assert(std::is_nothrow_default_constructible_v<shm::server>, "an empty server is free");

    channel_name name("move");
    channel_name other("move2");
    {
        shm::server a(name);
        shmemaphore_channel *handle = a.native_handle();
        shm::server b(std::move(a));
        check(!a.is_open() && a.native_handle() == nullptr && b.native_handle() == handle,
              "move construction takes the handle; the moved-from server is empty");
        std::error_code ec;
        a.send_request("x", ec);
        expect_ec(ec, shm::errc::invalid_argument, "a call on a moved-from server: errc::invalid_argument");
        expect_throw([&] { a.request("x", 0ms); }, shm::errc::invalid_argument,
                     "request() on a moved-from server throws errc::invalid_argument");
        check(!a.interrupt(), "interrupt() on a moved-from server returns false");
        a.close(); // harmless
        a.close();
        check(objects_present(name.name) == 4, "closing the moved-from server left the channel alone");

        shm::server c(other);
        c = std::move(b); // closes c's channel first
        check(objects_present(other.name) == 0, "move assignment over an open server closes it");
        check(c.native_handle() == handle && !b.is_open(), "and takes the other's handle");
        shm::client cl(name, client_options());
        shm::client cl2;
        cl2 = std::move(cl);
        check(!cl.is_open() && cl2.is_open(), "client move assignment");
        c.send_request("moved");
        check(cl2.receive(kBound).view() == "moved", "the moved objects still talk");
        cl2.respond(nullptr, 0);
        check(c.receive_response(kBound).empty(), "and the answer comes back");
        shm::client cl3(std::move(cl2));
        cl2.respond(nullptr, 0, ec);
        expect_ec(ec, shm::errc::invalid_argument, "a call on a moved-from client: errc::invalid_argument");
        shm::server &alias = c;
        c = std::move(alias); // self-move leaves it as it was
        check(c.is_open(), "self move assignment keeps the channel");
    } // a, b (empty) and c, cl, cl2 (empty), cl3 destroyed here
    check(objects_present(name.name) == 0, "the owner's destructor removed the channel; the empty ones did nothing");
    shm::client empty;
    std::error_code ec;
    empty.receive(0ms, ec);
    expect_ec(ec, shm::errc::invalid_argument, "receive on a default-constructed client: errc::invalid_argument");
}

// ---------------------------------------------------------------------------
// Roles and adoption of C handles
// ---------------------------------------------------------------------------

void test_roles() {
    channel_name name("role");
    pair p;
    if (!open_pair(name, p))
        return;
    std::error_code ec;
    shm::server wrong = shm::server::adopt(p.cli.native_handle(), ec);
    expect_ec(ec, shm::errc::wrong_role, "server::adopt of a client handle: errc::wrong_role");
    check(!wrong.is_open() && p.cli.is_open(), "and the handle stays its owner's");
    expect_throw([&] { shm::client::adopt(p.srv.native_handle()); }, shm::errc::wrong_role,
                 "client::adopt of a server handle throws errc::wrong_role");
    expect_throw([&] { shm::client::adopt(nullptr); }, shm::errc::invalid_argument,
                 "client::adopt(nullptr) throws errc::invalid_argument");
    // A handle adopted through the C API: the wrapper's calls go to it, and a
    // call in the wrong role is reported by the library as wrong_role.
    shm::server adopted = shm::server::adopt(p.srv.release());
    check(adopted.is_open() && !p.srv.is_open(), "server::adopt(release()) moves ownership");
    int rc = shmemaphore_send_request(p.cli.native_handle(), "x", 1);
    check(shm::make_error_code(rc) == shm::errc::wrong_role, "the C API's wrong-role code maps to errc::wrong_role");
    adopted.send_request("adopted");
    check(p.cli.receive(kBound).view() == "adopted", "the adopted server works");
    p.cli.respond(nullptr, 0);
    adopted.receive_response(kBound);
}

// ---------------------------------------------------------------------------
// request() against a client thread
// ---------------------------------------------------------------------------

void test_request_with_thread() {
    channel_name name("thread");
    shm::server srv(name);
    shm::client cli(name, client_options());
    std::atomic<int> served{0};
    std::thread responder([&] {
        for (;;) {
            std::error_code ec;
            shm::request_view req = cli.receive(kBound, ec);
            if (ec)
                return; // peer_gone at the end (or a failure the main thread sees)
            std::string text = req.str();
            if (text == "image")
                cli.respond_image(payload(6, 5).data(), 1, 2, 3, ec);
            else if (text == "error")
                cli.respond_error(42, "forty-two", ec);
            else
                cli.respond(text, ec);
            ++served;
        }
    });
    shm::response r = srv.request("image", kBound);
    check(r.is_image() && r.channels() == 3 && same_bytes(r, payload(6, 5)), "request(): an image from a client thread");
    r = srv.request("echo", kBound);
    check(r.view() == "echo", "request(): raw bytes");
    std::error_code ec;
    r = srv.request("error", kBound, ec);
    expect_ok(ec, "request(ec) with an error answer leaves ec clear");
    check(r.is_error() && r.error_code() == 42 && r.error_message() == "forty-two", "request(): an error response");
    const unsigned char binary[] = {'e', 'c', 'h', 'o', 0, 1};
    r = srv.request(binary, sizeof binary, kBound);
    check(r.size() == sizeof binary && std::memcmp(r.data(), binary, sizeof binary) == 0,
          "request(const void *, size): a binary request echoed");
    r = srv.request(""); // waits forever: the thread answers
    check(r.size() == 0, "request() with the default (infinite) timeout");
    srv.close(); // the responder's receive sees peer_gone
    responder.join();
    check(served == 5, "the client thread served five requests and ended on peer_gone", std::to_string(served.load()));
}

// ---------------------------------------------------------------------------
// Interrupts
// ---------------------------------------------------------------------------

std::atomic<shmemaphore_channel *> g_signal_channel{nullptr};
volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_sigusr1(int) {
    g_stop = 1;
    shmemaphore_interrupt(g_signal_channel.load()); // async-signal-safe
}

void test_interrupts() {
    channel_name name("intr");
    pair p;
    if (!open_pair(name, p))
        return;
    // Another thread interrupts: the wait in progress, or (if the thread is
    // quicker) the next wait ends with errc::interrupted, so no timing matters.
    std::thread helper([&] { p.cli.interrupt(); });
    expect_throw([&] { p.cli.receive(kBound); }, shm::errc::interrupted,
                 "interrupt() from another thread ends receive() with errc::interrupted");
    helper.join();
    std::error_code ec;
    p.cli.receive(0ms, ec);
    expect_ec(ec, shm::errc::timeout, "one interrupt ends one wait");

    p.srv.send_request("ask");
    std::thread helper2([&] { p.srv.interrupt(); });
    p.srv.receive_response(kBound, ec);
    helper2.join();
    expect_ec(ec, shm::errc::interrupted, "interrupt() from another thread ends receive_response(ec): errc::interrupted");
    check(ec == std::errc::interrupted, "which also compares equal to std::errc::interrupted");
    check(p.cli.receive(kBound).view() == "ask", "the request stays outstanding after the interrupt");
    p.cli.respond(std::string_view("answer"));
    check(p.srv.receive_response(kBound).view() == "answer", "receive_response made again gets the answer");

    // A Ctrl-C loop: a handler (no SA_RESTART) sets a flag and interrupts
    // through the native handle; the loop checks the flag on errc::interrupted.
    struct sigaction sa, old;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, &old);
    sigset_t unblock, old_mask;
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &unblock, &old_mask);
    g_stop = 0;
    g_signal_channel = p.cli.native_handle();
    pthread_t waiter = pthread_self();
    std::thread signaller([waiter] { pthread_kill(waiter, SIGUSR1); });
    int interrupted = 0;
    bool stopped = false;
    for (int turn = 0; turn < 3 && !stopped; ++turn) {
        p.cli.receive(kBound, ec);
        if (ec == shm::errc::interrupted) {
            ++interrupted;
            stopped = g_stop != 0;
        } else {
            break;
        }
    }
    signaller.join();
    g_signal_channel = nullptr;
    sigaction(SIGUSR1, &old, nullptr);
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    check(stopped && interrupted >= 1, "a Ctrl-C style loop ends on the signal's errc::interrupted",
          describe(ec) + ", " + std::to_string(interrupted) + " interrupted waits");
    std::error_code drain;
    p.cli.receive(0ms, drain); // a second interrupt (signal + call) may be pending
    std::printf("# after the Ctrl-C loop (%d interrupted waits) the next poll gives %s\n", interrupted,
                describe(drain).c_str());
}

// ---------------------------------------------------------------------------
// Images: save and send_image_file
// ---------------------------------------------------------------------------

void test_images(const std::string &tmpdir) {
    channel_name name("img");
    pair p;
    if (!open_pair(name, p))
        return;
    deliver(p, "img");
    std::vector<std::uint8_t> pixels = payload(5 * 3 * 4, 6);
    p.cli.respond_image(pixels.data(), 5, 3, 4);
    shm::response r = p.srv.receive_response(kBound);
    std::string png = tmpdir + "/five.png";
    expect_no_throw([&] { r.save(png); }, "response::save() of an image to .png");
    check(::access(png.c_str(), R_OK) == 0, "the file exists");
    std::error_code ec;
    r.save(tmpdir + "/five.xyz", ec);
    expect_ec(ec, shm::errc::unsupported_format, "save() to an unknown extension: errc::unsupported_format");
    r.save(std::string_view("a\0.png", 6), ec);
    expect_ec(ec, shm::errc::invalid_argument, "save() to a path with a NUL: errc::invalid_argument");

    deliver(p, "file");
    shm::metadata sent = p.cli.send_image_file(png);
    check(sent.width == 5 && sent.height == 3 && sent.channels == 4 && sent.bytes == 60,
          "send_image_file() returns the metadata sent");
    r = p.srv.receive_response(kBound);
    check(r.is_image() && same_bytes(r, pixels), "the decoded file arrives pixel for pixel (PNG is lossless)");
    std::error_code save_ec;
    deliver(p, "bytes");
    p.cli.respond(std::string_view("raw"));
    r = p.srv.receive_response(kBound);
    r.save(tmpdir + "/raw.png", save_ec);
    expect_ec(save_ec, shm::errc::not_image, "save() of a bytes response: errc::not_image");
    expect_throw([&] { r.save(tmpdir + "/raw.png"); }, shm::errc::not_image, "and the throwing save() throws it");

    deliver(p, "missing");
    p.cli.send_image_file(tmpdir + "/missing.png", ec);
    expect_ec(ec, shm::make_error_code(-ENOENT), "send_image_file() of a missing file: -ENOENT");
    check(ec == std::errc::no_such_file_or_directory, "which is std::errc::no_such_file_or_directory");
    p.cli.respond_error(SHMEMAPHORE_PEER_ERROR_NOT_FOUND, "no such image");
    r = p.srv.receive_response(kBound);
    check(r.is_error() && r.error_code() == 1, "the request was still answerable after the failed send");
    std::remove(png.c_str());
}

// ---------------------------------------------------------------------------
// Listing and removing channels
// ---------------------------------------------------------------------------

const shm::channel_info *find_channel(const std::vector<shm::channel_info> &all, const std::string &name) {
    for (const shm::channel_info &info : all)
        if (info.name == name)
            return &info;
    return nullptr;
}

void test_list_and_remove() {
    channel_name name("ls");
    expect_throw([] { shm::remove_channel("a/b"); }, shm::errc::invalid_name, "remove_channel(\"a/b\") throws errc::invalid_name");
    check(shm::remove_channel(name) == 0, "remove_channel of a channel with no objects removes 0");
    shm::server srv(name);
    std::vector<shm::channel_info> all = shm::list_channels();
    const shm::channel_info *info = find_channel(all, name.name);
    check(info && info->objects == (SHMEMAPHORE_OBJECT_HEAD | SHMEMAPHORE_OBJECT_DATA | SHMEMAPHORE_OBJECT_REQ |
                                    SHMEMAPHORE_OBJECT_RES),
          "list_channels() shows the open channel's four objects");
    check(info && info->server_locked == 1, "and its live server");
    std::error_code ec;
    unsigned removed = shm::remove_channel(name, false, ec);
    expect_ec(ec, shm::errc::busy, "remove_channel of a live channel without force: errc::busy");
    check(removed == 0 && objects_present(name.name) == 4, "and nothing was removed");
    removed = shm::remove_channel(name, true);
    check(removed == 4 && objects_present(name.name) == 0, "remove_channel(name, true) removes the four objects",
          std::to_string(removed));
    all = shm::list_channels(ec);
    expect_ok(ec, "list_channels(ec)");
    check(find_channel(all, name.name) == nullptr, "the removed channel is no longer listed");
}

// ---------------------------------------------------------------------------
// Two processes: a forked C++ client
// ---------------------------------------------------------------------------

/** The forked client: serves "image W H C SEED", "zc N SEED", "error CODE"
 *  until the server closes.  Exit 0 on peer_gone, 1 otherwise. */
[[noreturn]] void child_client(const std::string &name) {
    int status = 1;
    try {
        shm::client cli(name, client_options());
        for (;;) {
            std::error_code ec;
            shm::request_view req = cli.receive(kBound, ec);
            if (ec == shm::errc::peer_gone) {
                status = 0;
                break;
            }
            if (ec)
                break;
            std::string text = req.str();
            unsigned long long a = 0, b = 0, c = 0, seed = 0;
            if (std::sscanf(text.c_str(), "image %llu %llu %llu %llu", &a, &b, &c, &seed) == 4) {
                cli.respond_image(payload(static_cast<std::size_t>(a * b * c), seed).data(), a, b, c);
            } else if (std::sscanf(text.c_str(), "zc %llu %llu", &a, &seed) == 2) {
                shm::writable_buffer buf = cli.reserve(a);
                std::vector<std::uint8_t> bytes = payload(static_cast<std::size_t>(a), seed);
                if (a)
                    std::memcpy(buf.data(), bytes.data(), bytes.size());
                cli.commit_bytes(a);
            } else if (std::sscanf(text.c_str(), "error %llu", &a) == 1) {
                cli.respond_error(a, "requested error");
            } else {
                cli.respond_error(SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "bad request");
            }
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "child client: %s\n", e.what());
    }
    std::fflush(nullptr);
    _exit(status);
}

void test_two_processes() {
    channel_name name("fork");
    std::fflush(nullptr);
    pid_t child = fork();
    if (child < 0) {
        check(false, "fork");
        return;
    }
    if (child == 0)
        child_client(name.name); // never returns
    {
        shm::server srv(name);
        struct step {
            std::string request;
            shm::payload_kind kind;
            std::uint64_t w, h, c, bytes, seed;
        };
        const step steps[] = {
            {"image 1 1 1 1", shm::payload_kind::image, 1, 1, 1, 1, 1},
            {"image 640 480 4 2", shm::payload_kind::image, 640, 480, 4, 640 * 480 * 4, 2},
            {"zc 0 3", shm::payload_kind::bytes, 0, 0, 0, 0, 3},
            {"zc 3000000 4", shm::payload_kind::bytes, 0, 0, 0, 3000000, 4},
            {"error 9", shm::payload_kind::error, 9, 0, 0, 0, 0},
            {"image 333 77 3 5", shm::payload_kind::image, 333, 77, 3, 333 * 77 * 3, 5},
            {"what", shm::payload_kind::error, 2, 0, 0, 0, 0},
        };
        for (const step &s : steps) {
            std::error_code ec;
            shm::response r = srv.request(s.request, kBound, ec);
            if (!expect_ok(ec, "two processes: request \"" + s.request + "\""))
                break;
            bool ok = r.kind() == s.kind;
            if (s.kind == shm::payload_kind::error)
                ok = ok && r.error_code() == s.w;
            else
                ok = ok && r.width() == s.w && r.height() == s.h && r.channels() == s.c &&
                     same_bytes(r, payload(static_cast<std::size_t>(s.bytes), s.seed));
            check(ok, "two processes: \"" + s.request + "\" answered with the right kind, shape and bytes");
        }
    } // the server closes: the child sees peer_gone
    int status = 0;
    pid_t waited = waitpid(child, &status, 0);
    check(waited == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the forked C++ client exits 0 when the server closes", "status " + std::to_string(status));
}

// ---------------------------------------------------------------------------

void test_nothing_left() {
    std::error_code ec;
    std::vector<shm::channel_info> all = shm::list_channels(ec);
    std::string left;
    for (const shm::channel_info &info : all)
        if (info.name.compare(0, g_prefix.size() + 1, g_prefix + "-") == 0)
            left += " " + info.name;
    check(!ec && left.empty(), "no channel of this run is left in /dev/shm", left);
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '\0') {
        std::fprintf(stderr, "usage: %s PREFIX\n", argv[0]);
        return 2;
    }
    g_prefix = argv[1];
    char tmpl[] = "/tmp/shmemaphore-cpp-check.XXXXXX";
    const char *tmpdir = mkdtemp(tmpl);
    if (!tmpdir) {
        std::perror("mkdtemp");
        return 1;
    }
    std::printf("# C++ %ld, %s\n", static_cast<long>(__cplusplus), shm::version_string().data());
    const std::string dir = tmpdir;
    const std::pair<const char *, std::function<void()>> tests[] = {
        {"versions", test_versions},
        {"codes", test_codes},
        {"options", test_options},
        {"two processes", test_two_processes}, // forks: before any thread is started
        {"open", test_open},                   // forks too
        {"round trips", test_round_trips},
        {"reserve/commit", test_reserve_commit},
        {"timeouts", test_timeouts},
        {"stale views", test_stale_views},
        {"moves", test_moves},
        {"roles", test_roles},
        {"request with a thread", test_request_with_thread},
        {"interrupts", test_interrupts},
        {"images", [&dir] { test_images(dir); }},
        {"list and remove", test_list_and_remove},
    };
    for (const auto &test : tests) {
        std::printf("# %s\n", test.first);
        try {
            test.second();
        } catch (const std::exception &e) {
            check(false, std::string(test.first) + ": unexpected exception", e.what());
        }
    }
    test_nothing_left();
    ::rmdir(tmpdir);
    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
