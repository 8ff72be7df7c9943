// Namespace: hands out unique node names exactly as torch.fx 1.13's
// `_Namespace.create_name` does, in amortised
// constant time instead of FX's linear probe.
//
// Algorithm for create_name(candidate):
//   1. replace each run of characters outside [0-9a-zA-Z_] by one `_`;
//   2. prefix `_` when the first character is a digit;
//   3. split a trailing `_<digits>` into (base, num), dropping leading zeros;
//   4. while the candidate is used or illegal (a Python keyword, a builtin, or
//      one of FX's custom builtins): num += 1, candidate = base_num.
// Names are never released. Step 4 skips over the run base_1..base_k that a
// per-base counter knows to be taken, so repeated names cost O(1) each.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace fx {

class Namespace {
 public:
  std::string create_name(const std::string& candidate);
  bool is_used(const std::string& name) const { return used_.count(name) != 0; }

 private:
  bool taken(const std::string& name) const;

  std::unordered_set<std::string> used_;
  // base -> k such that base_1 .. base_k are all taken.
  std::unordered_map<std::string, long long> taken_prefix_;
};

// torch.fx's `_target_to_str`, extended for operator names: for
// call_function targets `ns::op.overload` gives `op`; other targets lose
// surrounding `__` and are snake_cased (`convBlock.weight` -> `conv_block.weight`).
std::string default_node_name(bool is_call_function, const std::string& target);

// Python keyword, builtin, or FX custom builtin: not usable as a node name.
bool is_reserved_name(const std::string& name);

}  // namespace fx
