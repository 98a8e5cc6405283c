// libFuzzer target: the request head path the session runs (Beast's parser fed as the session
// feeds it, then check_parsed_head), on raw bytes with no socket. One property beyond "no crash":
// whenever the parser accepts a head, inlet's framing decision (no body, a length, chunked,
// refused, or 501) is the one the independent RFC 9112 reference (rfc9112_reference.h) gives.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string_view>

#include "rfc9112_reference.h"
#include "runtime/server/request_head.h"

namespace {

using inlet::fuzz::Reference;
using inlet::runtime::BodyFraming;
using inlet::runtime::Reject;

const char* name(Reference r) {
  switch (r) {
    case Reference::kReject: return "reject";
    case Reference::kNotImplemented: return "501";
    case Reference::kNoBody: return "no body";
    case Reference::kLength: return "length";
    case Reference::kChunked: return "chunked";
  }
  return "?";
}

Reference inlet_kind(const inlet::runtime::HeadVerdict& verdict) {
  if (verdict.bad_framing) {
    return verdict.reject == Reject::kTransferCodingNotImplemented ? Reference::kNotImplemented
                                                                   : Reference::kReject;
  }
  switch (verdict.framing.framing) {
    case BodyFraming::kNone: return Reference::kNoBody;
    case BodyFraming::kLength: return Reference::kLength;
    case BodyFraming::kChunked: return Reference::kChunked;
  }
  return Reference::kReject;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static inlet::runtime::HeadScratch scratch;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  inlet::runtime::RequestParser parser;
  parser.header_limit(16 << 10);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  parser.eager(false);
  // As Session::parse feeds it: everything buffered, until the head is done or the parser fails.
  std::string_view rest = input;
  boost::system::error_code ec;
  while (!rest.empty() && !parser.is_header_done()) {
    const std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(used);
    if (ec || used == 0) break;
  }
  if (ec || !parser.is_header_done()) return 0;  // the session answers 400 or waits: nothing framed

  inlet::codecs::EncodingList encodings;
  const inlet::runtime::HeadVerdict verdict = inlet::runtime::check_parsed_head(parser, scratch, encodings);
  const std::string_view head = input.substr(0, input.size() - rest.size());
  const inlet::fuzz::ReferenceDecision reference = inlet::fuzz::reference_framing(head);
  const Reference ours = inlet_kind(verdict);
  const bool same = ours == reference.kind &&
                    (ours != Reference::kLength || verdict.framing.length == reference.length);
  if (!same) {
    std::fprintf(stderr, "framing disagrees with RFC 9112: inlet %s (%llu, %.*s), reference %s (%llu)\n",
                 name(ours), static_cast<unsigned long long>(verdict.framing.length),
                 static_cast<int>(verdict.detail.size()), verdict.detail.data(), name(reference.kind),
                 static_cast<unsigned long long>(reference.length));
    std::abort();
  }
  return 0;
}
