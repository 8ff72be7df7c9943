// For tests whose models are written in set-up by a Python script
// beside the test (make_*.py): finds the script and runs it with the
// project's Python (FX_PYTHON, else the virtual environment of
// scripts/setup.sh) into a fresh temporary directory.
#pragma once

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fx::python_models {

// $FX_PYTHON, then the project's virtual environment (scripts/setup.sh).
inline std::vector<std::string> python_candidates() {
  std::vector<std::string> out;
  if (const char* p = std::getenv("FX_PYTHON"); p && *p) out.push_back(p);
  if (const char* venv = std::getenv("FX_VENV"); venv && *venv) {
    out.push_back(std::string(venv) + "/bin/python");
  } else {
    const char* home = std::getenv("HOME");
    out.push_back(std::string(home ? home : "") + "/.cache/fx/venv-torch2.11/bin/python");
  }
  return out;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The script `name` beside `source_file` (a test's __FILE__, which may be
// relative to the build directory, so the test binary's directory is tried too).
inline std::string script_path(const std::string& source_file, const std::string& name) {
  namespace fs = std::filesystem;
  fs::path here = fs::path(source_file).parent_path();
  std::vector<fs::path> candidates = {here};
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / here);
  candidates.push_back(fs::current_path() / "tests" / here.filename());
  for (const fs::path& dir : candidates) {
    fs::path p = dir / name;
    if (fs::exists(p, ec)) return fs::absolute(p).string();
  }
  return "";
}

// What writing the models came to: dir holds them, unless skip (no Python
// with torch and torchvision: the script exits with 77) or error says otherwise.
struct Written {
  std::string dir;
  std::string skip;
  std::string error;
};

// args: more arguments for the script, after the directory (shell words).
inline Written write_models(const std::string& source_file, const std::string& script_name,
                            const std::string& args = "") {
  Written w;
  std::string script = script_path(source_file, script_name);
  if (script.empty()) {
    w.error = script_name + " not found beside " + source_file;
    return w;
  }
  char tmpl[] = "/tmp/fx_models_XXXXXX";
  if (!::mkdtemp(tmpl)) {
    w.error = "mkdtemp failed";
    return w;
  }
  w.dir = tmpl;
  std::string log = w.dir + "/make.log";
  std::string tried;
  for (const std::string& python : python_candidates()) {
    if (::access(python.c_str(), X_OK) != 0) {
      tried += "\n  " + python + ": not found";
      continue;
    }
    std::string cmd =
        "'" + python + "' '" + script + "' '" + w.dir + "' " + args + " >'" + log + "' 2>&1";
    int status = std::system(cmd.c_str());
    int rc = status == -1 ? -1 : WEXITSTATUS(status);
    if (rc == 0) return w;
    if (rc != 77) {
      w.error = script_name + " failed with " + python + ":\n" + read_file(log);
      return w;
    }
    std::string why = read_file(log);
    while (!why.empty() && std::isspace(static_cast<unsigned char>(why.back()))) why.pop_back();
    tried += "\n  " + python + ": " + why;
  }
  w.skip = "no Python with torch and torchvision to write the models (set FX_PYTHON or run "
           "scripts/setup.sh); tried:" + tried;
  return w;
}

}  // namespace fx::python_models
