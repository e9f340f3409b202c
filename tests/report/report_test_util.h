// Helpers of the report tests: the octet binary, headless Chromium, and
// reading the marks and table cells back out of a rendered DOM.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet::testing {


inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The chromium binary: $OCTET_CHROMIUM, else the first of chromium /
// chromium-browser on PATH; empty when there is none.
inline std::string find_chromium() {
  if (const char* env = std::getenv("OCTET_CHROMIUM"); env && *env) return env;
  for (const char* name : {"chromium", "chromium-browser"}) {
    const CommandResult r = run_shell(std::string("command -v ") + name, "/dev/null");
    if (r.exit_code == 0 && !r.output.empty()) return r.output.substr(0, r.output.find('\n'));
  }
  return "";
}

inline const char* kChromiumMissing =
    "chromium is not installed: it is a CI dependency of the report tests (scripts/setup.sh installs Debian's "
    "'chromium'; or set OCTET_CHROMIUM to a Chromium binary)";

// Headless Chromium as root with a fresh profile in `work` and nothing fetched; `extra` are the action flags.
inline CommandResult run_chromium(const std::string& chromium, const std::string& extra,
                                  const std::filesystem::path& work, const std::string& name) {
  const auto profile = work / ("profile-" + name);
  std::filesystem::remove_all(profile);
  std::filesystem::create_directories(profile);
  const std::string command = chromium +
                              " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                              " --disable-background-networking --disable-component-update --disable-sync"
                              " --user-data-dir=" +
                              profile.string() + " " + extra;
  return run_shell(command, work / (name + ".stderr.txt"));
}

// The page's console messages in Chromium's log ("...:INFO:CONSOLE:12] "text", source: ..."):
// the report logs nothing, so any line is a failure (uncaught exceptions included).
inline std::vector<std::string> console_lines(const std::string& log) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos)
      lines.push_back(line);
  return lines;
}

// Everything between <tag ...attributes...> and its first </tag> whose opening matches `opening`.
inline std::vector<std::string> elements(const std::string& dom, const std::string& opening_regex,
                                         const std::string& tag) {
  std::vector<std::string> out;
  const std::regex open(opening_regex);
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), open); it != std::sregex_iterator(); ++it) {
    const size_t start = size_t(it->position());
    const size_t end = dom.find("</" + tag + ">", start);
    out.push_back(dom.substr(start, end == std::string::npos ? std::string::npos : end + tag.size() + 3 - start));
  }
  return out;
}

inline std::string attribute(const std::string& element, const std::string& name) {
  const std::regex re("\\s" + name + "=\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(element, m, re) ? m[1].str() : "";
}

// The values of `name` over every match of `regex` in `text`, in order.
inline std::vector<std::string> all_attributes(const std::string& text, const std::string& tag_regex,
                                               const std::string& name) {
  std::vector<std::string> out;
  const std::regex re(tag_regex);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back(attribute(it->str(), name));
  return out;
}

}  // namespace octet::testing
