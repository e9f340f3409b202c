// The CLI's output helpers live in tools/ (not in the library); compile them
// into this test binary so output_test.cc can call them directly.
#include "octet/output.cc"
