#include "server/metrics.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <fmt/core.h>

namespace evault::server {

namespace {

// HELP text escapes backslash and newline; label values also the double quote.
void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

MetricFamily::MetricFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void MetricFamily::Render(std::string& out) const {
  out += "# HELP " + name_ + " ";
  AppendEscaped(out, help_, false);
  out += "\n# TYPE " + name_ + " ";
  out += type();
  out += "\n";
  std::lock_guard lock(mu_);
  RenderSeries(out);
}

void MetricFamily::RenderSample(std::string& out, std::string_view suffix, std::span<const std::string> values,
                                std::string_view extra, double value) const {
  out += name_;
  out += suffix;
  if (!label_names_.empty() || !extra.empty()) {
    out.push_back('{');
    for (std::size_t i = 0; i < label_names_.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += label_names_[i] + "=\"";
      AppendEscaped(out, values[i], true);
      out.push_back('"');
    }
    if (!extra.empty()) {
      if (!label_names_.empty()) out.push_back(',');
      out += extra;
    }
    out.push_back('}');
  }
  out.push_back(' ');
  out += FormatMetricValue(value);
  out.push_back('\n');
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                 std::vector<double> upper_bounds)
    : MetricFamily(std::move(name), std::move(help), std::move(label_names)), upper_bounds_(std::move(upper_bounds)) {}

void HistogramFamily::Record(Series& series, double value) const {
  if (series.counts.empty()) series.counts.resize(upper_bounds_.size() + 1);
  // "le": a value equal to a bound belongs to that bound's bucket.
  const auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin();
  ++series.counts[static_cast<std::size_t>(bucket)];
  series.sum += value;
  ++series.count;
}

void HistogramFamily::RenderOne(std::string& out, std::span<const std::string> values, const Series& series) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < series.counts.size(); ++i) {
    cumulative += series.counts[i];
    const double bound = i < upper_bounds_.size() ? upper_bounds_[i] : INFINITY;
    RenderSample(out, "_bucket", values, "le=\"" + FormatMetricValue(bound) + "\"", static_cast<double>(cumulative));
  }
  RenderSample(out, "_sum", values, "", series.sum);
  RenderSample(out, "_count", values, "", static_cast<double>(series.count));
}

void MetricsRegistry::AddGauges(std::function<std::vector<GaugeSample>()> collect) {
  std::lock_guard lock(mu_);
  gauges_.push_back(std::move(collect));
}

std::string MetricsRegistry::Render() const {
  std::lock_guard lock(mu_);
  // Gauges first: collecting may count into a family (a failure to read them).
  std::vector<GaugeSample> gauges;
  for (const auto& collect : gauges_) std::ranges::move(collect(), std::back_inserter(gauges));
  std::string out;
  for (const auto& family : families_) family->Render(out);
  for (const GaugeSample& g : gauges) {
    {
      out += "# HELP " + g.name + " ";
      AppendEscaped(out, g.help, false);
      out += "\n# TYPE " + g.name + " gauge\n" + g.name + " " + FormatMetricValue(g.value) + "\n";
    }
  }
  return out;
}

}  // namespace evault::server
