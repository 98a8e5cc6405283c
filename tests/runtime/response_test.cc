#include "runtime/response.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace inlet::runtime {
namespace {

std::string http(const Response& response) {
  std::string out;
  write_http(response, out);
  return out;
}

TEST(Response, RefusalsTakeTheirStatusAndHeadersFromTheRejectTable) {
  std::string body;
  append_detail(body, describe(Reject::kTooManyConnections).detail);
  Response response = response_for(Reject::kTooManyConnections);
  response.body = body;
  response.close = true;
  // Regression: the hand-written constant this replaced said Content-Length: 34 for this 33-byte
  // body, so a client waited for a byte that never came.
  EXPECT_EQ(http(response),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 33\r\n"
            "Connection: close\r\nRetry-After: 1\r\n\r\n{\"detail\":\"too many connections\"}");
  EXPECT_TRUE(response_for(Reject::kMethodNotAllowed).allow_post);
  EXPECT_NE(http(response_for(Reject::kMethodNotAllowed)).find("\r\nAllow: POST\r\n"), std::string::npos);
  EXPECT_FALSE(response_for(Reject::kNotFound).retry_after);
}

TEST(Response, StatusesThatForbidABodyAreSentWithout) {
  for (int status : {100, 204, 304}) {
    Response response;
    response.status = status;
    response.body = "{\"detail\":\"x\"}";
    const std::string out = http(response);
    EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
    EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n") << out;
  }
}

TEST(Response, ExtraHeadersWithLineBreaksAreDropped) {
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"X-Ok", "1"}, {"X-Bad", "a\r\nInjected: yes"}, {"", "empty name"}};
  Response response;
  response.extra_headers = headers;
  const std::string out = http(response);
  EXPECT_NE(out.find("\r\nX-Ok: 1\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Injected"), std::string::npos);
  EXPECT_EQ(out.find("empty name"), std::string::npos);
}

TEST(Response, DetailIsEscapedJson) {
  std::string out;
  append_detail(out, "say \"hi\"\n");
  EXPECT_EQ(out, "{\"detail\":\"say \\\"hi\\\"\\n\"}");
}

}  // namespace
}  // namespace inlet::runtime
