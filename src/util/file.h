// Whole-file reads and atomic writes, for the state and cache files and the
// config file: bounded, with errors that name the file.
#pragma once

#include <string>
#include <string_view>

#include "util/error.h"

namespace tc {

// Writes `data` to `path` atomically (temporary file, fsync, rename), mode 0600.
Status write_file_atomic(const std::string &path, std::string_view data);

// Reads the whole of `path`. Missing file: ErrorKind::kNotFound; larger than
// `max_size`: ErrorKind::kExhausted (nothing more is read).
Result<std::string> read_file(const std::string &path, size_t max_size = 64u << 20);

}  // namespace tc
