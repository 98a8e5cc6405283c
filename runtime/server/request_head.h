// The checks the session runs on a request head once Beast has parsed it, in order: framing by a
// strict reading of RFC 9112 (framing.h), then the contract's checks 1, 2, 4 and 5 (check_head).
// No socket: tests/fuzz/request_head_fuzz.cc runs exactly this on raw bytes.
#pragma once

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "codecs/content_type.h"
#include "runtime/server/framing.h"
#include "runtime/reject.h"

namespace inlet::runtime {

// Beast's string_body, except that the reader appends each buffer. Beast's own resizes the string
// first, which zero-fills every body byte just before overwriting it (1.5 % of the core with 12 KB
// bodies). The session reserves the declared length, plus simdjson's padding, before the body.
struct RequestBody : boost::beast::http::string_body {
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>&, boost::beast::error_code& ec) { ec = {}; }

    // The parser's body_limit bounds the total before any buffer gets here.
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      std::size_t appended = 0;
      for (const auto buffer : boost::beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(buffer.data()), buffer.size());
        appended += buffer.size();
      }
      ec = {};
      return appended;
    }

    void finish(boost::beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

using RequestParser = boost::beast::http::request_parser<RequestBody>;

// The framing field values of one head; kept per connection so their capacity is reused.
struct HeadScratch {
  std::vector<std::string_view> transfer_encoding;
  std::vector<std::string_view> content_length;
  std::vector<std::string_view> host;
};

struct HeadVerdict {
  std::optional<Reject> reject;
  std::string_view detail;     // empty: the reject table's
  bool bad_framing = false;    // the body cannot be delimited: close whatever the request asked
  FramingDecision framing;
  RequestTarget target;        // views into the parser's header
};

// `parser` must have its header done. Fills `encodings` when the head passes. `accept_form`: the
// config has a form_param, so a form-encoded body passes the media type check.
HeadVerdict check_parsed_head(const RequestParser& parser, HeadScratch& scratch,
                              codecs::EncodingList& encodings, bool accept_form = false) noexcept;

// Check 1's view of a target: "" (an absolute form with no path) and "?q" stand for "/".
std::string_view path_for_check(const RequestTarget& target) noexcept;

}  // namespace inlet::runtime
