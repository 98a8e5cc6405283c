// A real Redis for the Redis queue's tests and benchmark: a redis-server child on a free port,
// which the test stops with SIGKILL (a crash), pauses with SIGSTOP (a hang) and restarts.
#pragma once

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace inlet::runtime::testing {

inline std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

using Entry = std::map<std::string, std::string>;

// A real redis-server child process on a free loopback port, with its data in a temporary
// directory; `durable` turns on the append-only file with fsync always. start() throws
// std::runtime_error when the server does not come up.
class RedisServer {
 public:
  explicit RedisServer(bool durable) : durable_(durable), port_(free_loopback_port()) {
    char dir[] = "/tmp/inlet-redis-XXXXXX";
    dir_ = ::mkdtemp(dir);
    start();
  }
  ~RedisServer() {
    stop();
    std::filesystem::remove_all(dir_);
  }

  void start() {
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     port,
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--daemonize",
                                     "no",
                                     "--dir",
                                     dir_,
                                     "--loglevel",
                                     "warning",
                                     "--logfile",
                                     dir_ + "/redis.log",
                                     "--appendonly",
                                     durable_ ? "yes" : "no",
                                     "--appendfsync",
                                     "always"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot run redis-server: apt-get install redis-server");
    }
    for (int i = 0; i < 100; ++i) {
      if (redisReply* pong = command({"PING"})) {
        freeReplyObject(pong);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
  }

  // SIGKILL: no shutdown save, like a crash.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const noexcept { return port_; }

  redisReply* command(const std::vector<std::string>& args) {
    redisContext* ctx = redisConnect("127.0.0.1", port_);
    if (ctx == nullptr || ctx->err) {
      if (ctx) redisFree(ctx);
      return nullptr;
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lens.data()));
    redisFree(ctx);
    return reply;
  }

  // The stream's entries in order: fields in a map plus "#order" listing field names as sent.
  std::vector<Entry> xrange(const std::string& stream) {
    std::vector<Entry> entries;
    redisReply* reply = command({"XRANGE", stream, "-", "+"});
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
      if (reply) freeReplyObject(reply);
      return entries;
    }
    for (std::size_t i = 0; i < reply->elements; ++i) {
      const redisReply* fields = reply->element[i]->element[1];
      Entry entry;
      for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
        std::string name(fields->element[f]->str, fields->element[f]->len);
        entry["#order"] += name + ",";
        entry[name].assign(fields->element[f + 1]->str, fields->element[f + 1]->len);
      }
      entries.push_back(std::move(entry));
    }
    freeReplyObject(reply);
    return entries;
  }

  long long xlen(const std::string& stream) {
    redisReply* reply = command({"XLEN", stream});
    const long long n =
        reply != nullptr && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply) freeReplyObject(reply);
    return n;
  }

 private:
  bool durable_;
  std::uint16_t port_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace inlet::runtime::testing
