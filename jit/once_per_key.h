// OncePerKey<T>: a process-wide table of values that are expensive to make
// (compiled kernels), made once per key even when many threads ask for the
// same key at the same time: the first caller makes it, the others wait for
// its result. A make() that throws is remembered too, so every later caller
// gets the same exception without trying again.
#pragma once
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace fx::jit {

template <typename T>
class OncePerKey {
 public:
  using Ptr = std::shared_ptr<const T>;

  // The value for key; *hit says whether another call made (or is making) it.
  template <typename Make>
  Ptr get(const std::string& key, Make make, bool* hit) {
    std::promise<Ptr> promise;
    std::shared_future<Ptr> future;
    bool owner = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = table_.find(key);
      if (it != table_.end()) {
        future = it->second;
      } else {
        future = promise.get_future().share();
        table_.emplace(key, future);
        owner = true;
      }
    }
    if (hit) *hit = !owner;
    if (owner) {
      try {
        promise.set_value(make());
      } catch (...) {
        promise.set_exception(std::current_exception());
      }
    }
    return future.get();
  }

  // Forgets every value (values already handed out stay valid).
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    table_.clear();
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_future<Ptr>> table_;
};

}  // namespace fx::jit
