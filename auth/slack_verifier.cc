#include "auth/slack_verifier.h"

namespace inlet::auth {

SlackVerifier::SlackVerifier(const std::vector<std::string>& secrets,
                             std::int64_t tolerance_seconds, SecondsClock now)
    : TimestampedHmacVerifier("slack", secrets, tolerance_seconds, std::move(now),
                              "malformed X-Slack-Request-Timestamp") {}

auto SlackVerifier::read(const AuthRequest& request, SignedRequest& out) const
    -> std::optional<Refusal> {
  out.signatures = trim_ows(request.header("X-Slack-Signature"));
  if (out.signatures.empty()) return Refusal{401, "missing X-Slack-Signature"};
  out.timestamp = trim_ows(request.header("X-Slack-Request-Timestamp"));
  if (out.timestamp.empty()) return Refusal{401, "missing X-Slack-Request-Timestamp"};
  for (std::string_view part : {std::string_view("v0:"), out.timestamp, std::string_view(":"),
                                request.body}) {
    out.sign(part);
  }
  return std::nullopt;
}

// One signature, "v0=" and 64 hex digits.
auto SlackVerifier::decode_signatures(std::string_view header, Signatures& out) const
    -> std::optional<Refusal> {
  if (!header.starts_with("v0=") || decode_hex(header.substr(3), out.macs[0].data(), 32) != 32) {
    return Refusal{403, "malformed X-Slack-Signature"};
  }
  out.count = 1;
  return std::nullopt;
}

}  // namespace inlet::auth
