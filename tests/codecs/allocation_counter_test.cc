#include "allocation_counter.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

namespace inlet::codecs::testing {
namespace {

thread_local bool counting = false;
thread_local AllocationStats stats;

void* counted_allocate(std::size_t size) noexcept {
  if (counting) {
    ++stats.count;
    if (size > stats.largest) stats.largest = size;
  }
  return std::malloc(size == 0 ? 1 : size);
}

}  // namespace

void start_counting_allocations() {
  stats = {};
  counting = true;
}

AllocationStats stop_counting_allocations() {
  counting = false;
  return stats;
}

TEST(AllocationCounter, SeesStringAllocations) {
  start_counting_allocations();
  std::string s;
  s.reserve(1000);
  const AllocationStats seen = stop_counting_allocations();
  EXPECT_EQ(seen.count, 1u);
  EXPECT_GE(seen.largest, 1001u);
}

}  // namespace inlet::codecs::testing

void* operator new(std::size_t size) {
  if (void* p = inlet::codecs::testing::counted_allocate(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = inlet::codecs::testing::counted_allocate(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return inlet::codecs::testing::counted_allocate(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return inlet::codecs::testing::counted_allocate(size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
