// One item of the `verifiers:` list: a built-in C++ verifier, chosen by `type:`.
//
// Secrets, one schema for every verifier. A secret-valued key K is given in exactly one of three
// ways:
//   K: "literal"      the value itself (handy in tests; keep it out of committed configs)
//   K_env: NAME       the value of environment variable NAME, which must be set and non-empty
//   K_file: PATH      the file's content minus trailing \r and \n; a relative PATH is taken from
//                     the working directory, like the log queue's `dir`
// A list of secrets (`secrets:`, `tokens:`) holds items that are either a plain string (the
// literal value) or a mapping with exactly one of `value`, `env`, `file`. Errors name the key
// path and, for files and variables, the name or path, never the secret itself.
//
//   verifiers:
//     - type: basic
//       realm: inlet                      # optional, the WWW-Authenticate realm
//       users:
//         - {username: alice, password_sha256: 9f86d0...}   # or password_sha256_env / _file
//     - type: bearer
//       realm: inlet                      # optional
//       tokens:
//         - {env: CI_TOKEN, user: ci}      # `user` is optional
//         - {file: /run/secrets/deploy-token}
//     - type: hmac
//       header: X-Signature               # required
//       algorithm: sha256                 # sha1 | sha256 (default)
//       encoding: hex                     # hex (default) | base64
//       prefix: "sha256="                 # optional, matched case-insensitively
//       secret_env: HMAC_SECRET
//     - type: github                      # X-Hub-Signature-256
//       secret_file: /run/secrets/github-webhook
//     - type: standard_webhooks           # secrets are "whsec_<base64>"
//       secrets: [{env: WEBHOOK_SECRET}, {env: WEBHOOK_SECRET_PREVIOUS}]
//       tolerance_seconds: 300            # default 300
//     - type: stripe
//       secret_env: STRIPE_WEBHOOK_SECRET
//       tolerance_seconds: 300
//     - type: slack
//       secret_env: SLACK_SIGNING_SECRET
//       tolerance_seconds: 300
//
// Signature verifiers (hmac, github, standard_webhooks, stripe, slack) take one secret
// (secret / secret_env / secret_file) or a list (`secrets:`) for rotation, not both.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>

#include "auth/basic_verifier.h"
#include "auth/bearer_verifier.h"
#include "auth/hmac_verifier.h"
#include "auth/signer.h"
#include "auth/slack_verifier.h"
#include "auth/standard_webhooks_verifier.h"
#include "auth/stripe_verifier.h"
#include "auth/verifier_common.h"
#include "runtime/config/node_config.h"

namespace inlet::runtime {
namespace {

constexpr std::int64_t kDefaultTolerance = 300;
constexpr std::int64_t kMaxTolerance = 7 * 24 * 3600;

// A secret and where it came from, for errors found after reading (e.g. a bad whsec_ value).
struct Secret {
  std::string value;
  std::string path;
  int line = -1;
};

// Marks the keys a section knows as read so finish() reports any other key before secrets are
// loaded.
void only_keys(ConfigMap& map, std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) map.raw(key);
  map.finish();
}

std::string read_secret_file(ConfigMap& map, std::string_view key, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) map.fail(key, "cannot read '" + file + "': " + std::strerror(errno));
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) map.fail(key, "cannot read '" + file + "'");
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) map.fail(key, "file '" + file + "' is empty");
  return value;
}

// Reads whichever of `literal`, `env`, `file` is present (at most one); nullopt when none is.
std::optional<Secret> read_secret(ConfigMap& map, std::string_view literal, std::string_view env,
                                  std::string_view file) {
  const int given = int{map.has(literal)} + int{map.has(env)} + int{map.has(file)};
  if (given > 1) {
    map.fail(map.has(literal) ? literal : env, "give only one of " + std::string(literal) + ", " +
                                                   std::string(env) + ", " + std::string(file));
  }
  std::optional<Secret> out;
  if (map.has(literal)) {
    std::string value = map.string(literal, "");
    if (value.empty()) map.fail(literal, "must not be empty");
    out = Secret{std::move(value), map.path_of(literal), line_of(map.raw(literal))};
  } else if (map.has(env)) {
    const std::string name = map.required_string(env);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) map.fail(env, "environment variable " + name + " is not set");
    if (*value == '\0') map.fail(env, "environment variable " + name + " is empty");
    out = Secret{value, map.path_of(env), line_of(map.raw(env))};
  } else if (map.has(file)) {
    const std::string path = map.required_string(file);
    out = Secret{read_secret_file(map, file, path), map.path_of(file), line_of(map.raw(file))};
  }
  map.raw(literal);
  map.raw(env);
  map.raw(file);
  return out;
}

