// Helpers shared by the eval tests.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "octet/error.h"

namespace octet::testing {

// The message of the octet::Error `f` throws, which must carry the "eval" tag; "" and a test
// failure when it throws none.
inline std::string eval_error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "eval");
    return e.what();
  }
  ADD_FAILURE() << "expected an octet::Error";
  return "";
}

}  // namespace octet::testing
