#include "runtime/cli.h"

int main(int argc, char** argv) { return inlet::runtime::run_cli(argc, argv); }
