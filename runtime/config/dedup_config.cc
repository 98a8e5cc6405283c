// `dedup:` (CONTRACT.md section 7).
#include "runtime/config/dedup_config.h"

#include <yaml-cpp/yaml.h>

#include "runtime/config/node_config.h"

namespace inlet::runtime {

namespace {

// `key: auto`: the key each verifier's sender puts on every delivery, retries included.
bool auto_key(const YAML::Node& verifiers, DedupConfig& out) {
  if (!verifiers || !verifiers.IsSequence()) return false;
  for (const YAML::Node& verifier : verifiers) {
    if (!verifier.IsMap() || !verifier["type"] || !verifier["type"].IsScalar()) continue;
    const std::string type = verifier["type"].as<std::string>();
    if (type == "github") {
      out.source = DedupConfig::Source::kHeader;
      out.header = "X-GitHub-Delivery";
    } else if (type == "standard_webhooks") {
      out.source = DedupConfig::Source::kHeader;
      out.header = "webhook-id";
    } else if (type == "stripe") {
      out.source = DedupConfig::Source::kJson;
      out.path = std::make_shared<const KeyPath>("id");
    } else if (type == "slack") {
      out.source = DedupConfig::Source::kJson;
      out.path = std::make_shared<const KeyPath>("event_id");
    } else {
      continue;
    }
    return true;
  }
  return false;
}

}  // namespace

std::optional<DedupConfig> parse_dedup(ConfigMap& root) {
  if (!root.has("dedup")) {
    root.raw("dedup");
    return std::nullopt;
  }
  ConfigMap section = root.map("dedup");
  DedupConfig out;
  const std::string key = section.string("key", "auto");
  if (key == "auto") {
    if (!auto_key(root.node()["verifiers"], out)) {
      section.fail("key", "auto takes the key from a github, standard_webhooks, stripe or slack "
                          "verifier, and verifiers: has none; give header:NAME or json:PATH");
    }
  } else if (key.starts_with("header:")) {
    out.source = DedupConfig::Source::kHeader;
    out.header = key.substr(7);
    if (out.header.empty() || out.header.find_first_of(" \t:") != std::string::npos) {
      section.fail("key", "header: is followed by a header name, got '" + key + "'");
    }
  } else if (key.starts_with("json:")) {
    out.source = DedupConfig::Source::kJson;
    try {
      out.path = std::make_shared<const KeyPath>(key.substr(5));
    } catch (const std::invalid_argument& e) {
      section.fail("key", std::string("json: is followed by a dotted path: ") + e.what());
    }
  } else {
    section.fail("key", "must be auto, header:NAME or json:PATH, got '" + key + "'");
  }
  out.key_text = out.source == DedupConfig::Source::kHeader ? "header:" + out.header : "json:" + out.path->dotted();
  out.window = section.duration("window", out.window);
  out.max_keys = static_cast<std::uint64_t>(
      section.integer("max_keys", static_cast<std::int64_t>(out.max_keys), 1, 1'000'000'000));
  out.require = section.boolean("require", false);
  std::error_code ec;
  out.dir = std::filesystem::absolute(section.string("dir", out.dir.string()), ec).lexically_normal();
  out.fsync = section.choice("ack", "fsync", {"fsync", "write"}) == "fsync";
  section.finish();
  return out;
}

}  // namespace inlet::runtime
