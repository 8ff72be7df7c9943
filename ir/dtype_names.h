// Python spellings of c10 enums (`float32`, `strided`, `channels_last`), as
// torch prints them after `torch.`, and the reverse look-ups for the parser.
#pragma once

#include <optional>
#include <string>

#include <c10/core/Layout.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/ScalarType.h>

namespace fx {

std::string dtype_name(c10::ScalarType t);
std::string layout_name(c10::Layout l);
std::string memory_format_name(c10::MemoryFormat m);

// Names without the `torch.` prefix; nullopt when unknown.
std::optional<c10::ScalarType> dtype_from_name(const std::string& name);
std::optional<c10::Layout> layout_from_name(const std::string& name);
std::optional<c10::MemoryFormat> memory_format_from_name(const std::string& name);

// Whether name spells a device as torch prints one (`cpu`, `cuda`, `cuda:1`).
bool is_device_name(const std::string& name);

}  // namespace fx
