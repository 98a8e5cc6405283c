// The text of python/inlet/_runtime.py, NUL-terminated, embedded by runtime_source.cc.
#pragma once

extern "C" const char inlet_python_runtime_source[];
