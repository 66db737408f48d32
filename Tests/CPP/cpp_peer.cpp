/*
 * cpp_peer.cpp - the C++ conformance peer (docs/CONFORMANCE.md), written
 * against include/shmemaphore.hpp only.  CMake builds it as
 * <build>/bin/shmemaphore-cpp-peer.
 *
 *   shmemaphore-cpp-peer server --channel CH --requests FILE --count N [--timeout SECONDS]
 *                               [--blocking-wait] [--untrusted-peer]
 *   shmemaphore-cpp-peer client --channel CH --dir DIR [--attach-timeout SECONDS]
 *                               [--blocking-wait] [--untrusted-peer]
 *
 * server  sends the lines of FILE in order (only each line's final "\n" is
 *         removed: an empty line is an empty request), cycling, N requests
 *         in all, waiting up to --timeout (default 30 s) for each answer, and
 *         prints one line per exchange:
 *           <index> <request-length> image <W> <H> <C> <bytes> <fnv1a64-hex> <ms>
 *           <index> <request-length> bytes <bytes> <fnv1a64-hex> <ms>
 *           <index> <request-length> error <code> <ms>
 *         (index from 1, FNV-1a 64 of the payload as 16 lower-case hex
 *         digits, the round trip in milliseconds with three decimals).  A
 *         peer's error response is an answer: its line is printed (the
 *         message goes to standard error) and the run goes on.
 * client  answers each request with DIR/<request> or DIR/<request>.<ext>
 *         (png jpg jpeg bmp tga gif psd hdr pic pnm ppm pgm), whichever is a
 *         regular file first, decoded as shmemaphore_send_image_file does;
 *         error code 2 (bad request) for a request that cannot be a file
 *         name (empty, longer than 255 bytes, containing '/' or NUL,
 *         starting with '.'), 1 (not found) when no file exists, 0 when the
 *         file cannot be decoded.  Waits up to --attach-timeout (default
 *         30 s) for the server; exits 0 when the server closes the channel.
 *
 * SIGINT/SIGTERM end every wait at once (the handler calls
 * shmemaphore_interrupt); the channel is closed, so /dev/shm is left clean.
 *
 * Exit status: 0 done (server: N exchanges; client: the server closed the
 * channel, or a signal), 1 an exchange failed (timeout, protocol or system
 * error) or the server was interrupted, 2 usage error, 3 the channel could
 * not be opened.
 */
#include <shmemaphore.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <signal.h>
#include <sys/stat.h>

namespace shm = shmemaphore;

