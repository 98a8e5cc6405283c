#include "runtime/server/pipeline.h"

#include <strings.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <random>

#include "codecs/form.h"

namespace inlet::runtime {

namespace {

class SharedAuthenticator final : public auth::Authenticator {
 public:
  explicit SharedAuthenticator(std::shared_ptr<auth::Authenticator> inner) : inner_(std::move(inner)) {}
  void authenticate(const auth::AuthRequest& request, auth::AuthCallback& callback) override {
    inner_->authenticate(request, callback);
  }

 private:
  std::shared_ptr<auth::Authenticator> inner_;
};

}  // namespace

std::unique_ptr<auth::Authenticator> make_authenticator_chain(const NodeConfig& config) {
  std::vector<std::unique_ptr<auth::Authenticator>> chain;
  for (const auto& verifier : config.verifiers) chain.push_back(std::make_unique<SharedAuthenticator>(verifier));
  if (config.make_authenticator) chain.push_back(config.make_authenticator());
  return auth::make_chain(std::move(chain));
}

StageTools::StageTools() : random(std::random_device{}()) {}

std::optional<Reject> check_head(const RequestHead& head, codecs::EncodingList& encodings) noexcept {
  const std::string_view path = head.target.substr(0, head.target.find('?'));
  if (path != "/") return Reject::kNotFound;
  if (!head.is_post) return Reject::kMethodNotAllowed;
  if (!codecs::is_json_media_type(head.content_type) &&
      !(head.accept_form && codecs::is_form_media_type(head.content_type))) {
    return Reject::kUnsupportedMediaType;
  }
  const auto parsed = codecs::parse_content_encoding(head.content_encoding);
  if (!parsed) return Reject::kUnsupportedEncoding;
  encodings = *parsed;
  return std::nullopt;
}

void Exchange::run(std::shared_ptr<const Pipeline> pipeline, const ExchangeInput& input, bool dry_run) {
  pipeline_ = std::move(pipeline);
  dry_run_ = dry_run;
  outcome_ = Outcome{};
  auth_outcome_ = auth::AuthOutcome{};
  content_type_ = input.content_type;
  const Limits& limits = pipeline_->config->limits;
  mark_ = input.body_done == std::chrono::steady_clock::time_point{} ? std::chrono::steady_clock::now()
                                                                     : input.body_done;

  std::string& raw = *input.raw_body;
  if (input.encodings.size == 0) {
    body_ = raw;
  } else {
    decoded_.clear();
    const codecs::DecodeStatus status = tools_.decoder.decode(raw, input.encodings, decoded_,
                                                              limits.max_decoded_bytes,
                                                              codecs::kJsonPadding);
    if (status != codecs::DecodeStatus::kOk) {
      mark(Stage::kDecode);
      return finish(status == codecs::DecodeStatus::kTooLarge ? Reject::kDecodedTooLarge
                                                              : Reject::kBadEncoding);
    }
    body_ = decoded_;
  }
  tools_.metrics.decoded_bytes.add(body_.size());
  if (body_.size() > limits.max_decoded_bytes) {
    mark(Stage::kDecode);
    return finish(Reject::kDecodedTooLarge);
  }

  // A form post: the verifiers and the authenticator see the form as sent (body_); the message is
  // the form_param field's JSON.
  message_body_ = body_;
  const std::string* text = input.encodings.size == 0 ? &raw : &decoded_;
  if (!pipeline_->config->form_param.empty() && codecs::is_form_media_type(input.content_type)) {
    const std::string& field = pipeline_->config->form_param;
    if (codecs::find_form_field(body_, field, form_json_) == codecs::FormField::kMissing) {
      mark(Stage::kDecode);
      return finish(Reject::kFormFieldMissing, "form field '" + field + "' is missing");
    }
    form_json_.reserve(form_json_.size() + codecs::kJsonPadding);
    text = &form_json_;
    message_body_ = form_json_;
    content_type_ = "application/json";
  }
  const bool valid = tools_.validator.validate(text->data(), text->size(), text->capacity());
  mark(Stage::kDecode);
  if (!valid) return finish(Reject::kInvalidJson, tools_.validator.error());

  // Routing reads the parsed document now: an asynchronous authenticator lets this thread parse
  // other bodies before it answers, which reuses the document's memory.
  edge_mask_ = 0;
  const auto& edges = pipeline_->edges;
  if (edge_stores_.size() < edges.size()) edge_stores_.resize(edges.size());
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (edges[i].filter == nullptr || edges[i].filter->matches(tools_.validator.root())) {
      edge_mask_ |= std::uint64_t{1} << i;
      if (edges[i].key != nullptr) edges[i].key->text_at(tools_.validator.root(), edge_stores_[i].key);
    }
  }

