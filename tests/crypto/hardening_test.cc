// Process hardening: after DisableCoreDumps the process can neither dump core nor be
// read by same-uid debuggers. (ctest runs every test in its own process, so this does
// not affect other tests.)
#include "crypto/hardening.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace evault::crypto {
namespace {

TEST(HardeningTest, DisableCoreDumps) {
  auto status = DisableCoreDumps();
  ASSERT_TRUE(status.has_value()) << status.error().message;
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
  struct rlimit limit {};
  ASSERT_EQ(getrlimit(RLIMIT_CORE, &limit), 0);
  EXPECT_EQ(limit.rlim_cur, 0u);
  EXPECT_EQ(limit.rlim_max, 0u);  // the hard limit too, so it cannot be raised again
  // Idempotent.
  EXPECT_TRUE(DisableCoreDumps().has_value());
  // Without CAP_SYS_RESOURCE the hard limit cannot be raised back (root can).
  if (geteuid() != 0) {
    struct rlimit raise_it = {RLIM_INFINITY, RLIM_INFINITY};
    EXPECT_NE(setrlimit(RLIMIT_CORE, &raise_it), 0) << "core dumps could be re-enabled";
  }
}

}  // namespace
}  // namespace evault::crypto
