// A small Prometheus metrics registry: counter, gauge and histogram families with labels,
// rendered in the text exposition format (version 0.0.4).
//
// Families are created once (at start, by the component that owns them) and kept as references;
// WithLabels() finds or creates a child. All operations are thread-safe; increments are atomic and
// lock-free after the child exists.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace agentd::telemetry {

using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void Inc(double by = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double by);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double value);
  // Cumulative counts per bound (last entry is +Inf), sum and count, read consistently enough
  // for scraping.
  std::vector<uint64_t> BucketCounts() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}
  // The child for these label values (one per label name, in order).
  T& WithLabels(const LabelValues& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& bounds() const { return bounds_; }
  // Snapshot of children for rendering.
  std::vector<std::pair<LabelValues, const T*>> Children() const;
  void Clear();  // drops every child (for gauges recomputed from scratch)

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<T>> children_;
};

class Registry {
 public:
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds);
  // Text exposition format, families in registration order.
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::vector<std::pair<char, size_t>> order_;  // ('c'|'g'|'h', index)
};

// Bucket bounds in seconds for run durations (1 s .. 2 h) and HTTP latencies (0.5 ms .. 10 s).
const std::vector<double>& RunDurationBuckets();
const std::vector<double>& HttpLatencyBuckets();
const std::vector<double>& CostBuckets();  // dollars, 0.001 .. 100

}  // namespace agentd::telemetry
