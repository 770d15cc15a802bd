// A strict reader of the Prometheus text format 0.0.4, for tests: what a scraper would
// make of the server's /metrics, so that tests check values, not substrings. A line it
// cannot read, a sample before its family's # TYPE or a family typed twice fails the test.
#pragma once

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace evault::server::testing {

struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct MetricsText {
  std::map<std::string, std::string> types;  // family name -> counter, histogram, gauge
  std::vector<MetricSample> samples;

  // The value of the sample with exactly these labels; nullopt if there is none.
  std::optional<double> Find(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
  // Find, with 0 for an absent sample (a counter never incremented).
  double Value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    return Find(name, labels).value_or(0);
  }
};

inline std::optional<double> ParseMetricNumber(const std::string& text) {
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return std::nan("");
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) return std::nullopt;
  return v;
}

// Label values as the format escapes them: \\, \" and \n.
inline std::optional<std::map<std::string, std::string>> ParseMetricLabels(const std::string& text) {
  static const std::regex kName("[a-zA-Z_][a-zA-Z0-9_]*");
  std::map<std::string, std::string> labels;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto eq = text.find('=', i);
    if (eq == std::string::npos || eq + 1 >= text.size() || text[eq + 1] != '"') return std::nullopt;
    const std::string name = text.substr(i, eq - i);
    if (!std::regex_match(name, kName) || labels.contains(name)) return std::nullopt;
    std::string value;
    std::size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\') {
        if (++j >= text.size()) return std::nullopt;
        if (text[j] == 'n') {
          value.push_back('\n');
        } else if (text[j] == '\\' || text[j] == '"') {
          value.push_back(text[j]);
        } else {
          return std::nullopt;
        }
      } else {
        value.push_back(text[j]);
      }
    }
    if (j >= text.size()) return std::nullopt;
    labels.emplace(name, std::move(value));
    i = j + 1;
    if (i < text.size()) {
      if (text[i] != ',') return std::nullopt;
      ++i;
    }
  }
  return labels;
}

inline MetricsText ParseMetricsText(const std::string& text) {
  static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+))");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  MetricsText out;
  std::size_t start = 0;
  if (!text.empty() && text.back() != '\n') ADD_FAILURE() << "the text does not end with a newline";
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    std::smatch m;
    if (line.starts_with("# HELP ")) continue;
    if (line.starts_with("# TYPE ")) {
      if (!std::regex_match(line, m, kType)) {
        ADD_FAILURE() << "bad TYPE line: " << line;
      } else if (!out.types.emplace(m[1], m[2]).second) {
        ADD_FAILURE() << "family typed twice: " << line;
      }
      continue;
    }
    if (!std::regex_match(line, m, kSample)) {
      ADD_FAILURE() << "unreadable line: " << line;
      continue;
    }
    MetricSample sample;
    sample.name = m[1];
    const auto labels = ParseMetricLabels(m[3]);
    const auto value = ParseMetricNumber(m[4]);
    if (!labels || !value) {
      ADD_FAILURE() << "unreadable sample: " << line;
      continue;
    }
    sample.labels = *labels;
    sample.value = *value;
    // A histogram's samples carry a suffix on the family's name.
    std::string family = sample.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!out.types.contains(family) && family.ends_with(suffix)) family.resize(family.size() - std::strlen(suffix));
    }
    if (!out.types.contains(family)) ADD_FAILURE() << "sample before its # TYPE: " << line;
    out.samples.push_back(std::move(sample));
  }
  return out;
}

}  // namespace evault::server::testing
