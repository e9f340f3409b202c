// Protobuf wire encoding, just enough to write ONNX ModelProto files.
//
// The wire format: each field is a key varint (field_number << 3 | wire_type)
// followed by its value: a varint (wire type 0), 4 little-endian bytes
// (wire type 5, float), or a varint length and that many bytes (wire type 2:
// strings, bytes, nested messages, packed repeated scalars). Negative int32
// and int64 values are sign-extended to 64 bits and take 10 varint bytes.
//
// onnx.proto is proto2: a field is written when it is set, even to its
// default value, and repeated scalars are packed only where the .proto says
// [packed = true] (TensorProto's *_data). ProtoWriter leaves those choices to
// its caller; it only encodes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace octet::onnx_proto {

enum class WireType : uint8_t { Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5 };

// Bytes a varint encoding of `value` takes (1..10).
size_t varint_size(uint64_t value);
// Bytes a length-delimited field (key + length + payload) takes.
size_t length_delimited_size(uint32_t field, uint64_t payload_bytes);

// Appends protobuf fields to a byte string.
class ProtoWriter {
 public:
  void varint(uint64_t value);
  void key(uint32_t field, WireType wire_type);

  // int64/int32/enum fields (wire type 0; negative values as 10 bytes).
  void int_field(uint32_t field, int64_t value);
  // float field (wire type 5).
  void float_field(uint32_t field, float value);
  // string/bytes field (wire type 2).
  void bytes_field(uint32_t field, std::string_view bytes);
  // Nested message field (wire type 2): `message` is an encoded message.
  void message_field(uint32_t field, const ProtoWriter& message) { bytes_field(field, message.bytes()); }
  // Only the key and length of a length-delimited field whose payload the
  // caller appends or streams itself.
  void length_delimited_header(uint32_t field, uint64_t payload_bytes);

  // Repeated scalars, one key per element (proto2's unpacked default).
  void repeated_int_field(uint32_t field, std::span<const int64_t> values);
  void repeated_float_field(uint32_t field, std::span<const float> values);
  // Repeated scalars packed into one length-delimited field ([packed = true]).
  void packed_int_field(uint32_t field, std::span<const int64_t> values);
  void packed_float_field(uint32_t field, std::span<const float> values);

  void append_raw(std::string_view bytes) { out_.append(bytes); }
  const std::string& bytes() const { return out_; }
  size_t size() const { return out_.size(); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace octet::onnx_proto
