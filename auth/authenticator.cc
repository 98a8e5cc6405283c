#include "auth/authenticator.h"

#include <strings.h>

namespace inlet::auth {

std::string_view AuthRequest::header(std::string_view name) const noexcept {
  for (const Header& h : headers) {
    if (h.name.size() == name.size() && ::strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
      return h.value;
    }
  }
  return {};
}

void AcceptAll::authenticate(const AuthRequest&, AuthCallback& callback) {
  callback.on_auth_done(AuthOutcome{});
}

namespace {

// Runs member i, then continues from its callback; the state lives on the heap because a member may
// answer from another thread after authenticate() has returned.
class ChainRun final : public AuthCallback {
 public:
  ChainRun(const std::vector<std::unique_ptr<Authenticator>>& members, const AuthRequest& request,
           AuthCallback& done)
      : members_(members), request_(request), done_(done) {}

  void next() {
    if (index_ == members_.size()) {
      AuthCallback& done = done_;
      AuthOutcome result = std::move(result_);
      delete this;
      done.on_auth_done(std::move(result));
      return;
    }
    members_[index_++]->authenticate(request_, *this);
  }

  void on_auth_done(AuthOutcome&& outcome) noexcept override {
    if (outcome.verdict != Verdict::kAccept) {
      AuthCallback& done = done_;
      delete this;
      done.on_auth_done(std::move(outcome));
      return;
    }
    if (outcome.has_user) result_ = std::move(outcome);
    next();
  }

 private:
  const std::vector<std::unique_ptr<Authenticator>>& members_;
  const AuthRequest& request_;
  AuthCallback& done_;
  std::size_t index_ = 0;
  AuthOutcome result_;
};

class Chain final : public Authenticator {
 public:
  explicit Chain(std::vector<std::unique_ptr<Authenticator>> members) : members_(std::move(members)) {}
  void authenticate(const AuthRequest& request, AuthCallback& callback) override {
    (new ChainRun(members_, request, callback))->next();
  }

 private:
  std::vector<std::unique_ptr<Authenticator>> members_;
};

}  // namespace

std::unique_ptr<Authenticator> make_chain(std::vector<std::unique_ptr<Authenticator>> members) {
  if (members.empty()) return std::make_unique<AcceptAll>();
  if (members.size() == 1) return std::move(members.front());
  return std::make_unique<Chain>(std::move(members));
}

}  // namespace inlet::auth
