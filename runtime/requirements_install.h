// `inlet requirements install`: the Python authenticator's requirements, installed with pip into
// a node-local directory (never the system's site-packages), which the node puts on sys.path.
#pragma once

#include <string>
#include <vector>

namespace inlet::runtime {

// Runs `<python> -m pip install --target DIR --upgrade <pip_args...> <requirements...>` with its
// output on ours; returns pip's exit code (127 when it cannot run). Blocks until pip is done.
int install_requirements(const std::vector<std::string>& requirements, const std::string& target,
                         const std::vector<std::string>& pip_args);

}  // namespace inlet::runtime
