#include "runtime/server/request_head.h"

#include "runtime/server/pipeline.h"

namespace inlet::runtime {

namespace http = boost::beast::http;

std::string_view path_for_check(const RequestTarget& target) noexcept {
  return target.lacks_path() ? std::string_view("/") : target.path_and_query;
}

HeadVerdict check_parsed_head(const RequestParser& parser, HeadScratch& scratch,
                              codecs::EncodingList& encodings, bool accept_form) noexcept {
  const auto& request = parser.get();
  scratch.transfer_encoding.clear();
  scratch.content_length.clear();
  scratch.host.clear();
  for (const auto& field : request) {
    switch (field.name()) {
      case http::field::transfer_encoding: scratch.transfer_encoding.push_back(field.value()); break;
      case http::field::content_length: scratch.content_length.push_back(field.value()); break;
      case http::field::host: scratch.host.push_back(field.value()); break;
      default: break;
    }
  }
  HeadVerdict verdict;
  verdict.framing = decide_framing({.version = request.version(),
                                    .transfer_encoding = scratch.transfer_encoding,
                                    .content_length = scratch.content_length,
                                    .host = scratch.host});
  const auto length = parser.content_length();
  if (verdict.framing.reject) {
    verdict.reject = verdict.framing.reject;
    verdict.detail = verdict.framing.detail;
    verdict.bad_framing = true;
    return verdict;
  }
  if (!parser_agrees(verdict.framing, parser.chunked(),
                     length ? std::optional<std::uint64_t>(*length) : std::nullopt)) {
    verdict.reject = Reject::kBadFraming;
    verdict.detail = "ambiguous message framing";
    verdict.bad_framing = true;
    return verdict;
  }
  verdict.target = split_target(request.target());
  const RequestHead head{
      .method = request.method_string(),
      .is_post = request.method() == http::verb::post,
      .target = path_for_check(verdict.target),
      .content_type = request[http::field::content_type],
      .content_encoding = request[http::field::content_encoding],
      .accept_form = accept_form,
  };
  verdict.reject = check_head(head, encodings);
  return verdict;
}

}  // namespace inlet::runtime
