#include "runtime/reject.h"

#include <array>

namespace inlet::runtime {
namespace {

constexpr std::array<RejectInfo, static_cast<std::size_t>(Reject::kCount)> kTable{{
    {404, "not_found", "not found: inlet accepts POST /", false},
    {405, "method_not_allowed", "method not allowed: use POST", false},
    {431, "headers_too_large", "request headers too large", false},
    {415, "unsupported_media_type", "unsupported media type: use application/json or */*+json", false},
    {415, "unsupported_encoding", "unsupported content encoding: use identity or one that Accept-Encoding lists", false},
    {413, "body_too_large", "request body too large", false},
    {400, "bad_encoding", "body does not decode with its Content-Encoding", false},
    {413, "decoded_too_large", "decoded body too large", false},
    {400, "invalid_json", "invalid JSON", false},
    {400, "form_field_missing", "the form has no field holding the JSON body", false},
    {400, "bad_framing", "malformed HTTP request", false},
    {400, "bad_host", "missing or invalid Host header", false},
    {501, "transfer_coding_not_implemented",
     "transfer coding not implemented: send the body chunked or with a Content-Length; "
     "compress with Content-Encoding", false},
    {403, "auth_rejected", "forbidden", false},
    {0, "auth_http_error", "", false},
    {500, "auth_internal_error", "internal error", false},
    {503, "auth_timeout", "authenticator timed out", true},
    {422, "unrouted", "no edge accepts this message", false},
    {503, "queue_full", "queue is full, retry later", true},
    {503, "queue_unavailable", "queue unavailable, retry later", true},
    {503, "too_many_connections", "too many connections", true},
    {400, "plain_http_on_tls_port", "plain HTTP sent to a TLS port: use https://", false},
    {400, "dedup_key_missing", "the request has no deduplication key", false},
}};

}  // namespace

const RejectInfo& describe(Reject reject) noexcept { return kTable[static_cast<std::size_t>(reject)]; }

}  // namespace inlet::runtime
