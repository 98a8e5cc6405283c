#include "runtime/metrics.h"

#include <charconv>
#include <cstdio>

namespace inlet::runtime {
namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(Stage::kCount)> kStageNames{
    "read", "decode", "authenticate", "enqueue", "total"};
constexpr std::array<std::string_view, WorkerMetrics::kAuthResults> kAuthResultNames{
    "accept", "reject", "http_error", "internal_error", "timeout"};

void append_uint(std::string& out, std::uint64_t value) {
  char buf[24];
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, result.ptr);
}

void append_double(std::string& out, double value) {
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.9g", value);
  out.append(buf, static_cast<std::size_t>(n));
}

template <class Get>
std::uint64_t sum(const std::vector<const WorkerMetrics*>& workers, Get get) {
  std::uint64_t total = 0;
  for (const WorkerMetrics* w : workers) total += get(*w);
  return total;
}

void append_buckets(std::string& out, std::string_view name, std::string_view labels,
                    const std::array<std::uint64_t, LatencyHistogram::kBuckets>& buckets,
                    std::uint64_t sum_micros) {
  const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i];
    std::string le = prefix + "le=\"";
    if (i < LatencyHistogram::kBounds) {
      append_double(le, LatencyHistogram::bound_seconds(i));
    } else {
      le += "+Inf";
    }
    le += '"';
    append_sample(out, std::string(name) + "_bucket", le, cumulative);
  }
  append_sample(out, std::string(name) + "_sum", labels, static_cast<double>(sum_micros) / 1e6);
  append_sample(out, std::string(name) + "_count", labels, cumulative);
}

// One histogram series: cumulative buckets, sum and count, summed over the workers.
template <class Get>
void append_histogram(std::string& out, std::string_view name, std::string_view labels,
                      const std::vector<const WorkerMetrics*>& workers, Get get) {
  std::array<std::uint64_t, LatencyHistogram::kBuckets> buckets{};
  std::uint64_t sum_micros = 0;
  for (const WorkerMetrics* w : workers) {
    const LatencyHistogram& h = get(*w);
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += h.bucket(i);
    sum_micros += h.sum_micros();
  }
  append_buckets(out, name, labels, buckets, sum_micros);
}

}  // namespace

void append_histogram(std::string& out, std::string_view name, std::string_view labels,
                      const LatencyHistogram& histogram) {
  std::array<std::uint64_t, LatencyHistogram::kBuckets> buckets{};
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] = histogram.bucket(i);
  append_buckets(out, name, labels, buckets, histogram.sum_micros());
}

void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

namespace {

// `name{labels} <value>\n`; `append_value` writes the value.
template <typename AppendValue>
void append_sample_with(std::string& out, std::string_view name, std::string_view labels,
                        AppendValue append_value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  append_value(out);
  out += '\n';
}

}  // namespace

void append_sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  append_sample_with(out, name, labels, [value](std::string& o) { append_double(o, value); });
}

void append_sample(std::string& out, std::string_view name, std::string_view labels,
                   std::uint64_t value) {
  append_sample_with(out, name, labels, [value](std::string& o) { append_uint(o, value); });
}

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void MetricsRegistry::add_worker(const WorkerMetrics& block) {
  std::lock_guard lock(mu_);
  workers_.push_back(&block);
}

std::uint16_t MetricsRegistry::edge_slot(std::string_view name) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < edge_names_.size(); ++i) {
    if (edge_names_[i] == name) return static_cast<std::uint16_t>(i);
  }
  if (edge_names_.size() >= kMaxEdgeSlots) return kNoEdgeSlot;
  edge_names_.emplace_back(name);
  return static_cast<std::uint16_t>(edge_names_.size() - 1);
}

namespace {

// The plain counters of WorkerMetrics, summed over the workers: one row each.
struct CounterRow {
  std::string_view name;
  std::string_view help;
  LocalCounter WorkerMetrics::*member;
};
constexpr CounterRow kCounters[] = {
    {"inlet_received_bytes_total", "Bytes read from client connections, heads included.",
     &WorkerMetrics::received_bytes},
    {"inlet_body_bytes_total", "Request body bytes as sent (before Content-Encoding).",
     &WorkerMetrics::body_bytes},
    {"inlet_decoded_bytes_total", "Request body bytes after Content-Encoding.",
     &WorkerMetrics::decoded_bytes},
    {"inlet_connections_accepted_total", "Client connections accepted.",
     &WorkerMetrics::connections_accepted},
    {"inlet_unrouted_total", "Authenticated messages that matched no edge.",
     &WorkerMetrics::unrouted},
    {"inlet_access_log_lines_total", "Sampled access log lines written.",
     &WorkerMetrics::access_logged},
};

// The per-edge counters: a family may take several rows, told apart by an extra label.
struct EdgeCounterRow {
  std::string_view name;
  std::string_view help;   // empty: the family's header came with an earlier row
  std::string_view label;  // `reason="full"`, or empty
  LocalCounter EdgeMetrics::*member;
};
constexpr EdgeCounterRow kEdgeCounters[] = {
    {"inlet_edge_stored_total", "Messages an edge acknowledged.", "", &EdgeMetrics::stored},
    {"inlet_edge_failed_total",
     "Messages an edge refused: full (in-flight budget) or unavailable (down past its retry "
     "budget).",
     "reason=\"full\"", &EdgeMetrics::full},
    {"inlet_edge_failed_total", "", "reason=\"unavailable\"", &EdgeMetrics::unavailable},
};

using Workers = std::vector<const WorkerMetrics*>;

// A counter family with one series per index of a per-worker array, labelled `key="<name>"`.
template <class Name, class Get>
void append_indexed(std::string& out, std::string_view family, std::string_view help,
                    std::string_view key, std::size_t count, const Workers& w, Name name_of,
                    Get get) {
  append_metric_header(out, family, "counter", help);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string_view name = name_of(i);
    if (name.empty()) continue;
    append_sample(out, family, std::string(key) + "=\"" + std::string(name) + "\"",
                  sum(w, [&](const WorkerMetrics& m) { return get(m, i); }));
  }
}

