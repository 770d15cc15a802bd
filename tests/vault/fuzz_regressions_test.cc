// Inputs the fuzz targets (fuzz/) found to break a vault parser, kept as regression
// tests: each must now be refused with an error, not an exception.
#include <gtest/gtest.h>

#include <string>

#include "vault/record.h"

namespace evault::vault {
namespace {

// fuzz/record_json: a number too large for a double made nlohmann throw out_of_range
// (not parse_error), which escaped ParseRecordJson; its message quotes the number.
TEST(FuzzRegressions, RecordJsonWithAnOverflowingNumberIsRefused) {
  for (const std::string text : {R"({"kind":"k","title":"t","narrative":1e999})", R"([-1E400])", "1e309"}) {
    Result<nlohmann::json> parsed = nlohmann::json();
    EXPECT_NO_THROW(parsed = ParseRecordJson(text)) << text;
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(parsed.error().message.find("e999"), std::string::npos) << "the input must not be echoed";
  }
}

}  // namespace
}  // namespace evault::vault
