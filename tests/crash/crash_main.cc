// The crash-consistency binary is its own worker: run as `--crash-child ...` it performs
// vault operations in a loop until the test kills it (crash_child.cc); otherwise it runs
// the tests. A fresh exec, not a bare fork, so the worker starts without the parent's
// RocksDB threads.
#include <cstring>

#include <gtest/gtest.h>

namespace evault::crash_test {
int RunCrashChild(int argc, char** argv);
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--crash-child") == 0) return evault::crash_test::RunCrashChild(argc - 2, argv + 2);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
