#include "runtime/server/edge_queues.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/log.h"

namespace inlet::runtime {

void EdgeQueues::refuse_changed_settings(const NodeConfig& config) const {
  for (const EdgeConfig* written : written_edges(config)) {
    const EdgeConfig& edge = *written;
    const auto it = queues_.find(edge.name);
    if (it != queues_.end() && it->second.fingerprint != edge.queue.fingerprint) {
      throw std::runtime_error("edge '" + edge.name +
                               "': its queue settings changed; restart the node to apply them");
    }
    for (const RetiredQueue& old : retired_) {
      if (old.name == edge.name && old.open.fingerprint != edge.queue.fingerprint) {
        throw std::runtime_error(
            "edge '" + edge.name +
            "' was removed and its old queue is still finishing; retry the reload");
      }
    }
  }
}

// A retired queue with the same settings comes back as it is: it may still hold messages.
std::map<std::string, EdgeQueues::OpenQueue> EdgeQueues::open_new_edges(const NodeConfig& config) {
  std::map<std::string, OpenQueue> opened;
  try {
    for (const EdgeConfig* written : written_edges(config)) {
      const EdgeConfig& edge = *written;
      if (queues_.count(edge.name) != 0) continue;
      const auto old = std::find_if(retired_.begin(), retired_.end(),
                                    [&](const RetiredQueue& r) { return r.name == edge.name; });
      if (old != retired_.end()) {
        opened[edge.name] = std::move(old->open);
        retired_.erase(old);
      } else {
        opened[edge.name] = OpenQueue{edge.queue.open(), edge.queue.fingerprint};
      }
    }
  } catch (...) {
    for (auto& [name, open] : opened) open.queue->close();
    throw;
  }
  return opened;
}

void EdgeQueues::retire_removed_edges(const NodeConfig& config) {
  const std::vector<const EdgeConfig*> edges = written_edges(config);
  for (auto it = queues_.begin(); it != queues_.end();) {
    const bool kept = std::any_of(edges.begin(), edges.end(),
                                  [&](const EdgeConfig* e) { return e->name == it->first; });
    if (kept) {
      ++it;
    } else {
      retired_.push_back(RetiredQueue{it->first, std::move(it->second)});
      it = queues_.erase(it);
    }
  }
}

std::shared_ptr<const Pipeline> EdgeQueues::build_pipeline(
    std::shared_ptr<const NodeConfig> config) {
  refuse_changed_settings(*config);
  if (generations_.empty() && config->dedup) {
    dedup_ = std::make_unique<Dedup>(*config->dedup);
    dedup_fingerprint_ = config->dedup_fingerprint;
    log_info("dedup_loaded", {{"dir", config->dedup->dir.string()}, {"key", config->dedup->key_text},
                              {"keys", static_cast<std::uint64_t>(dedup_->loaded())}});
  } else if (config->dedup_fingerprint != dedup_fingerprint_) {
    throw std::runtime_error("dedup: changed; restart the process to apply it");
  }
  auto built = std::make_shared<Pipeline>();
  built->dedup = dedup_.get();
  built->config = config;
  built->authenticator = make_authenticator_chain(*config);
  for (auto& [name, open] : open_new_edges(*config)) queues_[name] = std::move(open);
  for (const EdgeConfig& edge : config->edges) {
    built->edges.push_back(EdgeRoute{edge.name, edge.filter.get(), queues_[edge.name].queue.get(),
                                     metrics_.edge_slot(edge.name), edge.queue.key.get()});
  }
  retire_removed_edges(*config);
  generations_.push_back(built);
  return built;
}

void EdgeQueues::close_retired() {
  std::erase_if(generations_, [](const std::weak_ptr<const Pipeline>& g) { return g.expired(); });
  std::erase_if(retired_, [&](RetiredQueue& old) {
    for (const auto& generation : generations_) {
      const auto live = generation.lock();
      if (!live) continue;
      for (const EdgeRoute& edge : live->edges) {
        if (edge.queue == old.open.queue.get()) return false;
      }
    }
    old.open.queue->close();
    log_info("edge_closed", {{"edge", old.name}});
    return true;
  });
}

Queue* EdgeQueues::queue(const std::string& edge) const {
  const auto it = queues_.find(edge);
  return it == queues_.end() ? nullptr : it->second.queue.get();
}

void EdgeQueues::close_all() {
  for (auto& [name, open] : queues_) open.queue->close();
  for (auto& old : retired_) old.open.queue->close();
  if (dedup_) dedup_->close();
}

}  // namespace inlet::runtime
