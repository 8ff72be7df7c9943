// PassLog: what a pass changed, one line per change, so a pipeline such as
// fx::jit::optimize_for_inference can say what each step did (the same idea as
// fx::jit::explain_fusion). Passes take a PassLog* that may be null; a pass
// that cannot apply somewhere says why with a line starting "kept".
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace fx {

class PassLog {
 public:
  // Starts a section: the lines that follow belong to pass `name`.
  void begin(const std::string& name) { lines_.push_back(name + ":"); }
  void note(std::string line) { lines_.push_back("  " + std::move(line)); }
  const std::vector<std::string>& lines() const { return lines_; }
  std::string str() const {
    std::string out;
    for (const std::string& l : lines_) out += l + "\n";
    return out;
  }

 private:
  std::vector<std::string> lines_;
};

// Writes line to log when there is one.
inline void note(PassLog* log, std::string line) {
  if (log) log->note(std::move(line));
}

}  // namespace fx
