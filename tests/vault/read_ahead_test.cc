// vault/read_ahead.h: items come back in order, no more than depth + 1 reads are in flight,
// and destroying the reader waits for the reads it started (they refer to the caller's
// state, such as the chunk ids and the vault).

#include "vault/read_ahead.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

namespace evault::vault {
namespace {

using namespace std::chrono_literals;

TEST(ReadAheadTest, ItemsComeBackInOrderWhateverTheReadTimes) {
  constexpr std::size_t kCount = 40;
  ReadAhead<std::string> reader(kCount, 3, [](std::size_t i) {
    std::this_thread::sleep_for(std::chrono::microseconds((kCount - i) % 7 * 300));  // later ones finish first
    return "item " + std::to_string(i);
  });
  for (std::size_t i = 0; i < kCount; ++i) EXPECT_EQ(reader.Next(), "item " + std::to_string(i));
}

TEST(ReadAheadTest, NoMoreThanDepthPlusOneReadsAreInFlight) {
  std::atomic<int> in_flight{0}, most{0};
  std::atomic<std::size_t> started{0};
  constexpr std::size_t kDepth = 3;
  ReadAhead<std::size_t> reader(30, kDepth, [&](std::size_t i) {
    const int now = ++in_flight;
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    ++started;
    std::this_thread::sleep_for(2ms);
    --in_flight;
    return i;
  });
  for (std::size_t i = 0; i < 30; ++i) {
    ASSERT_EQ(reader.Next(), i);
    // Item i is consumed: reads up to i + 1 + kDepth may have been asked for, no further.
    EXPECT_LE(started.load(), i + 1 + kDepth);
  }
  EXPECT_LE(most.load(), static_cast<int>(kDepth + 1));
  EXPECT_GE(most.load(), 2) << "nothing was read ahead";
}

TEST(ReadAheadTest, DestroyingItWaitsForTheReadsInFlight) {
  std::atomic<int> finished{0};
  {
    std::vector<int> caller_state(8, 1);  // what the reads refer to, gone right after the reader
    ReadAhead<int> reader(8, 4, [&](std::size_t i) {
      std::this_thread::sleep_for(20ms);
      ++finished;
      return caller_state[i];
    });
    EXPECT_EQ(reader.Next(), 1);  // then stop early, as a failed write does
  }
  // Item 0 and the four read ahead of it: all finished before the reader was gone.
  EXPECT_EQ(finished.load(), 5);
}

}  // namespace
}  // namespace evault::vault
