// The protobuf wire encoder against known byte strings: the examples of the
// protobuf encoding guide (150 -> 08 96 01, "testing", packed 3/270/86942,
// nested message) and varint edge cases at every 7-bit boundary.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "io/onnx_proto.h"

namespace octet::onnx_proto {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s.push_back(static_cast<char>(v));
  return s;
}

std::string varint_bytes(uint64_t v) {
  ProtoWriter w;
  w.varint(v);
  return w.bytes();
}

TEST(OnnxProto, VarintKnownEncodings) {
  EXPECT_EQ(varint_bytes(0), bytes({0x00}));
  EXPECT_EQ(varint_bytes(1), bytes({0x01}));
  EXPECT_EQ(varint_bytes(127), bytes({0x7F}));
  EXPECT_EQ(varint_bytes(128), bytes({0x80, 0x01}));
  EXPECT_EQ(varint_bytes(150), bytes({0x96, 0x01}));
  EXPECT_EQ(varint_bytes(300), bytes({0xAC, 0x02}));
  EXPECT_EQ(varint_bytes(16383), bytes({0xFF, 0x7F}));
  EXPECT_EQ(varint_bytes(16384), bytes({0x80, 0x80, 0x01}));
  EXPECT_EQ(varint_bytes(uint64_t{1} << 32), bytes({0x80, 0x80, 0x80, 0x80, 0x10}));
  EXPECT_EQ(varint_bytes(std::numeric_limits<int64_t>::max()),
            bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}));
  EXPECT_EQ(varint_bytes(std::numeric_limits<uint64_t>::max()),
            bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
}

// Decodes a varint the way a protobuf parser does (independent of the encoder).
uint64_t decode_varint(const std::string& s, size_t& used) {
  uint64_t v = 0;
  for (used = 0; used < s.size(); ++used) {
    const auto byte = static_cast<uint8_t>(s[used]);
    v |= uint64_t{byte & 0x7Fu} << (7 * used);
    if (!(byte & 0x80)) return ++used, v;
  }
  ADD_FAILURE() << "unterminated varint";
  return v;
}

TEST(OnnxProto, VarintRoundTripsAndSizeAtEveryBoundary) {
  std::vector<uint64_t> values{0, std::numeric_limits<uint64_t>::max()};
  for (int bits = 1; bits < 64; ++bits) {
    const uint64_t p = uint64_t{1} << bits;
    values.insert(values.end(), {p - 1, p, p + 1});
  }
  for (uint64_t v : values) {
    const std::string s = varint_bytes(v);
    size_t used = 0;
    EXPECT_EQ(decode_varint(s, used), v);
    EXPECT_EQ(used, s.size()) << v;
    // A varint takes ceil(significant bits / 7) bytes, at least one.
    int bits = 0;
    for (uint64_t x = v; x; x >>= 1) ++bits;
    EXPECT_EQ(s.size(), static_cast<size_t>(bits == 0 ? 1 : (bits + 6) / 7)) << v;
    EXPECT_EQ(varint_size(v), s.size()) << v;
  }
}

TEST(OnnxProto, IntFieldsIncludingNegatives) {
  ProtoWriter w;
  w.int_field(1, 150);
  EXPECT_EQ(w.bytes(), bytes({0x08, 0x96, 0x01}));
  ProtoWriter n;
  n.int_field(2, -1);  // int64/int32 negatives are sign-extended: 10 bytes
  EXPECT_EQ(n.bytes(), bytes({0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
  ProtoWriter zero;
  zero.int_field(3, 0);  // proto2: a set field is written even when 0
  EXPECT_EQ(zero.bytes(), bytes({0x18, 0x00}));
  ProtoWriter high;
  high.int_field(20, 4);  // field numbers >= 16 need a two-byte key
  EXPECT_EQ(high.bytes(), bytes({0xA0, 0x01, 0x04}));
}

TEST(OnnxProto, FloatField) {
  ProtoWriter w;
  w.float_field(2, 1.0f);
  EXPECT_EQ(w.bytes(), bytes({0x15, 0x00, 0x00, 0x80, 0x3F}));
  ProtoWriter neg;
  neg.float_field(1, -2.5f);  // 0xC0200000
  EXPECT_EQ(neg.bytes(), bytes({0x0D, 0x00, 0x00, 0x20, 0xC0}));
}

TEST(OnnxProto, BytesAndNestedMessages) {
  ProtoWriter w;
  w.bytes_field(2, "testing");
  EXPECT_EQ(w.bytes(), bytes({0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6E, 0x67}));
  ProtoWriter empty;
  empty.bytes_field(1, "");
  EXPECT_EQ(empty.bytes(), bytes({0x0A, 0x00}));
  ProtoWriter inner;
  inner.int_field(1, 150);
  ProtoWriter outer;
  outer.message_field(3, inner);
  EXPECT_EQ(outer.bytes(), bytes({0x1A, 0x03, 0x08, 0x96, 0x01}));
  // A 200-byte payload needs a 2-byte length.
  ProtoWriter long_field;
  long_field.bytes_field(9, std::string(200, 'x'));
  EXPECT_EQ(long_field.bytes().substr(0, 3), bytes({0x4A, 0xC8, 0x01}));
  EXPECT_EQ(long_field.size(), 203u);
  EXPECT_EQ(length_delimited_size(9, 200), 203u);
  EXPECT_EQ(length_delimited_size(20, 0), 3u);
}

TEST(OnnxProto, PackedAndUnpackedRepeated) {
  const std::vector<int64_t> values{3, 270, 86942};
  ProtoWriter packed;
  packed.packed_int_field(4, values);
  EXPECT_EQ(packed.bytes(), bytes({0x22, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05}));
  ProtoWriter unpacked;
  unpacked.repeated_int_field(1, values);
  EXPECT_EQ(unpacked.bytes(), bytes({0x08, 0x03, 0x08, 0x8E, 0x02, 0x08, 0x9E, 0xA7, 0x05}));
  const std::vector<float> floats{1.0f, -2.5f};
  ProtoWriter packed_f;
  packed_f.packed_float_field(4, floats);
  EXPECT_EQ(packed_f.bytes(), bytes({0x22, 0x08, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0}));
  ProtoWriter unpacked_f;
  unpacked_f.repeated_float_field(7, floats);
  EXPECT_EQ(unpacked_f.bytes(), bytes({0x3D, 0x00, 0x00, 0x80, 0x3F, 0x3D, 0x00, 0x00, 0x20, 0xC0}));
  ProtoWriter none;
  none.packed_int_field(1, std::vector<int64_t>{});
  EXPECT_TRUE(none.bytes().empty());
}

TEST(OnnxProto, StreamedHeaderMatchesBytesField) {
  const std::string payload(130, 'z');
  ProtoWriter whole;
  whole.bytes_field(5, payload);
  ProtoWriter streamed;
  streamed.length_delimited_header(5, payload.size());
  streamed.append_raw(payload);
  EXPECT_EQ(streamed.bytes(), whole.bytes());
}

}  // namespace
}  // namespace octet::onnx_proto
