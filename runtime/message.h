// A message: the decoded body and its attributes, as handed to every edge's queue, and the one
// definition of its schema (kTextAttributes) that every writer and reader walks: the log's record
// attributes, Kafka headers, Redis fields, `inlet queue read`, `inlet test` and the Python side.
// A new attribute is one member and one row here.
#pragma once

#include <cstdint>
#include <random>
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
  std::string_view tenant;        // node.tenant; empty when not set
  std::string_view content_type;  // the request's Content-Type header, as sent
  // From the authenticator; empty when it gave no user.
  std::string_view user;
  std::string_view identity;
  std::span<const std::string> scopes;
  // A consumer node's output: the tracking ids of the message it came from, oldest first.
  std::span<const std::string> prev_tracking_ids;
  // A dead letter: why the node gave up on the message, and after how many attempts.
  std::string_view error;
  std::string_view attempts;
  // A delivery node's dead letter: the endpoint that did not take it, and its last HTTP status
  // ("0" when none came).
  std::string_view endpoint;
  std::string_view status;
  // The partition key, for the one edge being stored to whose queue orders by key (QueueSpec::key):
  // the value at its path; empty when the path is missing, or the edge has none. Not an attribute.
  std::string_view key;
  // The webhook node's `dedup:` key of this message; empty without one. Not an attribute: a queue
  // that deduplicates by id uses it (NATS' Nats-Msg-Id), else the tracking id.
  std::string_view dedup_key;
};

struct TextAttribute {
  std::string_view name;
  std::string_view Message::*field;
  bool optional;  // left out by writers when empty; readers then see it as absent (null)
};

// The text attributes in the order every writer emits them. The list attribute kScopes follows.
inline constexpr TextAttribute kTextAttributes[] = {
    {"tracking_id", &Message::tracking_id, false},
    {"received_at", &Message::received_at, false},
    {"message_type", &Message::message_type, false},
    {"node", &Message::node, false},
    {"tenant", &Message::tenant, true},
    {"content_type", &Message::content_type, false},
    {"user", &Message::user, true},
    {"identity", &Message::identity, true},
    {"error", &Message::error, true},
    {"attempts", &Message::attempts, true},
    {"endpoint", &Message::endpoint, true},
    {"status", &Message::status, true},
};

struct ListAttribute {
  std::string_view name;
  std::span<const std::string> Message::*field;
};
// The lists of strings, after the text attributes; each left out by writers when empty.
inline constexpr std::string_view kScopes = "scopes";
inline constexpr ListAttribute kListAttributes[] = {
    {kScopes, &Message::scopes},
    {"prev_tracking_ids", &Message::prev_tracking_ids},
};

// 32 lowercase hex chars of a random (version 4) UUID: a message's tracking_id.
void make_tracking_id(std::mt19937_64& random, char out[32]) noexcept;
// The RFC 3339 text of the current second, refreshed when the second changes. One per thread.
struct ReceivedAtClock {
  std::int64_t cached_second = -1;
  char second_text[64] = {};  // 19 used; room for any int the format could print
};
// RFC 3339 UTC with microseconds, 27 chars: 2026-11-22T13:40:02.123456Z (received_at).
void format_received_at(ReceivedAtClock& clock, char out[27]) noexcept;

// Calls emit(name, value) for each text attribute the message carries, in schema order.
template <typename Emit>
void for_each_text_attribute(const Message& message, Emit&& emit) {
  for (const TextAttribute& attribute : kTextAttributes) {
    const std::string_view value = message.*attribute.field;
    if (attribute.optional && value.empty()) continue;
    emit(attribute.name, value);
  }
}

// Calls emit(name, list) for each non-empty list attribute, in schema order.
template <typename Emit>
void for_each_list_attribute(const Message& message, Emit&& emit) {
  for (const ListAttribute& attribute : kListAttributes) {
    const std::span<const std::string> list = message.*attribute.field;
    if (!list.empty()) emit(attribute.name, list);
  }
}

// ["read","write"], JSON-escaped: how a list travels where a writer has only text (Kafka headers,
// Redis fields).
void append_scopes_json(std::string& out, std::span<const std::string> scopes);

// {"tracking_id":"…",…,"scopes":[…]}: the attributes as one compact JSON object (the log's record
// attributes; `inlet test`'s message). Scopes are left out when empty.
void append_attributes_json(std::string& out, const Message& message);

// One attribute as a queue carried it: a Kafka header, a Redis field.
struct AttributeField {
  std::string_view name;
  std::string_view value;
};
// The same object from what a queue carried, for its consumer: the schema's attributes found in
// `fields`, in schema order, and each list attribute that is a JSON list of strings (as
// append_scopes_json wrote it).
// Fields outside the schema are ignored.
void append_attributes_json(std::string& out, std::span<const AttributeField> fields);

}  // namespace inlet::runtime
