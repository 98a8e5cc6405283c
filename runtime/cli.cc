#include "runtime/cli.h"

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "codecs/json_validator.h"
#include "runtime/config/node_config.h"
#include "runtime/delivery/deliverer.h"
#include "runtime/delivery/delivery_command.h"
#include "runtime/log.h"
#include "runtime/node/node_test_command.h"
#include "runtime/queue/log_consumer.h"
#include "runtime/queue/log_consumer_command.h"
#include "runtime/queue/log_reader_command.h"
#include "runtime/requirements_install.h"
#include "runtime/server/pipeline.h"
#include "runtime/server/server.h"

#define INLET_STRINGIFY_(x) #x
#define INLET_STRINGIFY(x) INLET_STRINGIFY_(x)

namespace inlet::runtime {
namespace {

constexpr std::string_view kUsage = R"(inlet — a webhook ingestion node.

Usage:
  inlet serve --config FILE      Serve until SIGTERM/SIGINT, then drain and exit 0: the webhook
                                 node (listen:) and the consumer nodes (nodes:), or either alone.
  inlet check --config FILE      Validate the config, the authenticator and every node's function.
                                 Exit 0, or 1 with file:line: reason.
  inlet test  --config FILE --body FILE [-H 'Name: value']... [--target /?q=1]
                                 Run one request through decoding, validation, the verifiers,
                                 the authenticator and routing without a socket. Prints the
                                 status, detail, user, scopes and the message it would emit, as
                                 JSON. Writes nothing to any queue. Exit 0 when the status is 200.
  inlet test  --config FILE --node NAME --message FILE
                                 Run one message through a consumer node's function, filters and
                                 routes. Prints {"node", "result", "error", "outputs": [{"edge",
                                 "body"}]}. Writes nothing. Exit 0, or 1 when the function fails.
  inlet queue read --dir DIR [--from OFFSET] [--follow]
                                 Print the messages of a log queue, one JSON line each:
                                 {"offset", "tracking_id", "received_at", "message_type", "node",
                                  ..., "error", "attempts", "endpoint", "status", "scopes",
                                  "prev_tracking_ids", "body"} (a dead letter has error and
                                 attempts; a delivery node's has endpoint and status too).
                                 --follow waits for more.
  inlet queue consumers --dir DIR
                                 Each named consumer of a log queue, one JSON line each:
                                 {"consumer", "next_offset", "lag"}.
  inlet queue seek --dir DIR --consumer NAME (--offset N | --time RFC3339 | --earliest | --latest)
                                 Move a consumer (or create it there) to replay or skip messages;
                                 --time picks the first message received at or after it. Refused
                                 while a node holds the log open: stop it first.
  inlet requirements install --config FILE [--target DIR] [-- PIP_ARGS...]
                                 Install the requirements of the authenticator and of every
                                 node's function with pip into the node-local directory
                                 (authenticator.site_packages, default
                                 .inlet/site-packages beside the config), which the node puts on
                                 sys.path. PIP_ARGS go to pip: -- --no-index --find-links ./wheels
                                 The node itself only checks requirements; it never installs.
  inlet delivery list --config FILE
                                 Each endpoint of every delivery node, one JSON line: its node,
                                 input, url, filter, signature scheme, header names, timeout,
                                 backoff, circuit breaker, concurrency, rate limit and dead
                                 letter. No secret and no header value is printed.
  inlet delivery sign --config FILE --endpoint NAME --body FILE [--id ID] [--timestamp SECONDS]
                                 Print the exact request the endpoint would be sent: request
                                 line, headers with the signature, body. No network. NAME is the
                                 endpoint's, or NODE/NAME when several nodes have it. --id and
                                 --timestamp pin webhook-id/X-Inlet-Tracking-Id and
                                 webhook-timestamp (default: a new id, now).
  inlet delivery trigger --config FILE --endpoint NAME --body FILE [--id ID]
                                 Send that request once now (no retries) and print the answer's
                                 status, time and first bytes. Exit 0 for a 2xx, else 1.
  inlet --version
  inlet --help

A request is answered 200 {"tracking_id": "..."} only once every matching edge has stored it.
See README.md for the config file and ARCHITECTURE.md for how a request flows.
)";

struct Args {
  std::vector<std::string> positional;
  std::vector<std::string> passthrough;  // after "--"
  std::vector<std::pair<std::string, std::string>> options;  // in order; flags have ""