  has_dedup_key_ = pipeline_->dedup != nullptr && !dry_run_ && find_dedup_key(input);

  auth_request_ = auth::AuthRequest{
      .method = "POST",
      .target = input.target,
      .headers = input.headers,
      .body = body_,
      .client_host = input.client_host,
      .client_port = input.client_port,
      .scheme = input.scheme,
      .host = input.host,
      .client_cert = input.client_cert,
  };
  phase_ = Phase::kAuthenticating;
  pending_.store(2, std::memory_order_relaxed);
  pipeline_->authenticator->authenticate(auth_request_, *this);
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) after_auth();
}

// Keys longer than this count as missing: the store's memory is bounded by max_keys × this.
constexpr std::size_t kMaxDedupKey = 256;

bool Exchange::find_dedup_key(const ExchangeInput& input) {
  const DedupConfig& config = pipeline_->dedup->config();
  dedup_key_.clear();
  if (config.source == DedupConfig::Source::kHeader) {
    for (const auth::Header& header : input.headers) {
      if (header.name.size() == config.header.size() &&
          strncasecmp(header.name.data(), config.header.data(), header.name.size()) == 0) {
        dedup_key_.assign(header.value);
        break;
      }
    }
  } else {
    config.path->text_at(tools_.validator.root(), dedup_key_);
  }
  return !dedup_key_.empty() && dedup_key_.size() <= kMaxDedupKey;
}

void Exchange::on_dedup_resolved() noexcept { resumer_.resume_later(*this); }

void Exchange::on_auth_done(auth::AuthOutcome&& outcome) noexcept {
  auth_outcome_ = std::move(outcome);
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) resumer_.resume_later(*this);
}

void Exchange::on_stored(StoreStatus status) noexcept {
  if (status != StoreStatus::kStored) store_status_.store(status, std::memory_order_relaxed);
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) resumer_.resume_later(*this);
}

void Exchange::resume() noexcept {
  if (phase_ == Phase::kAuthenticating) {
    after_auth();
  } else if (phase_ == Phase::kDedupWaiting) {
    claim_key();
  } else if (phase_ == Phase::kStoring) {
    after_store();
  } else if (phase_ == Phase::kJournaling) {
    after_journal();
  }
}