void append_request_families(std::string& out, const Workers& w) {
  append_metric_header(out, "inlet_requests_total", "counter", "Answers sent, by HTTP status.");
  for (std::size_t status = 0; status < WorkerMetrics::kStatuses; ++status) {
    const std::uint64_t n =
        sum(w, [&](const WorkerMetrics& m) { return m.responses[status].get(); });
    if (n == 0 && status != 200) continue;
    std::string labels = "status=\"";
    append_uint(labels, status);
    labels += '"';
    append_sample(out, "inlet_requests_total", labels, n);
  }
  append_indexed(
      out, "inlet_rejects_total", "Refused requests, by reason.", "reason",
      static_cast<std::size_t>(Reject::kCount), w,
      [](std::size_t r) { return describe(static_cast<Reject>(r)).label; },
      [](const WorkerMetrics& m, std::size_t r) { return m.rejects[r].get(); });
  append_indexed(
      out, "inlet_authenticator_results_total",
      "Authenticator chain outcomes (timeout: the authenticator ran past timeout_ms).", "result",
      kAuthResultNames.size(), w, [](std::size_t r) { return kAuthResultNames[r]; },
      [](const WorkerMetrics& m, std::size_t r) { return m.auth_results[r].get(); });
  for (const CounterRow& row : kCounters) {
    append_metric_header(out, row.name, "counter", row.help);
    append_sample(out, row.name, {}, sum(w, [&](const WorkerMetrics& m) {
                    return (m.*row.member).get();
                  }));
  }
}

void append_stage_histograms(std::string& out, const Workers& w) {
  append_metric_header(out, "inlet_stage_duration_seconds", "histogram",
                       "Time per request stage: read (first byte to body complete), decode (and "
                       "validate), authenticate, enqueue (store to every edge's ack).");
  for (std::size_t s = 0; s < static_cast<std::size_t>(Stage::kTotal); ++s) {
    append_histogram(
        out, "inlet_stage_duration_seconds", "stage=\"" + std::string(kStageNames[s]) + "\"", w,
        [&](const WorkerMetrics& m) -> const LatencyHistogram& { return m.stages[s]; });
  }
  append_metric_header(out, "inlet_request_duration_seconds", "histogram",
                       "First byte of a request to its answer.");
  append_histogram(out, "inlet_request_duration_seconds", {}, w,
                   [](const WorkerMetrics& m) -> const LatencyHistogram& {
                     return m.stages[static_cast<std::size_t>(Stage::kTotal)];
                   });
}

void append_edge_families(std::string& out, const Workers& w,
                          const std::vector<std::string>& edge_names) {
  std::vector<std::string> edges;  // `edge="<name>"` by slot
  for (const std::string& name : edge_names) edges.push_back("edge=\"" + escape_label(name) + "\"");
  for (const EdgeCounterRow& row : kEdgeCounters) {
    if (!row.help.empty()) append_metric_header(out, row.name, "counter", row.help);
    for (std::size_t e = 0; e < edges.size(); ++e) {
      append_sample(out, row.name, row.label.empty() ? edges[e] : edges[e] + "," + std::string(row.label),
                    sum(w, [&](const WorkerMetrics& m) { return (m.edges[e].*row.member).get(); }));
    }
  }
  append_metric_header(out, "inlet_edge_in_flight", "gauge",
                       "Messages handed to an edge and not yet acknowledged.");
  for (std::size_t e = 0; e < edges.size(); ++e) {
    // Read the completions first: a store that completes between the two reads then shows as in
    // flight rather than as a negative count.
    const std::uint64_t done = sum(w, [&](const WorkerMetrics& m) {
      return m.edges[e].stored.get() + m.edges[e].full.get() + m.edges[e].unavailable.get();
    });
    const std::uint64_t sent =
        sum(w, [&](const WorkerMetrics& m) { return m.edges[e].sent.get(); });
    append_sample(out, "inlet_edge_in_flight", edges[e], sent > done ? sent - done : 0);
  }
  append_metric_header(
      out, "inlet_edge_store_duration_seconds", "histogram",
      "Time from a message's store to the edge's acknowledgement (group-commit wait "
      "included).");
  for (std::size_t e = 0; e < edges.size(); ++e) {
    append_histogram(out, "inlet_edge_store_duration_seconds", edges[e], w,
                     [&](const WorkerMetrics& m) -> const LatencyHistogram& {
                       return m.edges[e].store_latency;
                     });
  }
}

}  // namespace

std::uint64_t MetricsRegistry::tls_handshakes(TlsHandshake result) const {
  std::lock_guard lock(mu_);
  return sum(workers_, [&](const WorkerMetrics& m) {
    return m.tls_handshakes[static_cast<std::size_t>(result)].get();
  });
}

void MetricsRegistry::render(std::string& out) const {
  std::lock_guard lock(mu_);
  append_request_families(out, workers_);
  append_stage_histograms(out, workers_);
  append_edge_families(out, workers_, edge_names_);
}

}  // namespace inlet::runtime
