// A datagram-preserving BIO for one DTLS session. It never touches a socket:
//  - write: one OpenSSL write is one outgoing datagram, appended to the
//    session's output arena (a flight is never concatenated into one blob);
//  - read: hands OpenSSL exactly the one inbound datagram the session is
//    processing, then reports "retry" until the next one is offered.
#pragma once

#include <openssl/bio.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include <sys/socket.h>

namespace dtls {

// Growable malloc'd byte arena. At the end of a step its memory is handed to
// a JS Buffer without a copy; items describe the datagrams / plaintexts in it.
class Arena {
 public:
  enum Kind : uint32_t { kDatagram = 0, kMessage = 1 };
  struct Item {
    uint32_t kind;
    uint32_t offset;
    uint32_t length;
  };

  Arena() = default;
  ~Arena() { std::free(data_); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Reserves room for n more bytes; returns the write position.
  uint8_t* Reserve(size_t n);
  void Commit(Kind kind, size_t n);
  void Append(Kind kind, const uint8_t* p, size_t n);

  size_t size() const { return size_; }
  const uint8_t* data() const { return data_; }
  size_t capacity() const { return cap_; }
  // Returns memory to the system when a burst made the arena large.
  void Trim(size_t keep);
  const std::vector<Item>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  // Transfers ownership of the bytes to the caller (free() them) and resets.
  uint8_t* Release(size_t* size);
  void Clear();

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
  std::vector<Item> items_;
};

struct DatagramBioState {
  Arena* out = nullptr;            // where outgoing datagrams go
  uint64_t* datagrams_out = nullptr;
  uint64_t* bytes_out = nullptr;
  const uint8_t* in_data = nullptr;  // the inbound datagram being processed
  size_t in_len = 0;
  bool in_pending = false;
  long mtu = 1200;
  sockaddr_storage peer{};
  socklen_t peer_len = 0;
};

// The method is created once per process, thread-safely, and never freed.
const BIO_METHOD* DatagramBioMethod();
// A new BIO whose data pointer is `state` (owned by the caller, which must
// outlive the BIO). Returns nullptr on allocation failure (queue set).
BIO* NewDatagramBio(DatagramBioState* state);

}  // namespace dtls
