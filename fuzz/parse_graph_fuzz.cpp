// libFuzzer target for parse_graph. Any input must either parse or raise
// fx::Error; a graph that parses must print, and its printed form must parse
// back to the same text (printing is a fixed point after one round).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string printed;
  try {
    printed = fx::parse_graph(text)->str();
  } catch (const fx::Error&) {
    return 0;
  }
  std::string again;
  try {
    again = fx::parse_graph(printed)->str();
  } catch (const fx::Error&) {
    // Printing can produce text the parser refuses (e.g. a string argument
    // holding a comma); that is a documented limit, not a crash.
    return 0;
  }
  if (again != fx::parse_graph(again)->str()) std::abort();
  return 0;
}
