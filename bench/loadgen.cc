// Constant-rate, open-loop HTTP/1.1 load generator for bench/run.
//
// wrk measures throughput with a closed loop: a slow answer delays the next request, so its latency
// figures hide queueing ("coordinated omission"). Here request k is scheduled at t0 + k/rate
// whatever the server does, and its latency runs from that scheduled time to the last byte of the
// answer, so time spent waiting for a free connection counts. Single-threaded epoll over keep-alive
// connections, one request in flight per connection, no pipelining.
//
// Built by bench/run with `g++ -O2 -std=c++20 -pthread bench/loadgen.cc`; not part of the CMake
// build.
//
//   loadgen --port P --requests MANIFEST --rate R --duration S [--connections C] [--warmup S]
//   loadgen --port P --requests MANIFEST --idle N
// MANIFEST lists files, one per line, each a complete raw HTTP request. Prints one JSON object;
// with --idle, opens N connections, completes one request on each, prints "ready" and holds them
// open until stdin closes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string manifest;
  double rate = 1000;
  double duration = 5;
  double warmup = 0.5;
  int connections = 64;
  int idle = 0;
  double drain_timeout = 5;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "loadgen: %s\n", message.c_str());
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + std::string(arg));
      return argv[++i];
    };
    if (arg == "--host")
      options.host = value();
    else if (arg == "--port")
      options.port = std::stoi(value());
    else if (arg == "--requests")
      options.manifest = value();
    else if (arg == "--rate")
      options.rate = std::stod(value());
    else if (arg == "--duration")
      options.duration = std::stod(value());
    else if (arg == "--warmup")
      options.warmup = std::stod(value());
    else if (arg == "--connections")
      options.connections = std::stoi(value());
    else if (arg == "--idle")
      options.idle = std::stoi(value());
    else if (arg == "--drain-timeout")
      options.drain_timeout = std::stod(value());
    else
      die("unknown argument " + std::string(arg));
  }
  if (options.port <= 0 || options.manifest.empty()) die("--port and --requests are required");
  if (options.rate <= 0 || options.connections <= 0)
    die("--rate and --connections must be positive");
  return options;
}

std::vector<std::string> load_requests(const std::string& manifest) {
  std::ifstream list(manifest);
  if (!list) die("cannot read " + manifest);
  std::vector<std::string> requests;
  for (std::string line; std::getline(list, line);) {
    if (line.empty()) continue;
    std::ifstream file(line, std::ios::binary);
    if (!file) die("cannot read " + line);
    std::ostringstream content;
    content << file.rdbuf();
    requests.push_back(content.str());
  }
  if (requests.empty()) die("no requests in " + manifest);
  return requests;
}

int connect_to(const Options& options) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(options.port));
  ::inet_pton(AF_INET, options.host.c_str(), &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    die(std::string("connect: ") + std::strerror(errno));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Incremental parser for one HTTP/1.1 response with Content-Length or chunked framing.
class ResponseParser {
 public:
  // Feeds bytes; returns true once a whole response is in. Leftover bytes are an error (no
  // pipelining).
  bool feed(const char* data, size_t size) {
    buffer_.append(data, size);
    if (header_end_ == std::string::npos) {
      header_end_ = buffer_.find("\r\n\r\n");
      if (header_end_ == std::string::npos) return false;
      parse_head();
    }
    if (chunked_) return chunked_complete();
    return buffer_.size() >= header_end_ + 4 + content_length_;
  }
  int status() const { return status_; }
  bool closes() const { return closes_; }
  void reset() {
    buffer_.clear();
    header_end_ = std::string::npos;
    status_ = 0;
    content_length_ = 0;
    chunked_ = false;
    closes_ = false;
  }

 private:
  void parse_head() {
    if (buffer_.size() > 12) status_ = std::atoi(buffer_.c_str() + 9);
    std::string head = buffer_.substr(0, header_end_);
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos) {
      content_length_ = std::strtoull(head.c_str() + at + 17, nullptr, 10);
    }
    chunked_ = head.find("\r\ntransfer-encoding: chunked") != std::string::npos;
    closes_ = head.find("\r\nconnection: close") != std::string::npos;
  }
  bool chunked_complete() const {
    size_t at = header_end_ + 4;
    while (true) {
      size_t line_end = buffer_.find("\r\n", at);
      if (line_end == std::string::npos) return false;
      size_t size = std::strtoull(buffer_.c_str() + at, nullptr, 16);
      if (size == 0) return buffer_.find("\r\n\r\n", line_end) != std::string::npos;
      at = line_end + 2 + size + 2;
      if (at > buffer_.size()) return false;
    }
  }

  std::string buffer_;
  size_t header_end_ = std::string::npos;
  int status_ = 0;
  size_t content_length_ = 0;
  bool chunked_ = false;
  bool closes_ = false;
};

