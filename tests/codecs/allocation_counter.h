// Counts C++ heap allocations made by this test binary (global operator new is replaced in
// allocation_counter_test.cc). zlib and brotli allocate with malloc and are not counted.
#pragma once

#include <cstddef>

namespace inlet::codecs::testing {

struct AllocationStats {
  std::size_t count = 0;
  std::size_t largest = 0;
};

// Starts counting from zero on this thread.
void start_counting_allocations();
AllocationStats stop_counting_allocations();

}  // namespace inlet::codecs::testing
