#include "runtime/requirements_install.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>

extern char** environ;

namespace inlet::runtime {

int install_requirements(const std::vector<std::string>& requirements, const std::string& target,
                         const std::vector<std::string>& pip_args) {
  // The interpreter inlet embeds: the packages must be built for its Python version.
  std::vector<std::string> args = {INLET_PYTHON_EXECUTABLE, "-m", "pip", "install", "--no-input",
                                   "--disable-pip-version-check", "--upgrade", "--target", target};
  args.insert(args.end(), pip_args.begin(), pip_args.end());
  args.insert(args.end(), requirements.begin(), requirements.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return 127;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace inlet::runtime
