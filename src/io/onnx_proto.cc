#include "io/onnx_proto.h"

#include <bit>
#include <cstring>

namespace octet::onnx_proto {

size_t varint_size(uint64_t value) {
  // 7 payload bits per byte; 0 still takes one byte.
  const int bits = 64 - std::countl_zero(value | 1);
  return static_cast<size_t>((bits + 6) / 7);
}

size_t length_delimited_size(uint32_t field, uint64_t payload_bytes) {
  return varint_size(uint64_t{field} << 3) + varint_size(payload_bytes) + payload_bytes;
}

void ProtoWriter::varint(uint64_t value) {
  while (value >= 0x80) {
    out_.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out_.push_back(static_cast<char>(value));
}

void ProtoWriter::key(uint32_t field, WireType wire_type) {
  varint((uint64_t{field} << 3) | static_cast<uint64_t>(wire_type));
}

void ProtoWriter::int_field(uint32_t field, int64_t value) {
  key(field, WireType::Varint);
  varint(static_cast<uint64_t>(value));  // two's complement: negatives take 10 bytes
}

void ProtoWriter::float_field(uint32_t field, float value) {
  key(field, WireType::Fixed32);
  char bytes[4];
  std::memcpy(bytes, &value, 4);  // x86 is little-endian, as the wire format
  out_.append(bytes, 4);
}

void ProtoWriter::bytes_field(uint32_t field, std::string_view bytes) {
  length_delimited_header(field, bytes.size());
  out_.append(bytes);
}

void ProtoWriter::length_delimited_header(uint32_t field, uint64_t payload_bytes) {
  key(field, WireType::LengthDelimited);
  varint(payload_bytes);
}

void ProtoWriter::repeated_int_field(uint32_t field, std::span<const int64_t> values) {
  for (int64_t v : values) int_field(field, v);
}

void ProtoWriter::repeated_float_field(uint32_t field, std::span<const float> values) {
  for (float v : values) float_field(field, v);
}

void ProtoWriter::packed_int_field(uint32_t field, std::span<const int64_t> values) {
  if (values.empty()) return;  // an empty packed field is omitted, as protobuf does
  size_t payload = 0;
  for (int64_t v : values) payload += varint_size(static_cast<uint64_t>(v));
  length_delimited_header(field, payload);
  for (int64_t v : values) varint(static_cast<uint64_t>(v));
}

void ProtoWriter::packed_float_field(uint32_t field, std::span<const float> values) {
  if (values.empty()) return;
  length_delimited_header(field, values.size() * 4);
  const size_t at = out_.size();
  out_.resize(at + values.size() * 4);
  std::memcpy(out_.data() + at, values.data(), values.size() * 4);
}

}  // namespace octet::onnx_proto
