#include "runtime/server/worker.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <algorithm>

#include "codecs/thread_name.h"
#include "runtime/log.h"
#include "runtime/server/session.h"

namespace inlet::runtime {

namespace {
constexpr auto kSweepInterval = std::chrono::milliseconds(200);
}

Worker::Worker(ServerState& state, std::shared_ptr<const Pipeline> pipeline)
    : state_(state), pipeline_(std::move(pipeline)), sweeper_(io_) {}

Worker::~Worker() { join(); }

void Worker::set_pipeline(std::shared_ptr<const Pipeline> pipeline) { pipeline_ = std::move(pipeline); }

void Worker::resume_later(Exchange& exchange) noexcept {
  inbox_.push(exchange);
  if (!inbox_scheduled_.exchange(true, std::memory_order_acq_rel)) {
    boost::asio::post(io_, [this] { drain_inbox(); });
  }
}

void Worker::store_soon(Exchange& exchange) noexcept {
  if (to_store_.empty()) boost::asio::post(io_, [this] { end_turn(); });
  to_store_.push_back(&exchange);
}

// Runs after the handlers that were ready in this turn, so a burst of requests from many
// connections reaches each queue together and one flush (one write, or one wake-up) covers it.
// A second pass takes what the first one's inline answers asked to store: with a dedup journal,
// the keys of the messages the first pass wrote, in the same turn.
void Worker::end_turn() noexcept {
  for (int pass = 0; pass < 2 && !to_store_.empty(); ++pass) {
    storing_.swap(to_store_);
    to_flush_.clear();
    for (Exchange* exchange : storing_) exchange->add_store_queues(to_flush_);
    // Collect the queues first: store_now may answer inline and start the next request, whose
    // pipeline could differ after a reload.
    for (Exchange* exchange : storing_) exchange->store_now(/*deferred=*/true);
    storing_.clear();
    for (Queue* queue : to_flush_) queue->flush();
  }
}

void Worker::drain_inbox() noexcept {
  inbox_scheduled_.store(false, std::memory_order_release);
  Exchange* ordered = inbox_.take_all();
  while (ordered != nullptr) {
    Exchange* next = ordered->next_in_inbox;
    ordered->next_in_inbox = nullptr;
    ordered->resume();
    ordered = next;
  }
}

void Worker::add(Session& session) noexcept {
  session.prev = nullptr;
  session.next = sessions_;
  if (sessions_ != nullptr) sessions_->prev = &session;
  sessions_ = &session;
  ++session_count_;
}

void Worker::remove(Session& session) noexcept {
  if (session.prev != nullptr) session.prev->next = session.next;
  if (session.next != nullptr) session.next->prev = session.prev;
  if (sessions_ == &session) sessions_ = session.next;
  session.prev = session.next = nullptr;
  --session_count_;
}

void Worker::sweep() {
  sweeper_.expires_after(kSweepInterval);
  sweeper_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const auto now = Session::Clock::now();
    // Idle connections stay open while the node still listens, even when draining: a client is
    // told Connection: close on its next answer, rather than losing a request it is sending.
    const bool stop_idle = state_.listeners_closed.load(std::memory_order_relaxed);
    for (Session* s = sessions_; s != nullptr;) {
      Session* next = s->next;  // check_deadline may unlink s
      s->check_deadline(now, stop_idle);
      s = next;
    }
    sweep();
  });
}

void Worker::start_thread() {
  sweep();
  thread_ = std::thread([this] {
    codecs::name_this_thread("inlet-io");
    auto guard = boost::asio::make_work_guard(io_);
    try {
      io_.run();
    } catch (const std::exception& e) {
      log_error("worker_crashed", {{"error", e.what()}});
      std::abort();
    }
  });
}

void Worker::join() {
  if (!thread_.joinable()) return;
  boost::asio::post(io_, [this] {
    sweeper_.cancel();
    io_.stop();
  });
  thread_.join();
}

}  // namespace inlet::runtime
