// The one interface every request check implements: the Python authenticator, the built-in C++
// verifiers (basic, bearer, hmac, github, standard_webhooks, stripe, slack) and a chain of them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace inlet::auth {

struct Header {
  std::string_view name;
  std::string_view value;
};

// A read-only view of the request. Everything it points to stays valid until the callback of the
// authenticate() call that received it has returned.
struct AuthRequest {
  std::string_view method;  // always "POST" today
  std::string_view target;  // path and query, as sent
  std::span<const Header> headers;
  std::string_view body;  // the decoded body (valid JSON)
  std::string_view client_host;
  std::uint16_t client_port = 0;
  // The URL the client used, where a trusted proxy said (X-Forwarded-Proto/-Host); else http and
  // the Host header (empty here).
  std::string_view scheme = "http";
  std::string_view host;
  // The subject of the client's verified TLS certificate (mTLS, RFC 2253: "CN=client,O=Acme");
  // empty without one.
  std::string_view client_cert;

  // Case-insensitive lookup of the first header with this name; empty when absent.
  std::string_view header(std::string_view name) const noexcept;
};

enum class Verdict : std::uint8_t {
  kAccept,         // go on; `user` may be set
  kReject,         // 403
  kHttpError,      // the authenticator chose `status`, `detail` and `headers`
  kInternalError,  // 500; details only in the log
  kTimeout,        // 503
};

struct AuthOutcome {
  Verdict verdict = Verdict::kAccept;
  int status = 0;  // only for kHttpError
  std::string detail;
  bool detail_is_json = false;  // `detail` is JSON text (an HTTPException detail of another type)
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
  bool has_user = false;
  std::string user;      // BaseUser.display_name, else its identity
  std::string identity;  // BaseUser.identity, when present
  std::vector<std::string> scopes;
};

class AuthCallback {
 public:
  // Called exactly once per authenticate(), inline or from another thread.
  virtual void on_auth_done(AuthOutcome&& outcome) noexcept = 0;

 protected:
  ~AuthCallback() = default;
};

// Implementations are immutable after construction and safe to call from every I/O thread.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Never blocks the calling thread on slow work (Python, the network): such work is handed off and
  // `callback` is called later from another thread.
  virtual void authenticate(const AuthRequest& request, AuthCallback& callback) = 0;
};

// Accepts every request with no user.
class AcceptAll final : public Authenticator {
 public:
  void authenticate(const AuthRequest& request, AuthCallback& callback) override;
};

// Runs authenticators in order; the first that does not accept decides. The user comes from the
// last authenticator that set one.
std::unique_ptr<Authenticator> make_chain(std::vector<std::unique_ptr<Authenticator>> members);

}  // namespace inlet::auth