void Exchange::after_auth() noexcept {
  mark(Stage::kAuthenticate);
  tools_.metrics.auth_results[static_cast<std::size_t>(auth_outcome_.verdict)].add();
  switch (auth_outcome_.verdict) {
    case auth::Verdict::kAccept:
      break;
    case auth::Verdict::kReject:
      return finish(Reject::kAuthRejected, auth_outcome_.detail);
    case auth::Verdict::kHttpError:
      outcome_.status = auth_outcome_.status;
      outcome_.headers = std::move(auth_outcome_.headers);
      return finish(Reject::kAuthHttpError, auth_outcome_.detail);
    case auth::Verdict::kInternalError:
      return finish(Reject::kAuthInternalError);
    case auth::Verdict::kTimeout:
      return finish(Reject::kAuthTimeout);
  }
  dedup_first_ = false;
  if (pipeline_->dedup != nullptr && !dry_run_ && !has_dedup_key_ && pipeline_->dedup->config().require) {
    return finish(Reject::kDedupKeyMissing, "the request has no deduplication key (" +
                                                pipeline_->dedup->config().key_text + ", up to 256 bytes)");
  }
  if (edge_mask_ == 0) {
    tools_.metrics.unrouted.add();
    if (pipeline_->config->unrouted_reject) return finish(Reject::kUnrouted);
  }

  make_tracking_id(tools_.random, outcome_.tracking_id);
  format_received_at(tools_.clock, received_at_);
  const NodeConfig& config = *pipeline_->config;
  message_ = Message{
      .body = message_body_,
      .tracking_id = std::string_view(outcome_.tracking_id, 32),
      .message_type = config.send_message_type,
      .received_at = std::string_view(received_at_, 27),
      .node = config.name,
      .tenant = config.tenant,
      .content_type = content_type_,
      .user = auth_outcome_.has_user ? std::string_view(auth_outcome_.user) : std::string_view(),
      .identity = auth_outcome_.has_user ? std::string_view(auth_outcome_.identity) : std::string_view(),
      .scopes = auth_outcome_.scopes,
      .prev_tracking_ids = {},
      .error = {},
      .attempts = {},
      .endpoint = {},
      .status = {},
      .key = {},  // per edge: store_now()
      .dedup_key = has_dedup_key_ ? std::string_view(dedup_key_) : std::string_view(),
  };
  if (dry_run_ || edge_mask_ == 0) return finish_ok();
  if (has_dedup_key_) return claim_key();
  begin_store();
}

void Exchange::claim_key() noexcept {
  // Set first: a waiter may be told before claim() returns, and resume() reads the phase.
  phase_ = Phase::kDedupWaiting;
  char first[32];
  switch (pipeline_->dedup->claim(dedup_key_, *this, first)) {
    case Dedup::Claim::kDuplicate:
      std::memcpy(outcome_.tracking_id, first, sizeof first);
      return finish_ok();
    case Dedup::Claim::kWait:
      return;  // on_dedup_resolved() brings it back here
    case Dedup::Claim::kFirst:
      dedup_first_ = true;
      return begin_store();
  }
}

void Exchange::begin_store() noexcept {
  phase_ = Phase::kStoring;
  resumer_.store_soon(*this);
}

void Exchange::add_store_queues(std::vector<Queue*>& queues) const {
  const auto add = [&](Queue* queue) {
    if (std::find(queues.begin(), queues.end(), queue) == queues.end()) queues.push_back(queue);
  };
  if (phase_ == Phase::kJournaling) return add(&pipeline_->dedup->journal());
  const auto& edges = pipeline_->edges;
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (edge_mask_ & (std::uint64_t{1} << i)) add(edges[i].queue);
  }
}

void Exchange::store_now(bool deferred) noexcept {
  store_status_.store(StoreStatus::kStored, std::memory_order_relaxed);
  if (phase_ == Phase::kJournaling) {
    journal_message_ = message_;
    journal_message_.body = dedup_key_;
    journal_message_.message_type = "inlet.dedup_key";
    journal_message_.key = {};
    pending_.store(2, std::memory_order_relaxed);
    Queue& journal = pipeline_->dedup->journal();
    if (deferred) {
      journal.store_deferred(journal_message_, *this);
    } else {
      journal.store(journal_message_, *this);
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) after_journal();
    return;
  }
  const auto& edges = pipeline_->edges;
  pending_.store(static_cast<std::uint32_t>(std::popcount(edge_mask_)) + 1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (!(edge_mask_ & (std::uint64_t{1} << i))) continue;
    EdgeStore& edge_store = edge_stores_[i];
    edge_store.exchange = this;
    edge_store.status = StoreStatus::kStored;
    if (edges[i].metric_slot != kNoEdgeSlot) tools_.metrics.edges[edges[i].metric_slot].sent.add();
    const Message* message = &message_;
    if (edges[i].key != nullptr) {
      edge_store.keyed = message_;
      edge_store.keyed.key = edge_store.key;
      message = &edge_store.keyed;
    }
    if (deferred) {
      edges[i].queue->store_deferred(*message, edge_store);
    } else {
      edges[i].queue->store(*message, edge_store);
    }
  }
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) after_store();
}