namespace {

enum { exit_ok = 0, exit_exchange = 1, exit_usage = 2, exit_open = 3 };

volatile std::sig_atomic_t g_stop = 0;
std::atomic<shmemaphore_channel *> g_channel{nullptr};

extern "C" void on_signal(int signo) {
    g_stop = signo;
    shmemaphore_interrupt(g_channel.load()); // async-signal-safe; NULL is fine
}

void install_handlers() {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = static_cast<int>(SA_RESETHAND); // no SA_RESTART; a second signal kills at once
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

/** Makes a channel the one the signal handler interrupts, for its scope. */
struct signal_target {
    explicit signal_target(const shm::channel &channel) {
        g_channel = channel.native_handle();
        if (g_stop) // the signal came before the channel was known
            channel.interrupt();
    }
    ~signal_target() { g_channel = nullptr; }
    signal_target(const signal_target &) = delete;
    signal_target &operator=(const signal_target &) = delete;
};

std::uint64_t fnv1a64(const unsigned char *data, std::size_t length) {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < length; ++i) {
        hash ^= data[i];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

/** At most 200 bytes of untrusted text as printable ASCII: control
 *  characters and every byte above 0x7e become '?' (so the text is valid
 *  UTF-8 whatever it was, as an error message must be). */
std::string printable(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 200)) {
        unsigned char u = static_cast<unsigned char>(c);
        out += u < 0x20 || u >= 0x7f ? '?' : c;
    }
    if (text.size() > 200)
        out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

bool parse_count(const std::string &text, long &out) {
    char *end = nullptr;
    errno = 0;
    long value = std::strtol(text.c_str(), &end, 10);
    if (errno != 0 || end == text.c_str() || *end != '\0' || value <= 0)
        return false;
    out = value;
    return true;
}

bool parse_seconds(const std::string &text, std::chrono::milliseconds &out) {
    char *end = nullptr;
    errno = 0;
    double seconds = std::strtod(text.c_str(), &end);
    if (errno != 0 || end == text.c_str() || *end != '\0' || !std::isfinite(seconds) || seconds <= 0 ||
        seconds > 1e9)
        return false;
    auto ms = static_cast<std::int64_t>(seconds * 1000.0 + 0.5);
    out = std::chrono::milliseconds(ms > 0 ? ms : 1);
    return true;
}

/** Command-line options: "--name value", "--name=value" or a flag. */
struct arguments {
    std::string channel, requests, dir;
    std::string count_text, timeout_text, attach_text;
    std::uint32_t flags = 0;
};

int usage(const char *why) {
    if (why)
        std::fprintf(stderr, "shmemaphore-cpp-peer: %s\n", why);
    std::fputs("usage: shmemaphore-cpp-peer server --channel CH --requests FILE --count N [--timeout SECONDS]\n"
               "                                   [--blocking-wait] [--untrusted-peer]\n"
               "       shmemaphore-cpp-peer client --channel CH --dir DIR [--attach-timeout SECONDS]\n"
               "                                   [--blocking-wait] [--untrusted-peer]\n",
               why ? stderr : stdout);
    return why ? exit_usage : exit_ok;
}

bool parse_arguments(int argc, char **argv, bool is_server, arguments &args, std::string &why) {
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        bool has_value = false;
        std::size_t eq = arg.find('=');
        if (arg.compare(0, 2, "--") == 0 && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg.erase(eq);
            has_value = true;
        }
        if (arg == "--blocking-wait" || arg == "--untrusted-peer") {
            if (has_value) {
                why = arg + " takes no value";
                return false;
            }
            args.flags |= arg == "--blocking-wait" ? shm::flag::blocking_wait : shm::flag::untrusted_peer;
            continue;
        }
        std::string *target = nullptr;
        if (arg == "--channel")
            target = &args.channel;
        else if (is_server && arg == "--requests")
            target = &args.requests;
        else if (is_server && arg == "--count")
            target = &args.count_text;
        else if (is_server && arg == "--timeout")
            target = &args.timeout_text;
        else if (!is_server && arg == "--dir")
            target = &args.dir;
        else if (!is_server && arg == "--attach-timeout")
            target = &args.attach_text;
        if (!target) {
            why = "unknown argument '" + arg + "'";
            return false;
        }
        if (!has_value) {
            if (i + 1 >= argc) {
                why = arg + " needs a value";
                return false;
            }
            value = argv[++i];
        }
        *target = value;
    }
    if (args.channel.empty()) {
        why = "--channel is required";
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/** The lines of the file: split at '\n', the final "\n" ending the last
 *  line rather than starting an empty one.  False if unreadable or empty. */
bool read_requests(const std::string &path, std::vector<std::string> &lines) {
    std::ifstream file(path, std::ios::binary);
    if (!file)
        return false;
    std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (file.bad())
        return false;
    std::size_t start = 0;
    while (start < content.size()) {
        std::size_t newline = content.find('\n', start);
        if (newline == std::string::npos) {
            lines.push_back(content.substr(start));
            break;
        }
        lines.push_back(content.substr(start, newline - start));
        start = newline + 1;
    }
    return !lines.empty();
}

int run_server(const arguments &args) {
    long count = 0;
    std::chrono::milliseconds timeout = std::chrono::seconds(30);
    if (args.requests.empty())
        return usage("--requests is required");
    if (!parse_count(args.count_text, count))
        return usage("--count must be a whole number > 0");
    if (!args.timeout_text.empty() && !parse_seconds(args.timeout_text, timeout))
        return usage("--timeout must be a number of seconds > 0");
    std::vector<std::string> requests;
    if (!read_requests(args.requests, requests)) {
        std::fprintf(stderr, "server: --requests: cannot read %s, or it holds no lines\n", args.requests.c_str());
        return exit_usage;
    }

    shm::options opts;
    opts.flags = args.flags;
    std::error_code ec;
    shm::server srv = shm::server::open(args.channel, opts, ec);
    if (ec) {
        std::fprintf(stderr, "server: cannot open channel \"%s\": %s (%s)\n", args.channel.c_str(),
                     ec.message().c_str(), shm::error_name(ec));
        return exit_open;
    }
    signal_target target(srv);

    for (long i = 1; i <= count; ++i) {
        const std::string &request = requests[static_cast<std::size_t>(i - 1) % requests.size()];
        auto start = std::chrono::steady_clock::now();
        shm::response r = srv.request(request, timeout, ec);
        std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
        if (ec) {
            if (g_stop)
                std::fprintf(stderr, "server: interrupted by signal %d after %ld of %ld exchanges\n",
                             static_cast<int>(g_stop), i - 1, count);
            else
                std::fprintf(stderr, "server: request %ld: %s (%s)\n", i, ec.message().c_str(), shm::error_name(ec));
            return exit_exchange;
        }
        switch (r.kind()) {
        case shm::payload_kind::error:
            std::printf("%ld %zu error %llu %.3f\n", i, request.size(), static_cast<unsigned long long>(r.error_code()),
                        elapsed.count());
            std::fprintf(stderr, "server: request %ld: peer error %llu: %s\n", i,
                         static_cast<unsigned long long>(r.error_code()), printable(r.error_message()).c_str());
            break;
        case shm::payload_kind::image:
            std::printf("%ld %zu image %llu %llu %llu %zu %016llx %.3f\n", i, request.size(),
                        static_cast<unsigned long long>(r.width()), static_cast<unsigned long long>(r.height()),
                        static_cast<unsigned long long>(r.channels()), r.size(),
                        static_cast<unsigned long long>(fnv1a64(r.bytes(), r.size())), elapsed.count());
            break;
        case shm::payload_kind::bytes:
            std::printf("%ld %zu bytes %zu %016llx %.3f\n", i, request.size(), r.size(),
                        static_cast<unsigned long long>(fnv1a64(r.bytes(), r.size())), elapsed.count());
            break;
        }
    }
    return exit_ok; // srv's destructor closes the channel: /dev/shm is clean
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

const char *const extensions[] = {"png", "jpg", "jpeg", "bmp", "tga", "gif", "psd", "hdr", "pic", "pnm", "ppm", "pgm"};

/** Why a request cannot be a file name, or nullptr. */
const char *refusal(std::string_view request) {
    if (request.empty())
        return "empty request";
    if (request.size() > 255)
        return "request longer than 255 bytes";
    if (request.find('\0') != std::string_view::npos)
        return "request contains a NUL byte";
    if (request.find('/') != std::string_view::npos)
        return "request contains '/'";
    if (request.front() == '.')
        return "request starts with '.'";
    return nullptr;
}

bool is_regular(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

/** DIR/name, then DIR/name.ext; empty when none is a regular file. */
std::string find_image(const std::string &dir, const std::string &name) {
    std::string path = dir + "/" + name;
    if (is_regular(path))
        return path;
    for (const char *extension : extensions) {
        std::string candidate = path + "." + extension;
        if (is_regular(candidate))
            return candidate;
    }
    return std::string();
}

int run_client(const arguments &args) {
    std::chrono::milliseconds attach = std::chrono::seconds(30);
    if (args.dir.empty())
        return usage("--dir is required");
    if (!args.attach_text.empty() && !parse_seconds(args.attach_text, attach))
        return usage("--attach-timeout must be a number of seconds > 0");
    struct stat st;
    if (::stat(args.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        std::fprintf(stderr, "client: --dir: %s is not a directory\n", args.dir.c_str());
        return exit_usage;
    }

    shm::options opts;
    opts.attach_timeout = attach;
    opts.flags = args.flags;
    std::error_code ec;
    shm::client cli = shm::client::open(args.channel, opts, ec);
    if (ec == shm::errc::interrupted || (ec && g_stop))
        return exit_ok;
    if (ec) {
        std::fprintf(stderr, "client: cannot open channel \"%s\": %s (%s)\n", args.channel.c_str(),
                     ec.message().c_str(), shm::error_name(ec));
        return exit_open;
    }
    signal_target target(cli);

    while (!g_stop) {
        shm::request_view request = cli.receive(shm::infinite, ec);
        if (ec == shm::errc::interrupted)
            continue; // the loop looks at the flag
        if (ec == shm::errc::peer_gone)
            return exit_ok; // the server closed the channel
        if (ec) {
            std::fprintf(stderr, "client: receiving a request: %s (%s)\n", ec.message().c_str(), shm::error_name(ec));
            std::error_code ignored; // a malformed request may still be held: answer it
            cli.respond_error(SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "malformed request", ignored);
            return exit_exchange;
        }
        // Every path below answers exactly once.  The view dies with the
        // first call on the channel: take what is needed first.
        std::string_view text = request.view();
        if (const char *why = refusal(text)) {
            cli.respond_error(SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, why, ec);
        } else {
            std::string name(text);
            std::string path = find_image(args.dir, name);
            if (path.empty()) {
                cli.respond_error(SHMEMAPHORE_PEER_ERROR_NOT_FOUND, "no such image: " + printable(name), ec);
            } else {
                cli.send_image_file(path, ec);
                if (ec) { // nothing was sent: the request is still ours to answer
                    std::string message = path + ": " + ec.message();
                    std::fprintf(stderr, "client: %s\n", printable(message).c_str());
                    cli.respond_error(SHMEMAPHORE_PEER_ERROR_UNSPECIFIED, printable(message), ec);
                }
            }
        }
        if (ec) {
            std::fprintf(stderr, "client: answering a request: %s (%s)\n", ec.message().c_str(), shm::error_name(ec));
            return exit_exchange;
        }
    }
    return exit_ok; // a signal
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2)
        return usage("server or client?");
    std::string mode = argv[1];
    if (mode == "--help" || mode == "-h")
        return usage(nullptr);
    if (mode != "server" && mode != "client")
        return usage("the first argument must be server or client");
    arguments args;
    std::string why;
    if (!parse_arguments(argc, argv, mode == "server", args, why))
        return usage(why.c_str());
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // one line per exchange, at once
    install_handlers();
    try {
        return mode == "server" ? run_server(args) : run_client(args);
    } catch (const std::exception &e) { // out of memory, mostly
        std::fprintf(stderr, "shmemaphore-cpp-peer: %s\n", e.what());
        return exit_exchange;
    }
}
