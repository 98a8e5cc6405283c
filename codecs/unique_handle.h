// Owners for C handles, so that no error path closes one by hand: UniqueFd for file descriptors
// (files, eventfds, locks), and UniqueHandle for library states such as Brotli's, each with its
// destroy function. Move-only; not thread-safe (like the handles).
#pragma once

#include <unistd.h>

#include <memory>
#include <utility>

namespace inlet::codecs {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

template <auto Destroy>
struct DestroyWith {
  template <typename T>
  void operator()(T* handle) const noexcept {
    Destroy(handle);
  }
};

// UniqueHandle<BrotliDecoderState, BrotliDecoderDestroyInstance>
template <typename T, auto Destroy>
using UniqueHandle = std::unique_ptr<T, DestroyWith<Destroy>>;

}  // namespace inlet::codecs
