// The case data model (after HURIDOCS Events Standard Formats) and its strict parser.
//
// Record input is JSON with exactly these fields ("kind" and "title" required):
//   kind, title,
//   occurred {from, to, precision}, location {country, region, city, place},
//   people [{name, role, affiliation, notes}],
//   legal {charges [{code, article, description}], court, outcome, sentence},
//   narrative, sources [{kind, reference, reliability}], tags [string]
// Dates are ISO 8601 of any precision: YYYY, YYYY-MM, YYYY-MM-DD or
// YYYY-MM-DDThh:mm[:ss](Z|±hh:mm). An unknown field, a wrong type or invalid JSON is
// rejected with a message that names the field path or the line and column — never a
// value from the input, since the input is evidence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/status.h"

namespace evault::vault {

inline constexpr std::size_t kMaxRecordJsonBytes = 4 << 20;

// Parses and validates record JSON; returns the normalized record (sorted keys,
// empty optional members dropped).
Result<nlohmann::json> ParseRecordJson(std::string_view text);

// Validates an already-parsed record (used when reading stored revisions back).
Status ValidateRecord(const nlohmann::json& record);

// The record's flat fields: every string outside a list, as a dotted path ("kind",
// "occurred.from", "location.city", "legal.court", ...), in schema order. These are
// the columns a CSV import may name; lists (people, sources, tags, legal.charges) are not.
const std::vector<std::string>& FlatRecordFields();

// Every human-readable string in a record, for the search index.
std::vector<std::string> RecordText(const nlohmann::json& record);

// Canonical serialization: sorted keys, no insignificant whitespace, UTF-8 as is.
std::string CanonicalJson(const nlohmann::json& value);

// Checks a case title or tag: non-empty valid UTF-8 without control characters.
Status ValidateLabel(std::string_view what, std::string_view text, std::size_t max_bytes);

}  // namespace evault::vault
