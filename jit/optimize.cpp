// See jit/optimize.h.
#include "jit/optimize.h"

#include <ATen/core/grad_mode.h>

#include "passes/fold_batch_norm.h"
#include "passes/fold_constants.h"
#include "passes/functionalize.h"
#include "passes/inline_modules.h"
#include "passes/onednn_epilogues.h"
#include "passes/onednn_inplace_residuals.h"
#include "passes/pack_onednn_weights.h"
#include "passes/remove_inference_noops.h"
#include "runtime/shape_prop.h"

namespace fx::jit {

namespace {

// Recompiles gm and records tensor_meta for the example inputs.
void propagate(GraphModule& gm, const std::vector<c10::IValue>& inputs) {
  gm.recompile();
  shape_prop(gm, inputs);
}

template <typename Pass>
bool run_pass(const char* name, Pass pass, GraphModule& gm, PassLog* log) {
  if (log) log->begin(name);
  bool changed = pass(gm, log);
  if (log && !changed) log->note("no change");
  return changed;
}

}  // namespace

std::unique_ptr<GraphModule> optimize_for_inference(const GraphModule& gm,
                                                    const std::vector<c10::IValue>& example_inputs,
                                                    const OptimizeOptions& options, PassLog* log) {
  // Folding must not record autograd history on the new constants.
  at::NoGradGuard no_grad;
  auto out = std::make_unique<GraphModule>(gm.graph().clone(), gm.attributes(), gm.class_name());
  run_pass("inline_modules", inline_modules, *out, log);
  propagate(*out, example_inputs);
  run_pass("remove_inference_noops", remove_inference_noops, *out, log);
  run_pass("functionalize", functionalize, *out, log);
  run_pass("fold_constants", fold_constants, *out, log);
  if (options.fold_batch_norm && run_pass("fold_batch_norm", fold_batch_norm, *out, log))
    run_pass("fold_constants", fold_constants, *out, log);
  if (options.onednn) {
    propagate(*out, example_inputs);
    OnednnEpilogueOptions onednn_options;
    onednn_options.mkl_linear = options.mkl_linear;
    auto epilogues = [&](GraphModule& m, PassLog* l) {
      return onednn_epilogues(m, l, onednn_options);
    };
    if (run_pass("onednn_epilogues", epilogues, *out, log)) {
      propagate(*out, example_inputs);
      run_pass("remove_inference_noops", remove_inference_noops, *out, log);
    }
    // Also packs the weights of a module optimized, saved and loaded again.
    run_pass("pack_onednn_weights", pack_onednn_weights, *out, log);
    run_pass("onednn_inplace_residuals", onednn_inplace_residuals, *out, log);
  }
  out->graph().eliminate_dead_code();
  propagate(*out, example_inputs);
  if (options.fuse) {
    if (log) log->begin("fuse");
    std::string why = explain_fusion(*out, options.fuse_options);
    out = fuse(*out, options.fuse_options);
    if (log && why.find_first_not_of(" \n") == std::string::npos)
      log->note("no elementwise groups");
    if (log)
      for (size_t b = 0, e; b < why.size(); b = e + 1) {
        e = why.find('\n', b);
        if (e == std::string::npos) e = why.size();
        if (e > b) log->note(why.substr(b, e - b));
      }
  }
  // A fresh module keeps only the attributes the final graph uses.
  auto result =
      std::make_unique<GraphModule>(out->graph().clone(), out->attributes(), out->class_name());
  result->set_inference_mode(true);
  result->set_buffer_reuse(options.reuse_buffers ? GraphModule::BufferReuse::kAlways
                                                 : GraphModule::BufferReuse::kNever);
  return result;
}

}  // namespace fx::jit