  const std::string* get(std::string_view name) const {
    for (const auto& [key, value] : options) {
      if (key == name) return &value;
    }
    return nullptr;
  }
  bool flag(std::string_view name) const { return get(name) != nullptr; }
};

// Options that take a value; everything else starting with '-' is a flag.
bool takes_value(std::string_view name) {
  return name == "--config" || name == "--body" || name == "-H" || name == "--header" || name == "--dir" ||
         name == "--from" || name == "--target" || name == "--consumer" || name == "--offset" ||
         name == "--time" || name == "--node" || name == "--message" || name == "--endpoint" ||
         name == "--id" || name == "--timestamp";
}

bool parse_args(int argc, char** argv, Args& args, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      args.passthrough.assign(argv + i + 1, argv + argc);
      break;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      std::string value;
      if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      } else if (takes_value(arg)) {
        if (i + 1 >= argc) {
          error = arg + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      if (arg == "--header") arg = "-H";
      args.options.emplace_back(arg, value);
    } else {
      args.positional.push_back(arg);
    }
  }
  return true;
}

int usage_error(const std::string& message) {
  std::cerr << "inlet: " << message << "\nRun 'inlet --help' for usage.\n";
  return 2;
}

std::shared_ptr<const NodeConfig> load_or_report(const Args& args, int& exit_code) {
  const std::string* path = args.get("--config");
  if (path == nullptr || path->empty()) {
    exit_code = usage_error("--config FILE is required");
    return nullptr;
  }
  try {
    return load_node_config(*path);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << *path << ": " << e.what() << "\n";
  }
  exit_code = 1;
  return nullptr;
}

int serve(const Args& args) {
  int exit_code = 0;
  auto config = load_or_report(args, exit_code);
  if (!config) return exit_code;
  Logger::instance().set_node(config->name);
  Logger::instance().set_level(*parse_log_level(config->log_level));
  // Signals are handled by the server's signal_set; block SIGPIPE so a closed peer is an error code.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    Server server(config);
    return server.run();
  } catch (const std::exception& e) {
    log_error("start_failed", {{"error", e.what()}});
    std::cerr << "inlet: " << e.what() << "\n";
    return 1;
  }
}

