#include "runtime/shape_prop.h"

#include <ATen/ATen.h>

#include "runtime/graph_module.h"
#include "runtime/interpreter.h"
#include "runtime/stand_in.h"

namespace fx {

TensorMeta tensor_meta_of(const at::Tensor& t) {
  TensorMeta m;
  m.shape = t.sizes().vec();
  m.stride = t.strides().vec();
  m.dtype = t.scalar_type();
  m.device = t.device();
  m.requires_grad = t.requires_grad();
  for (c10::MemoryFormat f : {c10::MemoryFormat::Contiguous, c10::MemoryFormat::ChannelsLast,
                              c10::MemoryFormat::ChannelsLast3d}) {
    if ((f == c10::MemoryFormat::ChannelsLast && t.dim() != 4) ||
        (f == c10::MemoryFormat::ChannelsLast3d && t.dim() != 5))
      continue;
    if (t.is_contiguous(f)) {
      m.memory_format = f;
      break;
    }
  }
  return m;
}

std::string value_kind(const c10::IValue& v) {
  if (v.isTensor()) return "Tensor";
  if (v.isTensorList()) return "TensorList";
  if (v.isIntList()) return "IntList";
  if (v.isDoubleList()) return "DoubleList";
  if (v.isBoolList()) return "BoolList";
  if (v.isList()) return "List";
  return v.tagKind();
}

namespace {

class ShapeProp : public Interpreter {
 public:
  ShapeProp(GraphModule& gm, bool to_meta) : Interpreter(gm), to_meta_(to_meta) {}

  c10::IValue run_node(const Node& n) override {
    c10::IValue v = Interpreter::run_node(n);
    Node& node = const_cast<Node&>(n);  // metadata is not part of the graph's structure
    node.meta().set("type", value_kind(v));
    if (v.isTensor()) {
      node.meta().set("tensor_meta", tensor_meta_of(v.toTensor()));
    } else if (v.isTuple() || v.isList()) {
      std::vector<TensorMeta> metas;
      auto items = v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec();
      for (const auto& item : items)
        if (item.isTensor()) metas.push_back(tensor_meta_of(item.toTensor()));
      if (!metas.empty()) node.meta().set("tensor_meta", std::move(metas));
    }
    return v;
  }

  c10::IValue call_function(const Node& n, const std::vector<c10::IValue>& args,
                            const IValueKwargs& kwargs) override {
    if (!to_meta_) return Interpreter::call_function(n, args, kwargs);
    try {
      return Interpreter::call_function(n, args, kwargs);
    } catch (const std::exception&) {
      // No meta kernel: run on uninitialised stand-ins and keep only the layout.
      std::vector<c10::IValue> real_args;
      for (const auto& a : args) real_args.push_back(cpu_stand_in(a));
      IValueKwargs real_kwargs;
      for (const auto& kv : kwargs) real_kwargs.emplace_back(kv.first, cpu_stand_in(kv.second));
      return meta_like(Interpreter::call_function(n, real_args, real_kwargs));
    }
  }

  c10::IValue get_attr(const Node& n, const std::vector<c10::IValue>& args,
                       const IValueKwargs& kwargs) override {
    c10::IValue v = Interpreter::get_attr(n, args, kwargs);
    if (to_meta_ && v.isTensor()) return v.toTensor().to(at::kMeta);
    return v;
  }

 private:
  bool to_meta_;
};

}  // namespace

c10::IValue shape_prop(GraphModule& module, std::vector<c10::IValue> inputs) {
  bool to_meta = false;
  for (const auto& v : inputs) to_meta = to_meta || (v.isTensor() && v.toTensor().is_meta());
  ShapeProp prop(module, to_meta);
  return prop.run(std::move(inputs));
}

}  // namespace fx