// A list whose items are a literal string or {value|env|file}; `each` sees every item's map so
// callers can read extra keys (a bearer token's `user`). Items are finished here.
template <typename Each>
void read_secret_list(ConfigMap& map, std::string_view key,
                      std::initializer_list<std::string_view> extra_keys, Each&& each) {
  const YAML::Node list = map.raw(key);
  if (list.IsNull()) return;
  if (!list.IsSequence()) map.fail(key, "must be a list");
  if (list.size() == 0) map.fail(key, "must not be empty");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = map.path_of(key) + "[" + std::to_string(i) + "]";
    const YAML::Node item = list[i];
    if (item.IsScalar()) {
      if (item.Scalar().empty()) throw ConfigError(path, "must not be empty", line_of(item));
      ConfigMap empty(YAML::Node(YAML::NodeType::Null), path);
      each(Secret{item.Scalar(), path, line_of(item)}, empty);
      continue;
    }
    if (!item.IsMap()) {
      throw ConfigError(path, "must be a string or a mapping with one of value, env, file",
                        line_of(item));
    }
    ConfigMap entry(item, path);
    for (std::string_view extra : extra_keys) entry.raw(extra);
    only_keys(entry, {"value", "env", "file"});
    std::optional<Secret> secret = read_secret(entry, "value", "env", "file");
    if (!secret) throw ConfigError(path, "needs one of value, env, file", line_of(item));
    each(std::move(*secret), entry);
  }
}

// secret / secret_env / secret_file, or secrets: [...]; at least one.
std::vector<Secret> read_signing_secrets(ConfigMap& map) {
  std::optional<Secret> single = read_secret(map, "secret", "secret_env", "secret_file");
  std::vector<Secret> list;
  read_secret_list(map, "secrets", {},
                   [&](Secret secret, ConfigMap&) { list.push_back(std::move(secret)); });
  if (single && !list.empty())
    map.fail("secrets", "give either secret/secret_env/secret_file or secrets, not both");
  if (single) return {std::move(*single)};
  if (list.empty()) map.fail("secret", "is required (or secret_env, secret_file, secrets)");
  return list;
}

std::vector<std::string> values(std::vector<Secret>& secrets) {
  std::vector<std::string> out;
  for (Secret& s : secrets) out.push_back(std::move(s.value));
  return out;
}

std::shared_ptr<auth::Authenticator> parse_basic(ConfigMap& map) {
  only_keys(map, {"type", "realm", "users"});
  const std::string realm = map.string("realm", "inlet");
  std::vector<ConfigMap> items = map.map_list("users");
  if (items.empty()) map.fail("users", "must list at least one user");
  std::vector<auth::BasicUser> users;
  for (ConfigMap& item : items) {
    only_keys(item, {"username", "password_sha256", "password_sha256_env", "password_sha256_file"});
    auth::BasicUser user;
    user.username = item.required_string("username");
    if (user.username.find(':') != std::string::npos) item.fail("username", "must not contain ':'");
    for (const auth::BasicUser& other : users) {
      if (other.username == user.username)
        item.fail("username", "duplicate user '" + user.username + "'");
    }
    std::optional<Secret> hash =
        read_secret(item, "password_sha256", "password_sha256_env", "password_sha256_file");
    if (!hash)
      item.fail("password_sha256", "is required (or password_sha256_env, password_sha256_file)");
    if (auth::decode_hex(hash->value, user.password_sha256.data(), user.password_sha256.size()) !=
        32) {
      throw ConfigError(hash->path, "must be 64 hex digits, the SHA-256 of the password",
                        hash->line);
    }
    users.push_back(std::move(user));
  }
  return std::make_shared<auth::BasicVerifier>(std::move(users), realm);
}

