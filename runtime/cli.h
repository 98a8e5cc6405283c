// The `inlet` command line: serve, check, test, queue read, --help, --version.
#pragma once

namespace inlet::runtime {

int run_cli(int argc, char** argv);

}  // namespace inlet::runtime
