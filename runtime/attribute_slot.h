// AttributeSlot: the current value of one attribute (parameter, buffer or
// constant), shared by the GraphModule that holds the attribute and by every
// Program compiled against it. A get_attr instruction reads its slot on each
// call, so GraphModule::set_attr, which writes the slot, takes effect in
// forward at once, without recompile(); a nested GraphModule's slots are the
// ones its parent's Program reads, so setting an attribute on the child
// directly is seen too.
//
// When the attribute goes away (its module was deleted, or replaced by one
// that lacks it) the slot is emptied, and a Program that reads it raises an
// fx::RuntimeError naming the attribute rather than running on the old value.
//
// What a slot sees: everything fx does to the module tree (set_attr,
// add_submodule, delete_submodule, to(), load_state_dict) and every in-place
// change of a tensor (copy_, set_data, torch::load), since the slot holds the
// tensor itself. Not seen until recompile(): rebinding a tree entry through
// torch::nn::Module's own API (replace_module on a node of the tree), which
// fx is not told about.
//
// Slots are written only while no forward runs (GraphModule's thread-safety
// rule for mutations), so reads take no lock.
#pragma once

#include <optional>
#include <string>

#include <ATen/core/ivalue.h>

namespace fx {

struct AttributeSlot {
  std::string name;                  // qualified name, in the module that holds it
  std::optional<c10::IValue> value;  // nullopt: the attribute is gone
};

}  // namespace fx
