#include "runtime/server/config_watcher.h"

#include <sys/stat.h>

#include <csignal>

namespace inlet::runtime {

namespace {
constexpr auto kPollInterval = std::chrono::seconds(1);
}  // namespace

ConfigWatcher::ConfigWatcher(boost::asio::io_context& control, std::filesystem::path path,
                             std::function<void(std::string_view)> reload,
                             std::function<void()> tick)
    : path_(std::move(path)),
      reload_(std::move(reload)),
      tick_(std::move(tick)),
      stamp_(stamp_of(path_)),
      hangup_(control, SIGHUP),
      timer_(control) {}

ConfigWatcher::FileStamp ConfigWatcher::stamp_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return FileStamp{true, st.st_dev, st.st_ino, st.st_size,
                   std::int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

void ConfigWatcher::watch_also(std::vector<std::filesystem::path> files) {
  others_.clear();
  for (auto& file : files) {
    FileStamp stamp = stamp_of(file);
    others_.emplace_back(std::move(file), stamp);
  }
}

bool ConfigWatcher::restamp_others() {
  bool changed = false;
  for (auto& [file, stamp] : others_) {
    const FileStamp now = stamp_of(file);
    // A file that vanishes is not a change yet: a symlink swap or a rename is caught mid-way,
    // and the next poll sees the new file.
    if (now.exists && !(now == stamp)) changed = true;
    if (now.exists) stamp = now;
  }
  return changed;
}

void ConfigWatcher::start() {
  wait_for_hangup();
  poll_later();
}

void ConfigWatcher::wait_for_hangup() {
  hangup_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    // The change SIGHUP announces is not reloaded a second time.
    stamp_ = stamp_of(path_);
    restamp_others();
    reload_("sighup");
    wait_for_hangup();
  });
}

void ConfigWatcher::poll_later() {
  timer_.expires_after(kPollInterval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const FileStamp now = stamp_of(path_);
    const bool others_changed = restamp_others();
    if (now.exists && !(now == stamp_)) {
      stamp_ = now;
      reload_("file_changed");
    } else if (others_changed) {
      reload_("tls_file_changed");
    }
    tick_();
    poll_later();
  });
}

}  // namespace inlet::runtime