// A file named on the command line, whole; false after saying which file and what it was for.
bool read_whole_file(const std::string& path, std::string_view what, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << path << ": cannot read " << what << "\n";
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

int test_node(const Args& args) {
  const std::string* message_path = args.get("--message");
  if (message_path == nullptr) return usage_error("test --node needs --message FILE");
  int exit_code = 0;
  auto config = load_or_report(args, exit_code);
  if (!config) return exit_code;
  std::string message;
  if (!read_whole_file(*message_path, "the message", message)) return 1;
  try {
    return run_node_test(*config, *args.get("--node"), message, stdout);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}

int check(const Args& args) {
  int exit_code = 0;
  auto config = load_or_report(args, exit_code);
  if (!config) return exit_code;
  try {
    if (config->check_authenticator) config->check_authenticator();
    for (std::size_t i = 0; i < config->nodes.size(); ++i) {
      try {
        if (config->nodes[i].make_function) {
          config->nodes[i].make_function();
        } else {
          Deliverer(config->nodes[i].name, config->nodes[i].endpoints);  // loads each endpoint's CAs
        }
      } catch (const std::exception& e) {
        throw std::runtime_error(config->source.string() + ": nodes[" + std::to_string(i) + "] '" +
                                 config->nodes[i].name + "': " + e.what());
      }
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  std::cout << args.get("--config")->c_str() << ": ok (" << config->edges.size() << " edge"
            << (config->edges.size() == 1 ? "" : "s") << ", "
            << (config->make_authenticator ? "python authenticator" : "no python authenticator") << ", "
            << config->verifiers.size() << " verifier" << (config->verifiers.size() == 1 ? "" : "s")
            << (config->nodes.empty() ? "" : ", " + std::to_string(config->nodes.size()) + " consumer node" +
                                                 (config->nodes.size() == 1 ? "" : "s"))
            << (config->webhook_node ? "" : ", consumers only") << ")\n";
  // What each TLS listener would serve, so a certificate about to lapse shows before it is deployed.
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& [listener, tls] : {std::pair{"listen", config->tls.get()}, std::pair{"admin_listen", config->admin_tls.get()}}) {
    if (tls == nullptr) continue;
    const std::int64_t days = (tls->not_after() - now) / 86400;
    std::cout << "  " << listener << ": TLS with " << tls->subject() << " (serial " << tls->serial_hex() << "), "
              << (tls->not_after() <= now ? "EXPIRED" : "expires in " + std::to_string(days) + " days")
              << (tls->settings().client_auth == ClientAuth::kRequire    ? ", client certificates required"
                  : tls->settings().client_auth == ClientAuth::kOptional ? ", client certificates optional"
                                                                          : "")
              << "\n";
  }
  return 0;
}

// The -H options as headers; they view `args`. Returns the first option that is not
// "Name: value", or "" when all are.
std::string header_options(const Args& args, std::vector<auth::Header>& headers) {
  for (const auto& [key, value] : args.options) {
    if (key != "-H") continue;
    const auto colon = value.find(':');
    if (colon == std::string::npos) return value;
    std::string_view field_value = std::string_view(value).substr(colon + 1);
    while (!field_value.empty() && field_value.front() == ' ') field_value.remove_prefix(1);
    headers.push_back({std::string_view(value).substr(0, colon), field_value});
  }
  return {};
}

// What an accepted request would emit: the user, the edges it matches, and the message as a
// queue would store it (every attribute of the schema, then the body minified).
void append_accepted(std::string& out, const Exchange& exchange) {
  const Message& m = exchange.message();
  out += ",\"user\":";
  if (m.user.empty()) out += "null"; else append_json_string(out, m.user);
  out += ",\"identity\":";
  if (m.identity.empty()) out += "null"; else append_json_string(out, m.identity);
  out += ",\"scopes\":";
  append_scopes_json(out, m.scopes);
  out += ",\"edges\":[";
  const auto& edges = exchange.pipeline()->edges;
  bool first = true;
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (!(exchange.edge_mask() & (std::uint64_t{1} << i))) continue;
    if (!first) out += ',';
    first = false;
    append_json_string(out, edges[i].name);
  }
  out += "],\"message\":";
  append_attributes_json(out, m);
  out.pop_back();  // the closing brace: the body follows
  std::string minified(m.body.size(), '\0');
  std::size_t length = 0;
  if (simdjson::minify(m.body.data(), m.body.size(), minified.data(), length) == simdjson::SUCCESS) {
    minified.resize(length);
  }
  out += ",\"body\":" + minified + "}";
}

int test_request(const Args& args) {
  int exit_code = 0;
  auto config = load_or_report(args, exit_code);
  if (!config) return exit_code;
  const std::string* body_path = args.get("--body");
  if (body_path == nullptr) return usage_error("test needs --body FILE");
  std::ifstream in(*body_path, std::ios::binary);
  if (!in) {
    std::cerr << "inlet: cannot read " << *body_path << "\n";
    return 1;
  }
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  std::vector<auth::Header> headers;
  if (const std::string bad = header_options(args, headers); !bad.empty()) {
    return usage_error("-H needs 'Name: value', got '" + bad + "'");
  }
  auth::AuthRequest lookup;
  lookup.headers = headers;
  std::string content_type(lookup.header("content-type"));
  if (content_type.empty()) {
    content_type = "application/json";
    headers.push_back({"Content-Type", content_type});
    lookup.headers = headers;  // push_back may have moved the storage the span pointed at
  }
  const std::string* target_option = args.get("--target");
  const std::string target = target_option ? *target_option : "/";

  Logger::instance().set_node(config->name);
  Logger::instance().set_fd(2);  // stdout carries the result
  std::string out = "{";
  auto answer = [&](int status, std::string_view detail, bool detail_is_json = false) {
    out += "\"status\":" + std::to_string(status) + ",\"detail\":";
    if (detail_is_json) {
      out += detail;
    } else {
      append_json_string(out, detail);
    }
  };
  codecs::EncodingList encodings;
  const RequestHead head{.method = "POST", .is_post = true, .target = target, .content_type = content_type,
                         .content_encoding = lookup.header("content-encoding"),
                         .accept_form = !config->form_param.empty()};
  if (auto reject = check_head(head, encodings)) {
    answer(describe(*reject).status, describe(*reject).detail);
    std::cout << out << "}\n";
    return 1;
  }
  if (body.size() > config->limits.max_body_bytes) {
    answer(describe(Reject::kBodyTooLarge).status, describe(Reject::kBodyTooLarge).detail);
    std::cout << out << "}\n";
    return 1;
  }
  try {
    auto pipeline = std::make_shared<Pipeline>();
    pipeline->config = config;
    pipeline->authenticator = make_authenticator_chain(*config);
    for (const EdgeConfig& edge : config->edges) pipeline->edges.push_back({edge.name, edge.filter.get(), nullptr});

    StageTools tools;
    BlockingRun run;
    Exchange exchange(run, run, tools);
    body.reserve(body.size() + codecs::kJsonPadding);
    const ExchangeInput input{.target = target, .content_type = content_type, .encodings = encodings,
                              .headers = headers, .raw_body = &body, .client_host = "127.0.0.1",
                              .client_port = 0, .scheme = "http", .host = {}, .client_cert = {}};
    exchange.run(pipeline, input, /*dry_run=*/true);
    run.wait(exchange);

    const Outcome& outcome = exchange.outcome();
    answer(outcome.status, outcome.reject ? std::string_view(outcome.detail) : "ok",
           outcome.reject && outcome.detail_is_json);
    if (!outcome.reject) append_accepted(out, exchange);
    out += "}";
    std::cout << out << "\n";
    return outcome.status == 200 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "inlet: " << e.what() << "\n";
    return 1;
  }
}

int requirements_command(const Args& args) {
  if (args.positional.size() < 2 || args.positional[1] != "install") {
    return usage_error(
        "requirements needs a subcommand: inlet requirements install --config FILE [--target DIR]");
  }
  int exit_code = 0;
  auto config = load_or_report(args, exit_code);
  if (!config) return exit_code;
  if (config->python_requirements.empty()) {
    std::cout << *args.get("--config") << ": no requirements to install\n";
    return 0;
  }
  const std::string* target = args.get("--target");
  const std::string dir = target != nullptr ? *target : config->python_site_packages;
  std::cerr << "inlet: installing " << config->python_requirements.size() << " requirement"
            << (config->python_requirements.size() == 1 ? "" : "s") << " into " << dir << "\n";
  const int pip = install_requirements(config->python_requirements, dir, args.passthrough);
  if (pip != 0) {
    std::cerr << "inlet: pip failed (exit " << pip << "); nothing was changed outside " << dir << "\n";
    return 1;
  }
  if (target != nullptr && *target != config->python_site_packages) {
    std::cerr << "inlet: installed into " << dir << "; the node reads " << config->python_site_packages
              << " (authenticator.site_packages)\n";
  }
  return 0;
}

std::atomic<bool> g_stop_follow{false};

std::optional<std::uint64_t> parse_offset(const std::string& text) {
  // stoull accepts "-1" and wraps it: only digits are an offset.
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int queue_seek_command(const Args& args, const std::string& dir) {
  const std::string* consumer = args.get("--consumer");
  if (consumer == nullptr) return usage_error("queue seek needs --consumer NAME");
  SeekTarget target;
  int given = 0;
  if (const std::string* text = args.get("--offset")) {
    ++given;
    const std::optional<std::uint64_t> offset = parse_offset(*text);
    if (!offset) return usage_error("--offset needs a non-negative integer, got '" + *text + "'");
    target = SeekTarget{SeekTarget::Kind::kOffset, *offset, 0};
  }
  if (const std::string* text = args.get("--time")) {
    ++given;
    const std::optional<std::int64_t> micros = parse_rfc3339_micros(*text);
    if (!micros) {
      return usage_error("--time needs an RFC 3339 time such as 2026-12-01T10:00:00Z, got '" + *text + "'");
    }
    target = SeekTarget{SeekTarget::Kind::kTime, 0, *micros};
  }
  if (args.flag("--earliest")) {
    ++given;
    target.kind = SeekTarget::Kind::kEarliest;
  }
  if (args.flag("--latest")) {
    ++given;
    target.kind = SeekTarget::Kind::kLatest;
  }
  if (given != 1) return usage_error("queue seek needs one of --offset N, --time RFC3339, --earliest, --latest");
  return run_queue_seek(dir, *consumer, target);
}

int queue_command(const Args& args) {
  static constexpr std::string_view kSubcommands =
      "queue needs a subcommand: read, consumers or seek (see inlet --help)";
  if (args.positional.size() < 2) return usage_error(std::string(kSubcommands));
  const std::string& sub = args.positional[1];
  if (sub != "read" && sub != "consumers" && sub != "seek") return usage_error(std::string(kSubcommands));
  const std::string* dir = args.get("--dir");
  if (dir == nullptr) return usage_error("queue " + sub + " needs --dir DIR");
  if (sub == "consumers") return run_queue_consumers(*dir, stdout);
  if (sub == "seek") return queue_seek_command(args, *dir);
  std::uint64_t from = 0;
  if (const std::string* text = args.get("--from")) {
    const std::optional<std::uint64_t> offset = parse_offset(*text);
    if (!offset) return usage_error("--from needs a non-negative integer offset, got '" + *text + "'");
    from = *offset;
  }
  std::signal(SIGINT, [](int) { g_stop_follow = true; });
  std::signal(SIGTERM, [](int) { g_stop_follow = true; });
  return run_queue_read(*dir, from, args.flag("--follow"), stdout, &g_stop_follow);
}

int delivery_command(const Args& args) {
  const std::string verb = args.positional.size() > 1 ? args.positional[1] : "";
  if (verb != "list" && verb != "sign" && verb != "trigger") {
    return usage_error("delivery needs list, sign or trigger");
  }
  int exit_code = 0;
  auto config = load_or_report(args, exit_code);
  if (!config) return exit_code;
  if (verb == "list") return run_delivery_list(*config, stdout);
  DeliveryRequestOptions options;
  const std::string* endpoint = args.get("--endpoint");
  const std::string* body = args.get("--body");
  if (endpoint == nullptr) return usage_error("delivery " + verb + " needs --endpoint NAME (or NODE/NAME)");
  if (body == nullptr) return usage_error("delivery " + verb + " needs --body FILE");
  options.endpoint = *endpoint;
  if (!read_whole_file(*body, "the body", options.body)) return 1;
  if (const std::string* id = args.get("--id")) options.id = *id;
  if (const std::string* stamp = args.get("--timestamp")) {
    const std::optional<std::uint64_t> seconds = parse_offset(*stamp);
    if (!seconds) return usage_error("--timestamp needs Unix seconds, got '" + *stamp + "'");
    options.timestamp = static_cast<std::int64_t>(*seconds);
  }
  try {
    return verb == "sign" ? run_delivery_sign(*config, options, stdout)
                          : run_delivery_trigger(*config, options, stdout);
  } catch (const std::exception& e) {
    std::cerr << "inlet: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int run_cli(int argc, char** argv) {
  Args args;
  std::string error;
  if (!parse_args(argc, argv, args, error)) return usage_error(error);
  if (args.flag("--version")) {
    std::cout << "inlet " << INLET_VERSION << " (commit " << INLET_COMMIT << ", simdjson "
              << INLET_STRINGIFY(SIMDJSON_VERSION) << ")\n";
    return 0;
  }
  if (args.positional.empty() || args.flag("--help") || args.flag("-h")) {
    std::cout << kUsage;
    return args.positional.empty() && !args.flag("--help") && !args.flag("-h") ? 2 : 0;
  }
  const std::string& command = args.positional.front();
  if (command == "serve") return serve(args);
  if (command == "check") return check(args);
  if (command == "test") return args.get("--node") != nullptr ? test_node(args) : test_request(args);
  if (command == "queue") return queue_command(args);
  if (command == "requirements") return requirements_command(args);
  if (command == "delivery") return delivery_command(args);
  return usage_error("unknown command '" + command + "'");
}

}  // namespace inlet::runtime
