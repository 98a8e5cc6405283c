// One I/O thread: its io_context, the per-thread stage tools, the inbox through which other threads
// hand exchanges back, and the list of its connections, swept for deadlines.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "codecs/handoff_list.h"
#include "runtime/server/pipeline.h"

namespace inlet::runtime {

class Session;

// Shared by all workers of a server.
struct ServerState {
  std::atomic<std::uint32_t> open_connections{0};
  std::atomic<bool> draining{false};
  // Set when the drain closes the listeners: idle keep-alive connections may then be closed.
  std::atomic<bool> listeners_closed{false};
};

class Worker final : public Resumer {
 public:
  Worker(ServerState& state, std::shared_ptr<const Pipeline> pipeline);
  ~Worker();

  boost::asio::io_context& io() noexcept { return io_; }
  StageTools& tools() noexcept { return tools_; }
  ServerState& state() noexcept { return state_; }
  // The pipeline in force on this thread; replaced on reload through post().
  const std::shared_ptr<const Pipeline>& pipeline() const noexcept { return pipeline_; }
  void set_pipeline(std::shared_ptr<const Pipeline> pipeline);

  // Lock-free, from any thread: queues the exchange and posts one drain per batch.
  void resume_later(Exchange& exchange) noexcept override;
  // On this thread: collects the turn's messages and stores them as one burst at its end.
  void store_soon(Exchange& exchange) noexcept override;

  // Called on this thread only.
  void add(Session& session) noexcept;
  void remove(Session& session) noexcept;
  std::size_t session_count() const noexcept { return session_count_; }

  void start_thread();
  void join();

 private:
  void drain_inbox() noexcept;
  void end_turn() noexcept;
  void sweep();

  ServerState& state_;
  boost::asio::io_context io_{1};
  StageTools tools_;
  std::shared_ptr<const Pipeline> pipeline_;
  codecs::HandoffList<Exchange, &Exchange::next_in_inbox> inbox_;
  std::atomic<bool> inbox_scheduled_{false};
  std::vector<Exchange*> to_store_;  // this turn's messages
  std::vector<Exchange*> storing_;   // the previous list, swapped out while it is stored
  std::vector<Queue*> to_flush_;
  Session* sessions_ = nullptr;  // intrusive doubly linked list
  std::size_t session_count_ = 0;
  boost::asio::steady_timer sweeper_;
  std::thread thread_;
};

}  // namespace inlet::runtime