void Exchange::after_store() noexcept {
  const auto stored_from = mark_;
  mark(Stage::kEnqueue);
  const auto& edges = pipeline_->edges;
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (!(edge_mask_ & (std::uint64_t{1} << i)) || edges[i].metric_slot == kNoEdgeSlot) continue;
    EdgeMetrics& edge = tools_.metrics.edges[edges[i].metric_slot];
    const EdgeStore& edge_store = edge_stores_[i];
    switch (edge_store.status) {
      case StoreStatus::kStored: edge.stored.add(); break;
      case StoreStatus::kFull: edge.full.add(); break;
      case StoreStatus::kUnavailable: edge.unavailable.add(); break;
    }
    edge.store_latency.observe(edge_store.done - stored_from);
  }
  const StoreStatus status = store_status_.load(std::memory_order_relaxed);
  if (dedup_first_) {
    if (status == StoreStatus::kStored) {
      // Every edge has the message: now its key, so that a journalled key always names a stored
      // message, and the 200 waits for the journal. Through store_soon, so that a turn's keys are
      // one journal write, as its messages were.
      phase_ = Phase::kJournaling;
      resumer_.store_soon(*this);
      return;
    }
    dedup_first_ = false;
    pipeline_->dedup->abandon(dedup_key_);
  }
  switch (status) {
    case StoreStatus::kStored:
      return finish_ok();
    case StoreStatus::kFull:
      return finish(Reject::kQueueFull);
    case StoreStatus::kUnavailable:
      return finish(Reject::kQueueUnavailable);
  }
}

void Exchange::after_journal() noexcept {
  dedup_first_ = false;
  const StoreStatus status = store_status_.load(std::memory_order_relaxed);
  if (status == StoreStatus::kStored) {
    pipeline_->dedup->commit(dedup_key_, std::string_view(outcome_.tracking_id, 32));
    return finish_ok();
  }
  // Stored on the edges, but the key is not durable: 503, and the sender's retry stores it again.
  pipeline_->dedup->abandon(dedup_key_);
  finish(status == StoreStatus::kFull ? Reject::kQueueFull : Reject::kQueueUnavailable,
         "the deduplication journal did not take the key; retry later");
}

void Exchange::finish(Reject reject, std::string_view detail) noexcept {
  phase_ = Phase::kIdle;
  const RejectInfo& info = describe(reject);
  outcome_.reject = reject;
  if (reject != Reject::kAuthHttpError) outcome_.status = info.status;
  outcome_.detail.assign(detail.empty() ? info.detail : detail);
  outcome_.detail_is_json =
      reject == Reject::kAuthHttpError && auth_outcome_.detail_is_json && !detail.empty();
  ExchangeOwner& owner = owner_;
  owner.on_exchange_done(*this);
}

void Exchange::finish_ok() noexcept {
  phase_ = Phase::kIdle;
  outcome_.status = 200;
  owner_.on_exchange_done(*this);
}

void BlockingRun::resume_later(Exchange& exchange) noexcept {
  std::lock_guard lock(mutex_);
  ready_ = &exchange;
  wake_.notify_one();
}

void BlockingRun::wait(Exchange& exchange) {
  while (!done_) {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return ready_ != nullptr; });
    ready_ = nullptr;
    lock.unlock();
    exchange.resume();
  }
  done_ = false;
}

}  // namespace inlet::runtime
