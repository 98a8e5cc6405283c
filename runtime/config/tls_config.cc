#include "runtime/config/node_config.h"

namespace inlet::runtime {

std::shared_ptr<const TlsContext> parse_tls(ConfigMap& section, const std::filesystem::path& config_dir,
                                            const TlsSettings* inherit) {
  const auto file = [&](std::string_view key, const std::filesystem::path& fallback) {
    const std::string text = section.string(key, "");
    if (text.empty()) return fallback;
    const std::filesystem::path path(text);
    return (path.is_absolute() ? path : config_dir / path).lexically_normal();
  };
  TlsSettings settings;
  settings.cert_file = file("cert_file", inherit ? inherit->cert_file : std::filesystem::path());
  settings.key_file = file("key_file", inherit ? inherit->key_file : std::filesystem::path());
  settings.ca_file = file("ca_file", {});
  if (settings.cert_file.empty()) section.fail("cert_file", "is required (a PEM certificate chain)");
  if (settings.key_file.empty()) section.fail("key_file", "is required (a PEM private key)");
  // With a CA the safe default is to require a client certificate: a ca_file alone asks for mTLS.
  const std::string client_auth =
      section.choice("client_auth", settings.ca_file.empty() ? "none" : "require",
                     {"none", "optional", "require"});
  settings.client_auth = client_auth == "require"    ? ClientAuth::kRequire
                         : client_auth == "optional" ? ClientAuth::kOptional
                                                     : ClientAuth::kNone;
  if (settings.client_auth != ClientAuth::kNone && settings.ca_file.empty()) {
    section.fail("client_auth", "needs ca_file: the CAs that client certificates must chain to");
  }
  section.finish();
  try {
    return TlsContext::load(settings);
  } catch (const TlsError& e) {
    section.fail(e.key(), e.what());
  }
}

}  // namespace inlet::runtime