std::shared_ptr<auth::Authenticator> parse_bearer(ConfigMap& map) {
  only_keys(map, {"type", "realm", "tokens"});
  const std::string realm = map.string("realm", "inlet");
  std::vector<auth::BearerToken> tokens;
  read_secret_list(map, "tokens", {"user"}, [&](Secret secret, ConfigMap& entry) {
    tokens.push_back(auth::BearerToken{std::move(secret.value), entry.string("user", "")});
  });
  if (tokens.empty()) map.fail("tokens", "is required: a list of tokens");
  return std::make_shared<auth::BearerVerifier>(tokens, realm);
}

// header, algorithm, encoding, prefix: a generic hmac signature, verified or signed alike.
auth::HmacOptions read_hmac_options(ConfigMap& map) {
  auth::HmacOptions options;
  options.header = map.required_string("header");
  options.algorithm = map.choice("algorithm", "sha256", {"sha1", "sha256"}) == "sha1"
                          ? auth::HmacAlgorithm::kSha1
                          : auth::HmacAlgorithm::kSha256;
  options.encoding = map.choice("encoding", "hex", {"hex", "base64"}) == "base64"
                         ? auth::SignatureEncoding::kBase64
                         : auth::SignatureEncoding::kHex;
  options.prefix = map.string("prefix", "");
  return options;
}

std::shared_ptr<auth::Authenticator> parse_hmac(ConfigMap& map, bool github) {
  if (github) {
    only_keys(map, {"type", "secret", "secret_env", "secret_file", "secrets"});
    std::vector<Secret> secrets = read_signing_secrets(map);
    return std::make_shared<auth::HmacVerifier>(auth::github_hmac_options(), values(secrets));
  }
  only_keys(map, {"type", "header", "algorithm", "encoding", "prefix", "secret", "secret_env",
                  "secret_file", "secrets"});
  auth::HmacOptions options = read_hmac_options(map);
  std::vector<Secret> secrets = read_signing_secrets(map);
  return std::make_shared<auth::HmacVerifier>(std::move(options), values(secrets));
}

std::shared_ptr<auth::Authenticator> parse_timestamped(ConfigMap& map, std::string_view type) {
  only_keys(map, {"type", "tolerance_seconds", "secret", "secret_env", "secret_file", "secrets"});
  const std::int64_t tolerance =
      map.integer("tolerance_seconds", kDefaultTolerance, 1, kMaxTolerance);
  std::vector<Secret> secrets = read_signing_secrets(map);
  if (type == "standard_webhooks") {
    for (const Secret& s : secrets) {
      if (!auth::decode_standard_webhooks_secret(s.value)) {
        throw ConfigError(s.path, "must be whsec_ followed by base64", s.line);
      }
    }
    return std::make_shared<auth::StandardWebhooksVerifier>(values(secrets), tolerance);
  }
  if (type == "stripe") return std::make_shared<auth::StripeVerifier>(values(secrets), tolerance);
  return std::make_shared<auth::SlackVerifier>(values(secrets), tolerance);
}

