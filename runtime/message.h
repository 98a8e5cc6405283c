// A message: the decoded body and its attributes, as handed to every edge's queue.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace inlet::runtime {

// A view: the request that owns the storage keeps it alive until every queue has called back.
struct Message {
  std::string_view body;          // the decoded body, byte for byte
  std::string_view tracking_id;   // uuid4, 32 lowercase hex chars
  std::string_view message_type;  // node.send_message_type
  std::string_view received_at;   // RFC 3339 UTC with microseconds: 2026-11-22T13:40:02.123456Z
  std::string_view node;
  std::string_view content_type;  // the request's Content-Type header, as sent
  // From the authenticator; empty when it gave no user.
  std::string_view user;
  std::string_view identity;
  std::span<const std::string> scopes;
};

}  // namespace inlet::runtime
