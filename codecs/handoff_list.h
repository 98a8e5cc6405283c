// The lock-free hand-off between many producer threads and one consumer, written once: producers
// push nodes onto an intrusive list (one CAS, no allocation); the consumer takes the whole list at
// once and gets it oldest first. It serves the worker inbox, the log and Redis queues and the
// Python job queue. It lives in codecs/, the bottom library, only so that every layer can use it.
//
// Thread-safety: push() from any thread; take_all() and empty() from the one consumer (or under
// the consumer's lock). A node belongs to the list from push() until take_all() returns it.
#pragma once

#include <atomic>

namespace inlet::codecs {

template <typename Node, Node* Node::*Next>
class HandoffList {
 public:
  // True when the list was empty before: the consumer may be asleep and need waking. Sequentially
  // consistent (on x86 the CAS is a full barrier anyway), so a consumer that announces sleep and
  // then checks empty() cannot miss a push.
  bool push(Node& node) noexcept {
    Node* head = head_.load(std::memory_order_relaxed);
    do {
      node.*Next = head;
    } while (!head_.compare_exchange_weak(head, &node, std::memory_order_seq_cst, std::memory_order_relaxed));
    return head == nullptr;
  }

  // Everything pushed so far, linked through Next in the order it was pushed; nullptr when empty.
  Node* take_all() noexcept {
    Node* newest_first = head_.exchange(nullptr, std::memory_order_seq_cst);
    Node* oldest_first = nullptr;
    while (newest_first != nullptr) {
      Node* next = newest_first->*Next;
      newest_first->*Next = oldest_first;
      oldest_first = newest_first;
      newest_first = next;
    }
    return oldest_first;
  }

  bool empty() const noexcept { return head_.load(std::memory_order_seq_cst) == nullptr; }

 private:
  std::atomic<Node*> head_{nullptr};
};

}  // namespace inlet::codecs
