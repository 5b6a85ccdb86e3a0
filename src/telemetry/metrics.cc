#include "telemetry/metrics.h"

#include <cmath>
#include <cstdio>

namespace agentd::telemetry {
namespace {

void AtomicAdd(std::atomic<double>& target, double by) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + by, std::memory_order_relaxed)) {
  }
}

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string EscapeLabel(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string LabelText(const std::vector<std::string>& names, const LabelValues& values,
                      const std::string& extra_name = "", const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!out.empty()) out += ",";
    out += names[i] + "=\"" + EscapeLabel(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    if (!out.empty()) out += ",";
    out += extra_name + "=\"" + extra_value + "\"";
  }
  return out.empty() ? "" : "{" + out + "}";
}

}  // namespace

void Counter::Inc(double by) {
  if (by < 0) return;  // counters only go up
  AtomicAdd(value_, by);
}

void Gauge::Add(double by) { AtomicAdd(value_, by); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_->size() && value > (*bounds_)[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_->size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

template <typename T>
T& Family<T>::WithLabels(const LabelValues& values) {
  std::lock_guard lock(mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<T> child;
  if constexpr (std::is_same_v<T, Histogram>) {
    child = std::make_unique<T>(&bounds_);
  } else {
    child = std::make_unique<T>();
  }
  T& ref = *child;
  children_.emplace(values, std::move(child));
  return ref;
}

template <typename T>
std::vector<std::pair<LabelValues, const T*>> Family<T>::Children() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<LabelValues, const T*>> out;
  for (const auto& [labels, child] : children_) out.emplace_back(labels, child.get());
  return out;
}

template <typename T>
void Family<T>::Clear() {
  std::lock_guard lock(mu_);
  children_.clear();
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  counters_.push_back(
      std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(label_names)));
  order_.emplace_back('c', counters_.size() - 1);
  return *counters_.back();
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  gauges_.push_back(
      std::make_unique<Family<Gauge>>(std::move(name), std::move(help), std::move(label_names)));
  order_.emplace_back('g', gauges_.size() - 1);
  return *gauges_.back();
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  histograms_.push_back(std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(label_names), std::move(bounds)));
  order_.emplace_back('h', histograms_.size() - 1);
  return *histograms_.back();
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (auto [kind, index] : order_) {
    if (kind == 'c') {
      const auto& f = *counters_[index];
      out += "# HELP " + f.name() + " " + f.help() + "\n# TYPE " + f.name() + " counter\n";
      for (const auto& [labels, c] : f.Children()) {
        out += f.name() + LabelText(f.label_names(), labels) + " " + FormatValue(c->Value()) + "\n";
      }
    } else if (kind == 'g') {
      const auto& f = *gauges_[index];
      out += "# HELP " + f.name() + " " + f.help() + "\n# TYPE " + f.name() + " gauge\n";
      for (const auto& [labels, g] : f.Children()) {
        out += f.name() + LabelText(f.label_names(), labels) + " " + FormatValue(g->Value()) + "\n";
      }
    } else {
      const auto& f = *histograms_[index];
      out += "# HELP " + f.name() + " " + f.help() + "\n# TYPE " + f.name() + " histogram\n";
      for (const auto& [labels, h] : f.Children()) {
        auto counts = h->BucketCounts();
        for (size_t i = 0; i < counts.size(); ++i) {
          std::string le = i < f.bounds().size() ? FormatValue(f.bounds()[i]) : "+Inf";
          out += f.name() + "_bucket" + LabelText(f.label_names(), labels, "le", le) + " " +
                 std::to_string(counts[i]) + "\n";
        }
        out += f.name() + "_sum" + LabelText(f.label_names(), labels) + " " +
               FormatValue(h->Sum()) + "\n";
        out += f.name() + "_count" + LabelText(f.label_names(), labels) + " " +
               std::to_string(h->Count()) + "\n";
      }
    }
  }
  return out;
}

const std::vector<double>& RunDurationBuckets() {
  static const std::vector<double> b = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200};
  return b;
}
const std::vector<double>& HttpLatencyBuckets() {
  static const std::vector<double> b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5, 10};
  return b;
}
const std::vector<double>& CostBuckets() {
  static const std::vector<double> b = {0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100};
  return b;
}

}  // namespace agentd::telemetry
