// The embedded interpreter's Python runtime (python/inlet/_runtime.py), compiled into the binary so
// an installed inlet needs no Python files of its own.
#include "python/runtime_source.h"

// NOLINTNEXTLINE: .incbin is the portable way (GCC 12 has no #embed) to include a file verbatim.
asm(".section .rodata\n"
    ".global inlet_python_runtime_source\n"
    ".type inlet_python_runtime_source, @object\n"
    "inlet_python_runtime_source:\n"
    ".incbin \"" INLET_PYTHON_SOURCE_DIR "/inlet/_runtime.py\"\n"
    ".byte 0\n"
    ".previous\n");
