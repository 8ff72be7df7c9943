#include "runtime/buffer_plans.h"

namespace fx {

namespace {

void add_tensor(std::vector<int64_t>& sig, const at::Tensor& t) {
  sig.push_back(1);
  if (!t.defined()) return sig.push_back(-1);
  sig.push_back(static_cast<int64_t>(t.scalar_type()));
  sig.push_back(static_cast<int64_t>(t.device().type()));
  sig.push_back(t.device().index());
  sig.push_back(t.dim());
  for (int64_t s : t.sizes()) sig.push_back(s);
  if (t.layout() == c10::kStrided)
    for (int64_t s : t.strides()) sig.push_back(s);
}

void add_value(std::vector<int64_t>& sig, const c10::IValue& v) {
  if (v.isTensor()) return add_tensor(sig, v.toTensor());
  if (v.isInt()) {
    sig.push_back(2);
    return sig.push_back(v.toInt());
  }
  if (v.isTensorList()) {
    c10::List<at::Tensor> list = v.toTensorList();
    sig.push_back(3);
    sig.push_back(static_cast<int64_t>(list.size()));
    for (const at::Tensor& t : list) add_tensor(sig, t);
    return;
  }
  sig.push_back(4);  // other values do not enter the signature
}

}  // namespace

std::shared_ptr<BufferPool> BufferPlans::pool_for(const std::vector<c10::IValue>& inputs) {
  std::vector<int64_t> sig;
  for (const c10::IValue& v : inputs) add_value(sig, v);
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].first != sig) continue;
    if (i != 0) std::rotate(entries_.begin(), entries_.begin() + i, entries_.begin() + i + 1);
    return entries_.front().second;
  }
  if (entries_.size() == capacity_) entries_.pop_back();
  entries_.insert(entries_.begin(), {std::move(sig), BufferPool::create()});
  return entries_.front().second;
}

void BufferPlans::release() {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.clear();
}

size_t BufferPlans::plans() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

BufferPool::Stats BufferPlans::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  BufferPool::Stats sum;
  for (const auto& [sig, pool] : entries_) {
    BufferPool::Stats s = pool->stats();
    sum.fresh += s.fresh;
    sum.reused += s.reused;
    sum.held_bytes += s.held_bytes;
    sum.cached_bytes += s.cached_bytes;
  }
  return sum;
}

}  // namespace fx