struct Connection {
  int fd = -1;
  bool busy = false;
  const std::string* request = nullptr;
  size_t sent = 0;
  int64_t scheduled_ns = 0;
  bool want_write = false;
  bool answered = false;  // the answer came before the whole request was written
  ResponseParser parser;
};

class OpenLoop {
 public:
  OpenLoop(const Options& options, std::vector<std::string> requests)
      : options_(options), requests_(std::move(requests)), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    connections_.resize(options.connections);
    for (size_t i = 0; i < connections_.size(); ++i) open(i);
  }

  void run() {
    const int64_t period_ns = static_cast<int64_t>(1e9 / options_.rate);
    const int64_t start = now_ns();
    const int64_t measure_from = start + static_cast<int64_t>(options_.warmup * 1e9);
    const int64_t stop_at =
        start + static_cast<int64_t>((options_.warmup + options_.duration) * 1e9);
    measure_from_ = measure_from;
    int64_t next = start;
    epoll_event events[256];
    while (true) {
      int64_t now = now_ns();
      while (next <= now && next < stop_at) {
        pending_.push_back(next);
        if (next >= measure_from) ++scheduled_;
        next += period_ns;
      }
      max_backlog_ = std::max(max_backlog_, pending_.size());
      dispatch();
      if (next >= stop_at && pending_.empty() && in_flight_ == 0) break;
      if (next >= stop_at && now > stop_at + static_cast<int64_t>(options_.drain_timeout * 1e9))
        break;
      int timeout_ms = 0;
      if (next >= stop_at)
        timeout_ms = 10;
      else if (next - now > 2'000'000)
        timeout_ms = static_cast<int>((next - now) / 1'000'000) - 1;
      int count = ::epoll_wait(epoll_, events, 256, timeout_ms);
      for (int i = 0; i < count; ++i) on_event(events[i].data.u32, events[i].events);
    }
    unsent_ = pending_.size();
  }

  void print_json() {
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto percentile = [&](double p) -> double {
      if (latencies_us_.empty()) return 0;
      size_t index = static_cast<size_t>(p / 100.0 * (latencies_us_.size() - 1) + 0.5);
      return latencies_us_[std::min(index, latencies_us_.size() - 1)];
    };
    double sum = 0;
    for (double value : latencies_us_) sum += value;
    std::printf(
        "{\"target_rate\": %.1f, \"duration_s\": %.3f, \"scheduled\": %llu, \"completed\": %zu, ",
        options_.rate, options_.duration, static_cast<unsigned long long>(scheduled_),
        latencies_us_.size());
    std::printf("\"achieved_rate\": %.1f, \"errors\": %llu, \"unsent\": %zu, \"unanswered\": %zu, ",
                latencies_us_.size() / options_.duration, static_cast<unsigned long long>(errors_),
                unsent_, in_flight_);
    std::printf("\"reconnects\": %llu, \"max_backlog\": %zu, \"status\": {",
                static_cast<unsigned long long>(reconnects_), max_backlog_);
    bool first = true;
    for (auto& [status, count] : statuses_) {
      std::printf("%s\"%d\": %llu", first ? "" : ", ", status,
                  static_cast<unsigned long long>(count));
      first = false;
    }
    std::printf(
        "}, \"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99.9\": %.1f, ",
        percentile(50), percentile(90), percentile(99), percentile(99.9));
    std::printf("\"max\": %.1f, \"mean\": %.1f}}\n",
                latencies_us_.empty() ? 0.0 : latencies_us_.back(),
                latencies_us_.empty() ? 0.0 : sum / latencies_us_.size());
  }

 private:
  void open(size_t index) {
    Connection& connection = connections_[index];
    connection.fd = connect_to(options_);
    connection.busy = false;
    connection.want_write = false;
    connection.parser.reset();
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = static_cast<uint32_t>(index);
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, connection.fd, &event);
    idle_.push_back(index);
  }

  void reopen(size_t index) {
    Connection& connection = connections_[index];
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, connection.fd, nullptr);
    ::close(connection.fd);
    ++reconnects_;
    open(index);
  }

  void dispatch() {
    while (!pending_.empty() && !idle_.empty()) {
      size_t index = idle_.back();
      idle_.pop_back();
      Connection& connection = connections_[index];
      connection.busy = true;
      connection.scheduled_ns = pending_.front();
      pending_.pop_front();
      connection.request = &requests_[next_request_++ % requests_.size()];
      connection.sent = 0;
      connection.answered = false;
      connection.parser.reset();
      ++in_flight_;
      write_some(index);
    }
  }

  void write_some(size_t index) {
    Connection& connection = connections_[index];
    const std::string& request = *connection.request;
    while (connection.sent < request.size()) {
      ssize_t written = ::send(connection.fd, request.data() + connection.sent,
                               request.size() - connection.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (written > 0) {
        connection.sent += static_cast<size_t>(written);
        continue;
      }
      if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_want_write(index, true);
        return;
      }
      fail(index);
      return;
    }
    if (connection.want_write) set_want_write(index, false);
    if (connection.answered) complete(index);
  }

  void set_want_write(size_t index, bool want) {
    Connection& connection = connections_[index];
    connection.want_write = want;
    epoll_event event{};
    event.events = EPOLLIN | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
    event.data.u32 = static_cast<uint32_t>(index);
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, connection.fd, &event);
  }

  void fail(size_t index) {
    Connection& connection = connections_[index];
    if (connection.busy) {
      --in_flight_;
      if (connection.scheduled_ns >= measure_from_) ++errors_;
    }
    reopen(index);
  }

  void on_event(size_t index, uint32_t events) {
    Connection& connection = connections_[index];
    if ((events & EPOLLOUT) && connection.busy) write_some(index);
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    char buffer[65536];
    while (true) {
      ssize_t got = ::recv(connection.fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (got > 0) {
        if (!connection.busy) {
          fail(index);
          return;
        }
        if (connection.parser.feed(buffer, static_cast<size_t>(got))) {
          // A server may answer before it has read the whole body (nginx's `return`, an early
          // 413): finish writing first, or the rest of this body would prefix the next request.
          if (connection.sent < connection.request->size() && !connection.parser.closes()) {
            connection.answered = true;
            return;
          }
          complete(index);
          return;
        }
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      fail(index);
      return;
    }
  }

  void complete(size_t index) {
    Connection& connection = connections_[index];
    int64_t finished = now_ns();
    if (connection.scheduled_ns >= measure_from_) {
      latencies_us_.push_back((finished - connection.scheduled_ns) / 1000.0);
      ++statuses_[connection.parser.status()];
    }
    connection.busy = false;
    --in_flight_;
    if (connection.parser.closes()) {
      reopen(index);  // puts it back on the idle list
      return;
    }
    idle_.push_back(index);
  }

  const Options& options_;
  std::vector<std::string> requests_;
  int epoll_;
  std::vector<Connection> connections_;
  std::vector<size_t> idle_;
  std::deque<int64_t> pending_;
  size_t next_request_ = 0;
  size_t in_flight_ = 0;
  size_t max_backlog_ = 0;
  size_t unsent_ = 0;
  int64_t measure_from_ = 0;
  uint64_t scheduled_ = 0;
  uint64_t errors_ = 0;
  uint64_t reconnects_ = 0;
  std::vector<double> latencies_us_;
  std::map<int, uint64_t> statuses_;
};

// Opens `count` keep-alive connections, completes one request on each, then holds them open so the
// harness can read the server's resident memory with that many idle clients.
int hold_idle(const Options& options, const std::vector<std::string>& requests) {
  std::vector<int> fds;
  std::map<int, uint64_t> statuses;
  for (int i = 0; i < options.idle; ++i) {
    int fd = connect_to(options);
    const std::string& request = requests[0];
    size_t sent = 0;
    while (sent < request.size()) {
      ssize_t written = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (written <= 0) die("send failed on idle connection");
      sent += static_cast<size_t>(written);
    }
    ResponseParser parser;
    char buffer[8192];
    while (true) {
      ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) die("server closed idle connection " + std::to_string(i));
      if (parser.feed(buffer, static_cast<size_t>(got))) break;
    }
    ++statuses[parser.status()];
    fds.push_back(fd);
  }
  std::printf("ready %zu", fds.size());
  for (auto& [status, count] : statuses)
    std::printf(" %d:%llu", status, static_cast<unsigned long long>(count));
  std::printf("\n");
  std::fflush(stdout);
  char byte;
  while (::read(0, &byte, 1) > 0) {
  }
  for (int fd : fds) ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  std::vector<std::string> requests = load_requests(options.manifest);
  if (options.idle > 0) return hold_idle(options, requests);
  OpenLoop loop(options, std::move(requests));
  loop.run();
  loop.print_json();
  return 0;
}
