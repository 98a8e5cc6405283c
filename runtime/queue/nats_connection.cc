#include "runtime/queue/nats_connection.h"

#include <stdexcept>
#include <vector>

#include "runtime/log.h"

namespace inlet::runtime {
namespace {

using Options = codecs::UniqueHandle<natsOptions, natsOptions_Destroy>;

void check(natsStatus status, const char* what) {
  if (status != NATS_OK) throw std::runtime_error(std::string("nats ") + what + ": " + nats_error(status));
}

void on_disconnected(natsConnection*, void*) { log_warn("nats_disconnected"); }

void on_reconnected(natsConnection* connection, void*) {
  char url[256] = {};
  natsConnection_GetConnectedUrl(connection, url, sizeof url);
  log_info("nats_reconnected", {{"server", std::string_view(url)}});
}

void on_connected(natsConnection* connection, void* closure) { on_reconnected(connection, closure); }

}  // namespace

std::string nats_error(natsStatus status) {
  std::string text = natsStatus_GetText(status);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0' && text != detail) text += std::string(": ") + detail;
  return text;
}

NatsConnection::NatsConnection(const NatsConnectionOptions& options, const jsOptions& jetstream) {
  natsOptions* raw = nullptr;
  check(natsOptions_Create(&raw), "options");
  Options opts(raw);
  std::vector<const char*> servers;
  for (const std::string& server : options.servers) servers.push_back(server.c_str());
  check(natsOptions_SetServers(raw, servers.data(), static_cast<int>(servers.size())), "servers");
  check(natsOptions_SetName(raw, options.name.c_str()), "name");
  if (!options.credentials_file.empty()) {
    check(natsOptions_SetUserCredentialsFromFiles(raw, options.credentials_file.c_str(), nullptr),
          "credentials_file");
  }
  if (!options.user.empty()) {
    check(natsOptions_SetUserInfo(raw, options.user.c_str(), options.password.c_str()), "user");
  }
  if (!options.token.empty()) check(natsOptions_SetToken(raw, options.token.c_str()), "token");
  if (options.tls) check(natsOptions_SetSecure(raw, true), "tls");
  if (!options.ca_file.empty()) {
    check(natsOptions_LoadCATrustedCertificates(raw, options.ca_file.c_str()), "tls.ca_file");
  }
  if (!options.cert_file.empty()) {
    check(natsOptions_LoadCertificatesChain(raw, options.cert_file.c_str(), options.key_file.c_str()),
          "tls.cert_file");
  }
  // For ever, quickly: a webhook waits at most its retry budget, so a reconnect after a server's
  // restart must not sit behind libnats' default 2 s wait between tries.
  check(natsOptions_SetMaxReconnect(raw, -1), "max_reconnect");
  check(natsOptions_SetReconnectWait(raw, 250), "reconnect_wait");
  check(natsOptions_SetReconnectJitter(raw, 100, 250), "reconnect_jitter");
  check(natsOptions_SetTimeout(raw, 2000), "timeout");
  // A server killed without a FIN (a node lost) is noticed by pings: 2 missed at 2 s.
  check(natsOptions_SetPingInterval(raw, 2000), "ping_interval");
  check(natsOptions_SetMaxPingsOut(raw, 2), "max_pings_out");
  check(natsOptions_SetReconnectBufSize(raw, 64 << 20), "reconnect_buffer");
  check(natsOptions_SetDisconnectedCB(raw, on_disconnected, nullptr), "callbacks");
  check(natsOptions_SetReconnectedCB(raw, on_reconnected, nullptr), "callbacks");
  check(natsOptions_SetRetryOnFailedConnect(raw, true, on_connected, nullptr), "retry_on_failed_connect");

  const natsStatus status = natsConnection_Connect(&connection_, raw);
  if (status != NATS_OK && status != NATS_NOT_YET_CONNECTED) {
    throw std::runtime_error("nats connect: " + nats_error(status));
  }
  if (status == NATS_NOT_YET_CONNECTED) log_warn("nats_not_yet_connected", {{"servers", static_cast<int>(servers.size())}});
  jsOptions js = jetstream;
  const natsStatus js_status = natsConnection_JetStream(&jetstream_, connection_, &js);
  if (js_status != NATS_OK) {
    natsConnection_Destroy(connection_);
    throw std::runtime_error("nats jetstream: " + nats_error(js_status));
  }
}

NatsConnection::~NatsConnection() {
  jsCtx_Destroy(jetstream_);
  natsConnection_Close(connection_);
  natsConnection_Destroy(connection_);
}

bool NatsConnection::connected() const noexcept {
  return natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

bool ensure_nats_stream(jsCtx* jetstream, const NatsQueueOptions& options, std::string& error) {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetStreamInfo(&info, jetstream, options.stream.c_str(), nullptr, &code);
  if (status == NATS_OK) {
    const jsStreamConfig& config = *info->Config;
    bool has_subject = false;
    for (int i = 0; i < config.SubjectsLen; ++i) has_subject |= options.subject == config.Subjects[i];
    if (config.Replicas != options.replicas) {
      log_warn("nats_stream_differs", {{"stream", options.stream},
                                       {"key", "replicas"},
                                       {"configured", options.replicas},
                                       {"stream_has", static_cast<std::int64_t>(config.Replicas)}});
    }
    if (!has_subject) {
      // A wildcard of the stream may still cover it; publishes tell (no responders) if not.
      log_warn("nats_stream_differs", {{"stream", options.stream},
                                       {"key", "subject"},
                                       {"configured", options.subject}});
    }
    jsStreamInfo_Destroy(info);
    return true;
  }
  if (status != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
    error = "stream " + options.stream + ": " + nats_error(status);
    return false;
  }
  if (!options.create) {
    error = "stream " + options.stream + " does not exist (queue.create is false)";
    return false;
  }
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  const char* subjects[] = {options.subject.c_str()};
  config.Name = options.stream.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = options.replicas;
  config.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(options.duplicate_window).count();
  config.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(options.max_age).count();
  status = js_AddStream(&info, jetstream, &config, nullptr, &code);
  if (status != NATS_OK) {
    error = "creating stream " + options.stream + ": " + nats_error(status);
    return false;
  }
  jsStreamInfo_Destroy(info);
  log_info("nats_stream_created", {{"stream", options.stream},
                                   {"subject", options.subject},
                                   {"replicas", options.replicas}});
  return true;
}

}  // namespace inlet::runtime
