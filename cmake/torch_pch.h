// Precompiled header for ir/ and everything built on it (see cmake/FxTargets.cmake): the c10 and
// ATen core types our headers use, plus the standard headers nearly every file includes.
// Deliberately not <ATen/ATen.h> or <torch/torch.h>: a precompiled header costs its load time
// in every file that uses it (about 1.3 s for ATen.h's 430 MB, 5 s for torch.h's 710 MB), which
// is more than ir/ files spend parsing the few torch headers they need. Targets whose files
// include ATen.h use cmake/aten_pch.h instead.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/Layout.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>
