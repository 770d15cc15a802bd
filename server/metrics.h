// Prometheus metrics kept in memory: counter and histogram families with labels, and
// gauges computed when scraped, rendered in the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Label values must come from fixed sets the code names (method names, status codes),
// never from a request: every distinct value is a series kept for the life of the
// process, and what a request carries (vault ids, keys) is not the operator's to see.
// A family's number of labels is part of its type, so a call cannot give too few.
// Everything is thread-safe; a family lives as long as its registry.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace evault::server {

// One metric name with its help text and label names. Subclasses keep the series.
class MetricFamily {
 public:
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~MetricFamily() = default;
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  // Appends "# HELP", "# TYPE" and every series.
  void Render(std::string& out) const;

 protected:
  virtual std::string_view type() const = 0;
  virtual void RenderSeries(std::string& out) const = 0;  // called under mu_
  // name<suffix>{label="value",...[,extra]} value
  void RenderSample(std::string& out, std::string_view suffix, std::span<const std::string> values,
                    std::string_view extra, double value) const;

  mutable std::mutex mu_;

 private:
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
};

template <std::size_t N>
using LabelValues = std::array<std::string, N>;

template <std::size_t N>
class Counter final : public MetricFamily {
 public:
  Counter(std::string name, std::string help, std::array<std::string, N> label_names)
      : MetricFamily(std::move(name), std::move(help), {label_names.begin(), label_names.end()}) {}

  // Adds `by` (>= 0) to the series; a series starts at 0 the first time it is named.
  void Add(const LabelValues<N>& values, double by = 1) {
    std::lock_guard lock(mu_);
    series_[values] += by;
  }

 private:
  std::string_view type() const override { return "counter"; }
  void RenderSeries(std::string& out) const override {
    for (const auto& [values, value] : series_) RenderSample(out, "", values, "", value);
  }

  std::map<LabelValues<N>, double> series_;
};

// What every Histogram<N> shares: its bucket bounds and how a series is kept and shown.
class HistogramFamily : public MetricFamily {
 protected:
  // `upper_bounds`: increasing; a +Inf bucket is implied.
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds);

  struct Series {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; the last is +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  void Record(Series& series, double value) const;  // the caller holds mu_
  // The _bucket lines (cumulative, with "le"), then _sum and _count.
  void RenderOne(std::string& out, std::span<const std::string> values, const Series& series) const;

 private:
  std::string_view type() const override { return "histogram"; }

  const std::vector<double> upper_bounds_;
};

template <std::size_t N>
class Histogram final : public HistogramFamily {
 public:
  Histogram(std::string name, std::string help, std::array<std::string, N> label_names,
            std::vector<double> upper_bounds)
      : HistogramFamily(std::move(name), std::move(help), {label_names.begin(), label_names.end()},
                        std::move(upper_bounds)) {}

  void Observe(const LabelValues<N>& values, double value) {
    std::lock_guard lock(mu_);
    Record(series_[values], value);
  }

 private:
  void RenderSeries(std::string& out) const override {
    for (const auto& [values, series] : series_) RenderOne(out, values, series);
  }

  std::map<LabelValues<N>, Series> series_;
};

// A gauge without labels, computed at scrape time.
struct GaugeSample {
  std::string name, help;
  double value = 0;
};

class MetricsRegistry {
 public:
  template <std::size_t N>
  Counter<N>& AddCounter(std::string name, std::string help, std::array<std::string, N> label_names) {
    return Add(std::make_unique<Counter<N>>(std::move(name), std::move(help), std::move(label_names)));
  }
  template <std::size_t N>
  Histogram<N>& AddHistogram(std::string name, std::string help, std::array<std::string, N> label_names,
                             std::vector<double> upper_bounds) {
    return Add(std::make_unique<Histogram<N>>(std::move(name), std::move(help), std::move(label_names),
                                              std::move(upper_bounds)));
  }
  // `collect` is called at every Render, on the scraping thread.
  void AddGauges(std::function<std::vector<GaugeSample>()> collect);

  // The exposition text: the families in the order added, then the gauges.
  std::string Render() const;

 private:
  template <typename F>
  F& Add(std::unique_ptr<F> family) {
    F& ref = *family;
    std::lock_guard lock(mu_);
    families_.push_back(std::move(family));
    return ref;
  }

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_;
  std::vector<std::function<std::vector<GaugeSample>()>> gauges_;
};

// Prometheus's number syntax: the shortest decimal that reads back exactly, "+Inf",
// "-Inf", "NaN".
std::string FormatMetricValue(double value);

}  // namespace evault::server
