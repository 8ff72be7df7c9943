// The on-disk half of the kernel caches (Note [Kernel disk cache] in
// jit/cpu_compiler.h): an entry is <key><ext> plus <key><ext>.ok holding a
// checksum of it, each written to a private temporary name and renamed into
// place, so a reader sees a whole entry or none. A missing, truncated or
// foreign entry reads as a miss.
#pragma once
#include <filesystem>
#include <string>

namespace fx::jit {

// A whole file's bytes (false when it cannot be read), and a file written
// whole (false when any write fails). Shared by both kernel caches.
bool read_whole_file(const std::filesystem::path& path, std::string* bytes);
bool write_whole_file(const std::filesystem::path& path, const std::string& bytes);

// The entry's bytes, or false on a miss.
bool read_cache_entry(const std::string& dir, const std::string& key, const std::string& ext,
                      std::string* bytes);

// Stores an entry; false (and nothing half-written) when the directory cannot
// be created or written, which callers treat as "not cached".
bool write_cache_entry(const std::string& dir, const std::string& key, const std::string& ext,
                       const std::string& bytes);

}  // namespace fx::jit
