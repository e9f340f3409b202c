// Bulk int4 packing: element 2i in the low nibble of byte i, 2i+1 in the high.
#include <span>

#include "octet/error.h"
#include "octet/number_formats.h"

namespace octet {
namespace {

void check_packed_size(size_t values, size_t packed, const char* what) {
  check(packed == int4_packed_bytes(values), "formats", "{}: {} values need {} packed bytes, got {}", what, values,
        int4_packed_bytes(values), packed);
}

// Values are validated before anything is written, so a bad input leaves
// `packed` untouched.
template <typename T>
void pack_nibbles(std::span<const T> values, std::span<uint8_t> packed, int lo, int hi, const char* what) {
  check_packed_size(values.size(), packed.size(), what);
  for (size_t i = 0; i < values.size(); ++i) {
    const int v = values[i];
    check(v >= lo && v <= hi, "formats", "{}: value {} at index {} is outside [{}, {}]", what, v, i, lo, hi);
  }
  const size_t pairs = values.size() / 2;
  for (size_t i = 0; i < pairs; ++i) packed[i] = pack_int4(values[2 * i], values[2 * i + 1]);
  if (values.size() % 2) packed[pairs] = pack_int4(values[2 * pairs], 0);
}

}  // namespace

void pack_int4(std::span<const int8_t> values, std::span<uint8_t> packed) {
  pack_nibbles(values, packed, -8, 7, "pack_int4");
}

void pack_uint4(std::span<const uint8_t> values, std::span<uint8_t> packed) {
  pack_nibbles(values, packed, 0, 15, "pack_uint4");
}

void unpack_int4(std::span<const uint8_t> packed, std::span<int8_t> values) {
  check_packed_size(values.size(), packed.size(), "unpack_int4");
  const size_t pairs = values.size() / 2;
  for (size_t i = 0; i < pairs; ++i) {
    values[2 * i] = static_cast<int8_t>(unpack_int4_lo(packed[i]));
    values[2 * i + 1] = static_cast<int8_t>(unpack_int4_hi(packed[i]));
  }
  if (values.size() % 2) values[2 * pairs] = static_cast<int8_t>(unpack_int4_lo(packed[pairs]));
}

void unpack_uint4(std::span<const uint8_t> packed, std::span<uint8_t> values) {
  check_packed_size(values.size(), packed.size(), "unpack_uint4");
  const size_t pairs = values.size() / 2;
  for (size_t i = 0; i < pairs; ++i) {
    values[2 * i] = static_cast<uint8_t>(unpack_uint4_lo(packed[i]));
    values[2 * i + 1] = static_cast<uint8_t>(unpack_uint4_hi(packed[i]));
  }
  if (values.size() % 2) values[2 * pairs] = static_cast<uint8_t>(unpack_uint4_lo(packed[pairs]));
}

}  // namespace octet
