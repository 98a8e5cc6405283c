#include "auth/stripe_verifier.h"

namespace inlet::auth {

namespace {

// Calls `fn(key, value)` for each comma-separated "key=value" item of the header.
template <typename Fn>
void for_each_item(std::string_view header, Fn&& fn) {
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    const std::string_view item = trim_ows(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    const std::size_t eq = item.find('=');
    if (eq != std::string_view::npos) fn(item.substr(0, eq), item.substr(eq + 1));
  }
}

}  // namespace

StripeVerifier::StripeVerifier(const std::vector<std::string>& secrets,
                               std::int64_t tolerance_seconds, SecondsClock now)
    : TimestampedHmacVerifier("stripe", secrets, tolerance_seconds, std::move(now),
                              "malformed Stripe-Signature") {}

auto StripeVerifier::read(const AuthRequest& request, SignedRequest& out) const
    -> std::optional<Refusal> {
  out.signatures = trim_ows(request.header("Stripe-Signature"));
  if (out.signatures.empty()) return Refusal{401, "missing Stripe-Signature"};
  bool has_v1 = false;
  for_each_item(out.signatures, [&](std::string_view key, std::string_view value) {
    if (key == "t" && out.timestamp.empty()) out.timestamp = value;
    if (key == "v1") has_v1 = true;
  });
  if (!has_v1) return Refusal{403, "malformed Stripe-Signature"};
  for (std::string_view part : {out.timestamp, std::string_view("."), request.body}) out.sign(part);
  return std::nullopt;
}

// Every v1= item that is 64 hex digits; other schemes (v0=) are not Stripe's current one.
auto StripeVerifier::decode_signatures(std::string_view header, Signatures& out) const
    -> std::optional<Refusal> {
  for_each_item(header, [&](std::string_view name, std::string_view value) {
    if (name != "v1" || out.count == Signatures::kMax) return;
    if (decode_hex(value, out.macs[out.count].data(), 32) == 32) ++out.count;
  });
  return std::nullopt;
}

}  // namespace inlet::auth