// echo.basic's layout: `realms: NAME | [NAMES]`, and under each realm's name a mapping of user to
// the SHA-256 hex of the password. The challenge names the first realm.
std::shared_ptr<auth::Authenticator> parse_platform_basic(ConfigMap& config) {
  std::vector<std::string> realms;
  const YAML::Node listed = config.raw("realms");
  if (listed.IsScalar()) {
    realms.push_back(listed.Scalar());
  } else {
    realms = config.string_list("realms");
  }
  if (realms.empty()) config.fail("realms", "is required: a realm name or a list of them");
  std::vector<auth::BasicUser> users;
  for (const std::string& realm : realms) {
    const YAML::Node passwords = config.raw(realm);
    const std::string path = config.path_of(realm);
    if (!passwords.IsMap() || passwords.size() == 0) {
      throw ConfigError(path, "must map each user of realm '" + realm + "' to the SHA-256 hex of its password",
                        line_of(passwords));
    }
    for (const auto& entry : passwords) {
      auth::BasicUser user;
      user.username = entry.first.Scalar();
      const std::string user_path = path + "." + user.username;
      if (user.username.empty() || user.username.find(':') != std::string::npos) {
        throw ConfigError(user_path, "must be a user name without ':'", line_of(entry.first));
      }
      for (const auth::BasicUser& other : users) {
        if (other.username == user.username)
          throw ConfigError(user_path, "user '" + user.username + "' is in two realms", line_of(entry.first));
      }
      if (!entry.second.IsScalar() ||
          auth::decode_hex(entry.second.Scalar(), user.password_sha256.data(), user.password_sha256.size()) != 32) {
        throw ConfigError(user_path, "must be 64 hex digits, the SHA-256 of the password", line_of(entry.second));
      }
      users.push_back(std::move(user));
    }
  }
  config.finish();
  return std::make_shared<auth::BasicVerifier>(std::move(users), realms.front());
}

}  // namespace

std::shared_ptr<auth::Authenticator> parse_system_function(ConfigMap& section) {
  const std::string function = section.required_string("function");
  ConfigMap config = section.map("config");
  std::shared_ptr<auth::Authenticator> verifier;
  if (function == "echo.basic") {
    verifier = parse_platform_basic(config);
  } else if (function == "echo.bearer") {
    verifier = parse_bearer(config);
  } else if (function == "echo.x-hub-signature") {
    verifier = parse_hmac(config, /*github=*/true);
  } else {
    section.fail("function",
                 "without library: names a system function, echo.basic, echo.bearer or "
                 "echo.x-hub-signature; a function of yours needs library:");
  }
  config.finish();
  section.finish();
  return verifier;
}

std::shared_ptr<auth::Authenticator> parse_verifier(ConfigMap& verifier) {
  if (!verifier.has("type")) verifier.fail("type", "is required");
  const std::string type = verifier.choice(
      "type", "", {"basic", "bearer", "hmac", "github", "standard_webhooks", "stripe", "slack"});
  try {
    if (type == "basic") return parse_basic(verifier);
    if (type == "bearer") return parse_bearer(verifier);
    if (type == "hmac" || type == "github") return parse_hmac(verifier, type == "github");
    return parse_timestamped(verifier, type);
  } catch (const std::invalid_argument& e) {
    // The checks above should leave nothing for the constructors to refuse; if one does, still
    // point at the verifier.
    verifier.fail("type", e.what());
  }
}

// A delivery endpoint's `signature:` (CONTRACT.md section 6), with the verifiers' secret keys.
std::shared_ptr<const auth::Signer> parse_signature(ConfigMap& section) {
  const std::string scheme =
      section.choice("scheme", "", {"servo", "standard_webhooks", "github", "hmac"});
  if (scheme.empty()) section.fail("scheme", "is required: servo, standard_webhooks, github or hmac");
  auth::HmacOptions options;
  if (scheme == "hmac") {
    options = read_hmac_options(section);
    if (options.prefix.size() > auth::Signer::kMaxPrefix) section.fail("prefix", "is at most 64 characters");
  } else {
    for (const char* key : {"header", "algorithm", "encoding", "prefix"}) {
      if (section.has(key)) section.fail(key, "is for scheme: hmac; " + scheme + " sets its own");
    }
  }
  only_keys(section, {"scheme", "header", "algorithm", "encoding", "prefix", "secret", "secret_env",
                      "secret_file"});
  std::optional<Secret> secret = read_secret(section, "secret", "secret_env", "secret_file");
  if (!secret) section.fail("secret", "is required (or secret_env, secret_file)");
  const auth::SignatureScheme kind = scheme == "servo"               ? auth::SignatureScheme::kServo
                                     : scheme == "standard_webhooks" ? auth::SignatureScheme::kStandardWebhooks
                                     : scheme == "github"            ? auth::SignatureScheme::kGithub
                                                                     : auth::SignatureScheme::kHmac;
  try {
    return std::make_shared<const auth::Signer>(kind, secret->value, std::move(options));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(secret->path, e.what(), secret->line);
  }
}

}  // namespace inlet::runtime
